"""One build, one transaction: everything is staged beside the output directory, then committed by renames.

A build writes nothing into the output directory itself until the very end. Its work directory,
`.<stem>-lambda-build-XXXXXXXX/` inside the output directory (so that a rename into place never
crosses a file system), holds the staged artifacts and the build's scratch trees. `commit` renames
each staged artifact over its destination, the manifest last (the manifest is the commit record:
publishing trusts only a manifest whose files match it), then removes what `clean` asked to remove.
An artifact the output directory already holds byte for byte (a layer taken from the cache that
the last build committed) is kept there as it is, neither copied, renamed over nor removed.
Leaving the `with` block any other way removes the work directory and nothing else: a failed build
leaves the output directory exactly as it was, hidden files included.

A build holds an exclusive lock on a file in its work directory. A killed build (`kill -9`) leaves
its directory behind with the lock released by the kernel, so the next build of the same project
removes every such directory it can lock, and never one that a running build holds.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from hatch_lambda.files.cache_root import cache_directory
from hatch_lambda.files.trash import set_aside

WORK_INFIX = "-lambda-build-"
LOCK_NAME = "lock"


@dataclass
class Staging:
    """The work directory of one build: artifacts staged under their final names, and scratch space."""

    output: Path
    work: Path
    staged: dict[str, Path] = field(default_factory=dict)  # final name -> staged path
    kept: set[str] = field(default_factory=set)  # final names the output directory already holds

    def stage(self, name: str) -> Path:
        """Where to write the artifact that will be committed as `output / name`."""
        path = self.work / "stage" / name
        path.parent.mkdir(exist_ok=True)
        self.staged[name] = path
        self.kept.discard(name)
        return path

    def keep(self, name: str) -> Path:
        """`output / name` already holds this release's artifact (its bytes were checked): it is
        committed as it is, instead of being staged. Returns its path."""
        if name in self.staged:
            message = f"{name} is staged already: it cannot also be kept"
            raise ValueError(message)
        self.kept.add(name)
        return self.output / name

    def artifact(self, name: str) -> Path:
        """Where this release's artifact `name` is now: staged, or kept in the output directory."""
        return self.output / name if name in self.kept else self.staged[name]

    def scratch(self, purpose: str) -> Path:
        path = self.work / "scratch" / purpose
        path.mkdir(parents=True)
        return path

    def commit(self, last: list[str], *, remove: list[Path]) -> list[Path]:
        """Move every staged artifact into place, the manifests (`last`) after all the rest.

        Returns the release's files in the output directory: those written and those kept. What
        `remove` lists is removed only after the new release is in place, and never one of those.
        """
        if not set(last) <= set(self.staged):
            message = "the manifests must be staged before the commit"
            raise ValueError(message)
        names = [name for name in self.staged if name not in last] + last
        in_place = [self.output / name for name in sorted(self.kept)]
        # The files replaced or removed here are freed by the next install (`files.trash`).
        trash_root = cache_directory()
        for name in names:
            destination = self.output / name
            set_aside(destination, trash_root)
            os.replace(self.staged[name], destination)
            in_place.append(destination)
        for path in remove:
            if path not in in_place:
                set_aside(path, trash_root)
                path.unlink(missing_ok=True)
        return in_place


@contextmanager
def transaction(output: Path, stem: str) -> Iterator[Staging]:
    """A fresh, locked work directory in `output` for project `stem`; removed however the block ends."""
    output.mkdir(parents=True, exist_ok=True)
    remove_abandoned_work(output, stem)
    work = Path(tempfile.mkdtemp(prefix=f".{stem}{WORK_INFIX}", dir=output))
    try:
        with (work / LOCK_NAME).open("wb") as lock:
            _lock(lock, blocking=True)
            yield Staging(output, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def remove_abandoned_work(output: Path, stem: str) -> list[Path]:
    """Remove what killed builds of this project left in `output`; return what was removed."""
    removed = []
    for path in sorted(output.iterdir()):
        name = path.name
        if name.startswith(f".{stem}{WORK_INFIX}") and path.is_dir() and _abandoned(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        # Hidden partial files that builds before this transaction wrote directly into `output`.
        elif name.startswith(f".{stem}-lambda") and name.endswith(".partial") and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _abandoned(work: Path) -> bool:
    """True when no running build holds the directory's lock (its builder was killed, or never locked)."""
    try:
        with (work / LOCK_NAME).open("ab") as lock:
            return _lock(lock, blocking=False)
    except FileNotFoundError:
        # A build creates its directory and then its lock file: a directory without one is either
        # that instant of a running build or the debris of one killed right there. Old is debris.
        return _older_than(work, seconds=60)
    except OSError:
        return False


def _older_than(path: Path, *, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


if sys.platform == "win32":
    import msvcrt

    def _lock(handle: IO[bytes], *, blocking: bool) -> bool:
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _lock(handle: IO[bytes], *, blocking: bool) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
