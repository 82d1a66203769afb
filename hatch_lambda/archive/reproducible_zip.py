"""The reproducible zip writer: the one destination both artifacts are written through.

Entries are compressed on every core with the pinned libdeflate (`zip_stream`); the bytes are
those of a one-thread build.

Same entries in, same bytes out, whatever the checkout path, umask, file mtimes or host OS: entries
are sorted, dated with one timestamp, given normalised Unix permissions and a fixed `create_system`,
and compressed by one pinned library at the level the target sets. The zip is written to a
temporary file beside its destination and renamed into place, so a failure never leaves a
half-written artifact behind.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from hatchling.builders.utils import normalize_file_permissions

from hatch_lambda.archive import libdeflate
from hatch_lambda.archive.atomic import replacing
from hatch_lambda.archive.zip_stream import Entry, write_entries
from hatch_lambda.files.digest import file_sha256, remember_crc32, remember_digest
from hatch_lambda.files.record import FileToPack, ZipDateTime

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

    from hatch_lambda.archive.entry_cache import EntryStore

COMPRESSION = zipfile.ZIP_DEFLATED
DEFAULT_COMPRESS_LEVEL = 6  # as zlib's default: libdeflate's 6 is both faster and smaller
UNIX_CREATE_SYSTEM = 3


class WrittenZip(NamedTuple):
    path: Path
    zipped_size: int
    unzipped_size: int
    file_count: int
    sha256: str

    @property
    def code_sha256(self) -> str:
        """What Lambda reports as `CodeSha256`: base64 of the raw sha256 digest."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode("ascii")


def write_reproducible_zip(
    destination: Path,
    files: Iterable[FileToPack],
    *,
    fixed_date_time: ZipDateTime | None,
    compress_level: int = DEFAULT_COMPRESS_LEVEL,
    workers: int | None = None,
    store: EntryStore | None = None,
    copy_to: Path | None = None,
) -> WrittenZip:
    """Write `files` to `destination` atomically; `fixed_date_time` dates every entry when set.
    `workers` (all cores when None) and `store` (streams compressed before) change only how fast,
    never the bytes. `copy_to` is given the same bytes as they are written (a second copy for the
    layer cache costs no read and no copy afterwards)."""
    by_path: dict[str, FileToPack] = {}
    for file in files:
        if file.archive_path in by_path:
            message = f"Two files would be written to the same zip path: {file.archive_path}"
            raise ValueError(message)
        by_path[file.archive_path] = file

    ordered = [by_path[archive_path] for archive_path in sorted(by_path)]
    if workers is None and _small(ordered):
        workers = 1  # a thread pool costs more than a project's few files take to compress
    with replacing(destination) as temporary, contextlib.ExitStack() as held:
        copy = held.enter_context(_BestEffortCopy(copy_to)) if copy_to is not None else None
        with _HashingFile(io.FileIO(temporary, "wb"), copy, threaded=workers != 1) as stream:
            entries = [_entry(file, fixed_date_time) for file in ordered]
            unzipped_size = write_entries(stream, entries, level=compress_level, workers=workers, store=store)
        remember_digest(temporary, stream.sha256.hexdigest())  # kept by the rename: the same file
        remember_crc32(temporary, stream.crc32)
        if copy is not None and copy.finish():
            remember_digest(copy.path, stream.sha256.hexdigest())
            remember_crc32(copy.path, stream.crc32)
    return WrittenZip(
        path=destination,
        zipped_size=destination.stat().st_size,
        unzipped_size=unzipped_size,
        file_count=len(by_path),
        sha256=file_sha256(destination),
    )


def _small(files: list[FileToPack]) -> bool:
    return (
        sum(file.size if file.size is not None else _ONE_THREAD_BELOW for file in files) < _ONE_THREAD_BELOW
    )


_ONE_THREAD_BELOW = 1 << 20


class _HashingFile:
    """The zip's output file, which hashes what is written to it: the zip's sha256 is known when it
    is closed, computed while the writer waits for its compressors, instead of reading tens of MB back.

    Writes are gathered and hashed, copied and written a chunk at a time. A layer is some 4,000
    writes (a header, then a stream, per entry); done one by one, each hash, CRC and write hands
    the GIL back, and taking it again waits on the threads compressing or copying entries (in a bump,
    most of the zip's time went there).
    """

    _CHUNK = 1 << 20

    def __init__(self, raw: io.FileIO, copy: _BestEffortCopy | None, *, threaded: bool) -> None:
        self.sha256 = hashlib.sha256()
        self.crc32 = 0  # the whole file's, which the layer cache records beside the sha256
        self._threaded = threaded  # written while compressors run: the GIL is released for the CRC
        self._raw = raw
        self._copy = copy
        self._gathered = bytearray()
        self._written = 0

    def write(self, data: ReadableBuffer, /) -> int:
        size = len(memoryview(data))
        if size >= self._CHUNK:  # a large stream as it is: no copy into the gathered bytes
            self._write_gathered()
            self._write_chunk(bytes(data))
        else:
            self._gathered += data
            if len(self._gathered) >= self._CHUNK:
                self._write_gathered()
        return size

    def tell(self) -> int:
        return self._written + len(self._gathered)

    def close(self) -> None:
        try:
            self._write_gathered()
        finally:
            self._raw.close()

    def __enter__(self) -> _HashingFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:  # the zip is abandoned: its temporary file is removed, unwritten
            self._raw.close()

    def _write_gathered(self) -> None:
        if self._gathered:
            chunk, self._gathered = bytes(self._gathered), bytearray()
            self._write_chunk(chunk)

    def _write_chunk(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.crc32 = libdeflate.crc32(chunk, self.crc32, threaded=self._threaded)
        if self._copy is not None:
            self._copy.write(chunk)
        view = memoryview(chunk)
        while view:  # a regular file takes all of it, short of a full disk (which raises)
            view = view[self._raw.write(view) :]
        self._written += len(chunk)


class _BestEffortCopy:
    """A second copy that may fail (the cache's disk is full) without failing the zip: it only
    stops, and says it is incomplete."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None
        try:
            self._file = path.open("wb")
        except OSError:
            self._file = None

    def write(self, data: ReadableBuffer) -> None:
        if self._file is None:
            return
        try:
            self._file.write(data)
        except OSError:
            self._abandon()

    def finish(self) -> bool:
        """Close the copy; whether it holds every byte written."""
        if self._file is None:
            return False
        try:
            self._file.close()
        except OSError:
            self._file = None
            return False
        return True

    def __enter__(self) -> _BestEffortCopy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None and not self._file.closed:
            self._abandon()

    def _abandon(self) -> None:
        assert self._file is not None
        with contextlib.suppress(OSError):
            self._file.close()
        self._file = None


def _entry(file: FileToPack, fixed_date_time: ZipDateTime | None) -> Entry:
    info = _zip_info(file, fixed_date_time)
    return Entry(
        name=info.filename,
        read=file.read,
        date_time=fixed_date_time or file.modified,
        external_attr=info.external_attr,
        create_system=info.create_system,
        size=file.size,
        identity=file.identity,
    )


def _zip_info(file: FileToPack, fixed_date_time: ZipDateTime | None) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(file.archive_path, fixed_date_time or file.modified)
    info.compress_type = COMPRESSION
    info.create_system = UNIX_CREATE_SYSTEM
    mode = normalize_file_permissions(0o755 if file.executable else 0o644)
    info.external_attr = (stat.S_IFREG | mode) << 16
    return info
