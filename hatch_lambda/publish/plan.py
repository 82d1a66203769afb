"""Deciding what to publish: pure functions over the release, the settings and what AWS reports.

Nothing here calls AWS. `publisher` observes the account into the `*State` classes below, asks
`plan_publish` what to do (which refuses, before any upload, a function the release would not fit),
and carries the plan out. Keeping the decisions here makes every rule testable with plain data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from hatch_lambda.errors import BlockedRuntimeError, PublishError
from hatch_lambda.platform import runtimes
from hatch_lambda.platform.limits import DIRECT_UPLOAD_LIMIT, UNZIPPED_LIMIT, human
from hatch_lambda.publish.release import Release, ZipArtifact
from hatch_lambda.publish.settings import ALLOW_BLOCKED_RUNTIME_HINT, PublishSettings

LAYERS_PER_FUNCTION = 5
DESCRIPTION_LIMIT = 256
SHA256_MARK = "sha256:"
SBOM_SHA256_MARK = "sbom-sha256:"
# SnapStart for Python starts with the python3.12 runtime.
SNAP_START_OLDEST_PYTHON = (3, 12)
SNAP_START_APPLY_ON = "PublishedVersions"
# SnapStart refuses functions with more /tmp than this, or with an EFS file system attached.
SNAP_START_EPHEMERAL_STORAGE_MB = 512


# What AWS reports -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerVersionState:
    """The newest version of the layer, if there is one."""

    arn: str
    description: str
    code_sha256: str | None


@dataclass(frozen=True)
class AttachedLayer:
    arn: str
    code_size: int  # zipped: Lambda reports no unzipped size for a layer


@dataclass(frozen=True)
class AliasState:
    """The version an alias points at, as far as publishing can change it."""

    version: str
    code_sha256: str
    layers: tuple[str, ...]


@dataclass(frozen=True)
class FunctionState:
    name: str
    arn: str
    runtime: str | None  # None for container-image functions
    architectures: tuple[str, ...]
    code_sha256: str
    layers: tuple[AttachedLayer, ...]
    alias: AliasState | None = None
    handler: str | None = None  # the function's `Handler` setting
    snap_start: str = "None"  # SnapStart.ApplyOn as Lambda reports it: "None" or "PublishedVersions"
    ephemeral_storage_mb: int = 512
    file_systems: int = 0  # EFS mounts


# The plan ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """How a zip reaches Lambda: in the API call itself (`bucket` None) or through S3."""

    artifact: ZipArtifact
    bucket: str | None
    key: str | None

    def describe(self) -> str:
        size = human(self.artifact.zipped_size)
        if self.bucket is None:
            return f"{self.artifact.path.name} ({size}) in the API call"
        return f"{self.artifact.path.name} ({size}) through s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class LayerStep:
    name: str
    reuse_arn: str | None  # the newest version already holds these bytes
    upload: Upload | None  # set exactly when a new version must be published
    description: str
    runtime: str
    architecture: str


@dataclass(frozen=True)
class FunctionStep:
    state: FunctionState
    code_upload: Upload | None  # None: the function already runs these bytes
    layer_base_arn: str | None  # the unversioned ARN of our layer, when we manage one
    alias: str | None
    snap_start: bool = False  # the alias's version must be snapshotted (wait until it is active)
    enable_snap_start: bool = False  # set SnapStart ApplyOn PublishedVersions: it is not on yet


@dataclass(frozen=True)
class PublishPlan:
    release: Release
    layer: LayerStep | None
    functions: tuple[FunctionStep, ...]
    warnings: tuple[str, ...] = ()


def plan_publish(
    release: Release,
    settings: PublishSettings,
    newest_layer: LayerVersionState | None,
    functions: Sequence[FunctionState],
    other_layers_size: int,
) -> PublishPlan:
    """The steps that bring the account to the release; `PublishError` if a function cannot take it."""
    layer = _layer_step(release, settings, newest_layer)
    if settings.function_names and release.source is None:
        raise PublishError(
            f"{release.manifest.name} lists no source zip, so there is no code for "
            f"{', '.join(settings.function_names)}: build it with `hatch build -t lambda`."
        )
    if settings.snap_start:
        refuse_snap_start_runtime(release.runtime)
    problems = [
        problem
        for function in functions
        for problem in [
            *function_problems(function, release, settings.layer_name, other_layers_size),
            *(snap_start_problems(function) if settings.snap_start else []),
        ]
    ]
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise PublishError(f"Nothing was published; the release does not fit:\n{listed}")
    steps = tuple(
        FunctionStep(
            state=function,
            code_upload=None
            if release.source is None or function.code_sha256 == release.source.code_sha256
            else upload_for(release.source, settings),
            layer_base_arn=layer_base_arn(function.arn, settings.layer_name) if layer is not None else None,
            alias=settings.alias,
            snap_start=settings.snap_start,
            enable_snap_start=settings.snap_start and function.snap_start != SNAP_START_APPLY_ON,
        )
        for function in functions
    )
    return PublishPlan(release, layer, steps, handler_warnings(release, functions))


def handler_warnings(release: Release, functions: Sequence[FunctionState]) -> tuple[str, ...]:
    """A function whose `Handler` is none of the target's `handler` runs something else than was checked."""
    if not release.handlers:
        return ()
    return tuple(
        f"Function {function.name} has Handler `{function.handler}`, but the target's `handler` is "
        f"{' or '.join(f'`{handler}`' for handler in release.handlers)}: set one of them to the other "
        f"(`aws lambda update-function-configuration --function-name {function.name} --handler ...`)."
        for function in functions
        if function.handler is not None and function.handler not in release.handlers
    )


