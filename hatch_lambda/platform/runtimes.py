"""What hatch-lambda knows about Lambda's Python runtimes, as plain data.

Every other module asks this one for platform facts; nothing else hard-codes a runtime, a glibc
version, a lifecycle date or an architecture name. Two kinds of data live here:

- the table below: each runtime's CPython minor version, operating system, glibc ceiling (what
  `ldd --version` prints in the official images: AWS does not publish glibc versions) and the three
  lifecycle dates from AWS's runtime page, each row saying where its dates were read;
- one "complete platform" file per runtime and architecture in `data/` (Pants' approach): the exact
  PEP 508 marker environment Lambda's CPython reports, patch release included, and the exact list of
  wheel tags it accepts. Markers are evaluated, uv's `--python-version` is set, and wheel tags are
  proven against these files, so a marker such as `python_full_version >= "3.12.1"` is decided the
  way Lambda decides it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cache
from importlib.resources import files
from typing import Any, NamedTuple

from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, parse_tag
from packaging.version import Version

from hatch_lambda.errors import BlockedRuntimeError


@dataclass(frozen=True)
class Runtime:
    name: str
    python_version: tuple[int, int]
    operating_system: str
    glibc: tuple[int, int]
    # AWS's three lifecycle dates; None while AWS lists the stage as not scheduled.
    deprecation: date | None = None
    block_create: date | None = None  # creating functions on the runtime is refused from this day
    block_update: date | None = None  # updating their code or configuration is refused from this day

    @property
    def python_version_text(self) -> str:
        return f"{self.python_version[0]}.{self.python_version[1]}"

    @property
    def glibc_text(self) -> str:
        return f"{self.glibc[0]}.{self.glibc[1]}"

    @property
    def site_packages(self) -> str:
        """The layer directory Lambda adds to sys.path for this runtime's versioned layout."""
        return f"python/lib/python{self.python_version_text}/site-packages"


AL2 = "Amazon Linux 2"
AL2023 = "Amazon Linux 2023"

# Dates: AWS Lambda developer guide, lambda-runtimes.html and lambda-python.html ("Supported
# runtimes": deprecation, block function create, block function update), English edition as read in
# late 2026; translations lag. AWS has moved them more than once, so they are data, and
# `allow-blocked-runtime` exists for the day AWS moves one again before this table does.
# python3.15 is left out: AWS lists it only as a public preview (since 2026-07-24; "not for
# production use", no SLA: aws/aws-lambda-python-runtime-interface-client#216 and
# aws/aws-lambda-roadmap#55), and a preview's patch release and marker values are not stable.
RUNTIMES: tuple[Runtime, ...] = (
    # Deprecated 2025-12-15 (AWS page). The block dates were moved at least three times in 2026
    # (first 2026-01-15 / 2026-02-15); 2027-02-01 / 2027-03-03 is the table as quoted on
    # repost.aws (question "AWS Lambda Python runtime 3.9 EoL") in late 2026.
    Runtime("python3.9", (3, 9), AL2, (2, 26), date(2025, 12, 15), date(2027, 2, 1), date(2027, 3, 3)),
    # AWS page, late 2026 (earlier editions said 2026-06-30 / 2026-07-31 / 2026-08-31).
    Runtime("python3.10", (3, 10), AL2, (2, 26), date(2026, 10, 31), date(2026, 11, 30), date(2027, 1, 15)),
    # AWS page, late 2026; the same dates were already quoted in March 2026 (pocketlantern.dev brief
    # on Python 3.11 end of life on Lambda).
    Runtime("python3.11", (3, 11), AL2, (2, 26), date(2027, 6, 30), date(2027, 7, 31), date(2027, 8, 31)),
    # AWS page (lambda-python.html), unchanged since 2025.
    Runtime(
        "python3.12", (3, 12), AL2023, (2, 34), date(2028, 10, 31), date(2028, 11, 30), date(2029, 1, 10)
    ),
    # AWS page (lambda-python.html), unchanged since 2025.
    Runtime("python3.13", (3, 13), AL2023, (2, 34), date(2029, 6, 30), date(2029, 7, 31), date(2029, 8, 31)),
    # AWS page, late 2026; endoflife.date/aws-lambda gives the same deprecation and block-update dates.
    Runtime("python3.14", (3, 14), AL2023, (2, 34), date(2029, 6, 30), date(2029, 7, 31), date(2029, 8, 31)),
)

# Lambda's architecture names, mapped to the machine names that wheel tags and ELF headers use.
ARCHITECTURES: dict[str, str] = {"x86_64": "x86_64", "arm64": "aarch64"}

DEFAULT_ARCHITECTURE = "x86_64"

