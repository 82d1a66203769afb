"""Decides exactly what the layer will hold before anything is installed, and names it with a key.

With a lock file the lock is the answer (no network). Otherwise uv resolves once, into a PEP 751
lock in the scratch directory, and the install then reads that lock: never a second resolution.
The key digests every input that decides the zip's bytes, so equal keys mean equal layers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from hatch_lambda.__about__ import __version__
from hatch_lambda.layer.locks import prepare_locked_install
from hatch_lambda.layer.request import InstallRequest
from hatch_lambda.layer.uv import find_uv, resolve_with_uv


@dataclass(frozen=True)
class LayerInputs:
    installer: str
    lock: Path | None
    extras: list[str]
    groups: list[str]


@dataclass(frozen=True)
class LayerPlan:
    request: InstallRequest  # installs the planned set without resolving again (when it can)
    resolved: int  # packages in the planned set; 0 when the installer resolves by itself
    material: dict[str, Any] | None  # what decides the installed set; None: unknown until installed
    warnings: list[str]


def plan_layer(request: InstallRequest, inputs: LayerInputs, scratch: Path) -> LayerPlan:
    if inputs.lock is not None:
        return _from_lock(request, inputs, inputs.lock, scratch, {"lock": _digest(inputs.lock.read_bytes())})
    if inputs.installer == "uv":
        resolved_lock = scratch / "resolved" / "pylock.toml"
        resolved_lock.parent.mkdir(parents=True)
        resolve_with_uv(request, resolved_lock)
        return _from_lock(
            request, inputs, resolved_lock, scratch, {"resolved": _pylock_identity(resolved_lock)}
        )
    # pip resolves as it installs, with host markers corrected afterwards: nothing to key on first.
    return LayerPlan(request, 0, None, [])


def cache_key(plan: LayerPlan, options: dict[str, Any]) -> str | None:
    if plan.material is None:
        return None
    identity = {"hatch-lambda": __version__, "format": 1, "set": plan.material, "options": options}
    return _digest(json.dumps(identity, sort_keys=True).encode())[:32]


def _from_lock(
    request: InstallRequest, inputs: LayerInputs, lock: Path, scratch: Path, material: dict[str, Any]
) -> LayerPlan:
    locked = prepare_locked_install(
        lock,
        project_name=request.project_name,
        project_root=request.project_root,
        requirements=request.requirements,
        extras=inputs.extras,
        groups=inputs.groups,
        runtime=request.runtime,
        architecture=request.architecture,
        scratch=scratch,
        uv=find_uv(),
        excluded=request.exclude_packages,
    )
    # pip checks `--hash` lines on its own whenever any is present; uv is told how strict to be.
    arguments = (
        ["--requirement", str(lock), "--no-deps"] if inputs.installer == "pip" else locked.uv_arguments
    )
    material = {**material, "pins": locked.pinned, "extras": inputs.extras, "groups": inputs.groups}
    # Pin warnings speak of the user's lock; the one resolved here matches the project by construction.
    users_lock = lock == inputs.lock
    warnings = locked.warnings if users_lock else []
    planned = dataclasses.replace(request, locked_arguments=arguments, lock_path=lock if users_lock else None)
    return LayerPlan(planned, len(locked.pinned), material, warnings)


def _pylock_identity(path: Path) -> list[list[Any]]:
    """Each package's name, version and file hashes: the same wheels make the same key wherever the
    index or wheelhouse lives."""
    data = tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
    identity = []
    for package in data.get("packages", []):
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        hashes = sorted(str(file.get("hashes", {}).get("sha256", file.get("url", ""))) for file in files)
        identity.append(
            [str(package["name"]), str(package.get("version", "")), str(package.get("marker", "")), hashes]
        )
    return sorted(identity)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
