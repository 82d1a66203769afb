"""Which installed distributions the target needs, walked from the requirements with target markers.

An installer's own resolution is checked against this walk: pip evaluates markers for the host, so
its result is corrected or refused; and `exclude-packages` names are checked against the names the
walk meets. Metadata comes from the installed `.dist-info` directories; markers are evaluated with
`runtimes.marker_environment`, never with the host's values.
"""

from __future__ import annotations

import email.parser
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name


@dataclass(frozen=True)
class InstalledMetadata:
    name: str
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
    parser = email.parser.Parser()
    found = {}
    for dist_info in sorted(target.glob("*.dist-info")):
        metadata = parser.parsestr((dist_info / "METADATA").read_text(encoding="utf-8"), headersonly=True)
        name = str(metadata["Name"])
        found[canonicalize_name(name)] = InstalledMetadata(
            name, dist_info, metadata.get_all("Requires-Dist") or []
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
