"""Decides exactly what the layer will hold before anything is installed, and names it with a key.

With a lock file the lock is the answer (no network). Otherwise uv resolves once, into a PEP 751
lock in the scratch directory, and the install then reads that lock: never a second resolution.
The key digests every input that decides the zip's bytes (`layer.identity`), so equal keys mean
equal layers; what has no fixed identity is planned with `uncacheable_reason` set, and built fresh.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlparse

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from hatch_lambda.__about__ import __version__
from hatch_lambda.layer.identity import (
    Distributions,
    pylock_distributions,
    pylock_file_hashes,
    tool_identity,
    uv_lock_file_hashes,
)
from hatch_lambda.layer.locks import lock_kind, prepare_locked_install
from hatch_lambda.layer.request import InstallRequest
from hatch_lambda.layer.uv import find_uv, resolve_with_uv


class LayerInputs(NamedTuple):
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
    # Why this layer is built fresh, never taken from or kept in the cache; None when it can be.
    uncacheable_reason: str | None = None
    # File name -> sha256 of the wheels (and sdists) the lock installs from, for the SBOM.
    file_hashes: dict[str, str] = dataclasses.field(default_factory=dict)
    # Writes what `request`'s arguments name in scratch (a copy of the lock for uv): call it
    # before installing; a layer taken from the cache needs none of it.
    prepare_install: Callable[[], None] = lambda: None


def plan_layer(request: InstallRequest, inputs: LayerInputs, scratch: Path) -> LayerPlan:
    if inputs.lock is not None:
        return _from_lock(request, inputs, inputs.lock, scratch)
    if inputs.installer == "uv":
        resolved_lock = scratch / "resolved" / "pylock.toml"
        resolved_lock.parent.mkdir(parents=True)
        resolve_with_uv(request, resolved_lock)
        return _from_lock(request, inputs, resolved_lock, scratch)
    reason = (
        "pip resolves while it installs, so what the layer holds is known only afterwards "
        "(set `lock` to cache pip layers)"
    )
    return LayerPlan(request, 0, None, [], reason)


def cache_key(plan: LayerPlan, options: dict[str, Any]) -> str | None:
    if plan.material is None or plan.uncacheable_reason is not None:
        return None
    identity = {"hatch-lambda": __version__, "format": 3, "set": plan.material, "options": options}
    return _digest(json.dumps(identity, sort_keys=True).encode())[:32]


def _from_lock(request: InstallRequest, inputs: LayerInputs, lock: Path, scratch: Path) -> LayerPlan:
    user_lock = lock == inputs.lock
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
        lock_packages=request.lock_packages or None,
    )
    lock_path = lock if lock.is_absolute() else request.project_root / lock
    kind = lock_kind(lock_path)
    distributions = (
        pylock_distributions(locked.pylock, lock_path.parent)
        if locked.pylock is not None
        else Distributions()
    )
    # pip checks `--hash` lines on its own whenever any is present; uv is told how strict to be.
    if inputs.installer == "pip":
        arguments = ["--requirement", str(lock), "--no-deps"]
    else:
        # uv reuses a wheel it once built from a local directory until the directory's
        # pyproject.toml changes: the layer must hold the directory's code as it is now.
        # (`--reinstall-package` rebuilds it; `--refresh-package` would too, but uv refuses it
        # with UV_OFFLINE.)
        directories = [*distributions.directories, *_local_directory_names(locked.unidentified)]
        arguments = [*locked.uv_arguments, *(f"--reinstall-package={name}" for name in directories)]
    material = {
        # A user's lock is digested whole (with its includes); a lock resolved here holds paths of
        # this machine's wheelhouse, so only the distributions' identities are its identity.
        "files": [_digest(path.read_bytes()) for path in locked.files_read] if user_lock else [],
        "distributions": distributions.identities,
        "pins": locked.pinned,
        "extras": inputs.extras,
        "groups": inputs.groups,
        "tools": tool_identity(request.project_root),
    }
    # Pin warnings speak of the user's lock; the one resolved here matches the project by construction.
    warnings = locked.warnings if user_lock else []
    # Wheels named by sha256 are the same bytes from uv's cache as from the index (`uv.install_with_uv`).
    exact_files = inputs.installer == "uv" and distributions.only_hashed_wheels and not request.allow_sdist
    return LayerPlan(
        dataclasses.replace(
            request,
            locked_arguments=arguments,
            lock_path=lock if user_lock else None,
            exact_files=exact_files,
        ),
        len(locked.pinned),
        material,
        warnings,
        _uncacheable_reason(
            lock_path if user_lock else None, [*locked.unidentified, *distributions.unidentified]
        ),
        _file_hashes(lock_path, kind, locked.pylock),
        locked.write_files,
    )


def _file_hashes(lock_path: Path, kind: str | None, pylock: dict[str, Any] | None) -> dict[str, str]:
    """The sha256 of each file the lock installs from, by file name (a requirements file's hashes
    name no file, so it gives none)."""
    if pylock is not None:
        return pylock_file_hashes(pylock)
    if kind == "uv.lock":
        return uv_lock_file_hashes(lock_path)
    return {}


def _uncacheable_reason(user_lock: Path | None, unidentified: list[str]) -> str | None:
    if not unidentified:
        return None
    named = ", ".join(f"`{text}`" for text in unidentified[:5])
    more = f" and {len(unidentified) - 5} more" if len(unidentified) > 5 else ""
    where = f"lock file {user_lock.name}" if user_lock else "the layer's resolution"
    return (
        f"{where} names {named}{more} without one fixed identity (no `==` pin, or a local "
        "path or URL that can change, or a directory that cannot be read), so each build installs "
        "what is there now"
    )


def _local_directory_names(requirements: list[str]) -> list[str]:
    """Names of `name @ file:...` requirements that point at a directory rather than a file."""
    names: list[str] = []
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.url and requirement.url.startswith("file:"):
            # urllib.request brings http, ssl and email with it: only for the rare `file:` requirement.
            from urllib.request import url2pathname  # noqa: PLC0415

            location = Path(url2pathname(urlparse(requirement.url).path))
            if location.is_dir():
                names.append(canonicalize_name(requirement.name))
    return names


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
