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
from dataclasses import dataclass
from pathlib import Path

from hatch_lambda import runtimes
from hatch_lambda.errors import DependencyInstallError, UvNotFoundError
from hatch_lambda.runtimes import Runtime

_RESOLVED = re.compile(r"Resolved (\d+) packages?")
_INSTALLED = re.compile(r"Installed (\d+) packages?")
# uv's resolver explanations name the package that could not be satisfied in a handful of forms.
_CULPRIT = re.compile(
    r"(?:Because|and) (?:only the following versions of |there is no version of |there are no versions of |"
    r"all versions of |only )?([A-Za-z0-9][A-Za-z0-9._-]*)(?:[<>=!~]=?[^ ]*)? "
    r"(?:was not found|has no wheels|has no usable wheels|is available|are available|have no wheels|"
    r"can't be installed|cannot be installed|<|>|=|\[)"
)


@dataclass(frozen=True)
class InstallSummary:
    resolved: int
    installed: int
    seconds: float
    python_platform: str


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


def install_for_runtime(
    requirements: list[str],
    target: Path,
    runtime: Runtime,
    architecture: str,
    *,
    project_name: str,
    project_root: str,
) -> InstallSummary:
    python_platform = runtimes.uv_python_platform(runtime, architecture)
    with tempfile.TemporaryDirectory(prefix="hatch-lambda-uv-") as scratch:
        requirements_file = Path(scratch, "requirements.in")
        requirements_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        # Keeps the project out of the layer even if a dependency depends back on it.
        excludes_file = Path(scratch, "excludes.txt")
        excludes_file.write_text(project_name + "\n", encoding="utf-8")
        command = [
            find_uv(),
            "pip",
            "install",
            "--target",
            str(target),
            # Any interpreter will do: version, platform and markers come from the two flags below.
            "--python",
            sys.executable,
            "--python-version",
            runtime.python_version_text,
            "--python-platform",
            python_platform,
            "--only-binary",
            ":all:",
            "--excludes",
            str(excludes_file),
            "--requirements",
            str(requirements_file),
            "--color",
            "never",
            "--no-progress",
        ]
        started = time.monotonic()
        # From the project root, so uv finds the project's uv.toml / [tool.uv] index settings.
        completed = subprocess.run(command, cwd=project_root, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise _install_error(completed.stderr, runtime, architecture, python_platform)
    resolved = _RESOLVED.search(completed.stderr)
    installed = _INSTALLED.search(completed.stderr)
    return InstallSummary(
        resolved=int(resolved.group(1)) if resolved else 0,
        installed=int(installed.group(1)) if installed else 0,
        seconds=time.monotonic() - started,
        python_platform=python_platform,
    )


def _install_error(
    uv_output: str, runtime: Runtime, architecture: str, python_platform: str
) -> DependencyInstallError:
    culprits = list(dict.fromkeys(match.group(1) for match in _CULPRIT.finditer(uv_output)))
    named = f"`{culprits[0]}`" if culprits else "a dependency"
    target = (
        f"{runtime.name} ({runtime.operating_system}, CPython {runtime.python_version_text}), "
        f"{architecture}, glibc {runtime.glibc_text} (uv platform {python_platform})"
    )
    summary = f"Could not resolve or install {named} for the layer: {target}."
    advice = (
        f"Only binary wheels are used, because a wheel built on this machine would not load on Lambda. "
        f"Check that {named} publishes a wheel for CPython {runtime.python_version_text} on "
        f"manylinux (glibc <= {runtime.glibc_text}) {runtimes.machine_of(architecture)}, "
        "or a pure-Python one; "
        f"then pin a version that does, or choose another `runtime` or `architecture` in "
        f"[tool.hatch.build.targets.lambda]."
    )
    # uv names the interpreter it was handed; that one only runs uv, it is not the target Python.
    relevant = "\n".join(line for line in uv_output.splitlines() if not line.startswith("Using CPython"))
    return DependencyInstallError(summary, relevant, advice)
