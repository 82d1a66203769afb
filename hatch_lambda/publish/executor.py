"""Publishing with boto3: observe the account, plan (`publish_plan`), then upload only what changed.

boto3 is an optional dependency (`hatch-lambda[publish]`), imported only here and only when a
publish runs, so a build never loads it. Credentials, region and endpoint come from boto3's own
chain (profiles, environment, `AWS_ENDPOINT_URL`); nothing here prints them.

Order makes an interrupted run safe to repeat: the layer version first (immutable, and reused by the
next run because its description records the zip's sha256), then per function its code, its layer
list, and last the alias, so an alias never points at a half-updated function.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from hatch_lambda.__about__ import __version__
from hatch_lambda.errors import AwsCallError, PublishError
from hatch_lambda.platform.limits import human
from hatch_lambda.platform.runtimes import lifecycle_today
from hatch_lambda.publish.plan import (
    SNAP_START_APPLY_ON,
    AliasState,
    AttachedLayer,
    FunctionState,
    FunctionStep,
    LayerStep,
    LayerVersionState,
    PublishPlan,
    Upload,
    alias_is_current,
    plan_publish,
    replace_layer,
    runtime_lifecycle_warning,
)
from hatch_lambda.publish.release import Release, ZipArtifact, find_manifest, read_release
from hatch_lambda.publish.settings import PublishSettings, read_project, settings_from
from hatch_lambda.publish.signing import ReleaseSigner

INSTALL_HINT = (
    'Publishing needs boto3: `pip install "hatch-lambda[publish]"` (for `hatch publish`, install it '
    "into Hatch's own environment: `uv tool install hatch --with 'hatch-lambda[publish]'`)."
)
# Lambda answers these while it is busy or rate-limiting; waiting and trying again is the fix.
RETRIED_CODES = frozenset(
    {
        "ResourceConflictException",
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceException",
    }
)
MISSING_CODES = frozenset({"ResourceNotFoundException", "404", "NoSuchKey", "NotFound"})
MAX_ATTEMPTS = 8
FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 20.0
POLL_SECONDS = 2.0
MAX_POLLS = 300  # ten minutes: far beyond the few seconds an update takes
SNAPSHOT_PROGRESS_POLLS = 5  # a progress line every ten seconds while a SnapStart snapshot is taken


Report = Callable[[str], None]


# Results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerResult:
    name: str
    action: str  # published, reused, would publish, would reuse
    arn: str | None  # None only for a version a dry run would publish
    upload: str | None


@dataclass(frozen=True)
class FunctionResult:
    name: str
    arn: str
    code: str  # updated, unchanged, would update
    code_sha256: str
    layers: list[str]
    layers_changed: bool
    version: str | None = None
    alias_arn: str | None = None
    alias_action: str | None = None  # created, updated, unchanged, would create, would update
    snap_start: str | None = None  # turned on, on, would turn on; None without `snap-start`


@dataclass(frozen=True)
class PublishOutcome:
    dry_run: bool
    runtime: str
    architecture: str
    layer: LayerResult | None
    functions: list[FunctionResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary_lines(self) -> list[str]:
        lines = []
        if self.layer is not None:
            lines.append(f"layer {self.layer.name}: {self.layer.action} {self.layer.arn or '(new version)'}")
        for function in self.functions:
            lines.append(f"function {function.name}: code {function.code}, {function.arn}")
            lines.extend(f"  layer {arn}" for arn in function.layers)
            if function.alias_action is not None:
                lines.append(f"  alias {function.alias_action} {function.alias_arn or ''}".rstrip())
            if function.snap_start is not None:
                lines.append(f"  SnapStart {function.snap_start}: version {function.version or '(new)'}")
        return lines


# Entry point ------------------------------------------------------------------------------------


def publish_release(
    release: Release, settings: PublishSettings, *, other_layers_size: int, report: Report
) -> PublishOutcome:
    """Publish `release` with boto3's default session; a dry run only reads."""
    lambda_client, s3_client, signer_client = _clients()
    publisher = Publisher(lambda_client, s3_client, report=report, signer_client=signer_client)
    return publisher.run(release, settings, other_layers_size=other_layers_size)


