"""Installs the layer's dependencies with pip, for teams whose index credentials live in pip's config.

pip matches each `--platform` exactly, so every tag the runtime accepts is passed. pip evaluates
environment markers for this machine, not for Lambda: its result is therefore walked again with the
target's marker values (`closure`). Packages pip chose only because of this machine are removed; a
package the target needs but pip skipped fails the build, since the layer would be wrong.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.layer.closure import remove_unneeded
from hatch_lambda.layer.request import InstallRequest, InstallSummary, install_error
from hatch_lambda.platform import runtimes

_NO_MATCH = re.compile(
    r"(?:No matching distribution found for|Could not find a version that satisfies the requirement) "
    r"([A-Za-z0-9][A-Za-z0-9._-]*)"
)
_HASH = re.compile(r"THESE PACKAGES DO NOT MATCH THE HASHES[\s\S]*?\n\s+([A-Za-z0-9][A-Za-z0-9._-]*)==")


def install_with_pip(request: InstallRequest, target: Path) -> tuple[InstallSummary, list[str]]:
    """Install, then correct for host-evaluated markers; returns the summary and what was removed."""
    if request.allow_sdist:
        message = (
            '`allow-sdist` needs `installer = "uv"`: pip refuses to build from source while it installs '
            "for another platform."
        )
        raise LambdaBuildError(message)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hatch-lambda-pip-") as scratch:
        completed = subprocess.run(
            _command(request, target, Path(scratch)),
            cwd=request.project_root,
            capture_output=True,
            text=True,
            check=False,
        )
    if completed.returncode != 0:
        output = completed.stdout[-4000:] + completed.stderr
        match = _HASH.search(output) or _NO_MATCH.search(output)
        raise install_error(request, match.group(1) if match else None, output, tool="pip")
    removed = _correct_for_target(request, target)
    installed = len(list(target.glob("*.dist-info")))
    summary = InstallSummary(
        resolved=installed + len(removed),
        installed=installed,
        seconds=time.monotonic() - started,
        platform=_platforms_shown(request),
    )
    return summary, removed


def _command(request: InstallRequest, target: Path, scratch: Path) -> list[str]:
    if importlib.util.find_spec("pip") is None:
        message = (
            '`installer = "pip"` needs pip where hatch-lambda runs, and Hatch\'s build environment has none: '
            'add "pip" to `dependencies` in [tool.hatch.build.targets.lambda].'
        )
        raise LambdaBuildError(message)
    runtime = request.runtime
    platforms = [
        part for tag in runtimes.platform_tags(runtime, request.architecture) for part in ("--platform", tag)
    ]
    if request.locked_arguments is not None:
        requirements = request.locked_arguments
    else:
        requirements_file = scratch / "requirements.in"
        requirements_file.write_text("".join(f"{line}\n" for line in request.requirements), encoding="utf-8")
        requirements = ["--requirement", str(requirements_file)]
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        str(target),
        "--implementation",
        "cp",
        "--python-version",
        runtimes.python_full_version(runtime, request.architecture),
        "--abi",
        f"cp{runtime.python_version[0]}{runtime.python_version[1]}",
        *platforms,
        "--only-binary=:all:",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        *requirements,
    ]


def _correct_for_target(request: InstallRequest, target: Path) -> list[str]:
    installed, walk = request.walk_installed(target)
    if walk.missing:
        needed = ", ".join(f"`{requirement}`" for requirement in walk.missing.values())
        message = (
            f"pip evaluated environment markers for this machine, not for {request.describe_target()}, "
            f'and left out what the target needs: {needed}. Use `installer = "uv"`, which evaluates '
            "markers for the target, or build on a machine of the target's architecture."
        )
        raise LambdaBuildError(message)
    return remove_unneeded(target, installed, walk)


def _platforms_shown(request: InstallRequest) -> str:
    tags = runtimes.platform_tags(request.runtime, request.architecture)
    return f"pip, {tags[0]} and {len(tags) - 1} older tags"
