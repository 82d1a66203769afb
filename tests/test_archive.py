"""The reproducible zip writer on its own: ordering, modes, and never a half-written file."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import threading
import time
import zipfile
import zlib

import deflate
import pytest

from hatch_lambda.archive import libdeflate, reproducible_zip
from hatch_lambda.archive.reproducible_zip import write_reproducible_zip
from hatch_lambda.archive.zip_stream import Entry, write_entries
from hatch_lambda.files import digest
from hatch_lambda.files.record import FileToPack

FIXED = (2020, 2, 2, 0, 0, 0)


def constant(data: bytes):
    return lambda: data


def test_same_files_in_any_order_give_the_same_bytes(tmp_path):
    files = [
        FileToPack("b/module.py", constant(b"B = 1\n"), executable=False, modified=(2001, 1, 1, 0, 0, 0)),
        FileToPack("a.py", constant(b"A = 1\n"), executable=False, modified=(2002, 1, 1, 0, 0, 0)),
        FileToPack("bin/tool", constant(b"#!/bin/sh\n"), executable=True, modified=(2003, 1, 1, 0, 0, 0)),
    ]

    first = write_reproducible_zip(tmp_path / "one.zip", files, fixed_date_time=FIXED)
    second = write_reproducible_zip(tmp_path / "two.zip", list(reversed(files)), fixed_date_time=FIXED)

    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256
    assert (first.file_count, first.unzipped_size) == (3, 22)
    with zipfile.ZipFile(first.path) as opened:
        assert opened.namelist() == ["a.py", "b/module.py", "bin/tool"]
        assert (opened.getinfo("bin/tool").external_attr >> 16) == 0o100755


def test_without_a_fixed_date_each_file_keeps_its_own(tmp_path):
    files = [FileToPack("a.py", constant(b""), executable=False, modified=(2011, 5, 6, 7, 8, 10))]

    written = write_reproducible_zip(tmp_path / "a.zip", files, fixed_date_time=None)

    with zipfile.ZipFile(written.path) as opened:
        assert opened.getinfo("a.py").date_time == (2011, 5, 6, 7, 8, 10)


def test_a_failure_while_writing_leaves_no_file_and_keeps_the_old_one(tmp_path):
    destination = tmp_path / "artifact.zip"
    destination.write_bytes(b"previous build")

    def broken() -> bytes:
        raise OSError("disk went away")

    files = [
        FileToPack("a.py", constant(b"A"), executable=False, modified=FIXED),
        FileToPack("b.py", broken, executable=False, modified=FIXED),
    ]
    with pytest.raises(OSError, match="disk went away"):
        write_reproducible_zip(destination, files, fixed_date_time=FIXED)

    assert destination.read_bytes() == b"previous build"
    assert [path.name for path in tmp_path.iterdir()] == ["artifact.zip"]


def test_two_files_at_one_path_are_refused(tmp_path):
    files = [FileToPack("a.py", constant(b"1"), executable=False, modified=FIXED)] * 2

    with pytest.raises(ValueError, match=r"same zip path: a\.py"):
        write_reproducible_zip(tmp_path / "a.zip", files, fixed_date_time=FIXED)
    assert not list(tmp_path.iterdir())


def varied_files() -> list[FileToPack]:
    rng = random.Random(7)
    files = [
        FileToPack("empty.txt", constant(b""), executable=False, modified=FIXED),
        FileToPack("pkg/ünïcode_名前.py", constant(b"X = 1\n"), executable=False, modified=FIXED),
        FileToPack("bin/run", constant(b"#!/bin/sh\n" * 50), executable=True, modified=FIXED),
        FileToPack("big/random.bin", constant(rng.randbytes(3_000_000)), executable=False, modified=FIXED),
        FileToPack(
            "big/text.txt", constant(b"lorem ipsum dolor " * 200_000), executable=False, modified=FIXED
        ),
    ]
    files += [
        FileToPack(f"many/m{index:04}.py", constant(f"V = {index}\n".encode() * index), False, FIXED)
        for index in range(300)
    ]
    return files


def _raw_entries(path):
    """Each entry's name, stored compressed bytes and data, read from the zip's own offsets."""
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as opened:
        for info in opened.infolist():
            name_length, extra_length = struct.unpack_from("<2H", raw, info.header_offset + 26)
            start = info.header_offset + 30 + name_length + extra_length
            yield info.filename, raw[start : start + info.compress_size], opened.read(info)


def test_every_entry_is_libdeflates_raw_stream_of_its_data_and_the_crc_is_checked(tmp_path):
    files = varied_files()

    written = write_reproducible_zip(tmp_path / "parallel.zip", files, fixed_date_time=FIXED)

    by_path = {file.archive_path: file.read() for file in files}
    with zipfile.ZipFile(written.path) as opened:
        assert opened.testzip() is None  # every CRC-32 checked against the data
        assert opened.read("pkg/ünïcode_名前.py") == b"X = 1\n"
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in opened.infolist())
    for name, stored, data in _raw_entries(written.path):
        assert data == by_path[name]
        assert stored == bytes(deflate.deflate_compress(data, 6))
        assert zlib.decompress(stored, -15) == data  # raw deflate: no zlib header or trailer


def test_compression_on_all_cores_gives_the_bytes_of_a_one_thread_libdeflate_build(tmp_path, monkeypatch):
    files = varied_files()
    parallel = write_reproducible_zip(tmp_path / "parallel.zip", files, fixed_date_time=FIXED, workers=2)

    # The reference: one thread, through the `deflate` package's own functions (no ctypes).
    monkeypatch.setattr(libdeflate, "_c_api", lambda: None)
    assert not libdeflate.parallel()
    reference = write_reproducible_zip(tmp_path / "reference.zip", files, fixed_date_time=FIXED, workers=1)

    assert parallel.path.read_bytes() == reference.path.read_bytes()


def test_one_two_and_four_workers_write_the_same_bytes(tmp_path):
    files = varied_files()
    outputs = [
        write_reproducible_zip(tmp_path / f"{workers}.zip", files, fixed_date_time=FIXED, workers=workers)
        for workers in (1, 2, 4)
    ]

    assert outputs[0].path.read_bytes() == outputs[1].path.read_bytes() == outputs[2].path.read_bytes()


def test_a_small_zip_is_written_on_one_thread_with_the_bytes_of_a_parallel_one(tmp_path, monkeypatch):
    """A project's few files are not worth a thread pool; the bytes are the same either way."""
    files = [
        FileToPack(f"app/m{index}.py", constant(b"x = %d\n" % index * 50), False, FIXED, 350)
        for index in range(9)
    ]
    pools: list[object] = []
    real_pool = __import__("concurrent.futures").futures.ThreadPoolExecutor

    def counting_pool(*arguments, **options):
        pools.append(1)
        return real_pool(*arguments, **options)

    monkeypatch.setattr("concurrent.futures.ThreadPoolExecutor", counting_pool)
    small = write_reproducible_zip(tmp_path / "small.zip", files, fixed_date_time=FIXED)
    assert pools == []
    parallel = write_reproducible_zip(tmp_path / "parallel.zip", files, fixed_date_time=FIXED, workers=2)
    assert pools == [1]

    assert small.path.read_bytes() == parallel.path.read_bytes()


