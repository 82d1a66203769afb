"""The trash (`files.trash`): a build moves its install tree there, the next build empties it while
its installer runs. What a user would check: nothing a build is done with stays behind in `dist/`,
the cache holds at most the last build's tree, and a build after a bump still ships the bump."""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path

import pytest

from hatch_lambda.build.transaction import transaction
from hatch_lambda.files import trash
from hatch_lambda.files.trash import TRASH_FOLDER, discard, emptied_meanwhile, set_aside
from tests.helpers import output_of, run_hatchling, write_project


def _tree(root: Path) -> Path:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("X = 1\n")
    (root / "pkg" / "sub" / "data.bin").write_bytes(b"\0" * 4096)
    return root


def test_a_discarded_tree_is_moved_whole_into_the_trash(tmp_path):
    tree = _tree(tmp_path / "dist" / "target")
    cache = tmp_path / "cache"

    discard(tree, cache)

    assert not tree.exists()
    (moved,) = (cache / TRASH_FOLDER).iterdir()
    assert (moved / "pkg" / "sub" / "data.bin").read_bytes() == b"\0" * 4096
    assert moved.name.startswith(f"{os.getpid()}-")


def test_a_tree_that_cannot_be_moved_is_removed_at_once(tmp_path, monkeypatch):
    tree = _tree(tmp_path / "dist" / "target")
    cache = tmp_path / "cache"

    def cross_device(self: Path, target: Path) -> Path:
        raise OSError(18, "Invalid cross-device link")  # what rename gives across file systems

    monkeypatch.setattr(Path, "rename", cross_device)
    discard(tree, cache)

    assert not tree.exists()
    assert list((cache / TRASH_FOLDER).iterdir()) == []


def test_a_tree_that_was_never_made_is_nothing_to_discard(tmp_path):
    discard(tmp_path / "dist" / "target", tmp_path / "cache")

    assert not (tmp_path / "cache").exists()


def test_the_trash_is_emptied_while_the_block_runs_and_done_when_it_ends(tmp_path):
    cache = tmp_path / "cache"
    for number in range(3):
        discard(_tree(tmp_path / f"build-{number}"), cache)
    assert len(list((cache / TRASH_FOLDER).iterdir())) == 3
    names_in_block: list[str] = []

    with emptied_meanwhile(cache):
        names_in_block.extend(thread.name for thread in threading.enumerate())

    assert "hatch-lambda-trash" in names_in_block
    assert list((cache / TRASH_FOLDER).iterdir()) == []


def test_an_empty_or_missing_trash_starts_no_thread(tmp_path, monkeypatch):
    started: list[object] = []
    monkeypatch.setattr(trash.threading, "Thread", lambda *args, **kwargs: started.append(kwargs))

    with emptied_meanwhile(tmp_path / "no-cache"):
        pass
    (tmp_path / "cache" / TRASH_FOLDER).mkdir(parents=True)
    with emptied_meanwhile(tmp_path / "cache"):
        pass

    assert started == []


def test_a_block_that_fails_still_waits_for_the_trash(tmp_path):
    cache = tmp_path / "cache"
    discard(_tree(tmp_path / "build"), cache)

    with pytest.raises(RuntimeError), emptied_meanwhile(cache):
        raise RuntimeError("the installer failed")

    assert list((cache / TRASH_FOLDER).iterdir()) == []


# A user's workflow: build, bump, build again ------------------------------------------------------


def _configure(root: Path, dependencies: list[str]) -> None:
    write_project(
        root,
        {
            "pyproject.toml": f"[project]\nname = 'trash-app'\nversion = '1.0'\n"
            f"dependencies = {dependencies!r}\n\n"
            "[tool.hatch.build.targets.lambda]\nruntime = 'python3.12'\n",
            "trash_app/__init__.py": "VALUE = 1\n",
        },
    )


def _build(root: Path, environment: dict[str, str]) -> set[str]:
    completed = run_hatchling(root, "lambda:layer", environment=environment)
    assert completed.returncode == 0, output_of(completed)
    (layer,) = (root / "dist").glob("*-lambda-layer-*.zip")
    with zipfile.ZipFile(layer) as archive:
        return set(archive.namelist())


