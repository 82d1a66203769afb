"""A content-addressed cache of layer zips, shared by every project on the machine (or CI job).

The key is a digest of everything that decides a layer's bytes (see `layer.plan`), so a hit is
the very zip a fresh build would write: it is copied (a reflink where the file system can) with no
install and no zipping. The copy is the destination's own: nothing later done to the cache changes
an artifact already placed. The bytes placed are checked against the record's CRC-32 and size as
they are copied: a warm build reads the layer once, at a memory copy's speed (a sha256 of tens of
MB costs more than the copy). The record seals its sha256 and CRC-32 together, and its sha256 was
taken of the very bytes written, so bytes that match one match the other.

The cache heals itself rather than trusting what it finds. Entries are written to a temporary file
and renamed, under a per-key lock, so builds can share the cache. A hit is used only when its record
is exactly what this version writes (its format, its key, the zip's sha256 and a digest of the
details): anything else is discarded, with a warning naming the entry, and rebuilt. Eviction keeps
the most recently used entries and never removes one that a build holds. Lock files and `.partial`
files older than any build are removed. A cache directory that cannot be written turns into a
warning and a build without the cache, never a failed build.

Warnings are collected in `LayerCache.warnings` for the caller to show; this module prints nothing.

Location: `layers-v1` in hatch-lambda's cache directory (`files.cache_root`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NamedTuple

from hatch_lambda.archive import libdeflate
from hatch_lambda.archive.atomic import make_writable_directory, replacing, write_text
from hatch_lambda.files.bounded_folder import keep_newest
from hatch_lambda.files.cache_root import cache_directory
from hatch_lambda.files.digest import (
    UnreadableSource,
    copy_hashing,
    copy_reading,
    file_crc32,
    file_sha256,
    identity_of,
    read_each,
    remember_copy,
    remember_digest,
)
from hatch_lambda.files.file_facts import identity_text

KEEP_ENTRIES = 24  # layers are tens of MB; two dozen covers every target of several projects
RECORD_FORMAT = 3  # what `store` writes; a record of any other shape is discarded
# A build takes minutes; a lock or `.partial` file untouched for this long belongs to no live build.
STALE_SECONDS = 6 * 60 * 60
_RECORD_KEYS = frozenset({"format", "key", "sha256", "crc32", "size", "details", "details_sha256"})
# What the record's digest covers besides the details: the zip's digests and size, kept together.
_SEALED = ("sha256", "crc32", "size")
_BLOCK = 1 << 20


class CachedLayer(NamedTuple):
    zip_path: Path
    details: dict[str, Any]  # the manifest entry and report data recorded when it was built
    sha256: str  # what the zip's bytes hash to
    # The zip's CRC-32 and size, which the bytes placed are checked against; None: check them by sha256.
    crc32: int | None = None
    size: int | None = None


class LayerCache:
    def __init__(self, root: Path) -> None:
        self.root = root / "layers-v1"
        # What the caller should show the user: discarded entries, an unusable directory.
        self.warnings: list[str] = []
        self._usable: bool | None = None

    @property
    def usable(self) -> bool:
        """Whether the directory can be written; the first time it cannot, a warning says so."""
        if self._usable is None:
            try:
                make_writable_directory(self.root)
                self._usable = True
            except OSError as error:
                self._usable = False
                self.warnings.append(
                    f"The layer cache at {self.root} cannot be used ({error.strerror or error}): this "
                    "build neither reads nor fills it. Make it writable, or set HATCH_LAMBDA_CACHE_DIR "
                    "to a directory that is."
                )
        return self._usable

    def lookup(self, key: str) -> CachedLayer | None:
        if not self.usable:
            return None
        zip_path, record_path = self._paths(key)
        if not record_path.exists():
            # Never recorded, or a build stopped between the zip and its record: an incomplete entry.
            self._discard(key)
            return None
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            problem = _record_problem(key, record, zip_path)
        except (OSError, ValueError) as error:
            problem = f"its record cannot be read ({error})"
        if problem is not None:
            self.warnings.append(
                f"Discarded the layer cache entry {zip_path.name} in {self.root}: {problem}. "
                "The layer is built again."
            )
            self._discard(key)
            return None
        with suppress(OSError):
            os.utime(record_path)  # most recently used: kept longest by `prune`
        return CachedLayer(
            zip_path, record["details"], str(record["sha256"]), int(record["crc32"]), int(record["size"])
        )

    def place(self, found: CachedLayer, destination: Path) -> bool:
        """Copy a hit to `destination` if its bytes are still the recorded ones; else discard the
        entry with a warning and leave `destination` as it was."""
        problem = place(found.zip_path, destination, found.sha256, found.crc32, found.size)
        if problem is None:
            return True
        self.warnings.append(
            f"Discarded the layer cache entry {found.zip_path.name} in {self.root}: {problem}. "
            "The layer is built again."
        )
        self._discard(found.zip_path.stem)
        return False

    @contextmanager
    def copy_slot(self, key: str) -> Iterator[Path | None]:
        """A file in the cache directory for a fresh build to write its zip to while it writes the
        artifact, so `store` renames it rather than copying tens of MB; removed unless stored.
        None when the cache cannot be written."""
        if not self.usable:
            yield None
            return
        try:
            descriptor, name = tempfile.mkstemp(prefix=f".{key}.zip.", suffix=".partial", dir=self.root)
        except OSError:
            yield None
            return
        os.close(descriptor)
        slot = Path(name)
        try:
            yield slot
        finally:
            _remove(slot)

    def store(
        self, key: str, built_zip: Path, details: dict[str, Any], *, written: Path | None = None
    ) -> None:
        """Keep a copy of `built_zip` under `key`; a failure to write is a warning, not an error.

        `written` is a `copy_slot` the build wrote the same bytes to: it becomes the entry, by rename.
        """
        if not self.usable:
            return
        zip_path, record_path = self._paths(key)
        try:
            with replacing(zip_path) as temporary:
                if written is not None and _same_bytes(written, built_zip):
                    os.replace(written, temporary)
                else:
                    own_copy(built_zip, temporary)
            # The record is written last: an entry without one is incomplete and never used.
            record: dict[str, Any] = {
                "format": RECORD_FORMAT,
                "key": key,
                "sha256": file_sha256(zip_path),
                "crc32": file_crc32(zip_path),
                "size": zip_path.stat().st_size,
                "details": details,
            }
            record["details_sha256"] = details_digest(_sealed(record))
            write_text(record_path, json.dumps(record, indent=1, sort_keys=True))
        except OSError as error:
            self._discard(key)
            self.warnings.append(
                f"Could not keep the layer in the cache at {self.root} ({error.strerror or error}): "
                "the next build installs it again"
            )
            return
        self.prune()

    def prune(self, keep: int = KEEP_ENTRIES) -> None:
        """Evict all but the `keep` most recently used entries, skipping any a build holds, and
        remove lock and `.partial` files that no live build can own."""
        if not self.usable:
            return
        keys = {path.stem for pattern in ("*.json", "*.zip") for path in self.root.glob(pattern)}
        newest_first = sorted(keys, key=self._last_used, reverse=True)
        for stale in newest_first[keep:]:
            with self._held(stale, wait=False) as held:
                if held:
                    self._discard(stale)
                    _remove(self.root / f"{stale}.lock")
        self._sweep()
        # The layers' extracted trees for the handler check live beside the zips, bounded the same
        # way; their module is loaded only here, after a layer was stored, never by a warm build.
        from hatch_lambda.layer import extracted_layers  # noqa: PLC0415

        extracted_layers.prune(self.root.parent)

    @contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """Serialise builds of one key, so a second build waits and then hits instead of rebuilding.

        With an unusable cache directory there is nothing to share, so nothing is locked.
        """
        if not self.usable:
            yield
            return
        with self._held(key, wait=True):
            yield

    @contextmanager
    def _held(self, key: str, *, wait: bool) -> Iterator[bool]:
        """Hold the key's lock file; without `wait`, yield False at once if another build holds it."""
        descriptor = self._acquire(self.root / f"{key}.lock", wait=wait)
        if descriptor is None:
            yield False
            return
        try:
            yield True
        finally:
            _unlock(descriptor)
            os.close(descriptor)

    def _acquire(self, path: Path, *, wait: bool) -> int | None:
        while True:
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                self.warnings.append(f"Could not lock {path} ({error.strerror or error}): built unlocked")
                return None
            if not _lock(descriptor, wait=wait):
                os.close(descriptor)
                return None
            # A sweep may have removed the file between our open and our lock: a lock on a file no
            # longer at `path` guards nothing, so take the lock again on the file that is there now.
            if _same_file(descriptor, path):
                return descriptor
            _unlock(descriptor)
            os.close(descriptor)

    def _sweep(self) -> None:
        cutoff = time.time() - STALE_SECONDS
        for partial in self.root.glob(".*.partial"):
            if _modified(partial) < cutoff:
                _remove(partial)
        for lock in self.root.glob("*.lock"):
            if _modified(lock) < cutoff:
                with self._held(lock.stem, wait=False) as held:
                    if held:
                        _remove(lock)

    def _last_used(self, key: str) -> float:
        return max(_modified(path) for path in self._paths(key))

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.zip", self.root / f"{key}.json"

    def _discard(self, key: str) -> None:
        for path in self._paths(key):
            _remove(path)


