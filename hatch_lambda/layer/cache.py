"""A content-addressed cache of layer zips, shared by every project on the machine (or CI job).

The key is a digest of everything that decides a layer's bytes (see `layer_plan`), so a hit is
the very zip a fresh build would write: it is copied (hard-linked where possible) with no install
and no zipping. Entries are written to a temporary file and renamed, under a per-key lock, so two
builds can share the cache; each entry's sha256 is checked on every hit, so a corrupt or truncated
entry is rebuilt, never shipped. The cache keeps the most recently used entries only.

Location: `HATCH_LAMBDA_CACHE_DIR`, else `hatch-lambda` in the user cache directory
(`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hatch_lambda.archive.atomic import replacing, write_text
from hatch_lambda.files.digest import file_sha256

KEEP_ENTRIES = 24  # layers are tens of MB; two dozen covers every target of several projects


@dataclass(frozen=True)
class CachedLayer:
    zip_path: Path
    details: dict[str, Any]  # the manifest entry and report data recorded when it was built


def cache_directory() -> Path:
    configured = os.environ.get("HATCH_LAMBDA_CACHE_DIR")
    if configured:
        return Path(configured)
    if sys.platform == "win32":
        return Path(
            os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local", "hatch-lambda", "Cache"
        )
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "hatch-lambda"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "hatch-lambda")


class LayerCache:
    def __init__(self, root: Path) -> None:
        self.root = root / "layers-v1"

    def lookup(self, key: str) -> CachedLayer | None:
        zip_path, details_path = self._paths(key)
        try:
            record = json.loads(details_path.read_text(encoding="utf-8"))
            intact = zip_path.is_file() and file_sha256(zip_path) == record["sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            intact = False
        if not intact:
            self._discard(key)
            return None
        os.utime(details_path)  # most recently used: kept longest by `prune`
        return CachedLayer(zip_path, record["details"])

    def store(self, key: str, built_zip: Path, details: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        zip_path, details_path = self._paths(key)
        with replacing(zip_path) as temporary:
            shutil.copyfile(built_zip, temporary)
        # The details file is written last: an entry without one is incomplete and never used.
        record = {"sha256": file_sha256(zip_path), "details": details}
        write_text(details_path, json.dumps(record, indent=1, sort_keys=True))
        self.prune()

    def prune(self, keep: int = KEEP_ENTRIES) -> None:
        entries = sorted(self.root.glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
        for stale in entries[keep:]:
            self._discard(stale.stem)

    @contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """Serialise builds of one key, so a second build waits and then hits instead of rebuilding."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{key}.lock", "a+b") as handle:
            _lock(handle.fileno())
            try:
                yield
            finally:
                _unlock(handle.fileno())

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.zip", self.root / f"{key}.json"

    def _discard(self, key: str) -> None:
        for path in self._paths(key):
            path.unlink(missing_ok=True)


def place(source: Path, destination: Path) -> None:
    """Put a copy of a cached zip at `destination` atomically: the artifact is the user's, never a
    link to the cache entry, so nothing done to the cache can change an artifact already placed."""
    with replacing(destination) as temporary:
        shutil.copyfile(source, temporary)


if sys.platform == "win32":
    import msvcrt

    def _lock(descriptor: int) -> None:
        msvcrt.locking(descriptor, msvcrt.LK_LOCK, 1)

    def _unlock(descriptor: int) -> None:
        msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_EX)

    def _unlock(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
