"""Real-world inputs: target markers, dependency groups, exclusions, sdists and pip as the installer."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from tests.helpers import compile_lock, output_of, require_cpython, run_hatchling, write_project


def project(root: Path, dependencies: list[str], table: str = "", extra_tables: str = "") -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "inputs-app"
                version = "1.0"
                dependencies = {json.dumps(dependencies)}
                {extra_tables}

                [tool.hatch.build.targets.lambda]
                {table}
            """,
            "inputs_app/__init__.py": "",
        },
    )


def layer_packages(root: Path) -> dict[str, str]:
    manifest = json.loads((root / "dist" / "inputs_app-1.0-lambda.json").read_text())
    return {package["name"]: package["version"] for package in manifest["artifacts"]["layer"]["packages"]}


def build_layer(root: Path, environment: dict[str, str]) -> dict[str, str]:
    completed = run_hatchling(root, "lambda:layer", environment=environment)
    assert completed.returncode == 0, output_of(completed)
    return layer_packages(root)


@pytest.fixture
def pip_environment(offline_environment, wheelhouse):
    """pip sees only the generated wheelhouse, and none of this machine's pip configuration."""
    return {
        **offline_environment,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_CONFIG_FILE": os.devnull,
    }


@pytest.mark.parametrize(
    ("runtime", "architecture", "expected"),
    [
        ("python3.12", "x86_64", {"hlfix-unix", "hlfix-x86only"}),
        ("python3.12", "arm64", {"hlfix-unix", "hlfix-armonly"}),
        ("python3.11", "arm64", {"hlfix-unix", "hlfix-armonly", "hlfix-old"}),
    ],
)
def test_markers_are_evaluated_for_lambda_not_for_this_machine(
    tmp_path, offline_environment, runtime, architecture, expected
):
    table = f'runtime = "{runtime}"\narchitecture = "{architecture}"'
    root = project(tmp_path / "app", ["hlfix-markers"], table)

    packages = set(build_layer(root, offline_environment))

    assert packages == {"hlfix-markers", *expected}
    assert "hlfix-win" not in packages


def test_dependency_groups_with_include_group_and_extras(tmp_path, offline_environment):
    groups = """
        [project.optional-dependencies]
        more = ["hlfix-markers[more]"]

        [dependency-groups]
        base = ["hlfix-http"]
        aws = [{include-group = "base"}, "hlfix-client"]
        test = ["pytest"]
    """
    table = 'runtime = "python3.12"\nextras = ["more"]\ndependency-groups = ["aws"]'
    root = project(tmp_path / "app", ["hlfix-tool"], table, groups)

    packages = set(build_layer(root, offline_environment))

    assert packages == {
        "hlfix-tool",
        "hlfix-http",
        "hlfix-client",
        "hlfix-markers",
        "hlfix-extra",
        "hlfix-unix",
        "hlfix-x86only",
    }


def test_an_unknown_dependency_group_names_the_field(tmp_path, offline_environment):
    root = project(
        tmp_path / "app", ["hlfix-tool"], 'dependency-groups = ["aws"]', "[dependency-groups]\ndev = []"
    )

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode != 0
    assert "Field `tool.hatch.build.targets.lambda.dependency-groups` names `aws`" in output_of(completed)
    assert "(known: dev)" in output_of(completed)


def test_excluding_a_package_drops_what_only_it_needed(tmp_path, offline_environment):
    table = 'runtime = "python3.12"\nexclude-packages = ["hlfix-sdk", "hlfix-notthere"]'
    root = project(tmp_path / "app", ["hlfix-sdk", "hlfix-client"], table)

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    # Like excluding boto3: botocore, s3transfer and jmespath go; urllib3 stays for requests.
    assert set(layer_packages(root)) == {"hlfix-client", "hlfix-http"}
    assert "`exclude-packages` names `hlfix-notthere`" in output_of(completed)
    assert "`hlfix-sdk`" not in output_of(completed)


def test_sdists_are_refused_unless_allowed(tmp_path, offline_environment):
    root = project(tmp_path / "app", ["hlfix-fromsource"], 'runtime = "python3.12"')

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode != 0
    assert "`hlfix-fromsource`" in output_of(completed)
    assert "allow-sdist" in output_of(completed)


