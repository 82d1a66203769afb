"""What hatch-lambda knows about Lambda's Python runtimes, as plain data.

Every other module asks this one for platform facts; nothing else hard-codes a runtime, a glibc
version or an architecture name. The figures are what the official images report (see the project
README for sources): AWS does not publish glibc versions itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.version import Version


@dataclass(frozen=True)
class Runtime:
    name: str
    python_version: tuple[int, int]
    operating_system: str
    glibc: tuple[int, int]
    deprecated_on: str | None = None

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


RUNTIMES: tuple[Runtime, ...] = (
    Runtime("python3.9", (3, 9), "Amazon Linux 2", (2, 26), deprecated_on="2025-12-15"),
    Runtime("python3.10", (3, 10), "Amazon Linux 2", (2, 26), deprecated_on="2026-06-30"),
    Runtime("python3.11", (3, 11), "Amazon Linux 2", (2, 26), deprecated_on="2026-06-30"),
    Runtime("python3.12", (3, 12), "Amazon Linux 2023", (2, 34)),
    Runtime("python3.13", (3, 13), "Amazon Linux 2023", (2, 34)),
    Runtime("python3.14", (3, 14), "Amazon Linux 2023", (2, 34)),
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


def compatible_wheel_tags(runtime: Runtime, architecture: str) -> frozenset[Tag]:
    """The wheel tags a CPython of this runtime accepts on Lambda: its ABI, abi3 at or below it, pure."""
    platforms = platform_tags(runtime, architecture)
    return frozenset(
        (
            *cpython_tags(
                runtime.python_version,
                [f"cp{runtime.python_version[0]}{runtime.python_version[1]}"],
                platforms,
            ),
            *compatible_tags(
                runtime.python_version, f"cp{runtime.python_version[0]}{runtime.python_version[1]}", platforms
            ),
        )
    )


def marker_environment(runtime: Runtime, architecture: str) -> dict[str, str]:
    """PEP 508 marker values as Lambda's CPython reports them, for evaluating markers off the host."""
    version = runtime.python_version_text
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{version}.0",
        "os_name": "posix",
        "platform_machine": machine_of(architecture),
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{version}.0",
        "python_version": version,
        "sys_platform": "linux",
    }
