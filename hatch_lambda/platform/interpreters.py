"""Finds a CPython of an exact minor version on this machine (to build sdists for the runtime).

Order: `HATCH_LAMBDA_PYTHON_3_X` (an explicit interpreter for that version), uv's discovery
(managed Pythons, PATH; no downloads), then pyenv's versions directory. pyenv's shims on PATH exit
127 for versions not selected with `pyenv global`, and `uv python find` can stop at such a shim,
so every candidate is run once to confirm it works and has the right version.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from hatch_lambda.platform.runtimes import Runtime

_VERSION_PROBE = (
    "import sys, platform; print(platform.python_implementation(), '%d.%d' % sys.version_info[:2])"
)


def environment_variable_for(runtime: Runtime) -> str:
    return "HATCH_LAMBDA_PYTHON_" + runtime.python_version_text.replace(".", "_")


def find_runtime_python(runtime: Runtime, uv: str | None) -> str | None:
    for candidate in _candidates(runtime, uv):
        if _is_cpython(candidate, runtime.python_version_text):
            return candidate
    return None


def _candidates(runtime: Runtime, uv: str | None) -> list[str]:
    version = runtime.python_version_text
    candidates = []
    explicit = os.environ.get(environment_variable_for(runtime))
    if explicit:
        candidates.append(explicit)
    if uv:
        found = subprocess.run(
            [uv, "python", "find", "--no-python-downloads", "--no-project", f"cpython@{version}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(found.stdout.strip())
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    installed = sorted((pyenv_root / "versions").glob(f"{version}.*"), reverse=True)
    candidates += [str(path / "bin" / "python") for path in installed]
    return candidates


def _is_cpython(candidate: str, version: str) -> bool:
    try:
        probe = subprocess.run(
            [candidate, "-c", _VERSION_PROBE], capture_output=True, text=True, check=False, timeout=30
        )
    except OSError:
        return False
    return probe.returncode == 0 and probe.stdout.split() == ["CPython", version]