def _layer_step(
    release: Release, settings: PublishSettings, newest: LayerVersionState | None
) -> LayerStep | None:
    if release.layer is None:
        return None
    if settings.layer_name is None:
        raise PublishError(
            f"{release.manifest.name} lists a layer zip but no `layer-name` is set: name the layer "
            "in [tool.hatch.publish.lambda] (or pass -o layer-name=...)."
        )
    reuse = newest.arn if newest is not None and holds_bytes(newest, release.layer) else None
    return LayerStep(
        name=settings.layer_name,
        reuse_arn=reuse,
        upload=None if reuse else upload_for(release.layer, settings),
        description=layer_description(release),
        runtime=release.runtime,
        architecture=release.architecture,
    )


def holds_bytes(version: LayerVersionState, artifact: ZipArtifact) -> bool:
    """Whether a layer version was published from exactly this zip."""
    return (
        version.code_sha256 == artifact.code_sha256
        or f"{SHA256_MARK}{artifact.sha256}" in version.description
    )


def layer_description(release: Release) -> str:
    """Records the zip's sha256, so a later publish recognises these bytes without downloading them,
    and the SBOM's, so the layer version names the SBOM that describes it."""
    assert release.layer is not None
    hashes = f"{SHA256_MARK}{release.layer.sha256}"
    if release.sbom_sha256 is not None:
        hashes += f"; {SBOM_SHA256_MARK}{release.sbom_sha256}"
    text = f"{release.project_name} {release.project_version} dependencies; {hashes}"
    if len(text) > DESCRIPTION_LIMIT:  # at most 162 characters
        text = f"hatch-lambda {hashes}"
    return text


def upload_for(artifact: ZipArtifact, settings: PublishSettings) -> Upload:
    if artifact.signed_key is not None and settings.s3_bucket is not None:
        return Upload(artifact, settings.s3_bucket, artifact.signed_key)  # signed, already in S3
    if settings.s3_bucket is not None:
        return Upload(artifact, settings.s3_bucket, s3_key(settings.s3_prefix, artifact))
    if artifact.zipped_size > DIRECT_UPLOAD_LIMIT:
        raise PublishError(
            f"{artifact.path.name} is {artifact.zipped_size:,} bytes zipped, over the "
            f"{DIRECT_UPLOAD_LIMIT:,} bytes (50 MB) Lambda takes in the API call: set `s3-bucket` "
            "(a bucket in the function's region) so it goes through S3."
        )
    return Upload(artifact, None, None)


def s3_key(prefix: str, artifact: ZipArtifact) -> str:
    """Derived from the content, so the same bytes always land on the same key and upload once."""
    return f"{prefix}{artifact.sha256}/{artifact.path.name}"


# Checks -----------------------------------------------------------------------------------------


def function_problems(
    function: FunctionState, release: Release, layer_name: str | None, other_layers_size: int
) -> list[str]:
    """Why `function` cannot take the release; empty when it can."""
    name = function.name
    problems: list[str] = []
    if function.runtime != release.runtime:
        runtime = function.runtime or "a container image (no runtime)"
        problems.append(f"{name} runs {runtime}; the build is for {release.runtime}.")
    if release.architecture not in function.architectures:
        architectures = ", ".join(function.architectures) or "none"
        problems.append(f"{name} runs on {architectures}; the build is for {release.architecture}.")
    base = layer_base_arn(function.arn, layer_name) if release.layer is not None else None
    kept = [layer for layer in function.layers if base is None or not is_version_of(layer.arn, base)]
    count = len(kept) + (1 if base is not None else 0)
    if count > LAYERS_PER_FUNCTION:
        problems.append(
            f"{name} would have {count} layers; Lambda allows {LAYERS_PER_FUNCTION}. Detach one, or merge "
            "its packages into this project's layer."
        )
    parts = unzipped_parts(release, kept, other_layers_size)
    total = sum(parts.values())
    if total > UNZIPPED_LIMIT:
        listed = ", ".join(f"{part} {size:,}" for part, size in parts.items())
        problems.append(
            f"{name} would be {total:,} bytes unzipped ({listed}), over Lambda's {UNZIPPED_LIMIT:,} (250 MB) "
            "for code and all layers."
        )
    return problems


