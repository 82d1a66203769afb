"""The layer cache's one promise, tested as an oracle: after any change, a warm build (a cache
filled by the build before) writes the very bytes a cold build (a fresh, empty
HATCH_LAMBDA_CACHE_DIR) writes from the same inputs.

Each case builds once to fill the cache, makes one change a user would make, then builds warm and
cold and compares the layer zips byte for byte. Where the change must change the layer, the test
also checks that it did: a stale layer served by both builds would be equal too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import output_of, run_hatchling, write_project
from tests.wheelfactory import WheelSpec, write_wheel

# An in-tree PEP 517 backend (nothing to install, so uv builds it offline) that packs the
# directory's `dirlib/` package as it is on disk: edits to the directory change the wheel.
DIRECTORY_BACKEND = """
import base64, hashlib, os, zipfile

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {}
    for name in sorted(os.listdir("dirlib")):
        with open(os.path.join("dirlib", name), "rb") as stream:
            files["dirlib/" + name] = stream.read()
    info = "dirlib-1.0.dist-info"
    files[info + "/METADATA"] = b"Metadata-Version: 2.1\\nName: dirlib\\nVersion: 1.0\\n\\n"
    files[info + "/WHEEL"] = (
        b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    )
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
        record.append("%s,sha256=%s,%d" % (path, digest, len(data)))
    files[info + "/RECORD"] = ("\\n".join(record + [info + "/RECORD,,"]) + "\\n").encode()
    name = "dirlib-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
        for path, data in files.items():
            archive.writestr(zipfile.ZipInfo(path, (2024, 1, 1, 0, 0, 0)), data)
    return name
