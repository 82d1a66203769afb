"""Resolves and installs the layer's dependencies for a Lambda runtime with uv.

uv evaluates markers for the target, picks wheels for the runtime's CPython, architecture and glibc
ceiling, and reads its own index settings (UV_INDEX_URL, UV_FIND_LINKS, uv.toml, ...), so private
indexes work with no setting of ours.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hatch_lambda.errors import UvNotFoundError
from hatch_lambda.layer.request import InstallRequest, InstallSummary, install_error
from hatch_lambda.platform import runtimes

_INSTALLED = re.compile(r"Installed (\d+) packages?")
# uv's resolver explanations name the package that could not be satisfied in a handful of forms.
_CULPRIT = re.compile(
    r"(?:Because|and) (?:only the following versions of |there is no version of |there are no versions of |"
    r"all versions of |only )?([A-Za-z0-9][A-Za-z0-9._-]*)(?:[<>=!~]=?[^ ]*)? "
    r"(?:was not found|has no wheels|has no usable wheels|is available|are available|have no wheels|"
    r"can't be installed|cannot be installed|<|>|=|\[)"
)
_BUILD_FAILURE = re.compile(r"Failed to (?:build|download and build) `([A-Za-z0-9][A-Za-z0-9._-]*)")
_HASH_MISMATCH = re.compile(r"Hash mismatch for `([A-Za-z0-9][A-Za-z0-9._-]*)")


def find_uv() -> str:
    """`HATCH_UV` (hatch's own uv), then the `uv` package's binary, then `uv` on PATH."""
    from_hatch = os.environ.get("HATCH_UV")
    if from_hatch and Path(from_hatch).is_file():
        return from_hatch
    try:
        from uv import find_uv_bin  # noqa: PLC0415 - the uv package is optional at run time

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    on_path = shutil.which("uv")
    if on_path:
        return on_path
    raise UvNotFoundError


def install_with_uv(request: InstallRequest, target: Path) -> InstallSummary:
    """`uv pip install --target` for the runtime, of the lock `layer_plan` prepared: no resolution.

    The resolved count is the plan's: uv prints none when it installs a lock.
    """
    if request.locked_arguments is None:
        message = "uv installs the layer from a planned lock: call layer_plan.plan_layer first"
        raise ValueError(message)
    with tempfile.TemporaryDirectory(prefix="hatch-lambda-uv-") as scratch:
        command = [
            find_uv(),
            "pip",
            "install",
            "--target",
            str(target),
            *_target_arguments(request, Path(scratch)),
            *request.locked_arguments,
        ]
        started = time.monotonic()
        completed = _run(command, request)
    installed = _INSTALLED.search(completed.stderr)
    return InstallSummary(
        resolved=0,
        installed=int(installed.group(1)) if installed else 0,
        seconds=time.monotonic() - started,
        platform=runtimes.uv_python_platform(request.runtime, request.architecture),
    )


def resolve_with_uv(request: InstallRequest, output: Path) -> int:
    """`uv pip compile` for the runtime into a PEP 751 lock at `output`; returns the package count.

    The same flags as the install, so installing that lock afterwards gives what a direct install
    would, without resolving twice.
    """
    with tempfile.TemporaryDirectory(prefix="hatch-lambda-uv-") as scratch:
        command = [
            find_uv(),
            "pip",
            "compile",
            str(_write_lines(Path(scratch, "requirements.in"), request.requirements)),
            "--output-file",
            str(output),
            "--no-header",
            "--quiet",
            *_target_arguments(request, Path(scratch)),
        ]
        _run(command, request)
    return output.read_text(encoding="utf-8").count("[[packages]]")


def _target_arguments(request: InstallRequest, scratch: Path) -> list[str]:
    return [
        # Builds (allow-sdist) need the runtime's CPython; otherwise any interpreter will do:
        # version, platform and markers come from the two flags below.
        "--python",
        request.build_python or sys.executable,
        # The patch release Lambda runs, so `python_full_version` markers are decided as Lambda would.
        "--python-version",
        runtimes.python_full_version(request.runtime, request.architecture),
        "--python-platform",
        runtimes.uv_python_platform(request.runtime, request.architecture),
        "--only-binary",
        ":all:",
        *_source_builds(request),
        "--excludes",
        str(_write_lines(scratch / "excludes.txt", _excluded(request))),
        "--color",
        "never",
        "--no-progress",
    ]


def _run(command: list[str], request: InstallRequest) -> subprocess.CompletedProcess[str]:
    # From the project root, so uv finds the project's uv.toml / [tool.uv] index settings.
    completed = subprocess.run(command, cwd=request.project_root, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        output = _relevant(completed.stderr)
        raise install_error(request, _culprit(output), output, tool="uv")
    return completed


def _source_builds(request: InstallRequest) -> list[str]:
    # `--no-binary NAME` after `--only-binary :all:` is uv's way to let one package build from source.
    return [argument for name in request.allow_sdist for argument in ("--no-binary", name)]


def _excluded(request: InstallRequest) -> list[str]:
    # The project itself never lands in its layer, even if a dependency depends back on it.
    return [request.project_name, *request.exclude_packages]


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def _relevant(uv_output: str) -> str:
    # uv names the interpreter it was handed; that one only runs uv, it is not the target Python.
    return "\n".join(line for line in uv_output.splitlines() if not line.startswith("Using CPython"))


def _culprit(uv_output: str) -> str | None:
    for pattern in (_HASH_MISMATCH, _BUILD_FAILURE, _CULPRIT):
        match = pattern.search(uv_output)
        if match:
            return match.group(1)
    return None