# uv's `--python-platform` has no manylinux_2_26 target, and its `*-unknown-linux-gnu` means
# manylinux_2_28, whose wheels fail to load on Amazon Linux 2. So each glibc ceiling maps to the
# newest uv target that does not exceed it.
_UV_PLATFORM_SUFFIX_FOR_GLIBC: dict[tuple[int, int], str] = {
    (2, 26): "manylinux2014",
    (2, 34): "manylinux_2_34",
}


def runtime_names() -> list[str]:
    return [runtime.name for runtime in RUNTIMES]


def runtime_named(name: str) -> Runtime | None:
    return next((runtime for runtime in RUNTIMES if runtime.name == name), None)


def runtime_allowed(runtime: Runtime, requires_python: str | None) -> bool:
    """Whether some patch release of the runtime's CPython satisfies `requires-python`: AWS moves a
    runtime to new patch releases, so any of them may be the one that runs."""
    specifier = SpecifierSet(requires_python or "")
    return any(
        specifier.contains(Version(f"{runtime.python_version_text}.{patch}"), prereleases=True)
        for patch in range(100)
    )


def newest_runtime_allowed(requires_python: str | None) -> Runtime | None:
    """The newest runtime whose CPython satisfies the project's `requires-python`."""
    allowed = [runtime for runtime in RUNTIMES if runtime_allowed(runtime, requires_python)]
    return allowed[-1] if allowed else None


def machine_of(architecture: str) -> str:
    return ARCHITECTURES[architecture]


def uv_python_platform(runtime: Runtime, architecture: str) -> str:
    """The `uv pip install --python-platform` value whose wheels load on this runtime."""
    return f"{machine_of(architecture)}-{_UV_PLATFORM_SUFFIX_FOR_GLIBC[runtime.glibc]}"


def platform_tags(runtime: Runtime, architecture: str) -> list[str]:
    """Every platform tag whose wheels load on the runtime, newest glibc first.

    PEP 600 tags from the runtime's glibc ceiling down to 2.17 (the oldest manylinux that ships
    for current CPythons), then the legacy aliases that name the same glibc floors.
    """
    machine = machine_of(architecture)
    major, ceiling = runtime.glibc
    tags = [f"manylinux_{major}_{minor}_{machine}" for minor in range(ceiling, 4, -1)]
    legacy = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
    for alias, floor in legacy.items():
        # manylinux2010 and manylinux1 were never defined for aarch64.
        if floor <= runtime.glibc and (machine == "x86_64" or alias == "manylinux2014"):
            tags.append(f"{alias}_{machine}")
    return tags


def derived_wheel_tags(runtime: Runtime, architecture: str) -> list[str]:
    """The wheel tags a CPython of this runtime accepts on Lambda, in priority order, from the table.

    Its ABI, abi3 at or below it, then pure wheels, on `platform_tags` (`packaging.tags` computes the
    order). The complete platform files hold exactly this list; a test keeps the two in step.
    """
    interpreter = f"cp{runtime.python_version[0]}{runtime.python_version[1]}"
    platforms = platform_tags(runtime, architecture)
    ordered = [
        *cpython_tags(runtime.python_version, [interpreter], platforms),
        *compatible_tags(runtime.python_version, interpreter, platforms),
    ]
    return list(dict.fromkeys(str(tag) for tag in ordered))


# Complete platforms ------------------------------------------------------------------------------


class CompletePlatform(NamedTuple):
    """One runtime and architecture as Lambda's CPython reports itself (a `data/*.json` file)."""

    runtime: str
    architecture: str
    marker_environment: dict[str, str]
    compatible_tags: tuple[str, ...]
    sources: dict[str, str]  # where each value was read, by key

    @property
    def python_full_version(self) -> str:
        return self.marker_environment["python_full_version"]


MARKER_KEYS = (
    "implementation_name",
    "implementation_version",
    "os_name",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_full_version",
    "python_version",
    "sys_platform",
)


def complete_platform_file_name(runtime: Runtime, architecture: str) -> str:
    return f"{runtime.name}-{architecture}.json"


@cache
def complete_platform(runtime: Runtime, architecture: str) -> CompletePlatform:
    """The packaged complete platform of `runtime` on `architecture`."""
    resource = files("hatch_lambda.platform") / "data" / complete_platform_file_name(runtime, architecture)
    data: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    environment = {key: str(data["marker_environment"][key]) for key in MARKER_KEYS}
    return CompletePlatform(
        runtime=str(data["runtime"]),
        architecture=str(data["architecture"]),
        marker_environment=environment,
        compatible_tags=tuple(str(tag) for tag in data["compatible_tags"]),
        sources={str(key): str(value) for key, value in data["sources"].items()},
    )


