"""Which requirements go into the layer: the project's dependencies, the chosen extras and groups.

Markers are kept as written: uv evaluates them for the target platform, not for this host.
References to the project itself (`my-app[aws]` inside an extra) are expanded in place, because the
project's own code belongs in the source zip, never in the layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def layer_requirements(
    project_name: str,
    dependencies: Iterable[str],
    optional_dependencies: Mapping[str, Iterable[str]],
    extras: Iterable[str],
    *,
    dependency_groups: Mapping[str, Any] | None = None,
    groups: Iterable[str] = (),
) -> list[str]:
    project = canonicalize_name(project_name)
    optional = {
        canonicalize_name(name): list(requirements) for name, requirements in optional_dependencies.items()
    }
    collected: dict[str, None] = {}
    expanded: set[tuple[str, str]] = set()

    def collect(requirements: Iterable[str], outer_marker: Marker | None) -> None:
        for text in requirements:
            requirement = Requirement(text)
            marker = _both(requirement.marker, outer_marker)
            if canonicalize_name(requirement.name) != project:
                requirement.marker = marker
                collected.setdefault(str(requirement), None)
                continue
            for extra in sorted(canonicalize_name(extra) for extra in requirement.extras):
                key = (extra, str(marker))
                if key not in expanded:
                    expanded.add(key)
                    collect(optional.get(extra, []), marker)

    collect(dependencies, None)
    for extra in extras:
        collect(optional.get(canonicalize_name(extra), []), None)
    if groups:
        # PEP 735 groups may include each other (`{include-group = "..."}`): the pypa reference
        # implementation resolves those, with cycle detection and name normalisation.
        from dependency_groups import resolve as resolve_groups  # noqa: PLC0415 - only when chosen

        for group in groups:
            collect(resolve_groups(dict(dependency_groups or {}), group), None)
    return list(collected)


def _both(inner: Marker | None, outer: Marker | None) -> Marker | None:
    if inner is None or outer is None:
        return inner or outer
    return Marker(f"({inner}) and ({outer})")
