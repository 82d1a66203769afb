"""Removing a directory tree that may hold read-only or unreadable directories, never through a link.

Both the trash (`files.trash`: install trees a build is done with) and the handler check's layouts
and shared trees (`layer.extracted_layers`, `runtime.local_lambda`, made read-only on purpose) are
removed here. A directory is opened up only through a descriptor opened without following a link,
so a link met anywhere in the tree, or put in the tree's place, is removed and what it points to is
never changed.
"""

from __future__ import annotations

import os
import shutil
import stat
from contextlib import suppress
from pathlib import Path


def remove_tree(tree: Path, *, read_only: bool = False) -> None:
    """Remove a directory tree, making its read-only directories writable if that is what stops it
    (first, when the caller made it `read_only`); whatever still cannot be removed is left. A
    symbolic link in its place is removed, never what it points to."""
    with suppress(OSError):
        if not stat.S_ISDIR(tree.lstat().st_mode):
            tree.unlink()
            return
    if not read_only:
        shutil.rmtree(tree, ignore_errors=True)
        if not os.path.lexists(tree):
            return
    with suppress(OSError):
        _open_up(tree)
    shutil.rmtree(tree, ignore_errors=True)


def _open_up(tree: Path) -> None:
    """Give this user read, write and search on every directory of `tree`, never through a
    symbolic link: each directory is opened without following one and changed through that
    descriptor. One this user cannot even open (no read permission) is changed by its name in the
    directory already open, after a check that the name is a directory; only this user can write
    the tree to swap it in between, and the trash is theirs alone."""
    if not hasattr(os, "fwalk"):  # Windows: a read-only attribute is all `chmod` changes there
        for directory, _, _ in os.walk(tree):
            with suppress(OSError):
                os.chmod(directory, stat.S_IMODE(os.lstat(directory).st_mode) | stat.S_IRWXU)
        return
    _open_up_one(str(tree), None)
    # Top down: a directory's subdirectories are opened up before the walk goes into them.
    for _, names, _, descriptor in os.fwalk(tree):
        for name in names:
            _open_up_one(name, descriptor)


def _open_up_one(name: str, parent: int | None) -> None:
    with suppress(OSError):
        try:
            descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY, dir_fd=parent)
        except PermissionError:
            facts = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISDIR(facts.st_mode):
                os.chmod(name, stat.S_IMODE(facts.st_mode) | stat.S_IRWXU, dir_fd=parent)
            return
        try:
            os.fchmod(descriptor, stat.S_IMODE(os.fstat(descriptor).st_mode) | stat.S_IRWXU)
        finally:
            os.close(descriptor)
