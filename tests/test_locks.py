"""Lock files for the layer: each kind is prepared, then installed by the real uv into a `--target`
directory with the flags `uv_installer.install_for_runtime` uses, against the generated wheelhouse."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hatch_lambda.layer.locks import (
    LockedInstall,
    LockFileError,
    lock_kind,
    prepare_locked_install,
    requirements_file_contents,
    unmet_dependencies,
)
from hatch_lambda.layer.uv import find_uv
from hatch_lambda.platform import runtimes
from tests.helpers import write_project
from tests.wheelfactory import WheelSpec, write_wheel

PROJECT = "lockapp"
PYTHON312 = runtimes.RUNTIMES[3]
assert PYTHON312.name == "python3.12"


@pytest.fixture(scope="session")
def lock_wheelhouse(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """The standard wheelhouse plus two wheels only these tests use."""
    directory = tmp_path_factory.mktemp("lock-wheelhouse") / "wheels"
    shutil.copytree(wheelhouse, directory)
    write_wheel(WheelSpec("hlfix-grouped", "1.0", files={"hlfix_grouped.py": ""}), directory)
    write_wheel(WheelSpec("hlfix-armonly", "1.0", files={"hlfix_armonly.py": ""}), directory)
    return directory


@pytest.fixture
def uv_environment(
    monkeypatch: pytest.MonkeyPatch, offline_environment: dict[str, str], lock_wheelhouse: Path
) -> dict[str, str]:
    """The offline environment, seeing the lock wheelhouse, in force here too (`uv export` inherits it)."""
    environment = {
        **offline_environment,
        "UV_FIND_LINKS": str(lock_wheelhouse),
        "UV_PYTHON_DOWNLOADS": "never",
    }
    for key in os.environ:
        if key.startswith("UV_") and key not in environment:
            monkeypatch.delenv(key)
    for key, value in environment.items():
        if key.startswith("UV_"):
            monkeypatch.setenv(key, value)
    return environment


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare(
    lock: Path,
    project_root: Path,
    requirements: list[str],
    *,
    extras: list[str] | None = None,
    groups: list[str] | None = None,
    runtime: runtimes.Runtime = PYTHON312,
    architecture: str = "x86_64",
) -> LockedInstall:
    # Deeper than the project, so a relative path in a lock could not resolve from it by chance.
    scratch = project_root.parent / "build" / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    return prepare_locked_install(
        lock,
        project_name=PROJECT,
        project_root=project_root,
        requirements=requirements,
        extras=extras or [],
        groups=groups or [],
        runtime=runtime,
        architecture=architecture,
        scratch=scratch,
        uv=find_uv(),
    )


def install(
    locked: LockedInstall,
    target: Path,
    project_root: Path,
    environment: dict[str, str],
    *,
    runtime: runtimes.Runtime = PYTHON312,
    architecture: str = "x86_64",
) -> subprocess.CompletedProcess[str]:
    """`uv_installer.install_for_runtime`'s command, with the lock's arguments for `--requirements`."""
    locked.write_files()
    excludes = target.parent / f"{target.name}-excludes.txt"
    excludes.write_text(PROJECT + "\n", encoding="utf-8")
    command = [
        find_uv(),
        "pip",
        "install",
        "--target",
        str(target),
        "--python",
        sys.executable,
        "--python-version",
        runtime.python_version_text,
        "--python-platform",
        runtimes.uv_python_platform(runtime, architecture),
        "--only-binary",
        ":all:",
        "--excludes",
        str(excludes),
        *locked.uv_arguments,
        "--color",
        "never",
        "--no-progress",
    ]
    return subprocess.run(
        command, cwd=project_root, env=environment, capture_output=True, text=True, check=False
    )


def installed(target: Path) -> set[str]:
    return {path.name.removesuffix(".dist-info") for path in target.glob("*.dist-info")}


def project_root(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir(exist_ok=True)
    return root


def test_lock_kind_follows_the_file_name():
    assert lock_kind(Path("uv.lock")) == "uv.lock"
    assert lock_kind(Path("pylock.toml")) == "pylock"
    assert lock_kind(Path("locks/pylock.lambda.toml")) == "pylock"
    assert lock_kind(Path("requirements.txt")) == "requirements"
    assert lock_kind(Path("requirements.lock")) == "requirements"
    # Not a PEP 751 name (NAME has a dot), and TOML is no requirements file: refused, not misread.
    assert lock_kind(Path("pylock.a.b.toml")) is None
    assert lock_kind(Path("poetry.lock")) is None
    assert lock_kind(Path("Pipfile.lock")) is None


def test_a_missing_lock_file_is_an_error(tmp_path):
    with pytest.raises(LockFileError, match=r"Lock file requirements\.lock does not exist"):
        prepare(Path("requirements.lock"), project_root(tmp_path), ["hlfix-pure"])


# pylock.toml --------------------------------------------------------------------------------------


def compile_pylock(root: Path, requirements: str, python_version: str) -> Path:
    (root / "requirements.in").write_text(requirements, encoding="utf-8")
    subprocess.run(
        [
            *(find_uv(), "pip", "compile", "requirements.in", "--universal"),
            *("--python-version", python_version, "--python", sys.executable),
            *("--output-file", "pylock.toml", "--quiet"),
        ],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return root / "pylock.toml"


@pytest.mark.parametrize(("architecture", "armonly"), [("x86_64", False), ("arm64", True)])
def test_pylock_installs_exactly_its_pins_for_the_target(tmp_path, uv_environment, architecture, armonly):
    root = project_root(tmp_path)
    # hlfix-native 2.0 has wheels for python3.12, so a resolver would pick it: the lock says 1.0.
    lock = compile_pylock(
        root, 'hlfix-pure\nhlfix-native==1.0\nhlfix-armonly; platform_machine == "aarch64"\n', "3.12"
    )
    assert 'requires-python = ">=3.12"' in lock.read_text()

    locked = prepare(Path("pylock.toml"), root, ["hlfix-pure"], architecture=architecture)
    completed = install(locked, tmp_path / "target", root, uv_environment, architecture=architecture)

    assert completed.returncode == 0, completed.stderr
    expected = {"hlfix_pure-1.0", "hlfix_native-1.0"} | ({"hlfix_armonly-1.0"} if armonly else set())
    assert installed(tmp_path / "target") == expected
    assert locked.pinned == {
        "hlfix-native": "1.0",
        "hlfix-pure": "1.0",
        **({"hlfix-armonly": "1.0"} if armonly else {}),
    }
    assert locked.warnings == []
    assert "Resolved" not in completed.stderr  # uv installs the lock's entries; it resolves nothing


def test_the_pylock_copy_uv_installs_is_written_only_when_the_layer_is_installed(tmp_path, uv_environment):
    """Planning reads the lock; the copy uv installs from is written by `write_files`, which a
    build that takes its layer from the cache never calls."""
    root = project_root(tmp_path)
    compile_pylock(root, "hlfix-pure\n", "3.12")

    locked = prepare(Path("pylock.toml"), root, ["hlfix-pure"])
    copy = Path(locked.uv_arguments[locked.uv_arguments.index("--requirements") + 1])
    assert not copy.exists()

    locked.write_files()
    assert copy.is_file() and 'name = "hlfix-pure"' in copy.read_text()


def test_pylock_requires_python_is_checked_against_the_runtime_not_the_build_interpreter(
    tmp_path, uv_environment
):
    root = project_root(tmp_path)
    compile_pylock(root, "hlfix-native==1.0\n", "3.13")
    python313 = runtimes.runtime_named("python3.13")
    assert python313 is not None

    # uv alone refuses a lock whose requires-python excludes `--python`, whatever `--python-version` says.
    locked = prepare(Path("pylock.toml"), root, ["hlfix-native"], runtime=python313)
    completed = install(locked, tmp_path / "target", root, uv_environment, runtime=python313)

    assert completed.returncode == 0, completed.stderr
    assert installed(tmp_path / "target") == {"hlfix_native-1.0"}
    assert (tmp_path / "target/hlfix_native/_speedups.cp313-x86_64-linux-gnu.so").is_file()
    with pytest.raises(LockFileError, match=r"requires Python >=3\.13, but python3\.12 runs CPython 3\.12"):
        prepare(Path("pylock.toml"), root, ["hlfix-native"])


def hand_written_pylock(root: Path, wheels: Path, *, wrong_hash: bool = False) -> Path:
    """A PEP 751 lock with extras, groups, relative wheel paths and the project's own entry."""
    relative = Path(os.path.relpath(wheels, root)).as_posix()

    def wheel(name: str) -> str:
        digest = "0" * 64 if wrong_hash else sha256(wheels / name)
        return f'wheels = [{{ path = "{relative}/{name}", hashes = {{ sha256 = "{digest}" }} }}]'

    lock = root / "pylock.toml"
    lock.write_text(
        f"""\
lock-version = "1.0"
created-by = "hand"
requires-python = ">=3.9"
extras = ["more"]
dependency-groups = ["ops", "dev"]
default-groups = ["dev"]

[[packages]]
name = "hlfix-pure"
version = "1.0"
{wheel("hlfix_pure-1.0-py3-none-any.whl")}

[[packages]]
name = "hlfix-extra"
version = "1.0"
marker = "'more' in extras"
{wheel("hlfix_extra-1.0-py3-none-any.whl")}

[[packages]]
name = "hlfix-grouped"
version = "1.0"
marker = "'ops' in dependency_groups"
{wheel("hlfix_grouped-1.0-py3-none-any.whl")}

[[packages]]
name = "hlfix-tool"
version = "1.0"
marker = "'dev' in dependency_groups"
{wheel("hlfix_tool-1.0-py3-none-any.whl")}

[[packages]]
name = "{PROJECT}"
directory = {{ path = ".", editable = true }}
""",
        encoding="utf-8",
    )
    return lock