"""


@dataclass
class Builds:
    """One project, its build environment, and warm and cold builds of its layer."""

    root: Path
    environment: dict[str, str]
    scratch: Path
    dependencies: list[str] = field(default_factory=lambda: ["hlfix-heavy", "hlfix-pure"])
    table: dict[str, str] = field(default_factory=lambda: {"runtime": '"python3.12"'})
    count: int = 0

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # pip reads none of uv's settings: the same wheelhouse, through its own.
        self.environment.update(PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull)

    def configure(self) -> None:
        options = "\n".join(f"{key} = {value}" for key, value in self.table.items())
        write_project(
            self.root,
            {
                "pyproject.toml": f"[project]\nname = 'oracle-app'\nversion = '1.0'\n"
                f"dependencies = {self.dependencies!r}\n\n"
                "[tool.hatch.metadata]\nallow-direct-references = true\n\n"
                f"[tool.hatch.build.targets.lambda]\n{options}\n",
                "oracle_app/__init__.py": "VALUE = 1\n",
            },
        )

    def build(self, cache: Path | None = None) -> tuple[bytes, str]:
        self.count += 1
        directory = self.scratch / f"dist-{self.count}"
        environment = {**self.environment, "PIP_FIND_LINKS": self.environment["UV_FIND_LINKS"]}
        if cache is not None:
            environment["HATCH_LAMBDA_CACHE_DIR"] = str(cache)
        completed = run_hatchling(
            self.root, "lambda:layer", environment=environment, extra=("-d", str(directory))
        )
        assert completed.returncode == 0, output_of(completed)
        (layer,) = directory.glob("*-lambda-layer-*.zip")
        return layer.read_bytes(), output_of(completed)

    def warm_equals_cold(self) -> bytes:
        warm, warm_output = self.build()
        cold, cold_output = self.build(cache=self.scratch / f"cold-cache-{self.count}")
        assert warm == cold, f"warm:\n{warm_output}\ncold:\n{cold_output}"
        return warm


def names_in(layer: bytes, tmp: Path) -> dict[str, bytes]:
    path = tmp / "inspected.zip"
    path.write_bytes(layer)
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def directory_dependency(builds: Builds) -> Path:
    library = write_project(
        builds.scratch / "dirlib",
        {
            "pyproject.toml": """
                [build-system]
                requires = []
                build-backend = "backend"
                backend-path = ["."]

                [project]
                name = "dirlib"
                version = "1.0"
            """,
            "backend.py": DIRECTORY_BACKEND,
            "dirlib/__init__.py": "CODE = 'first'\n",
        },
    )
    builds.table["allow-sdist"] = '["dirlib"]'
    # A directory dependency is first-party code, shipped in the source zip, unless it is asked for
    # in the layer: these cases are about the layer's key, so they ask.
    builds.table["path-dependencies"] = '"layer"'
    return library


def git(repository: Path, *arguments: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *arguments],
        cwd=repository,
        check=True,
        capture_output=True,
    )


# Cases: (set up before the first build, the change) --------------------------------------------

Step = Callable[[Builds], None]


def _nothing(builds: Builds) -> None:
    pass


def _add_dependency(builds: Builds) -> None:
    builds.dependencies.append("hlfix-extra")
    builds.configure()


def _remove_dependency(builds: Builds) -> None:
    builds.dependencies.remove("hlfix-heavy")
    builds.configure()


def _with_directory(builds: Builds) -> None:
    library = directory_dependency(builds)
    builds.dependencies = ["hlfix-pure", f"dirlib @ {library.as_uri()}"]
    builds.configure()


def _edit_directory(builds: Builds) -> None:
    (builds.scratch / "dirlib" / "dirlib" / "__init__.py").write_text("CODE = 'second'\n")


def _with_git(builds: Builds) -> None:
    library = directory_dependency(builds)
    git(library, "init", "-q", "-b", "main")
    git(library, "add", "-A")
    git(library, "commit", "-q", "-m", "first")
    builds.dependencies = ["hlfix-pure", f"dirlib @ git+{library.as_uri()}@main"]
    builds.configure()


def _new_commit(builds: Builds) -> None:
    library = builds.scratch / "dirlib"
    (library / "dirlib" / "__init__.py").write_text("CODE = 'second'\n")
    git(library, "commit", "-q", "-am", "second")


def _with_included_pins(builds: Builds) -> None:
    (builds.root / "requirements.txt").write_text("-r base.txt\nhlfix-pure==1.0\n")
    (builds.root / "base.txt").write_text("hlfix-native==1.0\n")
    builds.table["lock"] = '"requirements.txt"'
    builds.configure()


def _change_included_pin(builds: Builds) -> None:
    (builds.root / "base.txt").write_text("hlfix-native==2.0\n")


def _private_wheelhouse(builds: Builds) -> Path:
    wheelhouse = builds.scratch / "private-wheels"
    if not wheelhouse.exists():
        shutil.copytree(builds.environment["UV_FIND_LINKS"], wheelhouse)
        builds.environment["UV_FIND_LINKS"] = str(wheelhouse)
    return wheelhouse


def _release(builds: Builds, version: str) -> None:
    spec = WheelSpec("hlfix-fresh", version, files={"hlfix_fresh.py": f"VERSION = {version!r}\n"})
    write_wheel(spec, _private_wheelhouse(builds))


def _with_unpinned_lock(builds: Builds) -> None:
    _release(builds, "1.0")
    (builds.root / "requirements.txt").write_text("hlfix-fresh\n")
    builds.table["lock"] = '"requirements.txt"'
    builds.configure()


def _with_unpinned_dependency(builds: Builds) -> None:
    _release(builds, "1.0")
    builds.dependencies = ["hlfix-fresh"]
    builds.configure()


def _publish_release(builds: Builds) -> None:
    _release(builds, "1.1")


def _option(key: str, value: str) -> Step:
    def change(builds: Builds) -> None:
        builds.table[key] = value
        builds.configure()

    return change


def _source_date_epoch(builds: Builds) -> None:
    builds.environment["SOURCE_DATE_EPOCH"] = "1700000000"


CASES: dict[str, tuple[Step, Step]] = {
    "add a dependency": (_nothing, _add_dependency),
    "remove a dependency": (_nothing, _remove_dependency),
    "edit a directory dependency": (_with_directory, _edit_directory),
    "a new commit in a git dependency": (_with_git, _new_commit),
    "change a pin in an -r include": (_with_included_pins, _change_included_pin),
    "a new release of an unpinned lock entry": (_with_unpinned_lock, _publish_release),
    "a new release of an unpinned dependency": (_with_unpinned_dependency, _publish_release),
    "slim": (_nothing, _option("slim", "true")),
    "slim-exclude": (_nothing, _option("slim-exclude", '["hlfix_heavy/data/*"]')),
    "exclude-packages": (_nothing, _option("exclude-packages", '["hlfix-native"]')),
    "layout": (_nothing, _option("layout", '"site-packages"')),
    "compile-bytecode": (_nothing, _option("compile-bytecode", "true")),
    "installer": (_nothing, _option("installer", '"pip"')),
    "runtime": (_nothing, _option("runtime", '"python3.13"')),
    "architecture": (_nothing, _option("architecture", '"arm64"')),
    "SOURCE_DATE_EPOCH": (_nothing, _source_date_epoch),
}
# The installer changes how the layer is made, not what it holds: its bytes may stay the same.
SAME_BYTES_ALLOWED = {"installer"}


@pytest.mark.parametrize("case", list(CASES))
def test_after_a_change_a_warm_build_gives_the_bytes_of_a_cold_build(case, tmp_path, offline_environment):
    builds = Builds(tmp_path / "app", dict(offline_environment), tmp_path)
    prepare, change = CASES[case]
    prepare(builds)
    builds.configure()
    before, _ = builds.build()

    change(builds)
    after = builds.warm_equals_cold()

    if case not in SAME_BYTES_ALLOWED:
        assert after != before, f"{case} did not change the layer"


def test_an_edited_directory_dependency_ships_its_new_code(tmp_path, offline_environment):
    builds = Builds(tmp_path / "app", dict(offline_environment), tmp_path)
    _with_directory(builds)
    builds.build()
    _edit_directory(builds)

    after = builds.warm_equals_cold()

    assert names_in(after, tmp_path)["python/dirlib/__init__.py"] == b"CODE = 'second'\n"


def test_an_unpinned_lock_is_built_fresh_and_says_why(tmp_path, offline_environment):
    builds = Builds(tmp_path / "app", dict(offline_environment), tmp_path)
    _with_unpinned_lock(builds)
    builds.build()
    _publish_release(builds)

    layer, output = builds.build()

    assert "python/hlfix_fresh-1.1.dist-info/METADATA" in names_in(layer, tmp_path)
    assert "Layer from the cache" not in output
    assert "Layer not cached" in output and "`hlfix-fresh`" in output


@pytest.mark.parametrize("mode", ["symlink", "hardlink", "copy"])
def test_uv_link_mode_from_the_environment_never_changes_the_layer(mode, tmp_path, offline_environment):
    builds = Builds(tmp_path / "app", dict(offline_environment), tmp_path)
    builds.configure()
    reference, _ = builds.build()
    builds.environment["UV_LINK_MODE"] = mode

    linked, _ = builds.build(cache=tmp_path / "fresh-cache")
    after = builds.warm_equals_cold()

    assert linked == reference == after
    assert "python/hlfix_pure/__init__.py" in names_in(linked, tmp_path)


def test_uv_link_mode_from_uv_toml_never_changes_the_layer(tmp_path, offline_environment):
    builds = Builds(tmp_path / "app", dict(offline_environment), tmp_path)
    builds.configure()
    reference, _ = builds.build()
    # UV_CONFIG_FILE replaces the project's configuration: move the offline settings there.
    offline = Path(builds.environment.pop("UV_CONFIG_FILE")).read_text()
    (builds.root / "uv.toml").write_text(offline + 'link-mode = "symlink"\n')

    linked, _ = builds.build(cache=tmp_path / "fresh-cache")

    assert linked == reference


def test_a_changed_hash_in_an_included_file_fails_warm_as_it_fails_cold(tmp_path, offline_environment):
    builds = Builds(tmp_path / "app", dict(offline_environment), tmp_path)
    wheels = Path(builds.environment["UV_FIND_LINKS"])

    def pinned(name: str, version: str, wheel: str) -> str:
        digest = hashlib.sha256((wheels / wheel).read_bytes()).hexdigest()
        return f"{name}=={version} --hash=sha256:{digest}\n"

    (builds.root / "requirements.txt").write_text(
        "-r base.txt\n" + pinned("hlfix-pure", "1.0", "hlfix_pure-1.0-py3-none-any.whl")
    )
    native = "hlfix_native-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    (builds.root / "base.txt").write_text(pinned("hlfix-native", "1.0", native))
    builds.table["lock"] = '"requirements.txt"'
    builds.configure()
    builds.build()

    (builds.root / "base.txt").write_text(f"hlfix-native==1.0 --hash=sha256:{'0' * 64}\n")
    warm = run_hatchling(builds.root, "lambda:layer", environment=builds.environment)

    assert warm.returncode != 0, output_of(warm)
    assert "Hash mismatch" in output_of(warm) or "hash" in output_of(warm).lower()
    assert "Layer from the cache" not in output_of(warm)
