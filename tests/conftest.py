from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers import REPOSITORY, TEST_TODAY, clean_environment
from tests.publish_support import aws, moto_server  # noqa: F401 - one moto server per session
from tests.wheelfactory import refused_wheelhouse, standard_wheelhouse


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process code (publishing, the CLI) takes the same fixed day as build subprocesses."""
    monkeypatch.setenv("HATCH_LAMBDA_TODAY", TEST_TODAY)


@pytest.fixture(autouse=True)
def own_hatch_lambda_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """In-process code remembers facts in hatch-lambda's cache (an interpreter's probe, uv's
    version): each test has its own, never the developer's, and one test's answers never stand in
    for another's process starts. Build subprocesses get theirs from their environment."""
    directory = tmp_path / "hatch-lambda-cache"
    monkeypatch.setenv("HATCH_LAMBDA_CACHE_DIR", str(directory))
    # What a CI runner may set (`actions/setup-python` sets a library path): the probe's tests
    # set them where they test them.
    for name in ("LD_LIBRARY_PATH", "LD_PRELOAD", "DYLD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES"):
        monkeypatch.delenv(name, raising=False)
    return directory


def pytest_configure(config: pytest.Config) -> None:
    """Session and module fixtures run before the autouse one above: they get a cache of this
    session's, never the developer's."""
    directory = tempfile.mkdtemp(prefix="hatch-lambda-test-cache-")
    config.stash[_SESSION_CACHE] = directory
    os.environ["HATCH_LAMBDA_CACHE_DIR"] = directory


def pytest_unconfigure(config: pytest.Config) -> None:
    directory = config.stash.get(_SESSION_CACHE, None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


_SESSION_CACHE = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every generated wheel and sdist; the refused ones have names no other fixture asks for."""
    directory = tmp_path_factory.mktemp("wheelhouse")
    return refused_wheelhouse(standard_wheelhouse(directory))


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uv-cache")


@pytest.fixture
def layer_cache(tmp_path: Path) -> Path:
    """Each test's own layer cache: a test never reads or fills the developer's."""
    return tmp_path / "layer-cache"


@pytest.fixture(scope="session")
def no_index_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A uv config file turning the index off: uv reads no `UV_NO_INDEX` variable (uv 0.13)."""
    path = tmp_path_factory.mktemp("uv-config") / "uv.toml"
    path.write_text("no-index = true\n", encoding="utf-8")
    return path


@pytest.fixture
def offline_environment(
    wheelhouse: Path, uv_cache: Path, layer_cache: Path, no_index_config: Path
) -> dict[str, str]:
    """A build environment where uv sees only the generated wheelhouse: no index, no network.

    Each of the three is what uv really reads: `no-index` from the config file, `UV_OFFLINE` (no
    network at all) and `UV_FIND_LINKS` (the wheelhouse). `tests/test_offline.py` proves each.
    """
    return clean_environment(
        UV_CONFIG_FILE=str(no_index_config),
        UV_OFFLINE="1",
        UV_FIND_LINKS=str(wheelhouse),
        UV_CACHE_DIR=str(uv_cache),
        HATCH_LAMBDA_CACHE_DIR=str(layer_cache),
    )


@pytest.fixture(scope="session")
def plugin_wheel_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hatch-lambda built from this checkout, for builds that install the plugin as users do."""
    directory = tmp_path_factory.mktemp("plugin-wheel")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(directory)],
        cwd=REPOSITORY,
        env=clean_environment(),
        check=True,
        capture_output=True,
    )
    return directory


@pytest.fixture
def hatch_environment(tmp_path: Path, plugin_wheel_directory: Path, layer_cache: Path) -> dict[str, str]:
    """An isolated Hatch: its own data, cache and config, no active env, the plugin via find-links."""
    config = tmp_path / "hatch-config.toml"
    config.write_text("", encoding="utf-8")
    return clean_environment(
        HATCH_DATA_DIR=str(tmp_path / "hatch-data"),
        HATCH_CACHE_DIR=str(tmp_path / "hatch-cache"),
        HATCH_CONFIG=str(config),
        UV_FIND_LINKS=str(plugin_wheel_directory),
        HATCH_LAMBDA_CACHE_DIR=str(layer_cache),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )


@pytest.fixture
def offline_runtime_sdk(monkeypatch: pytest.MonkeyPatch, offline_environment: dict[str, str]) -> None:
    """This process's uv sees only the wheelhouse and this test's caches, for handler checks and
    invokes run in-process: the runtime SDK they install is the wheelhouse's small fake boto3."""
    for name in ("UV_FIND_LINKS", "UV_OFFLINE", "UV_CACHE_DIR", "HATCH_LAMBDA_CACHE_DIR"):
        monkeypatch.setenv(name, offline_environment[name])
    for name in ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
