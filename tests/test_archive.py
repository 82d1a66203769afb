"""The reproducible zip writer on its own: ordering, modes, and never a half-written file."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from hatch_lambda.archive.reproducible_zip import write_reproducible_zip
from hatch_lambda.archive.zip_stream import Entry, write_entries
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


def test_compression_on_all_cores_gives_the_bytes_of_a_one_thread_zipfile_build(tmp_path):
    files = varied_files()

    parallel = write_reproducible_zip(tmp_path / "parallel.zip", files, fixed_date_time=FIXED)
    reference = tmp_path / "reference.zip"
    with zipfile.ZipFile(reference, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for file in sorted(files, key=lambda item: item.archive_path):
            info = zipfile.ZipInfo(file.archive_path, FIXED)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = (0o100755 if file.executable else 0o100644) << 16
            archive.writestr(info, file.read())

    assert parallel.path.read_bytes() == reference.read_bytes()
    with zipfile.ZipFile(parallel.path) as opened:
        assert opened.testzip() is None
        assert opened.read("pkg/ünïcode_名前.py") == b"X = 1\n"


def test_one_worker_and_many_workers_write_the_same_bytes(tmp_path):
    files = varied_files()
    entries = [
        Entry(file.archive_path, file.read, FIXED, (0o100644 << 16), 3)
        for file in sorted(files, key=lambda item: item.archive_path)
    ]
    outputs = []
    for workers in (1, 2, 8):
        stream = io.BytesIO()
        write_entries(stream, entries, level=6, workers=workers)
        outputs.append(stream.getvalue())

    assert outputs[0] == outputs[1] == outputs[2]


def test_more_entries_than_the_classic_format_holds_fall_back_to_zip64(tmp_path):
    files = [
        FileToPack(f"f{index:05}", constant(b""), executable=False, modified=FIXED) for index in range(65_536)
    ]

    written = write_reproducible_zip(tmp_path / "many.zip", files, fixed_date_time=FIXED)

    with zipfile.ZipFile(written.path) as opened:
        assert len(opened.infolist()) == 65_536
    assert written.file_count == 65_536
