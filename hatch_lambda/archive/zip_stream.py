"""A zip writer that compresses entries on all cores and writes them in order.

Python's `zipfile` compresses each entry while it writes it, so one thread does all the work.
Here each entry is one raw deflate stream from the pinned libdeflate (`archive.libdeflate`, which
releases the GIL), compressed in a thread pool and written in order as they complete. An entry's
bytes depend only on its data and the level, never on the thread or the number of workers (the
tests compare 1, 2 and 4 workers with a one-thread build). Given an `EntryStore`, an entry whose
data was compressed before at this level takes its stored stream (`archive.entry_cache`): the same
bytes, without compressing again. With a store, consecutive small files of one package are
compressed (or taken from the store) together, as one bundle. Past 65,535 entries the end records are
zip64's, as `zipfile` writes them; an archive over 4 GiB (far past what Lambda takes) is refused.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Callable, NamedTuple, Protocol

from hatch_lambda.archive import libdeflate
from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.files.record import FileIdentity

if TYPE_CHECKING:
    from concurrent.futures import Future

    from hatch_lambda.archive.entry_cache import EntryStore

_ZIP64_END_OF_CENTRAL_DIRECTORY = struct.Struct("<4sQ2H2L4Q")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_VERSION = 45  # 4.5: what zip64 end records need, and what `zipfile` writes with them
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_CENTRAL_HEADER = struct.Struct("<4s4B4HL2L5H2L")
_END_OF_CENTRAL_DIRECTORY = struct.Struct("<4s4H2LH")
_VERSION = 20  # 2.0: what deflate needs, and what `zipfile` writes
_DEFLATED = 8
_UTF8_NAMES = 0x800
_CLASSIC_LIMIT = 0xFFFFFFFF
_CLASSIC_ENTRIES = 0xFFFF
_WINDOW_ENTRIES = 512


class ArchiveTooLargeError(LambdaBuildError):
    """A zip over 4 GiB: Lambda takes 250 MB unzipped, so this is never a deployable artifact."""

    def __init__(self, size: int) -> None:
        super().__init__(
            f"The zip would be over 4 GiB ({size} bytes at least); Lambda takes at most 250 MB "
            "unzipped: leave out what the function does not need"
        )


class Entry(NamedTuple):
    name: str
    read: Callable[[], bytes]
    date_time: tuple[int, int, int, int, int, int]
    external_attr: int
    create_system: int
    size: int | None = None  # as listed, when known: which files go in a bundle; never written
    identity: FileIdentity | None = None  # of the file on disk `read` reads, when it is one


class Output(Protocol):
    """Where the zip is written: any binary file, or the writer's own hashing file."""

    def write(self, data: bytes, /) -> int: ...

    def tell(self) -> int: ...


class _Compressed(NamedTuple):
    entry: Entry
    crc: int
    size: int
    data: bytes


def write_entries(
    stream: Output,
    entries: Sequence[Entry],
    *,
    level: int,
    workers: int | None = None,
    store: EntryStore | None = None,
) -> int:
    """Write `entries` (already in their final order) as a zip to `stream`; returns the bytes read.
    `store`, when given, supplies streams compressed before and keeps the new ones: they are all
    kept by the time this returns."""
    try:
        return _write_zip(stream, entries, level, workers or os.cpu_count() or 1, store)
    finally:
        if store is not None:
            store.flush()


def _write_zip(
    stream: Output, entries: Sequence[Entry], level: int, workers: int, store: EntryStore | None
) -> int:
    central: list[bytes] = []
    unzipped = 0
    # Offsets are counted, not asked of the stream: `tell()` on a buffered file is a system call
    # (and a flush) per entry, some 1,300 of them for a layer.
    offset = stream.tell()
    for compressed in _compress_in_order(entries, level, workers, store):
        if max(offset, compressed.size, len(compressed.data)) > _CLASSIC_LIMIT:
            raise ArchiveTooLargeError(max(offset, compressed.size, len(compressed.data)))
        header = _headers(compressed, offset)
        stream.write(header.local)
        stream.write(compressed.data)
        offset += len(header.local) + len(compressed.data)
        central.append(header.central)
        unzipped += compressed.size
    start = offset
    for record in central:
        stream.write(record)
    size = stream.tell() - start
    if start + size > _CLASSIC_LIMIT:
        raise ArchiveTooLargeError(start + size)
    _write_end_records(stream, len(central), size, start)
    return unzipped


def _write_end_records(stream: Output, count: int, size: int, start: int) -> None:
    """The end of central directory; with zip64's record and locator before it when the count
    does not fit in 16 bits, field for field as `zipfile` writes them."""
    if count > _CLASSIC_ENTRIES:
        zip64_end = stream.tell()
        stream.write(
            _ZIP64_END_OF_CENTRAL_DIRECTORY.pack(
                b"PK\x06\x06", 44, _ZIP64_VERSION, _ZIP64_VERSION, 0, 0, count, count, size, start
            )
        )
        stream.write(_ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, zip64_end, 1))
    classic_count = min(count, _CLASSIC_ENTRIES)
    stream.write(
        _END_OF_CENTRAL_DIRECTORY.pack(b"PK\x05\x06", 0, 0, classic_count, classic_count, size, start, 0)
    )


