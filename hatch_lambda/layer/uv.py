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
from functools import cache
from pathlib import Path

from hatch_lambda.errors import UvNotFoundError
from hatch_lambda.files.cache_root import cache_directory
from hatch_lambda.files.file_facts import remembered
from hatch_lambda.layer.request import InstallRequest, InstallSummary
from hatch_lambda.platform import runtimes

_INSTALLED = re.compile(r"Installed (\d+) packages?")


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


@cache
def uv_version() -> str:
    """`uv --version` of the uv that builds: another uv may install or build other bytes.

    Asked once per binary, not once per build (`files.file_facts`): a warm build starts no uv."""
    uv = find_uv()
    exits: list[int] = []

    def ask() -> str | None:
        completed = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
        exits.append(completed.returncode)
        return completed.stdout.strip() or None

    version = remembered(cache_directory(), "uv-version", Path(uv), ask, names=_UV_NAMES)
    return version or f"unknown (exit {exits[-1]})"


_UV_NAMES = frozenset({"uv", "uv.exe"})


def install_with_uv(request: InstallRequest, target: Path, *, hard_links: bool = False) -> InstallSummary:
    """`uv pip install --target` for the runtime, of the lock `layer_plan` prepared: no resolution.

    The resolved count is the plan's: uv prints none when it installs a lock. `hard_links` links
    the files to uv's cache instead of copying them, for a tree that is only read and then deleted
    (see `install.install_layer`); otherwise they are copied.
    """
    if request.locked_arguments is None:
        message = "uv installs the layer from a planned lock: call layer_plan.plan_layer first"
        raise ValueError(message)
    with tempfile.TemporaryDirectory(prefix="hatch-lambda-uv-") as scratch:
        command = _install_command(
            request,
            target,
            Path(scratch),
            # Whatever the user's UV_LINK_MODE or uv.toml says: a symlink would put a link, not a
            # file, in the tree that is zipped. A hard link is the file (uv copies when its cache
            # is on another file system).
            link_mode="hardlink" if hard_links else "copy",
            locked_arguments=request.locked_arguments,
        )
        started = time.monotonic()
        completed = _install_cached_first(command, request, target, Path(scratch))
    installed = _INSTALLED.search(completed.stderr)
    return InstallSummary(
        resolved=0,
        installed=int(installed.group(1)) if installed else 0,
        seconds=time.monotonic() - started,
        platform=runtimes.uv_python_platform(request.runtime, request.architecture),
    )


def _install_command(
    request: InstallRequest, target: Path, scratch: Path, *, link_mode: str, locked_arguments: list[str]
) -> list[str]:
    return [
        find_uv(),
        "pip",
        "install",
        "--target",
        str(target),
        "--link-mode",
        link_mode,
        *_target_arguments(request, scratch),
        *locked_arguments,
    ]


# uv 0.13, offline, for a file its cache lacks (it names the first one only).
_NOT_CACHED = re.compile(r"cause: Network connectivity is disabled, but the requested data wasn't found")
# Offline probes of single packages run at once: each is a short uv process, mostly file system work.
_PROBES_AT_ONCE = 8


def _install_cached_first(
    command: list[str], request: InstallRequest, target: Path, scratch: Path
) -> subprocess.CompletedProcess[str]:
    """Install from uv's cache alone when every file is there; download only what it lacks.

    uv keeps a downloaded wheel for as long as the server's HTTP caching headers allow: for a lock
    that names each wheel by URL, an index or mirror that sends none (no `Cache-Control`, `ETag`
    or `Last-Modified`) makes uv download and unpack every wheel again, into new cache entries,
    on every install. A lock that names each file with its sha256 (`exact_files`) needs no index:
    `--offline` lets uv use what it has, and it still checks each hash. When the cache lacks
    something, `_fetch_missing` downloads exactly that, and the install runs offline again. If
    anything else fails, the install runs online as it always did, so the user sees uv's own
    error for a real failure.
    """
    if not request.exact_files or _uv_setting("UV_OFFLINE") or _uv_setting("UV_NO_CACHE"):
        return _run(command, request)  # offline anyway, or no cache to read: one attempt is all
    for attempt in ("cached", "after fetching"):
        offline = _run_quietly([*command, "--offline"], request)
        if offline.returncode == 0:
            return offline
        _empty(target)  # whatever the failed attempt left must not be taken as installed
        if attempt == "after fetching" or not _NOT_CACHED.search(offline.stderr):
            break
        if not _fetch_missing(request, scratch / "fetch"):
            break
    return _run(command, request)


def _fetch_missing(request: InstallRequest, scratch: Path) -> bool:
    """Download into uv's cache the lock's packages it lacks, and only those: each package is
    probed offline, then the missing ones are installed online, all into throwaway directories as
    links into the cache. False when nothing was found missing, or the download failed."""
    from hatch_lambda.layer.locks import pylock_subset, split_pylock  # noqa: PLC0415 - rarely needed

    arguments = list(request.locked_arguments or [])
    if "--requirements" not in arguments:
        return False
    position = arguments.index("--requirements") + 1
    lock = Path(arguments[position])

    def install(subset: Path, *, offline: bool) -> bool:
        command = _install_command(
            request,
            subset.parent / "target",
            subset.parent,
            link_mode="symlink",
            locked_arguments=[*arguments[:position], str(subset), *arguments[position + 1 :]],
        )
        return _run_quietly([*command, *(["--offline"] if offline else [])], request).returncode == 0

    single = split_pylock(lock, scratch / "probes")
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only when wheels are missing

    with ThreadPoolExecutor(max_workers=_PROBES_AT_ONCE) as pool:
        cached = dict(zip(single, pool.map(lambda path: install(path, offline=True), single.values())))
    missing = {name for name, found in cached.items() if not found}
    fetch = scratch / "missing" / "pylock.toml"
    fetch.parent.mkdir(parents=True)
    return bool(missing) and pylock_subset(lock, missing, fetch) and install(fetch, offline=False)


def _run_quietly(command: list[str], request: InstallRequest) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=request.project_root, capture_output=True, text=True, check=False)


def _uv_setting(variable: str) -> bool:
    """Whether a boolean uv environment variable is on, as uv reads it (`t` and `y` too)."""
    return os.environ.get(variable, "").lower() in {"1", "true", "t", "yes", "y", "on"}


def _empty(directory: Path) -> None:
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def resolve_with_uv(request: InstallRequest, output: Path, *, upgrade: list[str] | None = None) -> int:
    """`uv pip compile` for the runtime into a PEP 751 lock at `output`; returns the package count.

    The same flags as the install, so installing that lock afterwards gives what a direct install
    would, without resolving twice. Pins already in `output` are kept where they still fit, as uv
    keeps them; `upgrade` lets go of them: every pin (`[]`), or the named packages'.
    """
    upgrading = (
        []
        if upgrade is None
        else ["--upgrade"]
        if not upgrade
        else [argument for name in upgrade for argument in ("--upgrade-package", name)]
    )
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
            *upgrading,
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
        # The failure's advice loads only on a failure: a build that installs never pays for it.
        from hatch_lambda.layer.uv_failure import uv_install_error  # noqa: PLC0415

        raise uv_install_error(request, completed.stderr)
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