def publish_project(
    project: Path,
    locations: list[Path],
    tables: Sequence[Mapping[str, Any]],
    *,
    report: Report,
    today: Callable[[], date] = lifecycle_today,
) -> tuple[PublishOutcome, PublishSettings]:
    """Everything both front ends do: read the project, its manifest and settings, then publish."""
    settings = settings_from(tables)
    read = read_project(project)
    manifest = find_manifest(locations, project / read.build_directory, read.name)
    release = read_release(manifest)
    # The build's deprecation and block messages, before any call to AWS.
    warning = runtime_lifecycle_warning(release.runtime, today(), allowed=read.allow_blocked_runtime)
    if warning:
        report(f"Warning: {warning}")
    report(f"Publishing {manifest.name} ({release.runtime} {release.architecture})")
    outcome = publish_release(release, settings, other_layers_size=read.other_layers_size, report=report)
    return outcome, settings


def _clients() -> tuple[Any, Callable[[], Any], Callable[[], Any]]:
    try:
        import boto3  # noqa: PLC0415  (optional dependency: only publishing loads it)
        from botocore.config import Config  # noqa: PLC0415
    except ImportError as error:
        raise PublishError(INSTALL_HINT) from error
    session = boto3.session.Session()
    # botocore's standard mode already retries throttling at the HTTP level; `Publisher` adds
    # the retries it does not do (ResourceConflictException).
    config = Config(
        retries={"mode": "standard", "max_attempts": 5}, user_agent_extra=f"hatch-lambda/{__version__}"
    )
    try:
        lambda_client = session.client("lambda", config=config)
    except Exception as error:
        raise _setup_error(error) from error
    return (
        lambda_client,
        lambda: session.client("s3", config=config),
        lambda: session.client("signer", config=config),
    )


def _setup_error(error: Exception) -> PublishError:
    name = type(error).__name__
    if name == "NoRegionError":
        return PublishError("No AWS region configured: set AWS_REGION (or a region in your AWS profile).")
    if name == "NoCredentialsError":
        return PublishError(
            "No AWS credentials found: configure them the way boto3 reads them (AWS_PROFILE, "
            "environment variables, `aws configure`, or OIDC role credentials in CI)."
        )
    return PublishError(f"Cannot reach AWS: {name}: {error}")


# The executor -----------------------------------------------------------------------------------