@pytest.mark.parametrize(
    ("extras", "groups", "expected"),
    [
        ([], [], {"hlfix-pure", "hlfix-tool"}),  # the default group
        (["more"], [], {"hlfix-pure", "hlfix-extra", "hlfix-tool"}),
        ([], ["ops"], {"hlfix-pure", "hlfix-grouped"}),  # a group asked for replaces the defaults
        (["more"], ["ops", "dev"], {"hlfix-pure", "hlfix-extra", "hlfix-grouped", "hlfix-tool"}),
    ],
)
def test_pylock_extras_and_groups_select_entries(
    tmp_path, uv_environment, lock_wheelhouse, extras, groups, expected
):
    root = project_root(tmp_path)
    hand_written_pylock(root, lock_wheelhouse)

    locked = prepare(Path("pylock.toml"), root, ["hlfix-pure"], extras=extras, groups=groups)
    # Relative wheel paths are read from the lock's directory, wherever uv runs from.
    completed = install(locked, tmp_path / "target", tmp_path, uv_environment)

    assert completed.returncode == 0, completed.stderr
    assert set(locked.pinned) == expected
    assert installed(tmp_path / "target") == {f"{name.replace('-', '_')}-1.0" for name in expected}


@pytest.mark.parametrize(
    ("extras", "groups", "named"), [(["aws"], [], "extra `aws`"), ([], ["test"], "group `test`")]
)
def test_pylock_refuses_extras_and_groups_it_does_not_declare(
    tmp_path, lock_wheelhouse, extras, groups, named
):
    # uv would silently install without them.
    root = project_root(tmp_path)
    hand_written_pylock(root, lock_wheelhouse)

    with pytest.raises(LockFileError, match=f"declares no dependency {named}"):
        prepare(Path("pylock.toml"), root, ["hlfix-pure"], extras=extras, groups=groups)


