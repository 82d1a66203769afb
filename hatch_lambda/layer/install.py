"""Installs the layer's dependencies into a directory, ready to be slimmed, proven and zipped.

Chooses the installer and checks `exclude-packages` against what the target actually requires.
The proof that everything loads on the runtime (`platform.proof.prove_layer`) runs later, over the
files that will be zipped, so that `slim-exclude` can drop what would fail it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.layer.closure import (
    installed_metadata,
    remove_unneeded,
    walk_installed_tree,
    walk_requirements,
)
from hatch_lambda.layer.locks import unmet_dependencies
from hatch_lambda.layer.pip import install_with_pip
from hatch_lambda.layer.request import InstallRequest, InstallSummary
from hatch_lambda.layer.uv import install_with_uv
from hatch_lambda.platform import runtimes

_UV_EMPTY_MARKERS = re.compile(r"\bplatform_(?:release|version)\b")


@dataclass(frozen=True)
class InstalledLayer:
    summary: InstallSummary
    removed: list[str]  # distributions pip chose for this machine only, removed again
    warnings: list[str]


def install_layer(request: InstallRequest, installer: str, target: Path) -> InstalledLayer:
    """Install what `request` asks for (a planned lock, or requirements) into `target`."""
    removed: list[str] = []
    if installer == "pip":
        summary, removed = install_with_pip(request, target)
    else:
        # Hard links to uv's cache: the same bytes as copies, without writing the whole layer out
        # (75 MB for numpy, cryptography, pydantic) and deleting it again after zipping, which was a
        # third of a cold build. This is safe because nothing writes to an installed file: the
        # build only reads, adds and deletes files in `target`. A change that rewrites or chmods
        # one in place would change uv's cache, so it must copy the file first.
        summary = install_with_uv(request, target, hard_links=True)
        _refuse_markers_uv_decided_otherwise(request, target)
    warnings: list[str] = []
    if installer == "uv":
        warnings += _drop_excluded(request, target)
    if request.locked_arguments is not None:
        warnings += unmet_dependencies(
            target,
            request.runtime,
            request.architecture,
            project_name=request.project_name,
            excluded=request.exclude_packages,
        )
    return InstalledLayer(summary, removed, warnings + _unused_exclusions(request, target))


def _drop_excluded(request: InstallRequest, target: Path) -> list[str]:
    """uv ignores `--excludes` when it installs a lock, and a user's lock holds what only excluded
    packages need: remove whatever the project's requirements no longer reach once they are cut."""
    if not request.exclude_packages:
        return []
    installed, walk = request.walk_installed(target)
    removed = remove_unneeded(target, installed, walk)
    if not removed:
        return []
    return [
        f"`exclude-packages` left out {', '.join(request.exclude_packages)}, and with them what only they "
        f"needed: {', '.join(removed)}"
    ]


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
    _, walk = walk_installed_tree(
        target, request.requirements, request.runtime, request.architecture, excluded=request.exclude_packages
    )
    return [
        f"`exclude-packages` names `{name}`, which the layer's dependencies do not require on "
        f"{request.runtime.name} {request.architecture}: nothing was excluded for it"
        for name in request.exclude_packages
        if name not in walk.referenced
    ]