class Publisher:
    def __init__(
        self,
        lambda_client: Any,
        s3_client: Callable[[], Any],
        *,
        report: Report,
        sleep: Callable[[float], None] = time.sleep,
        signer_client: Callable[[], Any] | None = None,
    ) -> None:
        self.lambda_client = lambda_client
        self._signer_factory = signer_client
        self._s3_factory = s3_client
        self._s3: Any = None
        self.report = report
        self.sleep = sleep

    def run(self, release: Release, settings: PublishSettings, *, other_layers_size: int) -> PublishOutcome:
        if settings.signing_profile is not None:
            release = self.signed(release, settings)
        newest_layer = (
            self.newest_layer_version(settings.layer_name)
            if settings.layer_name is not None and release.layer is not None
            else None
        )
        functions = [self.function_state(name, settings.alias) for name in settings.function_names]
        plan = plan_publish(release, settings, newest_layer, functions, other_layers_size)
        for warning in plan.warnings:
            self.report(f"Warning: {warning}")
        if settings.dry_run:
            return dry_run_outcome(plan, self.report)
        return self.execute(plan)

    def signed(self, release: Release, settings: PublishSettings) -> Release:
        """The release with its zips signed (before any plan, so the signed bytes are what is compared)."""
        assert settings.signing_profile is not None and settings.s3_bucket is not None
        if self._s3 is None:
            self._s3 = self._s3_factory()
        assert self._signer_factory is not None
        signer = ReleaseSigner(
            signer=self._signer_factory(),
            s3=self._s3,
            lambda_client=self.lambda_client,
            call=self._call,
            report=self.report,
            sleep=self.sleep,
        )
        return signer.sign(
            release,
            settings.signing_profile,
            settings.s3_bucket,
            settings.s3_prefix,
            settings.function_names,
            dry_run=settings.dry_run,
        )

    # Observing ----------------------------------------------------------------------------------

    def newest_layer_version(self, layer_name: str) -> LayerVersionState | None:
        listed = self._call(
            f"Listing versions of layer {layer_name}",
            self.lambda_client.list_layer_versions,
            LayerName=layer_name,
            MaxItems=1,
        )
        versions = (listed or {}).get("LayerVersions", [])
        if not versions:
            return None
        newest = versions[0]
        arn = str(newest["LayerVersionArn"])
        detail = self._call(
            f"Reading layer {arn}",
            self.lambda_client.get_layer_version,
            LayerName=layer_name,
            VersionNumber=int(newest["Version"]),
        )
        content = (detail or {}).get("Content", {})
        return LayerVersionState(arn, str(newest.get("Description", "")), content.get("CodeSha256"))

    def function_state(self, name: str, alias: str | None) -> FunctionState:
        config = self._call(
            f"Reading function {name}", self.lambda_client.get_function_configuration, FunctionName=name
        )
        if config is None:
            raise PublishError(
                f"There is no function {name} in this account and region: create it first (hatch-lambda "
                "publishes code and layers to existing functions), or fix `function-name`."
            )
        return FunctionState(
            name=name,
            arn=_unqualified(str(config["FunctionArn"])),
            runtime=config.get("Runtime"),
            architectures=tuple(config.get("Architectures", ["x86_64"])),
            code_sha256=str(config.get("CodeSha256", "")),
            layers=tuple(
                AttachedLayer(str(item["Arn"]), int(item.get("CodeSize", 0)))
                for item in config.get("Layers", [])
            ),
            alias=self.alias_state(name, alias) if alias is not None else None,
            handler=config.get("Handler"),
            snap_start=str((config.get("SnapStart") or {}).get("ApplyOn", "None")),
            ephemeral_storage_mb=int((config.get("EphemeralStorage") or {}).get("Size", 512)),
            file_systems=len(config.get("FileSystemConfigs") or []),
        )

    def alias_state(self, name: str, alias: str) -> AliasState | None:
        config = self._call(
            f"Reading alias {alias} of {name}",
            self.lambda_client.get_function_configuration,
            FunctionName=name,
            Qualifier=alias,
        )
        if config is None:
            return None
        layers = tuple(str(item["Arn"]) for item in config.get("Layers", []))
        return AliasState(str(config["Version"]), str(config.get("CodeSha256", "")), layers)

    # Acting -------------------------------------------------------------------------------------

    def execute(self, plan: PublishPlan) -> PublishOutcome:
        layer = self.publish_layer(plan.layer) if plan.layer is not None else None
        layer_arn = layer.arn if layer is not None else None
        functions = [self.update_function(step, layer_arn) for step in plan.functions]
        return PublishOutcome(False, plan.release.runtime, plan.release.architecture, layer, functions)

    def publish_layer(self, step: LayerStep) -> LayerResult:
        if step.reuse_arn is not None:
            self.report(f"Layer {step.name} unchanged: reusing {step.reuse_arn}, nothing uploaded")
            return LayerResult(step.name, "reused", step.reuse_arn, None)
        assert step.upload is not None
        started = time.monotonic()
        content = self.code_location(step.upload)
        published = self._call(
            f"Publishing layer {step.name}",
            self.lambda_client.publish_layer_version,
            LayerName=step.name,
            Content=content,
            CompatibleRuntimes=[step.runtime],
            CompatibleArchitectures=[step.architecture],
            Description=step.description,
        )
        arn = str(published["LayerVersionArn"])
        _check_code_sha256(
            f"layer version {arn}", published.get("Content", {}).get("CodeSha256"), step.upload.artifact
        )
        self.report(
            f"Published layer {arn} from {step.upload.describe()} in {time.monotonic() - started:.2f}s"
        )
        return LayerResult(step.name, "published", arn, step.upload.describe())

    def update_function(self, step: FunctionStep, layer_arn: str | None) -> FunctionResult:
        state = step.state
        name = state.name
        # Someone else's update may still be running; Lambda refuses a second one meanwhile. A failed
        # earlier update is what this run may be about to fix: only this run's own failures stop it.
        self.wait_until_updated(name, earlier=True)
        code = "unchanged"
        code_sha256 = state.code_sha256
        if step.code_upload is not None:
            started = time.monotonic()
            updated = self._call(
                f"Updating the code of {name}",
                self.lambda_client.update_function_code,
                FunctionName=name,
                **self.code_location(step.code_upload),  # ZipFile, or S3Bucket and S3Key
            )
            code_sha256 = step.code_upload.artifact.code_sha256
            _check_code_sha256(f"function {name}", updated.get("CodeSha256"), step.code_upload.artifact)
            self.wait_until_updated(name)
            code = "updated"
            self.report(
                f"Updated the code of {name} from {step.code_upload.describe()} "
                f"in {time.monotonic() - started:.2f}s"
            )
        else:
            self.report(f"Code of {name} unchanged (CodeSha256 {code_sha256}), nothing uploaded")
        current = tuple(layer.arn for layer in state.layers)
        final = current
        if step.layer_base_arn is not None and layer_arn is not None:
            final = replace_layer(current, step.layer_base_arn, layer_arn)
        changes: dict[str, Any] = {}
        if final != current:
            changes["Layers"] = list(final)
        if step.enable_snap_start:  # only when it differs: the setting is part of the next version
            changes["SnapStart"] = {"ApplyOn": SNAP_START_APPLY_ON}
        if changes:
            self._call(
                f"Updating the configuration of {name}",
                self.lambda_client.update_function_configuration,
                FunctionName=name,
                **changes,
            )
            self.wait_until_updated(name)
            if "Layers" in changes:
                self.report(f"Layers of {name}: {', '.join(final)}")
            if "SnapStart" in changes:
                self.report(f"SnapStart on for {name}: its published versions are snapshotted")
        result = FunctionResult(
            name,
            state.arn,
            code,
            code_sha256,
            list(final),
            final != current,
            snap_start=("turned on" if step.enable_snap_start else "on") if step.snap_start else None,
        )
        if step.alias is None:
            return result
        return self.point_alias(
            result, step.alias, state.alias, snapshot=step.snap_start, republish=step.enable_snap_start
        )

    def point_alias(
        self,
        result: FunctionResult,
        alias: str,
        observed: AliasState | None,
        *,
        snapshot: bool = False,
        republish: bool = False,
    ) -> FunctionResult:
        """Point `alias` at a version with the result's code and layers, publishing one if needed.

        With `snapshot` (SnapStart) the alias moves only once the version is active, its snapshot
        taken; `republish` says the configuration changed (SnapStart turned on), so the alias's
        current version is not the one to keep even if its code and layers match.
        """
        name = result.name
        current = observed is not None and alias_is_current(observed, result.code_sha256, result.layers)
        if observed is not None and current and not republish:
            version, action = observed.version, "unchanged"
        else:
            published = self._call(
                f"Publishing a version of {name}",
                self.lambda_client.publish_version,
                FunctionName=name,
                CodeSha256=result.code_sha256,
            )
            version = str(published["Version"])
            action = "updated" if observed is not None else "created"
            if snapshot:
                self.wait_until_version_active(name, version)
        existing = self._call(
            f"Reading alias {alias} of {name}", self.lambda_client.get_alias, FunctionName=name, Name=alias
        )
        if existing is None:
            pointed = self._call(
                f"Creating alias {alias} of {name}",
                self.lambda_client.create_alias,
                FunctionName=name,
                Name=alias,
                FunctionVersion=version,
            )
            action = "created"
        elif str(existing.get("FunctionVersion")) != version:
            pointed = self._call(
                f"Pointing alias {alias} of {name} at version {version}",
                self.lambda_client.update_alias,
                FunctionName=name,
                Name=alias,
                FunctionVersion=version,
            )
        else:
            pointed = existing
        self.report(f"Alias {alias} of {name} {action}: version {version}")
        return FunctionResult(
            **{
                **asdict(result),
                "version": version,
                "alias_arn": str(pointed["AliasArn"]),
                "alias_action": action,
            }
        )

    def wait_until_version_active(self, name: str, version: str) -> None:
        """Wait while Lambda takes the version's SnapStart snapshot (State Pending), with progress."""
        started = time.monotonic()
        for poll in range(MAX_POLLS):
            config = self._call(
                f"Reading version {version} of {name}",
                self.lambda_client.get_function_configuration,
                FunctionName=name,
                Qualifier=version,
            )
            state = (config or {}).get("State")
            elapsed = time.monotonic() - started
            if state == "Active":
                self.report(f"Version {version} of {name} is active, its snapshot taken ({elapsed:.0f}s)")
                return
            if state == "Failed":
                reason = (config or {}).get("StateReason", "no reason given")
                code = (config or {}).get("StateReasonCode", "")
                raise PublishError(
                    f"Version {version} of {name} failed to become active (SnapStart snapshot): "
                    f"{code} {reason}. The alias was not moved. Fix it (often an error during init or in "
                    "a before-snapshot hook), then run again."
                )
            if poll % SNAPSHOT_PROGRESS_POLLS == 0:
                self.report(f"Taking the SnapStart snapshot of {name} version {version}... ({elapsed:.0f}s)")
            self.sleep(POLL_SECONDS)
        raise PublishError(
            f"Version {version} of {name} is still not active after {MAX_POLLS * POLL_SECONDS:g}s; the alias "
            "was not moved: run again later."
        )

    def wait_until_updated(self, name: str, *, earlier: bool = False) -> None:
        """Wait while Lambda applies an update. `earlier`: the update is not this run's, so its
        failure is reported and publishing goes on (this run's update replaces it)."""
        for _ in range(MAX_POLLS):
            config = self._call(
                f"Reading function {name}", self.lambda_client.get_function_configuration, FunctionName=name
            )
            status = (config or {}).get("LastUpdateStatus")
            if status == "Failed":
                reason = (config or {}).get("LastUpdateStatusReason", "no reason given")
                if earlier:
                    self.report(f"An earlier update of {name} failed on Lambda ({reason}): updating it now")
                    return
                raise PublishError(
                    f"This run's update of {name} failed on Lambda: {reason}. Fix it, then run again."
                )
            if status != "InProgress" and (config or {}).get("State") != "Pending":
                return
            self.sleep(POLL_SECONDS)
        raise PublishError(f"{name} is still updating after {MAX_POLLS * POLL_SECONDS:g}s: run again later.")

    def code_location(self, upload: Upload) -> dict[str, Any]:
        """`Content`/code arguments for Lambda; uploads to S3 first unless the key already holds the bytes."""
        if upload.bucket is None or upload.key is None:
            return {"ZipFile": upload.artifact.path.read_bytes()}
        if self._s3 is None:
            self._s3 = self._s3_factory()
        where = f"s3://{upload.bucket}/{upload.key}"
        try:
            head = self._call(f"Checking {where}", self._s3.head_object, Bucket=upload.bucket, Key=upload.key)
        except AwsCallError as error:
            raise self._s3_error(upload, f"{error.code}: {error.step}") from error
        if head is not None and int(head.get("ContentLength", -1)) == upload.artifact.zipped_size:
            self.report(f"{where} already holds {upload.artifact.path.name}, not uploaded again")
        else:
            started = time.monotonic()
            self._upload(upload, where)
            size = human(upload.artifact.zipped_size)
            self.report(
                f"Uploaded {upload.artifact.path.name} ({size}) to {where} "
                f"in {time.monotonic() - started:.2f}s"
            )
        return {"S3Bucket": upload.bucket, "S3Key": upload.key}

    def _upload(self, upload: Upload, where: str) -> None:
        # boto3's transfer manager wraps every S3 error (NoSuchBucket, AccessDenied) in its own.
        from boto3.exceptions import S3UploadFailedError  # noqa: PLC0415

        try:
            self._call(
                f"Uploading {upload.artifact.path.name} to {where}",
                self._s3.upload_file,
                Filename=str(upload.artifact.path),
                Bucket=upload.bucket,
                Key=upload.key,
            )
        except (S3UploadFailedError, AwsCallError) as error:
            raise self._s3_error(upload, str(error).splitlines()[0]) from error

    def _s3_error(self, upload: Upload, detail: str) -> PublishError:
        region = getattr(getattr(self._s3, "meta", None), "region_name", None) or "the configured region"
        return PublishError(
            f"Cannot upload {upload.artifact.path.name} to S3 bucket `{upload.bucket}` (key `{upload.key}`) "
            f"in {region}: {detail}. The bucket must exist in the functions' region and belong to this "
            f"account, and the credentials need `s3:PutObject` and `s3:GetObject` on "
            f"`arn:aws:s3:::{upload.bucket}/{upload.key}` (Lambda reads the zip with them). Create the "
            "bucket, or fix the `s3-bucket` setting."
        )

    def _call(self, step: str, operation: Callable[..., Any], **arguments: Any) -> Any:
        """`operation(**arguments)`, retried with backoff while Lambda is busy; None if it is missing."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        delay = FIRST_DELAY_SECONDS
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return operation(**arguments)
            except ClientError as error:
                code = str(error.response.get("Error", {}).get("Code", "Unknown"))
                if code in MISSING_CODES:
                    return None
                if code not in RETRIED_CODES or attempt == MAX_ATTEMPTS:
                    message = str(error.response.get("Error", {}).get("Message", ""))
                    raise AwsCallError(step, code, message) from error
                self.report(f"{step}: {code}, trying again in {delay:g}s")
                self.sleep(delay)
                delay = min(delay * 2, MAX_DELAY_SECONDS)
            except BotoCoreError as error:
                raise _setup_error(error) from error
        raise AssertionError("unreachable")


def _check_code_sha256(what: str, reported: str | None, artifact: ZipArtifact) -> None:
    if reported != artifact.code_sha256:
        raise PublishError(
            f"Lambda reports CodeSha256 {reported} for {what}, but {artifact.path.name} has "
            f"{artifact.code_sha256}: the upload did not arrive intact. Run again to publish it anew."
        )


def _unqualified(function_arn: str) -> str:
    parts = function_arn.split(":")
    return ":".join(parts[:7])


# Dry run ----------------------------------------------------------------------------------------


def dry_run_outcome(plan: PublishPlan, report: Report) -> PublishOutcome:
    """What `execute` would do, from the plan alone; nothing is uploaded or changed."""
    layer = None
    new_layer_placeholder = None
    if plan.layer is not None:
        if plan.layer.reuse_arn is not None:
            report(f"Would reuse layer {plan.layer.reuse_arn} (same bytes), nothing uploaded")
            layer = LayerResult(plan.layer.name, "would reuse", plan.layer.reuse_arn, None)
        else:
            assert plan.layer.upload is not None
            report(
                f"Would publish a new version of layer {plan.layer.name} from {plan.layer.upload.describe()}"
            )
            layer = LayerResult(plan.layer.name, "would publish", None, plan.layer.upload.describe())
            new_layer_placeholder = f"<new version of {plan.layer.name}>"
    functions = []
    for step in plan.functions:
        state = step.state
        code = "unchanged" if step.code_upload is None else "would update"
        code_sha256 = state.code_sha256 if step.code_upload is None else step.code_upload.artifact.code_sha256
        if step.code_upload is not None:
            report(f"Would update the code of {state.name} from {step.code_upload.describe()}")
        else:
            report(f"Code of {state.name} unchanged, nothing to upload")
        current = tuple(layer.arn for layer in state.layers)
        final = current
        if step.layer_base_arn is not None and plan.layer is not None:
            final = replace_layer(
                current, step.layer_base_arn, plan.layer.reuse_arn or new_layer_placeholder or ""
            )
        if final != current:
            report(f"Would set the layers of {state.name} to: {', '.join(final)}")
        if step.enable_snap_start:
            report(f"Would turn on SnapStart (ApplyOn {SNAP_START_APPLY_ON}) for {state.name}")
        result = FunctionResult(
            state.name,
            state.arn,
            code,
            code_sha256,
            list(final),
            final != current,
            snap_start=("would turn on" if step.enable_snap_start else "on") if step.snap_start else None,
        )
        if step.alias is not None:
            if alias_is_current(state.alias, code_sha256, final) and not step.enable_snap_start:
                action = "unchanged"
            else:
                action = "would update" if state.alias is not None else "would create"
                report(f"Would publish a version of {state.name} and point alias {step.alias} at it")
            result = FunctionResult(**{**asdict(result), "alias_action": action})
        functions.append(result)
    return PublishOutcome(True, plan.release.runtime, plan.release.architecture, layer, functions)
