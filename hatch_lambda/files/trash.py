"""Trees a build is done with, removed while the next build waits for its installer.

Removing a layer's install tree (1,335 hard links and 196 directories for numpy, cryptography and
pydantic) takes some 65 ms of file-system calls, and two threads removing it take no less. It is
time a build spends after its zip is written, when nothing else is left to do. So a build moves
the tree into `trash-v1/` in hatch-lambda's cache directory (one rename), and the next build that
installs removes everything there on a thread while uv or pip runs. The build's own thread is then
blocked in `wait()` for the installer; in a locked bump of the benchmark project the installer
outlasted the removal in most builds, and the build's wait for the thread afterwards took 0 to 14 ms.

The trash is garbage by construction: whatever is in it may be removed by any build at any time,
and two builds removing one tree at once only skip what the other removed first. A tree whose
rename fails (the output directory on another file system than the cache) is removed at once, as
before. Between two builds the trash holds one tree: hard links to uv's cache for a uv install,
which cost no space while uv's cache holds the same files.

Replacing a large file costs the same: `os.replace` over a 23 MB layer zip took about 25 ms on
ext4, for freeing the old file's blocks, and under 1 ms once the old file had a second name. So
a build gives each large artifact it is about to replace or remove a second name in the trash
(`set_aside`, one hard link), and the next install frees it with the rest. At most
`MOST_SET_ASIDE` files wait there: builds that install nothing (a code change) never empty the
trash, and beyond that number a file is freed at once, as before.

Only a trash that is a directory of this user's is used, and never one that others can write
(one an earlier version made under a umask that let them is closed to them first): emptying one
that is a symbolic link would remove whatever it points to, and one that others can write could be
made to. Otherwise trees are removed at once and nothing is set aside or emptied. An entry that
cannot be removed (in use, another user's) is left for a later build and never stops the others
going; nothing a removal meets is an error.
"""

from __future__ import annotations

import os
import secrets
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from hatch_lambda.files.removal import remove_tree

TRASH_FOLDER = "trash-v1"
SET_ASIDE_FROM = 1 << 20  # bytes: below a MiB, freeing a file took well under a millisecond
# A replaced layer zip waits for the next install; a build replaces one or two large artifacts.
MOST_SET_ASIDE = 2


def discard(tree: Path, cache_root: Path) -> None:
    """Remove `tree`: into the trash if it can be moved there with one rename, else at once."""
    if not os.path.lexists(tree):
        return
    trash = _trash(cache_root, make=True)
    if trash is not None:
        try:
            tree.rename(trash.path / f"{os.getpid()}-{secrets.token_hex(8)}")
        except OSError:
            pass  # another file system than the cache: removed here instead
        else:
            return
    remove_tree(tree)


def set_aside(path: Path, cache_root: Path) -> None:
    """If `path` is a large file, link it into the trash, so that replacing or removing it next
    frees nothing now. Best effort: any failure (no such file, another file system, a full
    trash) leaves the freeing to the replace or removal, as without a trash."""
    try:
        facts = path.lstat()  # a symbolic link is replaced, never what it points to
        if not stat.S_ISREG(facts.st_mode) or facts.st_size < SET_ASIDE_FROM:
            return
        trash = _trash(cache_root, make=True)
        if trash is None or sum(1 for entry in trash.path.iterdir() if entry.is_file()) >= MOST_SET_ASIDE:
            return
        os.link(path, trash.path / f"{os.getpid()}-{secrets.token_hex(8)}-{path.name}")
    except OSError:
        return


@contextmanager
def emptied_meanwhile(cache_root: Path) -> Iterator[None]:
    """Empty the trash on a thread while the block runs (an install, which waits on another
    process); the block's end waits for the thread, so no removal outlives the step it hides in."""
    trash = _trash(cache_root, make=False)
    try:
        names = sorted(os.listdir(trash.path)) if trash is not None else []
    except OSError:
        names = []
    if trash is None or not names:
        yield
        return
    emptying = threading.Thread(target=_empty, args=(trash, names), name="hatch-lambda-trash", daemon=True)
    emptying.start()
    try:
        yield
    finally:
        emptying.join()


class _Trash(NamedTuple):
    path: Path
    facts: os.stat_result  # as checked: emptying stops if another directory takes its place


_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def _trash(cache_root: Path, *, make: bool) -> _Trash | None:
    """`cache_root`'s trash (made first when `make` and there is none), or None when it is not one
    to move into or empty: a symbolic link, not a directory, or another user's. One of this user's
    that others could write (an earlier version made it under the umask) is closed to them first."""
    path = cache_root / TRASH_FOLDER
    try:
        if make and not os.path.lexists(path):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)  # another build may make it too
        facts = path.lstat()  # checked after making: whatever is there now is what is judged
        if not stat.S_ISDIR(facts.st_mode):
            return None
        # Windows reports neither an owner nor real permission bits (every directory reads as 0o777).
        if hasattr(os, "getuid"):
            if facts.st_uid != os.getuid():
                return None
            if facts.st_mode & _OTHERS_WRITE:
                descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY)
                try:
                    os.fchmod(descriptor, 0o700)
                    facts = os.fstat(descriptor)
                finally:
                    os.close(descriptor)
    except OSError:
        return None
    return _Trash(path, facts)


def _empty(trash: _Trash, names: list[str]) -> None:
    for name in names:
        try:
            if not os.path.samestat(trash.path.lstat(), trash.facts):
                return  # the folder was replaced meanwhile: nothing more is removed through it
            entry = trash.path / name
            if stat.S_ISDIR(entry.lstat().st_mode):
                remove_tree(entry)
            else:
                entry.unlink()
        except OSError:
            continue  # in use, another user's, or removed by another build: left for a later one