def test_missing_wheels_name_the_platforms_that_do_have_them(tmp_path, offline_environment):
    root = project(tmp_path / "app", ["hlfix-native>=2"], 'runtime = "python3.11"')

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode != 0
    assert "`hlfix-native`" in output_of(completed)
    assert "manylinux_2_28_x86_64" in output_of(completed)
    assert "glibc 2.26" in output_of(completed)


def test_allowed_pure_sdist_builds_with_the_runtime_python(tmp_path, offline_environment):
    require_cpython("3.12")
    table = 'runtime = "python3.12"\nallow-sdist = ["hlfix-fromsource"]'
    root = project(tmp_path / "app", ["hlfix-fromsource", "hlfix-pure"], table)

    packages = build_layer(root, offline_environment)

    assert packages["hlfix-fromsource"] == "1.0"
    with zipfile.ZipFile(root / "dist" / "inputs_app-1.0-lambda-layer-python3.12-x86_64.zip") as opened:
        assert opened.read("python/hlfix_fromsource/__init__.py") == b"BUILT_FROM_SOURCE = True\n"


def test_allowed_sdist_that_builds_a_binary_is_refused(tmp_path, offline_environment):
    require_cpython("3.12")
    table = 'runtime = "python3.12"\nallow-sdist = ["hlfix-nativesource"]'
    root = project(tmp_path / "app", ["hlfix-nativesource"], table)

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode != 0
    assert "hlfix_nativesource-1.0" in output_of(completed)
    assert "cp312-cp312-linux_x86_64 (built from source on this machine" in output_of(completed)
    assert not (root / "dist").exists() or not list((root / "dist").glob("*.zip"))


def test_pip_gives_the_same_layer_as_uv(tmp_path, offline_environment, pip_environment):
    dependencies = ["hlfix-pure", "hlfix-markers", "hlfix-client", "hlfix-tool"]
    with_uv = project(tmp_path / "uv", dependencies, 'runtime = "python3.12"')
    with_pip = project(tmp_path / "pip", dependencies, 'runtime = "python3.12"\ninstaller = "pip"')

    build_layer(with_uv, offline_environment)
    completed = run_hatchling(with_pip, "lambda:layer", environment=pip_environment)

    assert completed.returncode == 0, output_of(completed)
    name = "inputs_app-1.0-lambda-layer-python3.12-x86_64.zip"
    assert (with_pip / "dist" / name).read_bytes() == (with_uv / "dist" / name).read_bytes()


def test_pip_never_silently_builds_a_layer_with_host_markers(tmp_path, pip_environment):
    table = 'runtime = "python3.12"\narchitecture = "arm64"\ninstaller = "pip"'
    root = project(tmp_path / "app", ["hlfix-markers"], table)

    completed = run_hatchling(root, "lambda:layer", environment=pip_environment)

    assert completed.returncode != 0
    assert "pip evaluated environment markers for this machine" in output_of(completed)
    assert "`hlfix-armonly" in output_of(completed)
    assert not (root / "dist").exists() or not list((root / "dist").glob("*.zip"))


def test_pip_applies_exclusions_like_uv(tmp_path, pip_environment):
    table = 'runtime = "python3.12"\ninstaller = "pip"\nexclude-packages = ["hlfix-sdk"]'
    root = project(tmp_path / "app", ["hlfix-sdk", "hlfix-client"], table)

    completed = run_hatchling(root, "lambda:layer", environment=pip_environment)

    assert completed.returncode == 0, output_of(completed)
    assert set(layer_packages(root)) == {"hlfix-client", "hlfix-http"}