def unzipped_parts(
    release: Release, other_layers: Sequence[AttachedLayer], other_layers_size: int
) -> dict[str, int]:
    """The function's unzipped size, by part. Lambda reports only the zipped size of layers this tool
    did not build: their share is `other-layers-size` (the user's figure) or, if larger, their zipped
    sizes, which are a lower bound of what they hold unzipped."""
    parts: dict[str, int] = {}
    if release.source is not None:
        parts["source"] = release.source.unzipped_size
    if release.layer is not None:
        parts["layer"] = release.layer.unzipped_size
    zipped_others = sum(layer.code_size for layer in other_layers)
    if zipped_others or other_layers_size:
        parts["other layers"] = max(zipped_others, other_layers_size)
    return parts


def runtime_lifecycle_warning(runtime_name: str, today: date, *, allowed: bool) -> str | None:
    """The build's deprecation or block message for the release's runtime, before AWS is called.

    Past the block-update date AWS would refuse the update anyway: `PublishError`, unless the
    project's `allow-blocked-runtime` is set.
    """
    runtime = runtimes.runtime_named(runtime_name)
    if runtime is None:
        return None
    try:
        return runtimes.enforce_lifecycle(
            runtime, today, allowed=allowed, override=ALLOW_BLOCKED_RUNTIME_HINT
        )
    except BlockedRuntimeError as error:
        raise PublishError(f"Nothing was published. {error}") from error


def refuse_snap_start_runtime(runtime_name: str) -> None:
    runtime = runtimes.runtime_named(runtime_name)
    oldest = ".".join(str(part) for part in SNAP_START_OLDEST_PYTHON)
    if runtime is None or runtime.python_version < SNAP_START_OLDEST_PYTHON:
        raise PublishError(
            f"Nothing was published: SnapStart supports Python {oldest} and later, and the release is for "
            f"{runtime_name}. Build for python{oldest} or newer, or drop `snap-start`."
        )


def snap_start_problems(function: FunctionState) -> list[str]:
    """What keeps SnapStart off `function`, by name (Lambda refuses these combinations)."""
    problems = []
    if function.ephemeral_storage_mb > SNAP_START_EPHEMERAL_STORAGE_MB:
        problems.append(
            f"{function.name} has {function.ephemeral_storage_mb} MB of ephemeral storage; SnapStart allows "
            f"at most {SNAP_START_EPHEMERAL_STORAGE_MB} MB."
        )
    if function.file_systems:
        problems.append(f"{function.name} mounts an EFS file system, which SnapStart does not support.")
    return problems


# Layer lists ------------------------------------------------------------------------------------


def layer_base_arn(function_arn: str, layer_name: str | None) -> str | None:
    """The unversioned ARN of `layer_name` in the function's account and region."""
    if layer_name is None:
        return None
    if layer_name.startswith("arn:"):
        return layer_name
    partition, service, region, account = function_arn.split(":")[1:5]
    return f"arn:{partition}:{service}:{region}:{account}:layer:{layer_name}"


def is_version_of(version_arn: str, base_arn: str) -> bool:
    return version_arn.rsplit(":", 1)[0] == base_arn


def replace_layer(current: Sequence[str], base_arn: str, new_arn: str) -> tuple[str, ...]:
    """`current` with `new_arn` in place of any version of the same layer (at the first one's place),
    other layers kept in their order; appended last when the function had none of it."""
    replaced: list[str] = []
    for arn in current:
        if not is_version_of(arn, base_arn):
            replaced.append(arn)
        elif new_arn not in replaced:
            replaced.append(new_arn)
    if new_arn not in replaced:
        replaced.append(new_arn)
    return tuple(replaced)


def alias_is_current(alias: AliasState | None, code_sha256: str, layers: Sequence[str]) -> bool:
    """Whether the alias already points at a version with this code and these layers."""
    return alias is not None and alias.code_sha256 == code_sha256 and alias.layers == tuple(layers)