class _NotTheRecordedBytes(Exception):
    """The bytes placed are not the recorded ones; the argument names the check that failed."""


def place(
    source: Path, destination: Path, sha256: str, crc32: int | None = None, size: int | None = None
) -> str | None:
    """Put a cached zip at `destination` atomically, as the destination's own copy, if and only if
    the bytes placed are the recorded ones; otherwise leave `destination` as it was and say why not.

    The bytes are checked as they are copied (a warm build reads the cached layer once): against
    `crc32` and `size` when given (a record sealed them with `sha256`), else by hashing them. The
    size is the recorded one, not the file's: four bytes appended to a zip can restore its CRC-32,
    never its size. The check is of what was placed, so an entry changed after its lookup is caught.
    A cached zip that cannot be read is a reason, like bytes that do not match; failing to write
    `destination` is an error (it is the build's own staging directory).
    """
    try:
        with replacing(destination) as temporary:
            if crc32 is None or size is None:
                _copy_exactly(source, temporary, sha256)
            else:
                _copy_checking_crc32(source, temporary, crc32, size)
                remember_digest(temporary, sha256)  # kept by the rename: the same file
    except _NotTheRecordedBytes as mismatch:
        return f"its zip does not match its recorded {mismatch} (truncated or altered)"
    except UnreadableSource as error:
        return f"its zip cannot be read ({error.strerror or error})"
    return None


