"""The digest of what a release is planned from, known before anything is resolved or built.

It covers what the project declares for its dependencies (the layer's requirements, extras,
groups, a lock file's bytes) and every option that decides either zip for the target, but not the
project's own code: a code change never makes the layer stale. The manifest records it for each
zip, so a build of one version can tell whether the other zip still belongs with it. (The layer
cache has a key of its own, from the resolved set, in `layer.plan`.)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hatch_lambda.__about__ import __version__
from hatch_lambda.build.config import LambdaBuilderConfig
from hatch_lambda.files.record import ZipDateTime


def layer_options(config: LambdaBuilderConfig, fixed_date_time: ZipDateTime | None) -> dict[str, Any]:
    """Every option that decides the layer zip's bytes (the layer cache key refines `compile-bytecode`)."""
    return {
        "runtime": config.runtime.name,
        "architecture": config.architecture,
        "layout": config.layout,
        "installer": config.installer,
        "exclude-packages": config.exclude_packages,
        "allow-sdist": config.allow_sdist,
        "slim": config.slim,
        "slim-exclude": config.slim_exclude,
        "compile-bytecode": config.compile_bytecode,
        "compress-level": config.compress_level,
        "date": fixed_date_time,
    }


def release_inputs(
    config: LambdaBuilderConfig,
    requirements: list[str],
    lock: Path | None,
    fixed_date_time: ZipDateTime | None,
) -> str:
    identity = {
        **layer_options(config, fixed_date_time),
        "hatch-lambda": __version__,
        "requirements": requirements,
        "extras": config.extras,
        "dependency-groups": config.dependency_groups,
        "lock": _lock_identity(lock),
        "path-dependencies": config.path_dependencies,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def _lock_identity(lock: Path | None) -> str | None:
    if lock is None:
        return None
    try:
        return hashlib.sha256(lock.read_bytes()).hexdigest()
    except OSError:
        return f"unreadable {lock.name}"  # the layer's own step reports it by name
