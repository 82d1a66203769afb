"""What the layer needs installed, and what an installer reports back: shared by uv and pip."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from packaging.utils import NormalizedName

from hatch_lambda.errors import DependencyInstallError
from hatch_lambda.platform import runtimes
from hatch_lambda.platform.runtimes import Runtime

if TYPE_CHECKING:
    from hatch_lambda.layer.closure import InstalledMetadata, Walk


@dataclass(frozen=True)
class InstallRequest:
    requirements: list[str]
    runtime: Runtime
    architecture: str
    project_name: str
    project_root: Path
    exclude_packages: list[str] = field(default_factory=list)
    allow_sdist: list[str] = field(default_factory=list)
    # A CPython of the runtime's version, needed only when `allow_sdist` lets something build.
    build_python: str | None = None
    # Replaces the requirements when installing from a lock file (see `locks`).
    locked_arguments: list[str] | None = None
    # The workspace members whose pins a `uv.lock` gives the layer; empty: the project alone.
    lock_packages: list[str] = field(default_factory=list)
    # The user's lock file, when the install reads one: failures are explained against it.
    lock_path: Path | None = None
    # The locked install names every file by location and sha256 (a PEP 751 lock): uv's cache can
    # stand for the network, since uv checks each hash whichever way the file comes.
    exact_files: bool = False

    def walk_installed(self, target: Path) -> tuple[dict[NormalizedName, InstalledMetadata], Walk]:
        """What is installed in `target`, and the walk from the requirements over it, for the target,
        the project and `exclude-packages` left out."""
        from hatch_lambda.layer.closure import walk_installed_tree  # noqa: PLC0415 - after an install only

        return walk_installed_tree(
            target,
            self.requirements,
            self.runtime,
            self.architecture,
            excluded=[self.project_name, *self.exclude_packages],
        )

    def describe_target(self) -> str:
        runtime = self.runtime
        return (
            f"{runtime.name} (CPython {runtime.python_version_text}, {runtime.operating_system}), "
            f"{self.architecture}, glibc {runtime.glibc_text}"
        )


class InstallSummary(NamedTuple):
    resolved: int
    installed: int
    seconds: float
    platform: str


def install_error(
    request: InstallRequest, culprit: str | None, tool_output: str, tool: str
) -> DependencyInstallError:
    named = f"`{culprit}`" if culprit else "a dependency"
    runtime = request.runtime
    summary = f"Could not resolve or install {named} for the layer: {request.describe_target()}."
    advice = (
        "Only binary wheels are used, because a wheel built on this machine would not load on Lambda. "
        f"Check that {named} publishes a wheel for CPython {runtime.python_version_text} on manylinux "
        f"(glibc <= {runtime.glibc_text}) {runtimes.machine_of(request.architecture)}, or a pure-Python "
        "one; then pin a version that does, choose another `runtime` or `architecture`, or list a "
        "pure-Python package in `allow-sdist`, in [tool.hatch.build.targets.lambda]."
    )
    return DependencyInstallError(summary, tool_output, advice, tool=tool)
