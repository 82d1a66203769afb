"""Which installed distributions the target needs, walked from the requirements with target markers.

An installer's own resolution is checked against this walk: pip evaluates markers for the host, so
its result is corrected or refused; and `exclude-packages` names are checked against the names the
walk meets. Metadata comes from the installed `.dist-info` directories; markers are evaluated with
`runtimes.marker_environment`, never with the host's values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from hatch_lambda.files.installed_tree import dist_info_headers, remove_distribution
from hatch_lambda.platform import runtimes
from hatch_lambda.platform.runtimes import Runtime


@dataclass(frozen=True)
class InstalledMetadata:
    name: str
    version: str
    dist_info: Path
    requires: list[str]


@dataclass
class Walk:
    needed: set[NormalizedName] = field(default_factory=set)
    # Names required on the target but not installed (excluded ones among them).
    missing: dict[NormalizedName, str] = field(default_factory=dict)
    # Every name some walked requirement asked for, installed or not.
    referenced: set[NormalizedName] = field(default_factory=set)


def installed_metadata(target: Path) -> dict[NormalizedName, InstalledMetadata]:
    found = {}
    for dist_info in sorted(target.glob("*.dist-info")):
        metadata = dist_info_headers(dist_info, "METADATA")
        name = str(metadata["Name"])
        requires = [str(line) for line in metadata.get_all("Requires-Dist") or []]
        found[canonicalize_name(name)] = InstalledMetadata(
            name, str(metadata["Version"]), dist_info, requires
        )
    return found


def walk_requirements(
    requirements: Iterable[str],
    installed: Mapping[NormalizedName, InstalledMetadata],
    environment: Mapping[str, str],
    *,
    excluded: Iterable[str] = (),
) -> Walk:
    walk = Walk()
    skipped = {canonicalize_name(name) for name in excluded}
    pending: list[tuple[str, str]] = [(text, "") for text in requirements]
    seen_extras: set[tuple[NormalizedName, str]] = set()
    while pending:
        text, extra = pending.pop()
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate({**environment, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        walk.referenced.add(name)
        if name in skipped:
            continue
        if name not in installed:
            walk.missing.setdefault(name, str(requirement))
            continue
        for wanted in ("", *sorted(canonicalize_name(item) for item in requirement.extras)):
            if (name, wanted) not in seen_extras:
                seen_extras.add((name, wanted))
                walk.needed.add(name)
                pending += [(child, wanted) for child in installed[name].requires]
    return walk


def walk_installed_tree(
    target: Path, requirements: Iterable[str], runtime: Runtime, architecture: str, *, excluded: Iterable[str]
) -> tuple[dict[NormalizedName, InstalledMetadata], Walk]:
    """The distributions installed in `target`, and the walk from `requirements` over them on the target."""
    installed = installed_metadata(target)
    environment = runtimes.marker_environment(runtime, architecture)
    return installed, walk_requirements(requirements, installed, environment, excluded=excluded)


def remove_unneeded(
    target: Path, installed: Mapping[NormalizedName, InstalledMetadata], walk: Walk
) -> list[str]:
    """Delete the installed distributions the walk did not reach; returns their names."""
    removed = []
    for name, metadata in sorted(installed.items()):
        if name not in walk.needed:
            remove_distribution(target, metadata.dist_info)
            removed.append(metadata.name)
    return removed