@pytest.mark.parametrize(
    ("runtime", "said"),
    [
        ("python3.9", "Lambda runtime python3.9 is deprecated since 2025-12-15"),
        ("python3.10", "Lambda runtime python3.10: creating functions on it is blocked since 2026-11-30"),
    ],
)
def test_deprecated_runtimes_build_with_a_dated_warning(tmp_path, offline_environment, runtime, said):
    """On the suite's fixed day (TEST_TODAY, 2026-12-01)."""
    root = project(tmp_path / "app", ["hlfix-native"], f'runtime = "{runtime}"\narchitecture = "arm64"')

    completed = run_hatchling(root, "lambda", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    assert said in output_of(completed)
    assert layer_packages(root)["hlfix-native"] == "1.0"


def test_a_runtime_past_its_block_update_date_fails_unless_allowed(tmp_path, offline_environment):
    environment = {**offline_environment, "HATCH_LAMBDA_TODAY": "2027-01-15"}
    root = project(tmp_path / "app", ["hlfix-pure"], 'runtime = "python3.10"')

    refused = run_hatchling(root, "lambda", environment=environment)

    assert refused.returncode != 0
    assert "updating them since 2027-01-15" in output_of(refused)
    assert "`tool.hatch.build.targets.lambda.allow-blocked-runtime` = true" in output_of(refused)
    assert not (root / "dist").exists() or not list((root / "dist").iterdir())

    allowed = project(
        tmp_path / "allowed", ["hlfix-pure"], 'runtime = "python3.10"\nallow-blocked-runtime = true'
    )
    completed = run_hatchling(allowed, "lambda", environment=environment)

    assert completed.returncode == 0, output_of(completed)
    assert "Going ahead" in output_of(completed)


def test_markers_are_decided_by_the_runtimes_patch_release(tmp_path, offline_environment):
    """Lambda runs a 3.12 patch release past 3.12.0: `python_full_version >= "3.12.1"` holds there."""
    root = project(tmp_path / "app", ["hlfix-patchlevel"], 'runtime = "python3.12"')

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    assert set(layer_packages(root)) == {"hlfix-patchlevel", "hlfix-newpatch"}


def test_a_kernel_marker_uv_cannot_decide_is_refused_by_name(tmp_path, offline_environment):
    """uv takes `platform_release` as empty for another platform; Lambda's kernel is an amzn2 one."""
    root = project(tmp_path / "app", ["hlfix-kernel"], 'runtime = "python3.12"')

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode != 0
    assert '`hlfix-amzn; "amzn2" in platform_release`' in output_of(completed)
    assert "platform_release" in output_of(completed)


def test_a_pylock_installs_its_pins_without_resolving_again(tmp_path, offline_environment):
    root = project(tmp_path / "app", ["hlfix-pure"], 'runtime = "python3.12"\nlock = "pylock.toml"')
    compile_lock(root, "hlfix-pure\nhlfix-native==1.0\n", "pylock.toml", offline_environment)

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    # A fresh resolution would pick hlfix-native 2.0 for python3.12; the lock says 1.0.
    assert layer_packages(root) == {"hlfix-pure": "1.0", "hlfix-native": "1.0"}
    assert "Resolved 2 packages" in output_of(completed)


def test_a_hashed_requirements_lock_with_a_wrong_hash_fails(tmp_path, offline_environment):
    root = project(tmp_path / "app", ["hlfix-pure"], 'runtime = "python3.12"\nlock = "requirements.lock"')
    compile_lock(root, "hlfix-pure\n", "requirements.lock", offline_environment, "--generate-hashes")
    lock = root / "requirements.lock"
    assert run_hatchling(root, "lambda:layer", environment=offline_environment).returncode == 0

    text = lock.read_text()
    first_hash = text.split("--hash=sha256:")[1][:64]
    lock.write_text(text.replace(first_hash, "0" * 64))
    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode != 0
    assert "Hash mismatch" in output_of(completed)


def test_a_lock_missing_a_direct_dependency_or_excluding_its_pin_warns(tmp_path, offline_environment):
    root = project(
        tmp_path / "app",
        ["hlfix-pure", "hlfix-tool", "hlfix-native>=2"],
        'runtime = "python3.12"\nlock = "pylock.toml"',
    )
    compile_lock(root, "hlfix-pure\nhlfix-native==1.0\n", "pylock.toml", offline_environment)

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode == 0, output
    assert "Lock file pylock.toml has no pin for `hlfix-tool`, a direct dependency of the project" in output
    assert "Lock file pylock.toml pins hlfix-native==1.0, which the project's requirement" in output