def test_crc32_continues_from_a_start_and_both_paths_agree():
    data = bytes(random.Random(7).randbytes(300_000))
    whole = zlib.crc32(data)
    assert libdeflate.crc32(data) == libdeflate.crc32(data, threaded=False) == whole
    assert (
        libdeflate.crc32(data[100_000:], libdeflate.crc32(data[:100_000], threaded=False), threaded=False)
        == whole
    )
    assert libdeflate.compress(data, 6) == libdeflate.compress(data, 6, threaded=False)


def test_the_stream_writer_gives_the_same_bytes_for_any_worker_count():
    entries = [
        Entry(file.archive_path, file.read, FIXED, (0o100644 << 16), 3)
        for file in sorted(varied_files(), key=lambda item: item.archive_path)
    ]
    outputs = []
    for workers in (1, 2, 8):
        stream = io.BytesIO()
        write_entries(stream, entries, level=6, workers=workers)
        outputs.append(stream.getvalue())

    assert outputs[0] == outputs[1] == outputs[2]


def test_the_level_changes_the_size_and_every_level_reads_back(tmp_path):
    files = varied_files()
    sizes = {}
    for level in (1, 6, 12):
        written = write_reproducible_zip(
            tmp_path / f"{level}.zip", files, fixed_date_time=FIXED, compress_level=level
        )
        with zipfile.ZipFile(written.path) as opened:
            assert opened.testzip() is None
        sizes[level] = written.zipped_size

    assert sizes[1] > sizes[6] > sizes[12]


