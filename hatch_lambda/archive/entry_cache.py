"""Compressed zip entries kept by content, so a rebuilt layer copies what it compressed before.

A dependency bump changes a few files of a layer; numpy's, cryptography's and pydantic_core's
libraries (most of its bytes) stay as they were. Each stored entry is one raw deflate stream, keyed
by the sha256 of the data it encodes, under a directory named for the deflate library, its version
and the level: the stream is a pure function of those, so an entry taken from the store is the
very stream compressing again would give, and the zip's bytes are those of a build without it.

The store trusts nothing it reads. An entry records the crc32 and size of its data and the crc32 of
its stream; one whose record does not match the data being zipped, or whose stream fails its own
crc32 (truncated, altered), is compressed again and replaced, with a warning naming it. Entries are
written to a temporary file and renamed, so concurrent builds can share the store without locks: at
worst two builds write the same entry and one rename wins. New entries are written by a thread of
their own while the others go on compressing. `prune` keeps the store under a size bound, the least
recently used entries going first. A directory that cannot be written turns the store off for the
build, with one warning: the zip is then compressed in full, never refused.

Small files (under `SMALLEST_STORED`) are kept in bundles instead: one record holds the streams
of up to `BUNDLE_BYTES` of one package's small files (`zip_stream` groups them), keyed by the sha256 of their
data, each one's length first. One write per bundle rather than per file keeps a cold build's cost
to a few dozen writes; a bump compresses again only the bundles of the packages it changed. A
bundle is checked as an entry is, stream by stream, and is used whole or not at all.

Hashing a layer's large files is most of what a bump's zip costs, so the store remembers, in
`DIGESTS_FILE`, the sha256 it found for each large file by the file's identity (device, inode,
size, modification time: uv links an unchanged file from its cache, so it keeps all four; its
status-change time moves with every link, so it is not part of it). The remembered digest only
says which entry to try: the entry is used only when its recorded crc32 and size are those of the
data read now, as every entry is checked. A digest that does not lead to such an entry (the file was
rewritten with its time set back, the memo is damaged or stale) is ignored without a word, the
file is hashed, and the build goes on as if nothing had been remembered; nothing is ever stored
under a remembered digest. Warnings are collected in `EntryStore.warnings`; this module prints
nothing.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from hatch_lambda.archive import libdeflate
from hatch_lambda.archive.atomic import make_writable_directory, write_bytes
from hatch_lambda.files.reading import read_file
from hatch_lambda.files.record import FileIdentity

STORE_DIRECTORY = "entries-v1"
# Measured on the benchmark layer (1,335 files): storing from 32 KiB (178 files, 92% of the bytes)
# makes a warm zip 3x faster; storing from 4 KiB (581 files) saves a warm zip under 0.1 s more but
# costs a cold one about 0.4 s more, in small writes.
SMALLEST_STORED = 32 * 1024
# A bundle holds at most this much data: small enough that a cold build's compressing threads still
# share the work evenly (a bundle is compressed by one thread, in about 10 ms), large enough that the
# benchmark layer's 1,157 small files (6 MiB, 28 packages) make a few dozen writes.
BUNDLE_BYTES = 512 * 1024
# Layers are tens of MB compressed and their libraries are shared across builds and projects.
DEFAULT_MAX_BYTES = 1 << 30
# A `.partial` file untouched this long belongs to no live build (a build takes minutes).
STALE_SECONDS = 6 * 60 * 60
_MAGIC = b"HLZE"
# magic, crc32 and size of the data, crc32 and size of the deflate stream that follows
_HEADER = struct.Struct("<4sLQLQ")
_BUNDLE_MAGIC = b"HLZB"
# magic and the number of streams; then, per stream, the crc32 and size of its data, the crc32 and
# size of the stream; then the streams, one after the other
_BUNDLE_HEADER = struct.Struct("<4sL")
_BUNDLE_ITEM = struct.Struct("<LQLQ")
_LENGTH = struct.Struct("<Q")
DIGESTS_FILE = "file-digests-v1"
_DIGESTS_MAGIC = b"HLFD"
_DIGEST_RECORD = struct.Struct("<QQQq32s")  # device, inode, size, mtime (ns), sha256
# The digests kept: this build's first, then earlier builds' (other projects sharing the cache).
_DIGESTS_KEPT = 8192
# The store's size as `prune` last walked it, plus what was written since, and when it walked.
# A dot file: the walk counts no such file.
TALLY_FILE = ".tally-v1"
_TALLY_MAGIC = b"HLZT"
_TALLY = struct.Struct("<4sQd")
TALLY_SECONDS = 24 * 60 * 60


@dataclass(frozen=True)
class StoredStream:
    crc: int  # of the uncompressed data, as the zip headers need it
    stream: bytes  # the raw deflate stream


@dataclass
class StoreCounts:
    reused: int = 0
    reused_bytes: int = 0  # uncompressed bytes whose streams were copied
    compressed: int = 0
    compressed_bytes: int = 0
    # Small files, kept in bundles: counted by file.
    bundled_reused: int = 0
    bundled_compressed: int = 0


class EntryStore:
    """Raw deflate streams by (data sha256, level, deflate library and version) under `root`."""

    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root / STORE_DIRECTORY
        # The fingerprint, not the version alone: a `deflate` built against another libdeflate
        # reports the same version and may write other streams.
        self.library = f"{libdeflate.LIBRARY}-{libdeflate.WRAPPER_VERSION}-{libdeflate.fingerprint()[:16]}"
        self.max_bytes = max_bytes
        self.counts = StoreCounts()
        self.warnings: list[str] = []
        self._lock = threading.Lock()
        # One writer thread: the compressing threads hand it new entries and go on compressing,
        # so a slow disk delays only `flush`, not the zip.
        self._writer: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self._remembered: dict[FileIdentity, bytes] | None = None  # read on first use
        self._digests_found: dict[FileIdentity, bytes] = {}  # this build's
        self._written_bytes = 0  # written since the last `prune`, for its tally
        self._usable = True
        try:
            make_writable_directory(self.root)
        except OSError as error:
            self._disable(error)

    @property
    def usable(self) -> bool:
        """Whether entries can be kept: False once the directory could not be made or written."""
        return self._usable

    def stream_for(self, data: bytes, level: int, *, identity: FileIdentity | None = None) -> StoredStream:
        """`data`'s raw deflate stream at `level`: the stored one when it checks out, else compressed
        (and stored, when `data` is large enough to be worth it). `identity`: of the file `data` was
        read from, if any, to try the entry of the digest remembered for it before hashing `data`.
        Safe to call from many threads."""
        crc = libdeflate.crc32(data)
        if len(data) < SMALLEST_STORED or not self.usable:
            return StoredStream(crc, libdeflate.compress(data, level))
        if identity is not None:
            remembered = self._remembered_digest(identity)
            if remembered is not None:
                stream = self._read(self._path(remembered.hex(), level), crc, len(data), quiet=True)
                if stream is not None:
                    self._found(identity, remembered, reused=len(data))
                    return StoredStream(crc, stream)
        digest = hashlib.sha256(data).digest()
        path = self._path(digest.hex(), level)
        stream = self._read(path, crc, len(data))
        if stream is not None:
            self._found(identity, digest, reused=len(data))
            return StoredStream(crc, stream)
        stream = libdeflate.compress(data, level)
        self._keep(path, crc, len(data), stream)
        self._found(identity, digest, compressed=len(data))
        return StoredStream(crc, stream)

    def streams_for_bundle(self, data: Sequence[bytes], level: int) -> list[StoredStream]:
        """The raw deflate streams of several small files' `data` at `level`, in order: the stored
        bundle's when every stream in it checks out, else compressed (and the bundle stored)."""
        crcs = [libdeflate.crc32(item) for item in data]
        if not self.usable:
            return [StoredStream(crc, libdeflate.compress(item, level)) for crc, item in zip(crcs, data)]
        key = hashlib.sha256()
        for item in data:  # each length first: no two lists of files hash the same joined bytes
            key.update(_LENGTH.pack(len(item)))
            key.update(item)
        path = self._path(key.hexdigest(), level, bundle=True)
        sizes = [len(item) for item in data]
        streams = self._read_bundle(path, crcs, sizes)
        if streams is not None:
            self._count(bundled_reused=len(data))
            return [StoredStream(crc, stream) for crc, stream in zip(crcs, streams)]
        streams = [libdeflate.compress(item, level) for item in data]
        self._keep_bundle(path, crcs, sizes, streams)
        self._count(bundled_compressed=len(data))
        return [StoredStream(crc, stream) for crc, stream in zip(crcs, streams)]

    def flush(self) -> None:
        """Wait until every entry handed to the writer is on disk (or the store is turned off)."""
        with self._lock:
            pending, self._pending = self._pending, []
            writer, self._writer = self._writer, None
        for written in pending:
            written.result()
        if writer is not None:
            writer.shutdown()
        self._keep_digests()

    def prune(self) -> None:
        """Keep the store under `max_bytes`, least recently used entries removed first, and remove
        `.partial` files no live build can own. Failing to remove one is not an error.

        Walking the store to learn its size costs a bump tens of ms, for a store that is nearly
        always within its bound: the total the last walk found, plus every record written since,
        is kept in `TALLY_FILE`, and the store is walked only once that reaches the bound, or the
        last walk is a day old. Builds that add at once may each miss the other's bytes; the
        daily walk bounds what that costs.
        """
        if not self.usable:
            return
        with self._lock:
            written, self._written_bytes = self._written_bytes, 0
        tally = self.root / TALLY_FILE
        known = _read_tally(tally)
        if known is not None:
            total, walked_at = known
            if total + written <= self.max_bytes and 0 <= time.time() - walked_at < TALLY_SECONDS:
                self._write_tally(tally, _TALLY.pack(_TALLY_MAGIC, total + written, walked_at))
                return
        walked_at = time.time()
        total = self._walk_and_prune()
        self._write_tally(tally, _TALLY.pack(_TALLY_MAGIC, total, walked_at))

    def _write_tally(self, path: Path, record: bytes) -> None:
        """Overwrite the tally where it stands when it is whole, else write it as a record is.

        Renaming a new tally over the old one took 20 ms of a 1 s bump on an ext4 disk, right
        after the layer's tens of MB were written (unlinking the old one first took as long);
        rewriting its 20 bytes took 0.05 ms. The tally is a hint: a record read torn while another
        build rewrites it at worst makes a build walk the store sooner or later than it should, and
        the daily walk bounds that."""
        try:
            descriptor = os.open(path, os.O_WRONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            self._write_record(path, record)  # none yet (or not ours to open): made whole
            return
        try:
            if os.fstat(descriptor).st_size == len(record) and os.write(descriptor, record) == len(record):
                return
        except OSError:
            pass
        finally:
            os.close(descriptor)
        self._write_record(path, record)  # not a tally this version wrote, or a short write

    def _walk_and_prune(self) -> int:
        """The bound kept by a walk of the store; the total it leaves."""
        cutoff = time.time() - STALE_SECONDS
        entries: list[tuple[float, int, Path]] = []
        for directory, _, names in os.walk(self.root):
            for name in names:
                path = Path(directory, name)
                try:
                    status = path.stat()
                except OSError:
                    continue  # removed by another build's prune meanwhile
                if name.endswith(".partial"):
                    if status.st_mtime < cutoff:
                        _remove(path)
                    continue
                if not name.startswith("."):
                    entries.append((status.st_mtime, status.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries, key=lambda entry: entry[0]):
            if total <= self.max_bytes:
                break
            _remove(path)
            total -= size
        return total

    def _path(self, digest: str, level: int, *, bundle: bool = False) -> Path:
        levelled = self.root / self.library / f"level-{level}"
        # Bundles are few (a few dozen per layer): one directory, no directories to make per bundle.
        return levelled / "bundles" / digest if bundle else levelled / digest[:2] / digest

    def _read_bundle(self, path: Path, crcs: list[int], sizes: list[int]) -> list[bytes] | None:
        raw = self._read_record(path, quiet=False)
        if raw is None:
            return None
        streams = _bundle_streams(raw, crcs, sizes)
        if isinstance(streams, str):
            self._warn_unused(path, streams)
            return None
        _touch(path)
        return streams

    def _read(self, path: Path, crc: int, size: int, *, quiet: bool = False) -> bytes | None:
        """The stream of the entry at `path` if it stands for data of this crc32 and size. `quiet`:
        tried for a remembered digest, so a mismatch says the memo is stale, not that the entry is
        damaged (the entry for the data's own digest is read next, and warned about if damaged)."""
        raw = self._read_record(path, quiet=quiet)
        if raw is None:
            return None
        stream = raw[_HEADER.size :]
        problem = _problem(raw[: _HEADER.size], stream, crc, size)
        if problem is not None:
            if not quiet:
                self._warn_unused(path, problem)
            return None
        _touch(path)
        return stream

    def _read_record(self, path: Path, *, quiet: bool) -> bytes | None:
        """The bytes of the entry or bundle at `path`; None when there is none or it cannot be read
        (said, unless `quiet`)."""
        try:
            return read_file(str(path))
        except FileNotFoundError:
            return None
        except OSError as error:
            if not quiet:
                self._warn_unused(path, f"it cannot be read ({error.strerror or error})")
            return None

    def _keep(self, path: Path, crc: int, size: int, stream: bytes) -> None:
        self._submit(self._write, path, crc, size, stream)

    def _remembered_digest(self, identity: FileIdentity) -> bytes | None:
        with self._lock:
            if self._remembered is None:
                self._remembered = _read_digests(self.root / DIGESTS_FILE)
            return self._remembered.get(identity)

    def _found(
        self, identity: FileIdentity | None, digest: bytes, *, reused: int = 0, compressed: int = 0
    ) -> None:
        if identity is not None:
            with self._lock:
                self._digests_found[identity] = digest
        self._count(reused=reused, compressed=compressed)

    def _keep_digests(self) -> None:
        """Write the digests found by this build, then earlier ones, when this build found new ones."""
        with self._lock:
            found, self._digests_found = self._digests_found, {}
            remembered = self._remembered or {}
        if not self.usable or all(remembered.get(identity) == digest for identity, digest in found.items()):
            return
        kept = {**found, **{key: value for key, value in remembered.items() if key not in found}}
        records = b"".join(
            _DIGEST_RECORD.pack(*identity, digest) for identity, digest in list(kept.items())[:_DIGESTS_KEPT]
        )
        self._write_record(self.root / DIGESTS_FILE, _DIGESTS_MAGIC + records)
        with self._lock:
            self._remembered = kept

    def _keep_bundle(self, path: Path, crcs: list[int], sizes: list[int], streams: list[bytes]) -> None:
        self._submit(self._write_bundle, path, crcs, sizes, streams)

    def _submit(self, write: Callable[..., None], *arguments: object) -> None:
        """Hand a write to the store's one writer thread (started on first use)."""
        with self._lock:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hatch-lambda-entries")
            self._pending.append(self._writer.submit(write, *arguments))

    def _write_bundle(self, path: Path, crcs: list[int], sizes: list[int], streams: list[bytes]) -> None:
        items = b"".join(
            _BUNDLE_ITEM.pack(crc, size, libdeflate.crc32(stream), len(stream))
            for crc, size, stream in zip(crcs, sizes, streams)
        )
        self._write_record(path, _BUNDLE_HEADER.pack(_BUNDLE_MAGIC, len(streams)) + items + b"".join(streams))

    def _write(self, path: Path, crc: int, size: int, stream: bytes) -> None:
        self._write_record(
            path, _HEADER.pack(_MAGIC, crc, size, libdeflate.crc32(stream), len(stream)) + stream
        )

    def _write_record(self, path: Path, record: bytes) -> None:
        if not self.usable:
            return
        try:
            write_bytes(path, record)
        except OSError as error:
            self._disable(error)
            return
        with self._lock:
            self._written_bytes += len(record)

    def _count(
        self, *, reused: int = 0, compressed: int = 0, bundled_reused: int = 0, bundled_compressed: int = 0
    ) -> None:
        with self._lock:
            self.counts.bundled_reused += bundled_reused
            self.counts.bundled_compressed += bundled_compressed
            if reused:
                self.counts.reused += 1
                self.counts.reused_bytes += reused
            if compressed:
                self.counts.compressed += 1
                self.counts.compressed_bytes += compressed

    def _warn_unused(self, path: Path, problem: str) -> None:
        with self._lock:
            self.warnings.append(
                f"Compressed {path.name} again instead of using the stored entry in {path.parent}: "
                f"{problem}. The entry is replaced; nothing else changes."
            )

    def _disable(self, error: OSError) -> None:
        with self._lock:
            if not self._usable:
                return
            self._usable = False
            self.warnings.append(
                f"The compressed-entry cache at {self.root} cannot be used ({error.strerror or error}): "
                "every entry of this build is compressed. Make it writable, or set "
                "HATCH_LAMBDA_CACHE_DIR to a directory that is."
            )


def _read_tally(path: Path) -> tuple[int, float] | None:
    """The total and the walk's time `prune` last kept; None for none, or one that is not whole."""
    try:
        record = path.read_bytes()
    except OSError:
        return None
    if len(record) != _TALLY.size:
        return None
    magic, total, walked_at = _TALLY.unpack(record)
    return (total, walked_at) if magic == _TALLY_MAGIC else None


def _problem(header: bytes, stream: bytes, crc: int, size: int) -> str | None:
    """Why a stored record cannot stand for data with this crc32 and size, or None when it can."""
    if len(header) < _HEADER.size:
        return "it is shorter than its header (truncated)"
    magic, stored_crc, stored_size, stream_crc, stream_size = _HEADER.unpack(header)
    if magic != _MAGIC:
        return "it is not an entry this version of hatch-lambda writes"
    if (stored_crc, stored_size) != (crc, size):
        return "its recorded crc32 and size are not those of the file being zipped"
    if len(stream) != stream_size or libdeflate.crc32(stream) != stream_crc:
        return "its deflate stream does not match its recorded crc32 and size (truncated or altered)"
    return None


def _read_digests(path: Path) -> dict[FileIdentity, bytes]:
    """The digests a memo holds; none when it is missing or not one this version writes (it is a
    hint: a wrong digest leads to no entry that checks out)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return {}
    body = raw[len(_DIGESTS_MAGIC) :]
    if not raw.startswith(_DIGESTS_MAGIC) or len(body) % _DIGEST_RECORD.size:
        return {}
    digests: dict[FileIdentity, bytes] = {}
    for device, inode, size, modified, digest in _DIGEST_RECORD.iter_unpack(body):
        digests[(device, inode, size, modified)] = digest
    return digests


def _bundle_streams(raw: bytes, crcs: list[int], sizes: list[int]) -> list[bytes] | str:
    """The streams a bundle record holds for data with these crc32s and sizes, or why it cannot
    stand for them."""
    problem = _bundle_header_problem(raw, len(crcs))
    if problem is not None:
        return problem
    streams = []
    offset = _BUNDLE_HEADER.size + len(crcs) * _BUNDLE_ITEM.size
    for index, (crc, size) in enumerate(zip(crcs, sizes)):
        stored_crc, stored_size, stream_crc, stream_size = _BUNDLE_ITEM.unpack_from(
            raw, _BUNDLE_HEADER.size + index * _BUNDLE_ITEM.size
        )
        if (stored_crc, stored_size) != (crc, size):
            return "its recorded crc32s and sizes are not those of the files being zipped"
        stream = raw[offset : offset + stream_size]
        if len(stream) != stream_size or libdeflate.crc32(stream) != stream_crc:
            return "a deflate stream does not match its recorded crc32 and size (truncated or altered)"
        streams.append(stream)
        offset += stream_size
    if offset != len(raw):
        return "it holds more than its streams (altered)"
    return streams


def _bundle_header_problem(raw: bytes, count: int) -> str | None:
    if len(raw) < _BUNDLE_HEADER.size:
        return "it is shorter than its header (truncated)"
    magic, stored_count = _BUNDLE_HEADER.unpack_from(raw)
    if magic != _BUNDLE_MAGIC:
        return "it is not a bundle this version of hatch-lambda writes"
    if stored_count != count or len(raw) < _BUNDLE_HEADER.size + count * _BUNDLE_ITEM.size:
        return "it does not hold one stream for each file being zipped"
    return None


def _touch(path: Path) -> None:
    with suppress(OSError):
        os.utime(path)  # most recently used: kept longest by `prune`


def _remove(path: Path) -> None:
    with suppress(OSError):
        path.unlink(missing_ok=True)
