"""Why a uv install failed, read from uv's own explanation, and the advice that fits that cause.

uv explains a failure in an `error:` line, `cause:` lines and `hint:` lines. Each cause needs
different advice: a hash mismatch is about the index, an invalid wheel about the package, a lock
compiled for this machine's Python about the command that made it, and missing wheels about the
runtime. uv's own text is kept (without the interpreter it was handed and its "experimental"
warnings); the advice is chosen by the cause.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hatch_lambda.errors import DependencyInstallError
from hatch_lambda.layer.request import InstallRequest, install_error
from hatch_lambda.platform import runtimes

Cause = Literal[
    "hash-mismatch", "invalid-wheel", "no-wheel", "build-failed", "download-failed", "unresolvable"
]

_NAME = r"([A-Za-z0-9][A-Za-z0-9._-]*)"
_HASH_MISMATCH = re.compile(rf"Hash mismatch for `{_NAME}")
_INVALID_WHEEL = re.compile(
    rf"(?:The structure of `{_NAME}`.*was invalid|{_NAME}==\S+ has an invalid package"
    rf"|Failed to \w+ `{_NAME}[^`]*`\s+cause: The wheel is invalid)"
)
_DOWNLOAD_FAILURE = re.compile(rf"Failed to (?:download|fetch|read) `{_NAME}")
_BUILD_FAILURE = re.compile(rf"Failed to (?:build|download and build) `{_NAME}")
_NO_WHEEL = re.compile(
    rf"(?:Package `{_NAME}` can't be installed because it is marked as `--no-build` but has no binary"
    rf"|{_NAME}(?:==\S+)? has no (?:usable )?wheels"
    rf"|{_NAME}(?:==\S+)? (?:doesn't|does not) have a source distribution or wheel)"
)
# uv's resolver explanations name the package that could not be satisfied in a handful of forms.
_UNRESOLVABLE = re.compile(
    r"(?:Because|and) (?:only the following versions of |there is no version of |there are no versions of |"
    rf"all versions of |only )?{_NAME}(?:[<>=!~]=?[^ ]*)? "
    r"(?:was not found|is available|are available|can't be installed|cannot be installed|<|>|=|\[)"
)
_PATTERNS: tuple[tuple[Cause, re.Pattern[str]], ...] = (
    ("hash-mismatch", _HASH_MISMATCH),
    ("invalid-wheel", _INVALID_WHEEL),
    ("build-failed", _BUILD_FAILURE),
    ("no-wheel", _NO_WHEEL),
    ("download-failed", _DOWNLOAD_FAILURE),
    ("unresolvable", _UNRESOLVABLE),
)
_COMPILE_COMMAND = re.compile(r"^#\s+(uv pip compile .*)$", re.MULTILINE)


@dataclass(frozen=True)
class UvFailure:
    cause: Cause
    package: str | None
    text: str  # uv's explanation, as uv wrote it, without noise


def parse_uv_failure(stderr: str) -> UvFailure:
    text = uv_explanation(stderr)
    for cause, pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            package = next(group for group in match.groups() if group)
            return UvFailure(cause, package, text)
    return UvFailure("unresolvable", None, text)


def uv_explanation(stderr: str) -> str:
    """uv's output without the interpreter it was handed (that one only runs uv; it is not the
    target's Python) and without its notices about experimental features."""
    kept = [
        line
        for line in stderr.splitlines()
        if not line.startswith("Using CPython")
        and not (line.startswith("warning:") and "experimental" in line)
    ]
    return "\n".join(kept).strip("\n")


def uv_install_error(request: InstallRequest, stderr: str) -> DependencyInstallError:
    failure = parse_uv_failure(stderr)
    named = f"`{failure.package}`" if failure.package else "a dependency"
    target = request.describe_target()
    host_command = host_compile_command(request.lock_path) if request.lock_path else None
    if failure.cause == "hash-mismatch":
        summary = f"The file uv downloaded for {named} does not match the hash the lock gives for it."
        advice = (
            "The index (or find-links directory) serves a different file than the one that was locked. "
            "Build from the index the lock was made with, or lock again from this one; never drop the "
            "hashes to get past this."
        )
    elif failure.cause == "invalid-wheel":
        summary = f"The wheel of {named} is not a valid wheel, so no installer can install it."
        advice = (
            f"Report it to {named}'s maintainers, and pin a version whose wheel is sound, or leave the "
            "package out with `exclude-packages` in [tool.hatch.build.targets.lambda]."
        )
    elif failure.cause == "download-failed":
        summary = f"uv could not fetch {named} for the layer."
        advice = (
            "Check the file or URL the lock names for it, and the index settings uv reads (`UV_INDEX_URL`, "
            "`UV_FIND_LINKS`, `uv.toml`); lock again if the files have moved."
        )
    elif host_command is not None and failure.cause in {"no-wheel", "unresolvable"}:
        summary = (
            f"Could not install {named} from the lock: it was compiled for this machine's Python, "
            f"not for {target}."
        )
        advice = (
            "`uv pip compile` without `--python-version` and `--python-platform` pins wheels for the "
            f"interpreter that ran it. Make the lock for the target:\n  {_for_target(host_command, request)}"
        )
    else:
        return install_error(request, failure.package, failure.text, tool="uv")
    return DependencyInstallError(summary, failure.text, advice, tool="uv")


def host_compile_command(lock: Path) -> str | None:
    """The `uv pip compile` command in the lock's header when it made the lock for the host's
    Python (no `--python-version` or no `--python-platform`, and not `--universal`); else None."""
    try:
        header = lock.read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return None
    match = _COMPILE_COMMAND.search(header)
    if match is None:
        return None
    words = shlex.split(match.group(1), posix=True)
    flags = {word.split("=", 1)[0] for word in words}
    if "--universal" in flags or {"--python-version", "--python-platform"} <= flags:
        return None
    return match.group(1)


def _for_target(command: str, request: InstallRequest) -> str:
    """The header's command without interpreter choices, with the target's version and platform."""
    words = shlex.split(command, posix=True)
    kept: list[str] = []
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            continue
        flag = word.split("=", 1)[0]
        if flag in {"--python", "-p", "--python-version", "--python-platform"}:
            skip_next = "=" not in word
            continue
        kept.append(word)
    kept += [
        "--python-version",
        request.runtime.python_version_text,
        "--python-platform",
        runtimes.uv_python_platform(request.runtime, request.architecture),
    ]
    return shlex.join(kept)