def holds(path: Path, found: CachedLayer) -> bool:
    """Whether `path` is a regular file holding `found`'s recorded bytes (its size and CRC-32, the
    check a placement makes), unchanged while it was read: a layer an earlier build committed, which
    this build keeps where it is instead of copying the same bytes over it.

    A file this check passed before, with the same identity since (device, inode, size, and the
    modification and status-change times: any write moves the last, and it cannot be set back), is
    not read again: `KEPT_FOLDER` remembers it, one record per path (the `KEPT_RECORDS` most
    recently written).
    """
    if found.crc32 is None or found.size is None:
        return False
    try:
        # Never following a symbolic link, never waiting on a named pipe put there.
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        descriptor = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except OSError:
        return False  # none there yet, a symbolic link, or unreadable: placed from the cache instead
    crc = _Crc32()
    try:
        before = os.fstat(descriptor)
        if not stat.S_ISREG(before.st_mode) or before.st_size != found.size:
            return False
        seen = _kept_record(path)
        if _recorded(seen) != _kept_text(before, found.sha256):
            with os.fdopen(descriptor, "rb", closefd=False) as stream:
                read_each(stream, crc.add)
            if crc.value != found.crc32 or identity_of(os.fstat(descriptor)) != identity_of(before):
                return False
            _remember_kept(seen, before, found.sha256)
    except (OSError, UnicodeDecodeError):
        return False
    finally:
        os.close(descriptor)
    remember_digest(path, found.sha256)  # sealed with the CRC-32 it matches
    return True


# Where `holds` remembers the committed layers it has read and found whole.
KEPT_FOLDER = "kept-layers-v1"
# One record per output path ever kept: CI jobs that build twice in a new directory each add one.
# Past this many, the least recently written go (`files.bounded_folder`); a path whose record went
# is read once more at its next warm build.
KEPT_RECORDS = 256
# A file changed within the file system's timestamp granularity of the moment it was checked could
# keep its identity: only a file whose last change is older than this is remembered.
_SETTLED_NS = 2_000_000_000


def _kept_record(path: Path) -> Path:
    name = hashlib.sha256(str(path.absolute()).encode()).hexdigest()[:32]
    return cache_directory() / KEPT_FOLDER / name


def _kept_text(status: os.stat_result, sha256: str) -> str:
    return f"{identity_text(status)}\0{sha256}"


def _recorded(record: Path) -> str | None:
    """The record's text; None for none, or one that cannot be read (it is written again)."""
    try:
        return record.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _remember_kept(record: Path, status: os.stat_result, sha256: str) -> None:
    # On Windows `st_ctime` is the creation time, which a rewrite in place leaves as it was.
    if sys.platform == "win32" or time.time_ns() - status.st_ctime_ns < _SETTLED_NS:
        return
    with suppress(OSError):  # a cache that cannot be written costs the next build one read
        record.parent.mkdir(parents=True, exist_ok=True)
        write_text(record, _kept_text(status, sha256))
        keep_newest(record.parent, KEPT_RECORDS)


def _copy_exactly(source: Path, destination: Path, sha256: str) -> None:
    if copy_hashing(source, destination, cloned=_clone(source, destination)) != sha256:
        raise _NotTheRecordedBytes("sha256")


def _copy_checking_crc32(source: Path, destination: Path, crc32: int, size: int) -> None:
    """Copy `source` to `destination` (or read its reflink there); the bytes read must be `size`
    of them, with the CRC-32 `crc32`."""
    crc = _Crc32()
    if copy_reading(source, destination, crc.add, cloned=_clone(source, destination)) != size:
        raise _NotTheRecordedBytes("size")
    if crc.value != crc32:
        raise _NotTheRecordedBytes("CRC-32")


