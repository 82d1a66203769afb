"""The layer cache: a hit is the same zip with no install and no zipping; never a corrupt entry."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from hatch_lambda.layer.cache import KEEP_ENTRIES, LayerCache
from tests.helpers import compile_lock, output_of, run_hatchling, write_project

LAYER = "cached_app-1.0-lambda-layer-python3.12-x86_64.zip"


def project(root: Path, table: str = "") -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "cached-app"
                version = "1.0"
                dependencies = ["hlfix-pure", "hlfix-tool"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                {table}
            """,
            "cached_app/__init__.py": "VALUE = 1\n",
        },
    )


def cache_entries(layer_cache: Path) -> list[Path]:
    return sorted(layer_cache.glob("layers-v1/*.zip"))


def test_a_second_build_takes_the_layer_from_the_cache(tmp_path, offline_environment, layer_cache):
    root = project(tmp_path / "app")
    first = run_hatchling(root, "lambda", environment=offline_environment)
    assert first.returncode == 0, output_of(first)
    assert "Layer from the cache" not in output_of(first)
    built = (root / "dist" / LAYER).read_bytes()
    # Written beside the artifact as it was zipped, then renamed in: the entry is the layer's bytes.
    (stored,) = cache_entries(layer_cache)
    assert stored.read_bytes() == built
    assert stored.stat().st_ino != (root / "dist" / LAYER).stat().st_ino
    assert not list((layer_cache / "layers-v1").glob(".*.partial"))

    (root / "cached_app" / "__init__.py").write_text("VALUE = 2\n")
    second = run_hatchling(root, "lambda", environment=offline_environment)

    assert second.returncode == 0, output_of(second)
    assert "Layer from the cache" in output_of(second)
    assert "installed" not in output_of(second)
    assert (root / "dist" / LAYER).read_bytes() == built
    (entry,) = cache_entries(layer_cache)
    # The artifact is its own copy: nothing done to the cache afterwards can change it.
    assert (root / "dist" / LAYER).stat().st_ino != entry.stat().st_ino
    entry.write_bytes(b"not a zip")
    assert (root / "dist" / LAYER).read_bytes() == built
    assert not list((root / "dist").glob(".*.partial"))
    manifest = json.loads((root / "dist" / "cached_app-1.0-lambda.json").read_text())
    assert manifest["artifacts"]["layer"]["file"] == LAYER
    assert [package["name"] for package in manifest["artifacts"]["layer"]["packages"]] == [
        "hlfix-native",
        "hlfix-pure",
        "hlfix-tool",
    ]


def test_another_project_with_the_same_dependencies_shares_the_entry(
    tmp_path, offline_environment, layer_cache
):
    for name in ("one", "two"):
        completed = run_hatchling(project(tmp_path / name), "lambda:layer", environment=offline_environment)
        assert completed.returncode == 0, output_of(completed)
    assert "Layer from the cache" in output_of(completed)
    assert len(cache_entries(layer_cache)) == 1


def test_any_option_that_changes_the_bytes_changes_the_key(tmp_path, offline_environment, layer_cache):
    tables = ("", 'layout = "site-packages"', "slim = true", 'architecture = "arm64"', "compress-level = 1")
    for index, table in enumerate(tables):
        completed = run_hatchling(
            project(tmp_path / f"app{index}", table), "lambda:layer", environment=offline_environment
        )
        assert completed.returncode == 0, output_of(completed)
        assert "Layer from the cache" not in output_of(completed)
    assert len(cache_entries(layer_cache)) == 5
    default, fastest = (tmp_path / name / "dist" / LAYER for name in ("app0", "app4"))
    with zipfile.ZipFile(default) as one, zipfile.ZipFile(fastest) as other:
        assert [(i.filename, i.CRC) for i in one.infolist()] == [
            (i.filename, i.CRC) for i in other.infolist()
        ]


def test_with_a_lock_a_cached_build_needs_no_index_at_all(tmp_path, offline_environment, wheelhouse):
    local_wheels = shutil.copytree(wheelhouse, tmp_path / "wheels")
    root = project(tmp_path / "app", 'lock = "pylock.toml"')
    environment = {**offline_environment, "UV_FIND_LINKS": str(local_wheels)}
    compile_lock(root, "hlfix-pure\nhlfix-tool\n", "pylock.toml", environment)
    assert run_hatchling(root, "lambda:layer", environment=environment).returncode == 0

    shutil.rmtree(local_wheels)  # the lock's wheels and the whole index are gone
    completed = run_hatchling(
        root, "lambda:layer", environment={**environment, "UV_FIND_LINKS": str(tmp_path / "none")}
    )

    assert completed.returncode == 0, output_of(completed)
    assert "Layer from the cache" in output_of(completed)


def test_a_corrupt_entry_is_rebuilt_never_shipped(tmp_path, offline_environment, layer_cache):
    root = project(tmp_path / "app")
    assert run_hatchling(root, "lambda:layer", environment=offline_environment).returncode == 0
    good = (root / "dist" / LAYER).read_bytes()
    (root / "dist" / LAYER).unlink()
    (entry,) = cache_entries(layer_cache)
    entry.write_bytes(good[: len(good) // 2])  # truncated, as by a full disk or a killed copy

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    assert "Layer from the cache" not in output_of(completed)
    assert (root / "dist" / LAYER).read_bytes() == good
    assert cache_entries(layer_cache)[0].read_bytes() == good


def test_two_builds_at_once_share_the_cache_safely(tmp_path, offline_environment, layer_cache):
    roots = [project(tmp_path / f"app{index}") for index in range(2)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "hatchling", "build", "-t", "lambda:layer"],
            cwd=root,
            env=offline_environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for root in roots
    ]
    outputs = [process.communicate(timeout=300)[0] for process in processes]

    assert [process.returncode for process in processes] == [0, 0], outputs
    assert (roots[0] / "dist" / LAYER).read_bytes() == (roots[1] / "dist" / LAYER).read_bytes()
    assert sum("Layer from the cache" in output for output in outputs) == 1
    assert len(cache_entries(layer_cache)) == 1
    assert not list(layer_cache.glob("layers-v1/*.partial"))


def test_the_cache_keeps_only_the_most_recent_entries(tmp_path):
    cache = LayerCache(tmp_path)
    built = tmp_path / "built.zip"
    built.write_bytes(b"zip")
    for index in range(KEEP_ENTRIES + 5):
        cache.store(f"key{index:03}", built, {"entry": {}})

    assert len(list(cache.root.glob("*.zip"))) == KEEP_ENTRIES
    assert cache.lookup(f"key{KEEP_ENTRIES + 4:03}") is not None
