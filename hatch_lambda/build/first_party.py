"""First-party code: workspace members and directories by path, built and shipped like the project.

A team's shared library changes as often as its functions, so by default it ships in the source
zip: built into a wheel by its own build backend, then laid out exactly as `pip install --no-deps
--target` would lay it out next to the project. Its own third-party dependencies join the layer.
The walk starts at the project's requirements and follows first-party packages' own requirements
(with the extras asked of them, markers evaluated for the target), building each package once.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from hatchling.builders.wheel import WheelBuilder
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from hatch_lambda.build.target import Target
from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.files.record import FileToPack
from hatch_lambda.files.wheel_contents import plan_target_install
from hatch_lambda.layer.sources import (
    FirstPartyPackage,
    ProjectSources,
    first_party_in_requirements,
    read_pyproject,
)
from hatch_lambda.layer.uv import find_uv
from hatch_lambda.platform.runtimes import marker_environment


class FirstPartyBuildError(LambdaBuildError):
    def __init__(self, package: FirstPartyPackage, problem: str) -> None:
        self.package = package
        super().__init__(
            f"Could not build `{package.name}` ({package.origin} at {package.directory}), which the "
            f"project depends on, into a wheel: {problem}"
        )


class BuiltPackage(NamedTuple):
    package: FirstPartyPackage
    wheel_name: str
    files: list[FileToPack]


@dataclass
class FirstPartyCode:
    """What the walk found: the packages for the source zip, and what the layer must install."""

    packages: list[BuiltPackage] = field(default_factory=list)
    layer_requirements: list[str] = field(default_factory=list)


def collect_first_party(target: Target, sources: ProjectSources, scratch: Path) -> FirstPartyCode:
    """Split the project's layer requirements into first-party code and what the layer installs."""
    config = target.config
    environment = marker_environment(config.runtime, config.architecture)
    code = FirstPartyCode()
    followed: dict[NormalizedName, set[NormalizedName]] = {}  # built packages -> the extras already followed
    requires: dict[NormalizedName, list[str]] = {}
    pending = list(target.requirements)
    while pending:
        text = pending.pop(0)
        requirement = _parsed(text)
        if requirement is None:
            code.layer_requirements.append(text)
            continue
        name = canonicalize_name(requirement.name)
        package = sources.first_party.get(name) or first_party_in_requirements(requirement, target.root)
        if name == canonicalize_name(target.project_name) or package is None:
            code.layer_requirements.append(_with_source(text, requirement, sources))
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({**environment, "extra": ""}):
            continue
        if config.path_dependencies == "layer":
            # Built here by its own backend, as for the source zip; uv installs that wheel and
            # resolves what it needs.
            wheel = _build_wheel(target, package, scratch)
            code.layer_requirements.append(_direct_reference(requirement, wheel))
            continue
        if name not in followed:
            wheel = _build_wheel(target, package, scratch)
            plan = plan_target_install(wheel)
            code.packages.append(BuiltPackage(package, wheel.name, plan.files))
            requires[name] = plan.requires
            followed[name] = set()
            pending += _own_requirements(requires[name], environment, extras=None)
        asked = {canonicalize_name(extra) for extra in requirement.extras} - followed[name]
        followed[name] |= asked
        pending += _own_requirements(requires[name], environment, extras=asked)
    code.layer_requirements = list(dict.fromkeys(code.layer_requirements))
    return code


def _own_requirements(
    requires: Iterable[str], environment: dict[str, str], *, extras: AbstractSet[str] | None
) -> list[str]:
    """A first-party package's `Requires-Dist`: its base ones (`extras=None`), or those of `extras`."""
    chosen = []
    for text in requires:
        requirement = _parsed(text)
        if requirement is None:
            continue
        marker = requirement.marker
        if marker is None or "extra" not in str(marker):
            if extras is None:
                chosen.append(text)
            continue
        # Extras are decided here, for the target; the rest of the marker is too, so it is dropped.
        if extras and any(marker.evaluate({**environment, "extra": extra}) for extra in extras):
            requirement.marker = None
            chosen.append(str(requirement))
    return chosen


def _with_source(text: str, requirement: Requirement, sources: ProjectSources) -> str:
    """A third-party requirement, pointed at the origin `[tool.uv.sources]` gives it, if any."""
    name = canonicalize_name(requirement.name)
    reference = sources.direct_references.get(name)
    if reference is None:
        return text
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    marker = f" ; {requirement.marker}" if requirement.marker else ""
    origin = reference.split(" @ ", 1)[1]
    return f"{requirement.name}{extras} @ {origin}{marker}"


def _direct_reference(requirement: Requirement, wheel: Path) -> str:
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras} @ {wheel.as_uri()}"


def _build_wheel(target: Target, package: FirstPartyPackage, scratch: Path) -> Path:
    """The package's wheel, built by its own backend: hatchling in this process, any other through uv."""
    output = scratch / package.name
    if output.exists():  # asked for twice (`path-dependencies = "layer"`, two extras): built once
        return next(output.glob("*.whl"))
    output.mkdir(parents=True)
    if _builds_with_hatchling_alone(package.directory):
        builder = target.config.builder
        wheel_builder = WheelBuilder(
            str(package.directory), plugin_manager=builder.plugin_manager, app=builder.app
        )
        wheel_builder.config.reproducible = target.config.reproducible
        try:
            return Path(next(iter(wheel_builder.build(directory=str(output), versions=["standard"]))))
        except Exception as error:  # a backend's failure, whatever its type, is the package's
            raise FirstPartyBuildError(package, str(error)) from error
    command = [find_uv(), "build", "--wheel", "--out-dir", str(output), "--python", sys.executable, "--quiet"]
    completed = subprocess.run(
        [*command, str(package.directory)], capture_output=True, text=True, check=False
    )
    wheels = sorted(output.glob("*.whl"))
    if completed.returncode != 0 or len(wheels) != 1:
        raise FirstPartyBuildError(
            package, (completed.stderr or completed.stdout).strip() or "no wheel was written"
        )
    return wheels[0]


def _builds_with_hatchling_alone(directory: Path) -> bool:
    build_system = read_pyproject(directory / "pyproject.toml").get("build-system", {})
    requires = [_parsed(text) for text in build_system.get("requires", [])]
    names = {canonicalize_name(item.name) for item in requires if item is not None}
    return build_system.get("build-backend") == "hatchling.build" and names <= {"hatchling", "hatch-lambda"}


def _parsed(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None
