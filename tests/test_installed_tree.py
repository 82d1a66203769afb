"""Reading an installed `--target` tree: symlinks are read through inside the tree and refused
outside it, and a tree of installed packages that yields no file is an error, never an empty layer."""

from __future__ import annotations

import email.parser
import itertools
import os
from pathlib import Path

import pytest

from hatch_lambda.files import installed_tree
from hatch_lambda.files.installed_tree import InstalledTreeError, files_to_pack
from hatch_lambda.files.reading import read_file, read_head


def installed(target: Path) -> Path:
    (target / "pkg").mkdir(parents=True)
    (target / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (target / "pkg-1.0.dist-info").mkdir()
    (target / "pkg-1.0.dist-info" / "METADATA").write_text("Name: pkg\nVersion: 1.0\n")
    return target


def packed(target: Path) -> dict[str, bytes]:
    return {file.archive_path: file.read() for file in files_to_pack(target, "python/")}


def test_a_symlink_inside_the_tree_is_packed_as_the_file_it_points_to(tmp_path):
    target = installed(tmp_path / "target")
    os.symlink("__init__.py", target / "pkg" / "alias.py")

    assert packed(target)["python/pkg/alias.py"] == b"VALUE = 1\n"


def test_a_symlink_out_of_the_tree_is_refused_naming_it(tmp_path):
    target = installed(tmp_path / "target")
    outside = tmp_path / "uv-cache" / "module.py"
    outside.parent.mkdir()
    outside.write_text("X = 1\n")
    os.symlink(outside, target / "pkg" / "module.py")

    with pytest.raises(InstalledTreeError, match=r"pkg/module\.py -> .*uv-cache.*UV_LINK_MODE"):
        files_to_pack(target, "python/")


def test_a_linked_directory_is_refused(tmp_path):
    target = installed(tmp_path / "target")
    os.symlink(target / "pkg", target / "other")

    with pytest.raises(InstalledTreeError, match="other"):
        files_to_pack(target, "python/")


def test_a_dangling_symlink_is_refused(tmp_path):
    target = installed(tmp_path / "target")
    os.symlink(tmp_path / "gone.py", target / "pkg" / "gone.py")

    with pytest.raises(InstalledTreeError, match=r"gone\.py"):
        files_to_pack(target, "python/")


def test_no_file_to_pack_with_packages_planned_is_an_error(tmp_path):
    target = tmp_path / "target"
    (target / "pkg-1.0.dist-info").mkdir(parents=True)
    (target / "pkg-1.0.dist-info" / "RECORD").write_text("")  # install debris only

    with pytest.raises(InstalledTreeError, match="no file to pack"):
        files_to_pack(target, "python/", planned_packages=1)
    with pytest.raises(InstalledTreeError, match="no file to pack"):
        files_to_pack(target, "python/")  # a .dist-info says something was installed


def test_an_empty_tree_with_nothing_planned_packs_nothing(tmp_path):
    (tmp_path / "target").mkdir()

    assert files_to_pack(tmp_path / "target", "python/") == []


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, (1 << 20) + 3, 5 << 20])
def test_each_file_reads_whole_with_its_head_as_the_proof_reads_it(tmp_path, size):
    """`read_file` is the zip's read of every installed file and `read_head` the proof's: both the
    bytes the file holds, an empty file and ones past a read block included."""
    data = os.urandom(size)
    (tmp_path / "target" / "pkg").mkdir(parents=True)
    (tmp_path / "target" / "pkg" / "blob.bin").write_bytes(data)

    (packed,) = files_to_pack(tmp_path / "target", "python/")

    assert packed.read() == data
    assert read_head(str(tmp_path / "target" / "pkg" / "blob.bin"), 4096) == data[:4096]


def test_a_file_that_grows_after_its_status_is_read_is_read_to_its_end(tmp_path, monkeypatch):
    path = tmp_path / "growing"
    path.write_bytes(b"a" * 10)
    real_fstat = os.fstat

    def fstat_then_grow(descriptor):
        status = real_fstat(descriptor)
        with path.open("ab") as appending:
            appending.write(b"b" * (3 << 20))
        return status

    monkeypatch.setattr(os, "fstat", fstat_then_grow)

    assert read_file(str(path)) == b"a" * 10 + b"b" * (3 << 20)


def test_a_missing_file_raises_as_open_does(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_file(str(tmp_path / "missing"))


def test_record_paths_read_as_a_path_object_gives_them():
    """RECORD paths are taken as they are when already in the form `Path.as_posix` gives; every
    other one goes through a path object, as before."""
    pieces = ["", ".", "..", "a", "b.py", "\\", "a\\b", "C:", "c:d", " "]
    for size in (1, 2, 3):
        for parts in itertools.product(pieces, repeat=size):
            listed = "/".join(parts)
            assert installed_tree._posix(listed) == Path(listed).as_posix(), listed


@pytest.mark.parametrize(
    "text",
    [
        "Name: a\nVersion: 1\n\nA description\n\nName: not-a-header\n",
        "Name: a\r\nVersion: 1\r\n\r\nA description\r\n",
        "Name: a\nVersion: 1\n",
        "Name: a\nSummary: two\n  lines\n\nbody",
        "\n\nName: after-a-blank-line",
    ],
)
def test_dist_info_headers_are_those_the_whole_file_gives(tmp_path, text):
    (tmp_path / "METADATA").write_bytes(text.encode())

    headers = installed_tree.dist_info_headers(tmp_path, "METADATA")

    assert headers.items() == email.parser.Parser().parsestr(text, headersonly=True).items()


def test_a_read_that_stops_short_reads_on_to_the_end(tmp_path, monkeypatch):
    """Linux ends one read at 2 GiB, and a signal can end one early: the file is still read whole."""
    path = tmp_path / "large"
    path.write_bytes(bytes(range(256)) * 40)
    real_read = os.read
    calls = []

    def short_first_read(descriptor, size):
        calls.append(size)
        return real_read(descriptor, min(size, 1000) if len(calls) == 1 else size)

    monkeypatch.setattr(os, "read", short_first_read)

    assert read_file(str(path)) == bytes(range(256)) * 40


def test_reading_a_directory_names_it(tmp_path):
    with pytest.raises(IsADirectoryError) as raised:
        read_file(str(tmp_path))
    assert raised.value.filename == str(tmp_path)
