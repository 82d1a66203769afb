"""The AWS SDK that Lambda's Python runtimes carry themselves, as a directory to put on `sys.path`.

Every Python runtime ships boto3 and botocore (and what they need) on `sys.path` after the
function's code and layers, so a function may import them without shipping them: what
`exclude-packages = ["boto3"]` builds. To run such a function locally, the same packages are
installed by uv for the runtime's CPython, architecture and glibc (the layer's own machinery), once
per runtime, architecture and requirement, into hatch-lambda's cache. Lambda updates its SDK from
time to time; `runtime-sdk` pins the version to match (default: the newest, refreshed daily).

The directory is compiled with the target interpreter when one is given (Lambda's runtime ships
its SDK compiled, and an emulated interpreter would otherwise recompile botocore on every run).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from hatch_lambda.errors import DependencyInstallError, LambdaBuildError
from hatch_lambda.files.cache_root import cache_directory
from hatch_lambda.layer.request import InstallRequest
from hatch_lambda.layer.uv import install_with_uv
from hatch_lambda.platform.runtimes import Runtime

DEFAULT_RUNTIME_SDK = "boto3"
# An unpinned requirement ("the newest") is resolved again after this long.
REFRESH_SECONDS = 24 * 60 * 60
_CACHE_FOLDER = "runtime-sdk-v1"
_RECORD = "runtime-sdk.json"


class RuntimeSdkError(LambdaBuildError):
    def __init__(self, requirement: str, target: str, detail: str) -> None:
        self.requirement = requirement
        super().__init__(
            f"Cannot install Lambda's runtime SDK (`{requirement}`) for {target}, which the handler "
            f"check and `invoke` put where Lambda's runtime has it:\n{detail.rstrip()}\n"
            "Pin `tool.hatch.build.targets.lambda.runtime-sdk` to a version your index has "
            '(`runtime-sdk = "boto3==1.40.4"`), or make the index reachable (UV_INDEX_URL, UV_FIND_LINKS).'
        )


def parse_runtime_sdk(text: str) -> Requirement:
    """A requirement on boto3 (`boto3`, `boto3==1.40.4`, `boto3~=1.40.0`); ValueError otherwise."""
    try:
        requirement = Requirement(text)
    except InvalidRequirement as error:
        raise ValueError(f"`{text}` is not a requirement: {error}") from error
    if requirement.name.lower() != "boto3" or requirement.marker or requirement.url:
        raise ValueError(f"`{text}` must name boto3 with an optional version, like `boto3==1.40.4`")
    return requirement


def configured_runtime_sdk(value: object, field: str) -> str:
    """The `runtime-sdk` setting (None: the default); TypeError or ValueError naming `field`."""
    if value is None:
        return DEFAULT_RUNTIME_SDK
    if not isinstance(value, str):
        raise TypeError(f'Field {field} must be a string, like "boto3==1.40.4" (got {value!r})')
    try:
        parse_runtime_sdk(value)
    except ValueError as error:
        raise ValueError(f"Field {field}: {error}") from error
    return value


def runtime_sdk_directory(
    requirement: str,
    runtime: Runtime,
    architecture: str,
    *,
    project_root: Path,
    compile_with: tuple[str, ...] | None = None,
) -> Path:
    """A directory holding boto3 and its dependencies for the target, installed once and cached."""
    pinned = any(
        specifier.operator in ("==", "===") for specifier in parse_runtime_sdk(requirement).specifier
    )
    key = hashlib.sha256(json.dumps([requirement, runtime.name, architecture]).encode()).hexdigest()[:20]
    root = cache_directory() / _CACHE_FOLDER
    entry = root / f"{runtime.name}-{architecture}-{key}"
    record = _read_record(entry)
    if record is not None and (pinned or time.time() - record["installed_at"] < REFRESH_SECONDS):
        return entry / "python"
    install = functools.partial(
        _install,
        requirement,
        runtime=runtime,
        architecture=architecture,
        project_root=project_root,
        compile_with=compile_with,
    )
    try:
        install(root=root, entry=entry)
    except (RuntimeSdkError, OSError) as error:
        if record is not None:
            return entry / "python"  # the day-old newest still stands in; better than no check at all
        if isinstance(error, RuntimeSdkError) and not _CACHE_UNUSABLE.search(str(error)):
            raise
        # The cache directory cannot hold it (read-only, full, not a directory): like the layer
        # cache, an unusable cache means an uncached run, never a failed one. The directory is this
        # process's own, removed when it exits.
        own = Path(tempfile.mkdtemp(prefix="hatch-lambda-runtime-sdk-"))
        atexit.register(shutil.rmtree, own, ignore_errors=True)
        install(root=own, entry=own / entry.name)
        return own / entry.name / "python"
    return entry / "python"


# What a full or read-only cache directory makes uv (or the file system) say.
_CACHE_UNUSABLE = re.compile(r"No space left on device|os error 28|Read-only file system|os error 30")


def installed_versions(directory: Path) -> dict[str, str]:
    """Distribution → version of what a runtime-SDK directory holds (boto3, botocore, ...)."""
    record = _read_record(directory.parent)
    return dict(record["versions"]) if record is not None else {}


def _install(
    requirement: str,
    *,
    runtime: Runtime,
    architecture: str,
    project_root: Path,
    compile_with: tuple[str, ...] | None,
    root: Path,
    entry: Path,
) -> None:
    request = InstallRequest(
        requirements=[requirement],
        runtime=runtime,
        architecture=architecture,
        project_name="hatch-lambda-runtime-sdk",
        project_root=project_root,
    )
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=root))
    try:
        try:
            # The requirement itself in place of a lock: one uv call resolves and installs it, with
            # the same target flags (CPython version, platform, binary wheels only) as the layer.
            install_with_uv(dataclasses.replace(request, locked_arguments=[requirement]), staging / "python")
        except DependencyInstallError as error:
            raise RuntimeSdkError(requirement, request.describe_target(), error.tool_output) from error
        if compile_with is not None:
            _compile(compile_with, staging / "python", requirement, request.describe_target())
        versions = _versions(staging / "python")
        record = {"requirement": requirement, "installed_at": time.time(), "versions": versions}
        (staging / _RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
        _replace_directory(staging, entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _compile(python: tuple[str, ...], directory: Path, requirement: str, target: str) -> None:
    # unchecked-hash: valid whatever the files' dates, like the pyc files Lambda's runtime ships.
    command = [*python, "-I", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"]
    command.append(str(directory))
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeSdkError(requirement, target, completed.stdout + completed.stderr)


def _versions(directory: Path) -> dict[str, str]:
    versions = {}
    for dist_info in sorted(directory.glob("*.dist-info")):
        name, _, version = dist_info.name.removesuffix(".dist-info").partition("-")
        versions[name.lower().replace("_", "-")] = version
    return versions


def _replace_directory(staging: Path, entry: Path) -> None:
    """Put `staging` at `entry`; an older entry is moved aside first, a concurrent winner kept."""
    if entry.exists():
        retired = entry.with_name(f".{entry.name}-retired-{time.time_ns()}")
        try:
            entry.rename(retired)
        except OSError:
            return  # another build is replacing it right now: its copy is as good as ours
        shutil.rmtree(retired, ignore_errors=True)
    with contextlib.suppress(OSError):  # another build installed it first
        staging.rename(entry)


def _read_record(entry: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((entry / _RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("installed_at"), (int, float)):
        return None
    if not (entry / "python").is_dir():
        return None
    return record
