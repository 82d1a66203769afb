"""Shared test helpers: fixture projects, build subprocesses, zip extraction and Lambda-like imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import NoReturn

import pytest

from hatch_lambda.layer.uv import find_uv
from hatch_lambda.platform.interpreters import find_runtime_python
from hatch_lambda.platform.runtimes import runtime_named

REPOSITORY = Path(__file__).resolve().parent.parent
FIXTURES = REPOSITORY / "fixtures"
PYPROJECT_HEAD = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"""


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write a small project; `pyproject.toml` text is dedented, and gets the build-system table."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, given in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = textwrap.dedent(given)
        if relative == "pyproject.toml" and "[build-system]" not in text:
            text = PYPROJECT_HEAD + "\n" + text
        path.write_text(text, encoding="utf-8")
    return root


def copy_fixture(name: str, destination: Path) -> Path:
    shutil.copytree(FIXTURES / name, destination, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    return destination


# The day builds in tests take as today, so runtime deprecation and block messages never depend on
# the day the suite runs: python3.9 deprecated, python3.10 blocked for creation, python3.11 supported.
TEST_TODAY = "2026-12-01"


def clean_environment(**overrides: str | None) -> dict[str, str]:
    """This process's environment without anything that would leak a developer's setup into a build."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("UV_", "HATCH_", "PIP_", "SOURCE_DATE_EPOCH", "VIRTUAL_ENV"))
    }
    environment["HATCH_LAMBDA_TODAY"] = TEST_TODAY
    for key, value in overrides.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    return environment


def run_hatchling(
    project: Path, *targets: str, environment: dict[str, str], extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`hatchling build -t ...` in the project, with the plugin installed in this interpreter."""
    command = [sys.executable, "-m", "hatchling", "build"]
    for target in targets or ("lambda",):
        command += ["-t", target]
    return run_in(project, [*command, *extra], environment)


def run_in(
    directory: Path, command: list[str], environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run a build command the way a user would, in the project directory, capturing its output."""
    return subprocess.run(
        command, cwd=directory, env=environment, capture_output=True, text=True, check=False, timeout=900
    )


def run_invoke(
    project: Path, *arguments: str, environment: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`hatch-lambda invoke ARGUMENTS` in `project`, through the installed console script."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "hatch-lambda"), "invoke", *arguments],
        cwd=project,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def output_of(completed: subprocess.CompletedProcess[str]) -> str:
    return completed.stdout + completed.stderr


def extract(archive: Path, destination: Path) -> Path:
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(destination)
    return destination


def find_cpython(minor: str) -> str | None:
    """A working CPython `3.minor`, found the way hatch-lambda finds a runtime's interpreter."""
    runtime = runtime_named(f"python{minor}")
    return find_runtime_python(runtime, find_uv()) if runtime else None


def in_ci() -> bool:
    """`CI=true`, as GitHub Actions, GitLab CI and most others set it."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def missing_interpreter(what: str) -> NoReturn:
    """A test that needs an interpreter this machine lacks: skipped on a developer's machine, a
    failure in CI, where a missing interpreter would otherwise pass the suite with tests skipped."""
    message = f"no {what} on this machine (README: what the test suite needs)"
    if in_ci():
        pytest.fail(f"{message}; CI=true, so this fails rather than skips")
    pytest.skip(message)


# The CPythons the project's machines (and CI's) have: pyenv's 3.9 to 3.13. Nothing a machine here
# can install provides 3.14 (no index or Debian release ships one), so its tests skip, saying why.
EXPECTED_CPYTHONS = frozenset({"3.9", "3.10", "3.11", "3.12", "3.13"})


def require_cpython(minor: str) -> str:
    """A working CPython `minor` ("3.12"; see `find_cpython`), or `missing_interpreter` for one the
    machines should have; one they cannot have is skipped everywhere, with the reason."""
    python = find_cpython(minor)
    if python is None:
        if minor not in EXPECTED_CPYTHONS:
            pytest.skip(f"no CPython {minor} on this machine, and none can be installed here")
        missing_interpreter(f"CPython {minor}")
    return python


LAMBDA_BOOTSTRAP = """
import importlib, json, sys
task_root, layer_root, python_version, handler, event = sys.argv[1:6]
# Lambda's order: function code, then the layer's versioned site-packages, then the layer's python/.
sys.path[:0] = [
    task_root, f"{layer_root}/python/lib/python{python_version}/site-packages", f"{layer_root}/python"
]
module_name, _, function_name = handler.rpartition(".")
function = getattr(importlib.import_module(module_name), function_name)
print(json.dumps(function(json.loads(event), None)))
"""


def invoke_like_lambda(
    python: str, task_root: Path, layer_root: Path, handler: str, event: dict[str, object]
) -> dict[str, object]:
    """Import and call `handler` from extracted zips, read-only, with no site-packages of the host."""
    python_version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    completed = subprocess.run(
        # -I: ignore the environment and user site; -S: no site-packages; -B: no __pycache__ writes.
        [
            python,
            "-I",
            "-S",
            "-B",
            "-c",
            LAMBDA_BOOTSTRAP,
            str(task_root),
            str(layer_root),
            python_version,
            handler,
            json.dumps(event),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def compile_lock(
    root: Path, requirements: str, output: str, environment: dict[str, str], *flags: str
) -> None:
    """Write a lock the way a user would, with uv itself, for python3.12 on x86_64 Lambda."""
    (root / "requirements.in").write_text(requirements)
    completed = subprocess.run(
        [
            find_uv(),
            "pip",
            "compile",
            "requirements.in",
            "-o",
            output,
            "--python-version",
            "3.12",
            "--python-platform",
            "x86_64-manylinux_2_34",
            "--quiet",
            *flags,
        ],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
