"""Finds a CPython of an exact minor version on this machine (to build sdists for the runtime).

Order: `HATCH_LAMBDA_PYTHON_3_X` (an explicit interpreter for that version), uv's discovery
(managed Pythons, PATH; no downloads), then pyenv's versions directory. pyenv's shims on PATH exit
127 for versions not selected with `pyenv global`, and `uv python find` can stop at such a shim,
so every candidate is run once to confirm it works and has the right version.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from hatch_lambda.platform.runtimes import Runtime

# The second line on is `sys.version` (itself possibly two lines), kept for `full_version`.
_VERSION_PROBE = (
    "import sys, platform; print(platform.python_implementation(), '%d.%d' % sys.version_info[:2]); "
    "print(sys.version)"
)
_FULL_VERSIONS: dict[str, str] = {}  # candidate -> its `sys.version`, from the probe that confirmed it


def environment_variable_for(runtime: Runtime) -> str:
    return "HATCH_LAMBDA_PYTHON_" + runtime.python_version_text.replace(".", "_")


def find_runtime_python(runtime: Runtime, uv: str | None) -> str | None:
    """The first candidate that runs and is CPython `runtime`'s version; found once per process
    for the same settings (a build asks for it for the check, bytecode and the cache key)."""
    version = runtime.python_version_text
    explicit = os.environ.get(environment_variable_for(runtime))
    return _found(version, uv, explicit, os.environ.get("PYENV_ROOT"))


@functools.cache
def _found(version: str, uv: str | None, explicit: str | None, pyenv_root: str | None) -> str | None:
    for candidate in _candidates(version, uv, explicit, pyenv_root):
        if _is_cpython(candidate, version):
            return candidate
    return None


def _candidates(version: str, uv: str | None, explicit: str | None, pyenv_root: str | None) -> Iterator[str]:
    """In order, each computed only if the ones before it did not do: the explicit setting is
    probed before uv's discovery (which takes a while on a machine with pyenv shims) ever runs."""
    if explicit:
        yield explicit
    if uv:
        found = subprocess.run(
            [uv, "python", "find", "--no-python-downloads", "--no-project", f"cpython@{version}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if found.returncode == 0 and found.stdout.strip():
            yield found.stdout.strip()
    root = Path(pyenv_root or Path.home() / ".pyenv")
    for path in sorted((root / "versions").glob(f"{version}.*"), reverse=True):
        yield str(path / "bin" / "python")


def _is_cpython(candidate: str, version: str) -> bool:
    try:
        probe = subprocess.run(
            [candidate, "-c", _VERSION_PROBE], capture_output=True, text=True, check=False, timeout=30
        )
    except OSError:
        return False
    kind, _, full_version = probe.stdout.partition("\n")
    if probe.returncode != 0 or kind.split() != ["CPython", version]:
        return False
    _FULL_VERSIONS[candidate] = full_version.strip()
    return True


def full_version(python: str) -> str:
    """`sys.version` of `python` (bytecode can differ between patch releases, so the layer cache
    key names it), from the probe that found it when there was one: no second interpreter start."""
    known = _FULL_VERSIONS.get(python)
    if known is None:
        probe = subprocess.run(
            [python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
        )
        known = _FULL_VERSIONS[python] = probe.stdout.strip()
    return known