def test_more_entries_than_the_classic_format_holds_get_zip64_end_records(tmp_path):
    files = [
        FileToPack(f"f{index:05}", constant(b"x" * (index % 7)), executable=False, modified=FIXED)
        for index in range(65_536)
    ]

    written = write_reproducible_zip(tmp_path / "many.zip", files, fixed_date_time=FIXED)
    one_worker = write_reproducible_zip(tmp_path / "one.zip", files, fixed_date_time=FIXED, workers=1)

    assert written.path.read_bytes() == one_worker.path.read_bytes()
    with zipfile.ZipFile(written.path) as opened:
        assert len(opened.infolist()) == 65_536
        assert opened.testzip() is None
        assert opened.read("f65535") == b"x" * (65_535 % 7)
    assert written.file_count == 65_536
    # The end records as zipfile writes them for the same entries (zip64's record and locator, then
    # the classic one with the count at its 16-bit ceiling), but for where the directory lies:
    # libdeflate writes an empty entry in 5 bytes where zlib takes 2.
    reference = tmp_path / "zipfile.zip"
    with zipfile.ZipFile(reference, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            info = zipfile.ZipInfo(file.archive_path, FIXED)
            info.compress_type, info.create_system, info.external_attr = (
                zipfile.ZIP_DEFLATED,
                3,
                0o100644 << 16,
            )
            archive.writestr(info, file.read())
    ours, theirs = (_end_records(path.read_bytes()) for path in (written.path, reference))
    assert ours == theirs


def _end_records(raw: bytes) -> tuple[tuple[int | bytes, ...], ...]:
    """The zip64 end record, its locator and the classic end record, without the offsets."""
    zip64 = struct.unpack_from("<4sQ2H2L4Q", raw, len(raw) - 98)
    locator = struct.unpack_from("<4sLQL", raw, len(raw) - 42)
    classic = struct.unpack_from("<4s4H2LH", raw, len(raw) - 22)
    return zip64[:-2], locator[:2] + locator[3:], classic[:5] + classic[7:]


def _steps_per_second(seconds: float) -> float:
    """How fast the loop below runs with no other thread in the way."""
    stamps, started, me = [], time.perf_counter(), threading.current_thread()
    while me.is_alive() and time.perf_counter() - started < seconds:
        stamps.append(time.perf_counter())
    return len(stamps) / seconds


def test_libdeflate_lets_other_threads_run_while_it_compresses():
    # What makes the thread pool use every core: the GIL is released during each entry's deflate.
    # Holding it, this thread would take no step (but at a switch or two) until the call returns.
    assert libdeflate.parallel()
    rng = random.Random(3)
    words = [bytes(rng.choices(b"abcdefghij", k=rng.randint(2, 9))) for _ in range(5000)]
    data = b" ".join(rng.choices(words, k=1_000_000))
    span: list[float] = []

    def compress() -> None:
        span.append(time.perf_counter())
        libdeflate.compress(data, 12)
        span.append(time.perf_counter())

    rate = _steps_per_second(0.1)
    worker = threading.Thread(target=compress)
    stamps = []
    worker.start()
    while worker.is_alive():
        stamps.append(time.perf_counter())
    worker.join()
    started, ended = span
    during = sum(1 for stamp in stamps if started < stamp < ended)

    assert during > 0.1 * rate * (ended - started)


def test_the_zip_s_digests_and_cache_copy_are_of_every_byte_written(tmp_path):
    """Entries smaller and larger than the writer's chunk, in any mix: the sha256 and CRC-32 the
    writer reports, and the copy it gives the layer cache, are those of the file on disk, which
    `zipfile` reads back whole, and a writer given the output as one stream writes the same bytes."""
    generator = random.Random(7)
    sizes = [10, 3 << 20, 200, 5 << 20, 1 << 20, 70_000, 0, (1 << 20) - 1]
    files = [
        FileToPack(f"pkg/{index:02}.bin", constant(generator.randbytes(size)), False, FIXED, size=size)
        for index, size in enumerate(sizes)
    ]

    written = write_reproducible_zip(
        tmp_path / "layer.zip", files, fixed_date_time=FIXED, copy_to=tmp_path / "copy.zip"
    )

    data = written.path.read_bytes()
    assert written.sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "copy.zip").read_bytes() == data
    assert digest._CRC32[digest._identity(written.path)] == zlib.crc32(data)
    with zipfile.ZipFile(written.path) as archive:
        assert archive.testzip() is None
        assert [archive.read(file.archive_path) for file in files] == [file.read() for file in files]
    stream = io.BytesIO()
    entries = [reproducible_zip._entry(file, FIXED) for file in files]
    write_entries(stream, entries, level=6)
    assert stream.getvalue() == data