def test_a_build_leaves_one_tree_in_the_trash_and_nothing_in_dist(tmp_path, offline_environment, layer_cache):
    root = tmp_path / "app"
    _configure(root, ["hlfix-pure"])
    _build(root, offline_environment)
    (first,) = (layer_cache / TRASH_FOLDER).iterdir()
    # A stale tree from a build that was killed before it could empty the trash.
    discard(_tree(tmp_path / "killed-build"), layer_cache)

    _configure(root, ["hlfix-pure", "hlfix-heavy"])
    names = _build(root, offline_environment)

    (second,) = (layer_cache / TRASH_FOLDER).iterdir()
    assert second != first
    assert any(name.startswith("python/hlfix_heavy/") for name in names)
    assert sorted(path.name for path in (root / "dist").iterdir() if path.name.startswith(".")) == []


# Large files replaced or removed: a second name in the trash, freed by the next install -----------


def _large(path: Path, fill: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fill * trash.SET_ASIDE_FROM)
    return path


def test_a_large_file_replaced_after_it_is_set_aside_waits_in_the_trash(tmp_path):
    cache = tmp_path / "cache"
    committed = _large(tmp_path / "dist" / "app-lambda-layer.zip", b"o")
    staged = _large(tmp_path / "stage" / "app-lambda-layer.zip", b"n")

    set_aside(committed, cache)
    os.replace(staged, committed)

    assert committed.read_bytes() == b"n" * trash.SET_ASIDE_FROM
    (waiting,) = (cache / TRASH_FOLDER).iterdir()
    assert waiting.name.endswith("-app-lambda-layer.zip")
    assert waiting.read_bytes() == b"o" * trash.SET_ASIDE_FROM
    with emptied_meanwhile(cache):
        pass
    assert list((cache / TRASH_FOLDER).iterdir()) == []


def test_small_files_links_and_missing_files_are_not_set_aside(tmp_path):
    cache = tmp_path / "cache"
    (tmp_path / "small.zip").write_bytes(b"x" * (trash.SET_ASIDE_FROM - 1))
    large = _large(tmp_path / "large.zip", b"l")
    (tmp_path / "link.zip").symlink_to(large)

    for name in ("small.zip", "link.zip", "missing.zip"):
        set_aside(tmp_path / name, cache)

    assert not (cache / TRASH_FOLDER).exists() or list((cache / TRASH_FOLDER).iterdir()) == []


def test_the_trash_holds_at_most_so_many_set_aside_files(tmp_path):
    cache = tmp_path / "cache"
    large = _large(tmp_path / "large.zip", b"l")

    for _ in range(trash.MOST_SET_ASIDE + 3):
        set_aside(large, cache)

    assert len(list((cache / TRASH_FOLDER).iterdir())) == trash.MOST_SET_ASIDE
    assert large.stat().st_nlink == trash.MOST_SET_ASIDE + 1


def test_a_commit_over_a_large_artifact_sets_the_old_one_aside(tmp_path, layer_cache, monkeypatch):
    monkeypatch.setenv("HATCH_LAMBDA_CACHE_DIR", str(layer_cache))
    output = tmp_path / "dist"
    _large(output / "app-1.0-lambda-layer.zip", b"o")
    _large(output / "app-0.9-lambda-layer.zip", b"r")

    with transaction(output, "app") as staging:
        _large(staging.stage("app-1.0-lambda-layer.zip"), b"n")
        staging.stage("app-1.0-lambda.json").write_text("{}")
        staging.commit(["app-1.0-lambda.json"], remove=[output / "app-0.9-lambda-layer.zip"])

    committed = sorted(path.name for path in output.iterdir())
    assert committed == ["app-1.0-lambda-layer.zip", "app-1.0-lambda.json"]
    assert (output / "app-1.0-lambda-layer.zip").read_bytes()[:1] == b"n"
    waiting = sorted(path.read_bytes()[:1] for path in (layer_cache / TRASH_FOLDER).iterdir())
    assert waiting == [b"o", b"r"]
