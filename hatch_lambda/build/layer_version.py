"""The `layer` version: plan the dependency set, then build its zip or take it from the layer cache.

Planning resolves (or reads the lock) and computes the cache key; building installs, proves, slims,
compiles and zips into the staging directory. A cached layer is copied into staging, never linked:
the artifact is the user's and the cache is the tool's; when the output directory holds its bytes
already, that file is kept as it is. A layer built fresh is stored in the cache
only after the release is committed, by `store_in_cache`, which can only warn.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hatch_lambda.archive.reproducible_zip import WrittenZip
from hatch_lambda.build.inputs import layer_options
from hatch_lambda.build.reporting import counted, report_zip, waiting
from hatch_lambda.build.target import Target
from hatch_lambda.build.transaction import Staging
from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.files.cache_root import cache_directory
from hatch_lambda.files.digest import file_sha256
from hatch_lambda.layer.cache import CachedLayer, LayerCache, holds, place
from hatch_lambda.layer.plan import LayerInputs, LayerPlan, cache_key, plan_layer
from hatch_lambda.layer.request import InstallRequest
from hatch_lambda.layer.shared_cache import SharedLayerCache
from hatch_lambda.layer.sources import requirement_names
from hatch_lambda.layer.uv import find_uv


@dataclass
class PlannedLayer:
    plan: LayerPlan
    key: str | None  # None: not cacheable (real mtimes, or an installer that resolves as it installs)
    inputs: str
    cache: LayerCache | None = None
    # Filled by `build_layer_zip` when the layer was built, not taken from the cache.
    details_to_store: dict[str, Any] | None = None
    # What the layer holds, for the SBOM (`build.sbom`): filled whether built or taken from the cache.
    sbom_facts: list[dict[str, Any]] = field(default_factory=list)
    shared: SharedLayerCache | None = None  # the S3 level, when `cache-s3` is set
    from_shared: bool = False  # taken from the shared cache: nothing to upload
    written_copy: Path | None = None  # the cache's copy of a fresh layer, written with it
    warnings: list[str] = field(default_factory=list)


def plan_layer_version(
    target: Target, scratch: Path, *, inputs: str, requirements: list[str]
) -> PlannedLayer:
    """`requirements`: what the layer installs, first-party code already taken out (see `first_party`)."""
    config = target.config
    lock = target.lock
    _refuse_unlocked_index_sources(target, lock, requirements)
    if lock is not None and config.lock is None:
        target.reporter.display_info(
            f"Installing the pins of {_shown(lock, target.root)}, the project's uv.lock"
            + (" (its workspace's)" if lock.parent != target.root else "")
            + ': set `lock = "none"` to resolve afresh'
        )
    layer_inputs = LayerInputs(config.installer, lock, config.extras, config.dependency_groups)
    waiting(
        target.reporter, f"Resolving {counted(len(requirements), 'requirement')} for {target.description}..."
    )
    plan = plan_layer(install_request(target, requirements), layer_inputs, scratch)
    for warning in plan.warnings:
        target.reporter.display_warning(warning)
    # Real mtimes (`reproducible = false`) make every build's bytes differ: nothing to reuse.
    key = cache_key(plan, _layer_options(target)) if config.reproducible else None
    if plan.uncacheable_reason is not None and config.reproducible:
        target.reporter.display_info(f"Layer not cached: {plan.uncacheable_reason}")
    return PlannedLayer(plan, key, inputs)


def build_layer_zip(
    target: Target,
    planned: PlannedLayer,
    staging: Staging,
    scratch: Path,
    *,
    hold: contextlib.ExitStack,
    check_size: Callable[[int], None],
) -> dict[str, Any]:
    """Stage the layer as `target.layer_name` (from the cache, or built); return its manifest entry.

    When the output directory's file of that name already holds the cached layer's bytes, it is
    kept there (`Staging.keep`) and nothing is staged: `staging.artifact` says where the layer is.
    The cache entry's lock is entered on `hold`, so it is kept until the release is committed and
    stored: a second build of the same layer waits, then takes it from the cache.
    """
    name = target.layer_name
    cached = _cached(target, planned, planned.key, hold) if planned.key is not None else None
    # An entry without SBOM facts was written before SBOMs were: built again, and replaced.
    if cached is not None and "sbom" not in cached.details:
        cached = None
    if cached is not None and holds(staging.output / name, cached):
        # The common warm build: code changed, dependencies did not. Copying the same tens of MB
        # over the committed layer, then unlinking the old one, costs more than the whole rest of
        # the layer's part of the build.
        planned.sbom_facts = list(cached.details["sbom"])
        return _report_cached(target, planned, cached, staging.keep(name), check_size, kept=True)
    destination = staging.stage(name)
    if cached is not None and _placed_from_cache(target, planned, cached, destination):
        planned.sbom_facts = list(cached.details["sbom"])
        return _report_cached(target, planned, cached, destination, check_size)
    if planned.key is not None:
        shared = _shared(target, planned, planned.key, scratch)
        if shared is not None and place(shared.zip_path, destination, shared.sha256) is None:
            planned.sbom_facts = list(shared.details["sbom"])
            planned.details_to_store, planned.from_shared = shared.details, True  # kept locally too
            assert planned.shared is not None
            where = f"the shared cache ({planned.shared.object_url(planned.key)})"
            return _report_cached(target, planned, shared, destination, check_size, where=where)
    # Installing, proving, compiling and zipping load on a miss only: a warm build never pays for them.
    from hatch_lambda.build.layer_zip import build_fresh_layer  # noqa: PLC0415

    if planned.cache is not None and planned.key is not None:
        planned.written_copy = hold.enter_context(planned.cache.copy_slot(planned.key))
    details = build_fresh_layer(
        target,
        planned.plan,
        destination,
        scratch,
        inputs=planned.inputs,
        check_size=check_size,
        cache_copy=planned.written_copy,
    )
    planned.sbom_facts = list(details["sbom"])
    if planned.key is not None:
        planned.details_to_store = details
    return dict(details["entry"])


def store_in_cache(target: Target, planned: PlannedLayer, committed: Path) -> None:
    """After the commit: keep a copy of a freshly built layer for the next build (and, with
    `cache-s3`, for every runner). Failing only warns."""
    if planned.key is None or planned.details_to_store is None:
        return
    if planned.cache is not None:
        try:
            planned.cache.store(
                planned.key, committed, planned.details_to_store, written=planned.written_copy
            )
        except OSError as error:
            planned.cache.warnings.append(
                f"Could not keep the layer in the cache at {planned.cache.root} ({error}): the next "
                "build installs it again"
            )
        _show_cache_warnings(target, planned.cache)
    if planned.shared is not None and not planned.from_shared:
        planned.shared.store(planned.key, committed, planned.details_to_store)
        _show_cache_warnings(target, planned.shared)


def _cached(
    target: Target, planned: PlannedLayer, key: str, hold: contextlib.ExitStack
) -> CachedLayer | None:
    cache = LayerCache(cache_directory())
    try:
        hold.enter_context(cache.locked(key))
        cached = cache.lookup(key)
    except OSError as error:
        target.reporter.display_warning(
            f"The layer cache ({cache.root}) cannot be used ({error}): building the layer without it. "
            "Point HATCH_LAMBDA_CACHE_DIR at a writable directory to use one."
        )
        return None
    planned.cache = cache
    _show_cache_warnings(target, cache)
    return cached


def _shared(target: Target, planned: PlannedLayer, key: str, scratch: Path) -> CachedLayer | None:
    """The layer from the shared cache in S3, downloaded into `scratch` and checked; None on a miss."""
    location = target.config.cache_s3
    if location is None:
        return None
    planned.shared = SharedLayerCache(location)
    downloaded = scratch / "shared-cache.zip"
    details = planned.shared.fetch(key, downloaded)
    _show_cache_warnings(target, planned.shared)
    if details is None or "sbom" not in details:
        return None
    return CachedLayer(downloaded, details, file_sha256(downloaded))  # checked against its record


def _show_cache_warnings(target: Target, cache: LayerCache | SharedLayerCache) -> None:
    for warning in cache.warnings:
        target.reporter.display_warning(warning)
    cache.warnings.clear()


def _placed_from_cache(target: Target, planned: PlannedLayer, cached: CachedLayer, destination: Path) -> bool:
    """Copy the hit into staging if its bytes are still the recorded ones (else it is discarded)."""
    assert planned.cache is not None  # `_cached` keeps the cache it found the hit in
    placed = planned.cache.place(cached, destination)
    _show_cache_warnings(target, planned.cache)
    return placed


def _report_cached(
    target: Target,
    planned: PlannedLayer,
    cached: CachedLayer,
    destination: Path,
    check_size: Callable[[int], None],
    *,
    where: str | None = None,
    kept: bool = False,
) -> dict[str, Any]:
    entry = cached.details["entry"]
    check_size(int(entry["unzipped_size"]))
    where = where or f"the cache ({cached.zip_path.parent})"
    target.reporter.display_info(
        f"Layer from {where}: the same {len(entry['packages'])} packages, "
        "options and hatch-lambda version were built before; no install, no zipping"
        + (f"; {destination.name} already holds it and is kept as it is" if kept else "")
    )
    for warning in cached.details.get("warnings", []):
        target.reporter.display_warning(warning)
    written = WrittenZip(
        destination,
        int(entry["zipped_size"]),
        int(entry["unzipped_size"]),
        int(entry["files"]),
        entry["sha256"],
    )
    largest = [(str(name), int(size)) for name, size in cached.details.get("largest", [])]
    report_zip(target.reporter, written, largest)
    return {**entry, "file": destination.name, "inputs": planned.inputs}


def _refuse_unlocked_index_sources(target: Target, lock: Path | None, requirements: list[str]) -> None:
    """An `index` source pins a name to one index; only uv.lock carries that (with hashes) to the install."""
    if lock is not None:
        return
    wanted = requirement_names(requirements)
    pinned = sorted(name for name in target.sources.index_pinned if name in wanted)
    if pinned:
        names = ", ".join(f"`{name}` (index `{target.sources.index_pinned[name]}`)" for name in pinned)
        message = (
            f"`tool.uv.sources` gives {names} an index of its own, which hatch-lambda honours only "
            "through the lock: run `uv lock` and build again (the layer then installs uv.lock's pins, "
            'with their hashes), or drop `lock = "none"`.'
        )
        raise LambdaBuildError(message)


def _shown(path: Path, root: Path) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return str(path)


def install_request(target: Target, requirements: list[str]) -> InstallRequest:
    config = target.config
    build_python = None
    # First-party packages come as the wheels their own backend built (`first_party`): nothing of
    # them is left to build from source, whatever `allow-sdist` says.
    built = {
        name
        for name, requirement in requirement_names(requirements).items()
        if requirement.url and requirement.url.endswith(".whl")
    }
    allow_sdist = [name for name in config.allow_sdist if name not in built]
    if allow_sdist:
        from hatch_lambda.platform.interpreters import environment_variable_for, find_runtime_python  # noqa: PLC0415

        build_python = find_runtime_python(config.runtime, find_uv())
        if build_python is None:
            version = config.runtime.python_version_text
            message = (
                f"`allow-sdist` builds packages with CPython {version}, the runtime's Python, and none "
                f"was found. Install one (`uv python install {version}` or `pyenv install {version}`), "
                f"or point `{environment_variable_for(config.runtime)}` at its executable."
            )
            raise LambdaBuildError(message)
    return InstallRequest(
        requirements=requirements,
        runtime=config.runtime,
        architecture=config.architecture,
        project_name=target.project_name,
        project_root=target.root,
        exclude_packages=config.exclude_packages,
        allow_sdist=allow_sdist,
        build_python=build_python,
        lock_packages=target.lock_packages,
    )


def _layer_options(target: Target) -> dict[str, Any]:
    """Every option that changes the layer zip's bytes, for the cache key."""
    options = layer_options(target.config, target.fixed_date_time)
    if target.config.compile_bytecode:
        # Bytecode bytes can differ between patch releases of one CPython minor version.
        from hatch_lambda.platform.interpreters import full_version  # noqa: PLC0415 - `compile-bytecode` only

        options["compile-bytecode"] = full_version(target.bytecode_python)
    return options
