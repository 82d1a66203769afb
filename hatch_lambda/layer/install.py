"""Installs the layer's dependencies into a directory and proves the result, ready to be zipped.

Chooses the installer, checks `exclude-packages` against what
the target actually requires, and refuses a tree holding anything that would not load on the runtime.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hatch_lambda.errors import LambdaBuildError, PlatformProofError
from hatch_lambda.layer.closure import installed_metadata, walk_requirements
from hatch_lambda.layer.locks import unmet_dependencies
from hatch_lambda.layer.pip import install_with_pip
from hatch_lambda.layer.request import InstallRequest, InstallSummary
from hatch_lambda.layer.uv import install_with_uv
from hatch_lambda.platform import runtimes
from hatch_lambda.platform.proof import check_installed_tree

_UV_EMPTY_MARKERS = re.compile(r"\bplatform_(?:release|version)\b")


@dataclass(frozen=True)
class InstalledLayer:
    summary: InstallSummary
    removed: list[str]  # distributions pip chose for this machine only, removed again
    warnings: list[str]


def install_layer(request: InstallRequest, installer: str, target: Path) -> InstalledLayer:
    """Install what `request` asks for (a planned lock, or requirements) and prove it loads."""
    removed: list[str] = []
    if installer == "pip":
        summary, removed = install_with_pip(request, target)
    else:
        summary = install_with_uv(request, target)
        _refuse_markers_uv_decided_otherwise(request, target)
    warnings: list[str] = []
    if request.locked_arguments is not None:
        warnings += unmet_dependencies(
            target, request.runtime, request.architecture, project_name=request.project_name
        )
    violations = check_installed_tree(target, request.runtime, request.architecture)
    if violations:
        raise PlatformProofError(
            "layer", f"{request.runtime.name} {request.architecture}", [str(item) for item in violations]
        )
    return InstalledLayer(summary, removed, warnings + _unused_exclusions(request, target))


def _refuse_markers_uv_decided_otherwise(request: InstallRequest, target: Path) -> None:
    """uv decides `platform_release` and `platform_version` markers as empty strings for a foreign
    `--python-platform`; Lambda's kernel decides them otherwise. Whatever the runtime's own marker
    environment requires and uv left out would be missing on Lambda."""
    walk = walk_requirements(
        request.requirements,
        installed_metadata(target),
        runtimes.marker_environment(request.runtime, request.architecture),
        excluded=[request.project_name, *request.exclude_packages],
    )
    # Only markers on the kernel: every other one uv decides from its flags as Lambda would.
    kernel_markers = [text for text in walk.missing.values() if _UV_EMPTY_MARKERS.search(text)]
    if kernel_markers:
        needed = ", ".join(f"`{requirement}`" for requirement in kernel_markers)
        environment = runtimes.marker_environment(request.runtime, request.architecture)
        raise LambdaBuildError(
            f"uv left out what {request.describe_target()} requires: {needed}. uv evaluates "
            "`platform_release` and `platform_version` as empty for another platform, while Lambda "
            f"reports {environment['platform_release']!r}. Depend on the package without that marker, "
            "or pin the layer with a lock file (`lock`) that lists it."
        )


def _unused_exclusions(request: InstallRequest, target: Path) -> list[str]:
    if not request.exclude_packages:
        return []
    walk = walk_requirements(
        request.requirements,
        installed_metadata(target),
        runtimes.marker_environment(request.runtime, request.architecture),
        excluded=request.exclude_packages,
    )
    return [
        f"`exclude-packages` names `{name}`, which the layer's dependencies do not require on "
        f"{request.runtime.name} {request.architecture}: nothing was excluded for it"
        for name in request.exclude_packages
        if name not in walk.referenced
    ]