class _Crc32:
    """The CRC-32 of the blocks `add` was given, in order (one thread: the blocks are small)."""

    def __init__(self) -> None:
        self.value = 0

    def add(self, block: bytes) -> None:
        self.value = libdeflate.crc32(block, self.value, threaded=False)


def _sealed(record: dict[str, Any]) -> dict[str, Any]:
    """What a local record's digest covers: its details and the zip's digests."""
    return {"details": record["details"], **{name: record[name] for name in _SEALED}}


def own_copy(source: Path, destination: Path) -> None:
    """Write `source`'s bytes to `destination` as an independent file: a reflink (blocks shared
    copy-on-write, so instant) where the file system supports one, else a plain copy. Never a hard
    link, which would let a change to either file change the other."""
    if not _clone(source, destination):
        shutil.copyfile(source, destination)
    remember_copy(source, destination)  # the same bytes: never hashed a second time


def _same_bytes(written: Path, built_zip: Path) -> bool:
    """Whether the slot holds the committed zip's bytes (their digests are known: no read)."""
    try:
        return written.stat().st_size == built_zip.stat().st_size and file_sha256(written) == file_sha256(
            built_zip
        )
    except OSError:
        return False


def record_problem(
    key: str,
    record: Any,
    *,
    keys: frozenset[str],
    record_format: int,
    sealed: Callable[[dict[str, Any]], Any] | None = None,
) -> str | None:
    """Why `record` does not have the shape, format, key and details digest of a record written for
    `key`, or None when it has (the shared cache's records are checked by this rule too). `sealed`
    gives what the digest covers, when more than the details."""
    if not isinstance(record, dict) or set(record) != keys:
        return "its record is not one this version of hatch-lambda writes"
    if record["format"] != record_format or record["key"] != key:
        return "its record is of another format or key"
    if not isinstance(record["details"], dict) or record["details_sha256"] != details_digest(
        record["details"] if sealed is None else sealed(record)
    ):
        return "its recorded details were altered"
    return None


def _record_problem(key: str, record: Any, zip_path: Path) -> str | None:
    """Why `record` is not exactly what `store` writes for `key`, or None when it is."""
    problem = record_problem(key, record, keys=_RECORD_KEYS, record_format=RECORD_FORMAT, sealed=_sealed)
    if problem is not None:
        return problem
    if not isinstance(record["sha256"], str) or not all(
        type(record[name]) is int for name in ("crc32", "size")
    ):
        return "its record is not one this version of hatch-lambda writes"
    # The manifest reports the entry's sha256, the placement checks the record's: they must agree,
    # or a zip swapped with its record's sha256 would ship under another digest.
    entry = record["details"].get("entry")
    if isinstance(entry, dict) and entry.get("sha256", record["sha256"]) != record["sha256"]:
        return "its record gives two different sha256 for its zip"
    if isinstance(entry, dict) and entry.get("zipped_size", record["size"]) != record["size"]:
        return "its record gives two different sizes for its zip"
    if not zip_path.is_file():
        return "its zip is missing"
    # The zip's bytes are checked against the recorded sha256 as they are placed (`place`).
    return None


def details_digest(details: Any) -> str:
    """The record's digest of its details: the shared cache (`layer.shared_cache`) uses it too."""
    canonical = json.dumps(details, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0  # gone already (another build pruned it): oldest of all


def _remove(path: Path) -> None:
    with suppress(OSError):
        path.unlink(missing_ok=True)


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        return os.fstat(descriptor).st_ino == path.stat().st_ino
    except OSError:
        return False


if sys.platform == "win32":
    import msvcrt

    def _lock(descriptor: int, *, wait: bool) -> bool:
        try:
            msvcrt.locking(descriptor, msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)
        except OSError:
            if wait:
                raise
            return False
        return True

    def _unlock(descriptor: int) -> None:
        msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)

    def _clone(source: Path, destination: Path) -> bool:
        return False

else:
    import fcntl

    # Linux's FICLONE ioctl (_IOW(0x94, 9, int)): Btrfs, XFS, bcachefs and others share the blocks.
    _FICLONE = 0x40049409

    def _lock(descriptor: int, *, wait: bool) -> bool:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)

    def _clone(source: Path, destination: Path) -> bool:
        if not sys.platform.startswith("linux"):
            return False
        try:
            with source.open("rb") as reading, destination.open("wb") as writing:
                fcntl.ioctl(writing.fileno(), _FICLONE, reading.fileno())
        except OSError:
            return False  # not supported here (ext4, tmpfs, across file systems): copy instead
        return True
