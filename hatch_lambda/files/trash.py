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
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TRASH_FOLDER = "trash-v1"
SET_ASIDE_FROM = 1 << 20  # bytes: below a MiB, freeing a file took well under a millisecond
MOST_SET_ASIDE = 8


def discard(tree: Path, cache_root: Path) -> None:
    """Remove `tree`: into the trash if it can be moved there with one rename, else at once."""
    if not tree.exists():
        return
    trash = cache_root / TRASH_FOLDER
    try:
        trash.mkdir(parents=True, exist_ok=True)
        tree.rename(trash / f"{os.getpid()}-{secrets.token_hex(8)}")
    except OSError:
        shutil.rmtree(tree, ignore_errors=True)


def set_aside(path: Path, cache_root: Path) -> None:
    """If `path` is a large file, link it into the trash, so that replacing or removing it next
    frees nothing now. Best effort: any failure (no such file, another file system, a full
    trash) leaves the freeing to the replace or removal, as without a trash."""
    try:
        facts = path.lstat()  # a symbolic link is replaced, never what it points to
        if not stat.S_ISREG(facts.st_mode) or facts.st_size < SET_ASIDE_FROM:
            return
        trash = cache_root / TRASH_FOLDER
        trash.mkdir(parents=True, exist_ok=True)
        if sum(1 for entry in trash.iterdir() if entry.is_file()) >= MOST_SET_ASIDE:
            return
        os.link(path, trash / f"{os.getpid()}-{secrets.token_hex(8)}-{path.name}")
    except OSError:
        return


@contextmanager
def emptied_meanwhile(cache_root: Path) -> Iterator[None]:
    """Empty the trash on a thread while the block runs (an install, which waits on another
    process); the block's end waits for the thread, so no removal outlives the step it hides in."""
    trash = cache_root / TRASH_FOLDER
    try:
        entries = sorted(trash.iterdir())
    except OSError:
        entries = []
    if not entries:
        yield
        return
    emptying = threading.Thread(target=_remove, args=(entries,), name="hatch-lambda-trash", daemon=True)
    emptying.start()
    try:
        yield
    finally:
        emptying.join()


def _remove(entries: list[Path]) -> None:
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
