"""Reading an installed `--target` tree: symlinks are read through inside the tree and refused
outside it, and a tree of installed packages that yields no file is an error, never an empty layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hatch_lambda.files.installed_tree import InstalledTreeError, files_to_pack


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