def _compress_in_order(
    entries: Sequence[Entry], level: int, workers: int, store: EntryStore | None
) -> Iterator[_Compressed]:
    plan = _plan(entries, store)
    if workers <= 1 or len(plan.units) <= 1 or not libdeflate.parallel():
        done: dict[int, list[_Compressed]] = {}
        for unit_index, position in plan.slots:
            if unit_index not in done:
                done[unit_index] = _compress_unit(plan.units[unit_index], level, store, threaded=False)
            yield _taken(done, unit_index, position, len(plan.units[unit_index].entries))
        return
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - a one-thread zip needs no pool

    # The window must be wide: a large library takes a second to compress, and the other workers
    # keep going on the entries after it only while the window has room. It still bounds memory
    # for trees far larger than a layer can be (Lambda allows 250 MB unzipped in all).
    window = max(workers * 4, _WINDOW_ENTRIES)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hatch-lambda-zip") as pool:
        pending: dict[int, Future[list[_Compressed]]] = {}
        submitted = 0
        for unit_index, position in plan.slots:
            # Units are numbered in the order their first entries come, so this one is submitted.
            while submitted < len(plan.units) and submitted <= unit_index + window:
                pending[submitted] = pool.submit(
                    _compress_unit, plan.units[submitted], level, store, threaded=True
                )
                submitted += 1
            compressed = pending[unit_index].result()[position]
            if position == len(plan.units[unit_index].entries) - 1:
                del pending[unit_index]  # its last entry: nothing more is taken from it
            yield compressed


def _taken(done: dict[int, list[_Compressed]], unit_index: int, position: int, size: int) -> _Compressed:
    compressed = done[unit_index][position]
    if position == size - 1:
        del done[unit_index]
    return compressed


class _Unit(NamedTuple):
    """What one task compresses: one file, or a bundle of small files kept in the store as one."""

    entries: list[Entry]
    bundle: bool


class _Plan(NamedTuple):
    units: list[_Unit]  # in the order of their first entries
    slots: list[tuple[int, int]]  # per entry, in order: its unit and its place in the unit


def _plan(entries: Sequence[Entry], store: EntryStore | None) -> _Plan:
    """The units the entries are compressed in: a file alone, or with a store, the small files of
    one package together (in order, cut where a bundle would pass `BUNDLE_BYTES`), whatever large
    files come between them. The cuts depend only on the package's files' names and listed sizes,
    so a package that did not change gives the bundles it gave the build before."""
    if store is None:
        return _Plan(
            [_Unit([entry], bundle=False) for entry in entries], [(index, 0) for index in range(len(entries))]
        )
    from hatch_lambda.archive.entry_cache import BUNDLE_BYTES, SMALLEST_STORED  # noqa: PLC0415

    units: list[_Unit] = []
    slots: list[tuple[int, int]] = []
    open_bundles: dict[str, tuple[int, int]] = {}  # package -> its last bundle's unit and bytes
    for entry in entries:
        if entry.size is None or entry.size >= SMALLEST_STORED:
            slots.append((len(units), 0))
            units.append(_Unit([entry], bundle=False))
            continue
        package = _package(entry.name)
        unit_index, held = open_bundles.get(package, (-1, 0))
        if (
            unit_index < 0
            or held + entry.size > BUNDLE_BYTES
            or (held >= _BUNDLE_MINIMUM and _cuts_before(entry.name))
        ):
            unit_index, held = len(units), 0
            units.append(_Unit([], bundle=True))
        slots.append((unit_index, len(units[unit_index].entries)))
        units[unit_index].entries.append(entry)
        open_bundles[package] = (unit_index, held + entry.size)
    return _Plan(units, slots)


# Most bundles are cut by their files' names, not by the bytes gathered: a file added or grown
# early in a group (the whole layer, with the site-packages layout; all of `google/`'s distributions)
# would otherwise move every cut after it, and a bump would compress all the following bundles again.
# Cut by name, the bundles after the next such name are the ones the build before wrote.
_BUNDLE_MINIMUM = 64 * 1024
_NAME_CUT_ONE_IN = 16


def _cuts_before(name: str) -> bool:
    """Whether a bundle that holds enough ends before `name`: the same answer in every build."""
    return zlib.crc32(name.encode("utf-8")) % _NAME_CUT_ONE_IN == 0


def _package(name: str) -> str:
    """What a layer's entry belongs to, as far as bundles go: `python/numpy/linalg/x.py` ->
    `python/numpy`; a file at the top (`python/six.py`) is a package of its own."""
    return "/".join(name.split("/", 2)[:2])


def _compress_unit(unit: _Unit, level: int, store: EntryStore | None, *, threaded: bool) -> list[_Compressed]:
    if store is None or not unit.bundle:
        return [_compress(entry, level, store, threaded=threaded) for entry in unit.entries]
    data = [entry.read() for entry in unit.entries]
    streams = store.streams_for_bundle(data, level)
    return [
        _Compressed(entry, stored.crc, len(item), stored.stream)
        for entry, item, stored in zip(unit.entries, data, streams)
    ]


def _compress(entry: Entry, level: int, store: EntryStore | None, *, threaded: bool) -> _Compressed:
    data = entry.read()
    if store is not None:
        stored = store.stream_for(data, level, identity=entry.identity)
        return _Compressed(entry, stored.crc, len(data), stored.stream)
    crc = libdeflate.crc32(data, threaded=threaded)
    return _Compressed(entry, crc, len(data), libdeflate.compress(data, level, threaded=threaded))


class _Headers(NamedTuple):
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
