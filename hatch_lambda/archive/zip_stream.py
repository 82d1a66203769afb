"""A zip writer that compresses entries on all cores and writes them in order.

Python's `zipfile` compresses each entry while it writes it, so one thread does all the work.
zlib releases the GIL, so entries are compressed in a thread pool and written in sorted order as
they complete. Each entry is compressed by the same zlib calls `zipfile` makes (one raw-deflate
stream per entry, level 6), so the bytes equal a single-threaded `zipfile` build (the tests compare
them). Only the classic format is written: a zip that needs zip64 (over 65,535 entries or 4 GiB)
raises `NeedsZip64`, and the caller falls back to `zipfile`.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Callable

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_CENTRAL_HEADER = struct.Struct("<4s4B4HL2L5H2L")
_END_OF_CENTRAL_DIRECTORY = struct.Struct("<4s4H2LH")
_VERSION = 20  # 2.0: what deflate needs, and what `zipfile` writes
_DEFLATED = 8
_UTF8_NAMES = 0x800
_CLASSIC_LIMIT = 0xFFFFFFFF
_CLASSIC_ENTRIES = 0xFFFF
_WINDOW_ENTRIES = 512


class NeedsZip64(Exception):
    """The archive is too big for the classic zip format this writer produces."""


@dataclass(frozen=True)
class Entry:
    name: str
    read: Callable[[], bytes]
    date_time: tuple[int, int, int, int, int, int]
    external_attr: int
    create_system: int


@dataclass(frozen=True)
class _Compressed:
    entry: Entry
    crc: int
    size: int
    data: bytes


def write_entries(
    stream: BinaryIO, entries: Sequence[Entry], *, level: int, workers: int | None = None
) -> int:
    """Write `entries` (already in their final order) as a zip to `stream`; returns the bytes read."""
    if len(entries) > _CLASSIC_ENTRIES:
        raise NeedsZip64
    central: list[bytes] = []
    unzipped = 0
    for compressed in _compress_in_order(entries, level, workers or os.cpu_count() or 1):
        offset = stream.tell()
        if max(offset, compressed.size, len(compressed.data)) > _CLASSIC_LIMIT:
            raise NeedsZip64
        header = _headers(compressed, offset)
        stream.write(header.local)
        stream.write(compressed.data)
        central.append(header.central)
        unzipped += compressed.size
    start = stream.tell()
    for record in central:
        stream.write(record)
    size = stream.tell() - start
    if start + size > _CLASSIC_LIMIT:
        raise NeedsZip64
    stream.write(
        _END_OF_CENTRAL_DIRECTORY.pack(b"PK\x05\x06", 0, 0, len(central), len(central), size, start, 0)
    )
    return unzipped


def _compress_in_order(entries: Sequence[Entry], level: int, workers: int) -> Iterator[_Compressed]:
    if workers <= 1:
        yield from (_compress(entry, level) for entry in entries)
        return
    # The window must be wide: a large library takes a second to compress, and the other workers
    # keep going on the entries after it only while the window has room. It still bounds memory
    # for trees far larger than a layer can be (Lambda allows 250 MB unzipped in all).
    window = max(workers * 4, _WINDOW_ENTRIES)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hatch-lambda-zip") as pool:
        pending: deque[Future[_Compressed]] = deque()
        for entry in entries:
            pending.append(pool.submit(_compress, entry, level))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _compress(entry: Entry, level: int) -> _Compressed:
    data = entry.read()
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return _Compressed(entry, zlib.crc32(data), len(data), compressor.compress(data) + compressor.flush())


@dataclass(frozen=True)
class _Headers:
    local: bytes
    central: bytes


def _headers(compressed: _Compressed, offset: int) -> _Headers:
    entry = compressed.entry
    try:
        name = entry.name.encode("ascii")
        flags = 0
    except UnicodeEncodeError:
        name = entry.name.encode("utf-8")
        flags = _UTF8_NAMES
    year, month, day, hour, minute, second = entry.date_time
    dos_date = (year - 1980) << 9 | month << 5 | day
    dos_time = hour << 11 | minute << 5 | second // 2
    sizes = (compressed.crc, len(compressed.data), compressed.size)
    local = _LOCAL_HEADER.pack(
        b"PK\x03\x04", _VERSION, 0, flags, _DEFLATED, dos_time, dos_date, *sizes, len(name), 0
    )
    central = _CENTRAL_HEADER.pack(
        b"PK\x01\x02",
        _VERSION,
        entry.create_system,
        _VERSION,
        0,
        flags,
        _DEFLATED,
        dos_time,
        dos_date,
        *sizes,
        len(name),
        0,
        0,
        0,
        0,
        entry.external_attr,
        offset,
    )
    return _Headers(local + name, central + name)
