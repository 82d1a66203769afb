"""The reproducible zip writer on its own: ordering, modes, and never a half-written file."""

from __future__ import annotations

import zipfile

import pytest

from hatch_lambda.archive import FileToPack, write_reproducible_zip

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