def test_pylock_with_a_wrong_hash_fails(tmp_path, uv_environment, lock_wheelhouse):
    root = project_root(tmp_path)
    hand_written_pylock(root, lock_wheelhouse, wrong_hash=True)

    completed = install(prepare(Path("pylock.toml"), root, []), tmp_path / "target", root, uv_environment)

    assert completed.returncode != 0
    assert "Hash mismatch for `hlfix-pure==1.0`" in completed.stderr


# Requirements files -------------------------------------------------------------------------------


def test_requirements_with_hashes_install_exactly_the_file_and_require_hashes(
    tmp_path, uv_environment, lock_wheelhouse
):
    root = project_root(tmp_path)
    wheel = lock_wheelhouse / "hlfix_pure-1.0-py3-none-any.whl"
    (root / "requirements.txt").write_text(f"hlfix-pure==1.0 \\\n    --hash=sha256:{sha256(wheel)}\n")

    locked = prepare(Path("requirements.txt"), root, ["hlfix-pure"])
    completed = install(locked, tmp_path / "target", root, uv_environment)

    assert completed.returncode == 0, completed.stderr
    assert locked.uv_arguments[-2:] == ["--no-deps", "--require-hashes"]
    # No resolution: hlfix-pure's own dependency stays out, and the check after the install says so.
    assert installed(tmp_path / "target") == {"hlfix_pure-1.0"}
    assert unmet_dependencies(tmp_path / "target", PYTHON312, "x86_64", project_name=PROJECT) == [
        "`hlfix-pure` 1.0 requires `hlfix-native`, which is not installed"
    ]


