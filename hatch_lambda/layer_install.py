"""Installs the layer's dependencies into a directory and proves the result, ready to be zipped.

Chooses the installer, applies a lock file when one is set, checks `exclude-packages` against what
the target actually requires, and refuses a tree holding anything that would not load on the runtime.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hatch_lambda import runtimes
from hatch_lambda.closure import installed_metadata, walk_requirements
from hatch_lambda.errors import LambdaBuildError, PlatformProofError
from hatch_lambda.install_request import InstallRequest, InstallSummary
from hatch_lambda.locks import lock_kind, prepare_locked_install, unmet_dependencies
from hatch_lambda.pip_installer import install_with_pip
from hatch_lambda.uv_installer import find_uv, install_with_uv
from hatch_lambda.verify import check_installed_tree


@dataclass(frozen=True)
class LayerInputs:
    installer: str
    lock: Path | None
    extras: list[str]
    groups: list[str]


@dataclass(frozen=True)
class InstalledLayer:
    summary: InstallSummary
    removed: list[str]  # distributions pip chose for this machine only, removed again
    warnings: list[str]


def install_layer(request: InstallRequest, inputs: LayerInputs, target: Path) -> InstalledLayer:
    warnings: list[str] = []
    removed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hatch-lambda-lock-") as scratch:
        pinned = 0
        if inputs.lock is not None:
            request, lock_warnings, pinned = _with_lock(request, inputs, Path(scratch))
            warnings += lock_warnings
        if inputs.installer == "pip":
            summary, removed = install_with_pip(request, target)
        else:
            summary = install_with_uv(request, target)
    if inputs.lock is not None:
        # uv reports no resolution for a lock; the lock's own pins are the resolved set.
        summary = dataclasses.replace(summary, resolved=summary.resolved or pinned)
        warnings += unmet_dependencies(
            target, request.runtime, request.architecture, project_name=request.project_name
        )
    violations = check_installed_tree(target, request.runtime, request.architecture)
    if violations:
        raise PlatformProofError(
            "layer", f"{request.runtime.name} {request.architecture}", [str(item) for item in violations]
        )
    return InstalledLayer(summary, removed, warnings + _unused_exclusions(request, target))


def _with_lock(
    request: InstallRequest, inputs: LayerInputs, scratch: Path
) -> tuple[InstallRequest, list[str], int]:
    assert inputs.lock is not None
    if inputs.installer == "pip" and lock_kind(inputs.lock) != "requirements":
        message = (
            f'`installer = "pip"` installs requirements-file locks only; `{inputs.lock.name}` needs '
            '`installer = "uv"`.'
        )
        raise LambdaBuildError(message)
    locked = prepare_locked_install(
        inputs.lock,
        project_name=request.project_name,
        project_root=request.project_root,
        requirements=request.requirements,
        extras=inputs.extras,
        groups=inputs.groups,
        runtime=request.runtime,
        architecture=request.architecture,
        scratch=scratch,
        uv=find_uv(),
    )
    # pip checks `--hash` lines on its own whenever any is present; uv is told how strict to be.
    arguments = (
        ["--requirement", str(inputs.lock), "--no-deps"] if inputs.installer == "pip" else locked.uv_arguments
    )
    return dataclasses.replace(request, locked_arguments=arguments), locked.warnings, len(locked.pinned)


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