def python_full_version(runtime: Runtime, architecture: str) -> str:
    """The CPython patch release Lambda runs, `3.12.3`: what uv's `--python-version` is given."""
    return complete_platform(runtime, architecture).python_full_version


def compatible_wheel_tags(runtime: Runtime, architecture: str) -> frozenset[Tag]:
    """The wheel tags a CPython of this runtime accepts on Lambda (from its complete platform)."""
    return frozenset(
        tag for text in complete_platform(runtime, architecture).compatible_tags for tag in parse_tag(text)
    )


def marker_environment(runtime: Runtime, architecture: str) -> dict[str, str]:
    """PEP 508 marker values as Lambda's CPython reports them, for evaluating markers off the host."""
    return dict(complete_platform(runtime, architecture).marker_environment)


# Lifecycle ---------------------------------------------------------------------------------------

TODAY_VARIABLE = "HATCH_LAMBDA_TODAY"
DEPRECATED = "deprecated"
CREATE_BLOCKED = "create-blocked"
UPDATE_BLOCKED = "update-blocked"


class LifecycleDateError(ValueError):
    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__(
            f"`{TODAY_VARIABLE}` must be a date such as 2027-01-31 (got {value!r}): it sets the day "
            "the runtime's deprecation and block dates are compared with."
        )


def lifecycle_today(environment: dict[str, str] | None = None) -> date:
    """Today in UTC, or the day `HATCH_LAMBDA_TODAY` names (to see what a build will say on that day)."""
    value = (os.environ if environment is None else environment).get(TODAY_VARIABLE)
    if not value:
        return datetime.now(timezone.utc).date()
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise LifecycleDateError(value) from error


class LifecycleNotice(NamedTuple):
    """Where a runtime is in AWS's deprecation schedule on a given day, and what to tell the user."""

    runtime: Runtime
    stage: str  # DEPRECATED, CREATE_BLOCKED or UPDATE_BLOCKED
    message: str

    @property
    def blocks_deployment(self) -> bool:
        """Past the block-update date AWS refuses to update functions on it: nothing can deploy."""
        return self.stage == UPDATE_BLOCKED


def lifecycle_notice(runtime: Runtime, today: date, *, override: str) -> LifecycleNotice | None:
    """What to say about `runtime` on `today`; None while it is supported.

    A pure function of the table and the day. `override` names the setting that lets a build or a
    publish go ahead past the block-update date (the caller knows its key); it appears only then.
    """
    successor = newest_runtime().name
    stages = [
        (runtime.block_update, UPDATE_BLOCKED),
        (runtime.block_create, CREATE_BLOCKED),
        (runtime.deprecation, DEPRECATED),
    ]
    stage = next((name for day, name in stages if day is not None and today >= day), None)
    if stage is None:
        return None
    if stage == UPDATE_BLOCKED:
        message = (
            f"Lambda runtime {runtime.name} is blocked: AWS refuses creating functions on it since "
            f"{runtime.block_create} and updating them since {runtime.block_update}, so this release "
            f"could not be deployed. Move to {successor}, or, if AWS has moved the date, set {override}."
        )
    elif stage == CREATE_BLOCKED:
        message = (
            f"Lambda runtime {runtime.name}: creating functions on it is blocked since "
            f"{runtime.block_create} (deprecated since {runtime.deprecation}); existing functions can be "
            f"updated until {runtime.block_update}. Move to {successor}."
        )
    else:
        message = (
            f"Lambda runtime {runtime.name} is deprecated since {runtime.deprecation}: AWS no longer "
            f"patches it, blocks creating functions on it from {_day(runtime.block_create)} and updating "
            f"them from {_day(runtime.block_update)}. Move to {successor}."
        )
    return LifecycleNotice(runtime, stage, message)


def enforce_lifecycle(runtime: Runtime, today: date, *, allowed: bool, override: str) -> str | None:
    """The warning to show for `runtime` on `today` (None if none).

    Past the block-update date it raises `BlockedRuntimeError`, unless `allowed` (the override
    setting is on): then the same message is the warning, saying the setting let it through.
    """
    notice = lifecycle_notice(runtime, today, override=override)
    if notice is None:
        return None
    if notice.blocks_deployment:
        if not allowed:
            raise BlockedRuntimeError(runtime.name, notice.message)
        return f"{notice.message} Going ahead: {override} is set."
    return notice.message


def newest_runtime() -> Runtime:
    return RUNTIMES[-1]


def _day(day: date | None) -> str:
    return str(day) if day is not None else "a date AWS has not set yet"