def test_requirements_naming_the_project_install_without_it(tmp_path, uv_environment):
    # `uv pip freeze` output lists the project; the builder's `--excludes` keeps it out.
    root = project_root(tmp_path)
    (root / "requirements.txt").write_text(f"{PROJECT}==0.1\nhlfix-cycle==1.0\n")

    locked = prepare(Path("requirements.txt"), root, ["hlfix-cycle"])
    completed = install(locked, tmp_path / "target", root, uv_environment)

    assert completed.returncode == 0, completed.stderr
    assert locked.pinned == {"hlfix-cycle": "1.0"}
    assert installed(tmp_path / "target") == {"hlfix_cycle-1.0"}
    # hlfix-cycle depends on `cyclic-app`: for that project, the source zip provides it.
    assert unmet_dependencies(tmp_path / "target", PYTHON312, "x86_64", project_name="cyclic-app") == []
    assert unmet_dependencies(tmp_path / "target", PYTHON312, "x86_64", project_name=PROJECT) == [
        "`hlfix-cycle` 1.0 requires `cyclic-app`, which is not installed"
    ]


def test_requirements_with_a_wrong_hash_fail(tmp_path, uv_environment):
    root = project_root(tmp_path)
    (root / "requirements.txt").write_text(f"hlfix-pure==1.0 --hash=sha256:{'0' * 64}\n")

    completed = install(
        prepare(Path("requirements.txt"), root, []), tmp_path / "target", root, uv_environment
    )

    assert completed.returncode != 0
    assert "Hash mismatch for `hlfix-pure==1.0`" in completed.stderr
    assert not installed(tmp_path / "target")


def test_partly_hashed_requirements_still_check_the_hashes_they_have(tmp_path, uv_environment):
    root = project_root(tmp_path)
    (root / "requirements.txt").write_text(f"hlfix-pure==1.0 --hash=sha256:{'0' * 64}\nhlfix-native==1.0\n")

    locked = prepare(Path("requirements.txt"), root, [])
    completed = install(locked, tmp_path / "target", root, uv_environment)

    assert "--verify-hashes" in locked.uv_arguments
    assert locked.warnings == [
        "Lock file requirements.txt has hashes for some pins but not for `hlfix-native`: those go unchecked"
    ]
    assert completed.returncode != 0
    assert "Hash mismatch for `hlfix-pure==1.0`" in completed.stderr


def test_warnings_name_missing_direct_dependencies_and_excluded_versions(tmp_path):
    root = project_root(tmp_path)
    (root / "requirements.txt").write_text("hlfix-pure==1.0\nhlfix-extra==1.0\n")
    requirements = [
        "hlfix-pure",
        "hlfix-extra>=2",
        "hlfix-tool",
        'hlfix-armonly; platform_machine == "aarch64"',  # not needed on x86_64
        f"{PROJECT}",  # the project itself is never pinned in its own layer
    ]

    on_x86 = prepare(Path("requirements.txt"), root, requirements)
    on_arm = prepare(Path("requirements.txt"), root, requirements, architecture="arm64")

    assert on_x86.warnings == [
        "Lock file requirements.txt pins hlfix-extra==1.0, which the project's requirement `hlfix-extra>=2` "
        "excludes",
        "Lock file requirements.txt has no pin for `hlfix-tool`, a direct dependency of the project",
    ]
    assert on_arm.warnings == [
        *on_x86.warnings,
        "Lock file requirements.txt has no pin for `hlfix-armonly`, a direct dependency of the project",
    ]


def test_requirements_files_are_read_as_pip_reads_them(tmp_path):
    (tmp_path / "base.txt").write_text("hlfix-tool==1.0  # the tool\n")
    (tmp_path / "constraints.txt").write_text("hlfix-extra<2\n")  # constrains; installs nothing
    (tmp_path / "requirements.txt").write_text(
        "# pinned by hand\n"
        "--index-url https://example.invalid/simple\n"
        "-r base.txt\n"
        "-c constraints.txt\n"
        "hlfix-pure==1.0 ; python_version >= '3.10' \\\n"
        "    --hash=sha256:abc \\\n"
        "    --hash=sha256:def\n"
        "hlfix-native==2.0 ; platform_machine == 'aarch64'\n"
        "hlfix-extra>=1\n"
        "hlfix-cycle @ https://example.invalid/hlfix_cycle-1.0-py3-none-any.whl\n"
        f"{PROJECT}==0.1\n"
    )
    environment = dict(runtimes.marker_environment(PYTHON312, "x86_64"))

    contents = requirements_file_contents(tmp_path / "requirements.txt", environment, PROJECT)

    assert contents.versions == {"hlfix-tool": "1.0", "hlfix-pure": "1.0", "hlfix-cycle": "1.0"}
    assert contents.named == {"hlfix-tool", "hlfix-pure", "hlfix-extra", "hlfix-cycle"}
    assert contents.hashed == ["hlfix-pure"]
    assert contents.unpinned == ["hlfix-extra>=1"]
    assert [path.name for path in contents.files] == ["requirements.txt", "base.txt", "constraints.txt"]


def test_a_missing_included_file_is_named(tmp_path):
    (tmp_path / "requirements.txt").write_text("-r base.txt\nhlfix-pure==1.0\n")
    environment = dict(runtimes.marker_environment(PYTHON312, "x86_64"))

    with pytest.raises(LockFileError, match=r"includes `base\.txt` .*which does not exist"):
        requirements_file_contents(tmp_path / "requirements.txt", environment, PROJECT)


def test_paths_urls_and_editables_in_a_requirements_lock_are_unpinned(tmp_path):
    (tmp_path / "requirements.txt").write_text(
        "./lib\n-e ./other\nlib2 @ file:///somewhere/lib2\nhlfix-pure==1.0\n"
    )
    environment = dict(runtimes.marker_environment(PYTHON312, "x86_64"))

    contents = requirements_file_contents(tmp_path / "requirements.txt", environment, PROJECT)

    assert contents.unpinned == ["./lib", "./other", "lib2 @ file:///somewhere/lib2"]
    assert contents.versions == {"hlfix-pure": "1.0"}


# uv.lock ------------------------------------------------------------------------------------------


def locked_project(root: Path, environment: dict[str, str]) -> Path:
    write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "{PROJECT}"
                version = "0.1"
                requires-python = ">=3.9"
                dependencies = ["hlfix-pure", "hlfix-armonly; platform_machine == 'aarch64'"]

                [project.optional-dependencies]
                more = ["hlfix-extra"]

                [dependency-groups]
                ops = ["hlfix-grouped"]
                dev = ["hlfix-tool"]

                [tool.hatch.build.targets.wheel]
                packages = ["lockapp"]
            """,
            "lockapp/__init__.py": "",
        },
    )
    subprocess.run(
        [find_uv(), "lock", "--python", sys.executable, "--quiet"],
        cwd=root,
        env=environment,
        check=True,
        capture_output=True,
    )
    return root


@pytest.mark.parametrize(("architecture", "armonly"), [("x86_64", False), ("arm64", True)])
def test_uv_lock_installs_the_project_pins_with_its_extras_and_groups(
    tmp_path, uv_environment, architecture, armonly
):
    root = locked_project(tmp_path / "app", uv_environment)
    requirements = [
        "hlfix-pure",
        "hlfix-armonly; platform_machine == 'aarch64'",
        "hlfix-extra",
        "hlfix-grouped",
    ]

    locked = prepare(
        Path("uv.lock"), root, requirements, extras=["more"], groups=["ops"], architecture=architecture
    )
    completed = install(locked, tmp_path / "target", root, uv_environment, architecture=architecture)

    assert completed.returncode == 0, completed.stderr
    # The lock pinned hlfix-native 2.0 for every Python; the dev group and the project stay out.
    expected = {"hlfix_pure-1.0", "hlfix_native-2.0", "hlfix_extra-1.0", "hlfix_grouped-1.0"}
    assert installed(tmp_path / "target") == expected | ({"hlfix_armonly-1.0"} if armonly else set())
    assert "hlfix-tool" not in locked.pinned
    assert locked.uv_arguments[2] == "--no-deps"
    assert locked.warnings == []


def test_uv_lock_without_the_extra_warns_about_it(tmp_path, uv_environment):
    root = locked_project(tmp_path / "app", uv_environment)

    locked = prepare(Path("uv.lock"), root, ["hlfix-pure", "hlfix-extra"])

    assert "hlfix-extra" not in locked.pinned
    assert locked.warnings == [
        "Lock file uv.lock has no pin for `hlfix-extra`, a direct dependency of the project"
    ]


def test_uv_lock_refuses_an_extra_the_project_does_not_define(tmp_path, uv_environment):
    root = locked_project(tmp_path / "app", uv_environment)

    with pytest.raises(LockFileError) as raised:
        prepare(Path("uv.lock"), root, ["hlfix-pure"], extras=["nope"])

    assert "Could not read the pins for `lockapp` from lock file uv.lock" in str(raised.value)
    assert "Extra `nope` is not defined" in str(raised.value)


def test_uv_lock_of_a_workspace_leaves_members_out_and_says_so(tmp_path, uv_environment):
    workspace = write_project(
        tmp_path / "workspace",
        {
            "pyproject.toml": """
                [tool.uv.workspace]
                members = ["packages/*"]
            """,
            "packages/app/pyproject.toml": f"""
                [project]
                name = "{PROJECT}"
                version = "0.1"
                requires-python = ">=3.9"
                dependencies = ["hlfix-pure", "wslib"]

                [tool.uv.sources]
                wslib = {{ workspace = true }}

                [tool.hatch.build.targets.wheel]
                packages = ["lockapp"]
            """,
            "packages/app/lockapp/__init__.py": "",
            "packages/lib/pyproject.toml": """
                [project]
                name = "wslib"
                version = "0.1"
                requires-python = ">=3.9"
                dependencies = ["hlfix-extra"]

                [tool.hatch.build.targets.wheel]
                packages = ["wslib"]
            """,
            "packages/lib/wslib/__init__.py": "",
        },
    )
    # A virtual workspace root: write_project gave it a build-system table it does not need.
    (workspace / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["packages/*"]\n')
    subprocess.run(
        [find_uv(), "lock", "--python", sys.executable, "--quiet"],
        cwd=workspace,
        env=uv_environment,
        check=True,
        capture_output=True,
    )
    member = workspace / "packages" / "app"

    locked = prepare(Path("../../uv.lock"), member, ["hlfix-pure", "wslib"])
    completed = install(locked, tmp_path / "target", member, uv_environment)

    assert completed.returncode == 0, completed.stderr
    assert installed(tmp_path / "target") == {"hlfix_pure-1.0", "hlfix_native-2.0", "hlfix_extra-1.0"}
    assert locked.warnings == [
        "Lock file ../../uv.lock has no pin for `wslib`, a direct dependency of the project"
    ]
