"""`signing-profile`: sign the source zip and the layer with AWS Signer before they are deployed.

Signer signs S3 objects only, from a versioned bucket: each zip is uploaded to `s3-bucket` under
its content-addressed key, `start_signing_job` signs that object version into
`PREFIX/signed/SHA256/`, and Lambda is given the signed object. A record beside it,
`PREFIX/signed/SHA256/PROFILE.json`, keeps the unsigned zip's sha256 with the signed object's key,
size and CodeSha256: the unsigned zip's hash decides whether anything changed, so bytes that were
signed once are never uploaded or signed again, and a function already running them is left alone.

Before anything is uploaded, a function whose code-signing configuration does not allow the
profile is refused (Lambda would refuse the code after the upload and the signing job).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from hatch_lambda.errors import PublishError
from hatch_lambda.publish.plan import s3_key
from hatch_lambda.publish.release import Release, ZipArtifact

POLL_SECONDS = 2.0
MAX_POLLS = 300  # ten minutes; a signing job takes seconds


class ReleaseSigner:
    """Signs a release's zips with one profile; `call` is the publisher's retrying AWS call."""

    def __init__(
        self,
        *,
        signer: Any,
        s3: Any,
        lambda_client: Any,
        call: Callable[..., Any],
        report: Callable[[str], None],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.signer = signer
        self.s3 = s3
        self.lambda_client = lambda_client
        self.call = call
        self.report = report
        self.sleep = sleep

    def sign(
        self,
        release: Release,
        profile: str,
        bucket: str,
        prefix: str,
        functions: Sequence[str],
        *,
        dry_run: bool,
    ) -> Release:
        """`release` with each zip replaced by its signed object (a dry run only reads what was signed)."""
        described = self.call(
            f"Reading signing profile {profile}", self.signer.get_signing_profile, profileName=profile
        )
        if described is None:
            raise PublishError(f"There is no AWS Signer profile `{profile}`: fix `signing-profile`.")
        version_arn = str(described["profileVersionArn"])
        for function in functions:
            self._refuse_disallowed(function, profile, version_arn)
        self._refuse_unversioned(bucket)
        return dataclasses.replace(
            release,
            source=self._signed(release.source, profile, bucket, prefix, dry_run=dry_run),
            layer=self._signed(release.layer, profile, bucket, prefix, dry_run=dry_run),
        )

    def _refuse_disallowed(self, function: str, profile: str, version_arn: str) -> None:
        attached = self.call(
            f"Reading the code-signing configuration of {function}",
            self.lambda_client.get_function_code_signing_config,
            FunctionName=function,
        )
        config_arn = (attached or {}).get("CodeSigningConfigArn")
        if not config_arn:
            return
        config = self.call(
            f"Reading code-signing configuration {config_arn}",
            self.lambda_client.get_code_signing_config,
            CodeSigningConfigArn=config_arn,
        )
        allowed = ((config or {}).get("CodeSigningConfig", {}).get("AllowedPublishers", {})).get(
            "SigningProfileVersionArns", []
        )
        if version_arn not in allowed:
            raise PublishError(
                f"Nothing was published: function {function}'s code-signing configuration ({config_arn}) "
                f"does not allow signing profile `{profile}` ({version_arn}), so Lambda would refuse the "
                "signed code. Add the profile version to its allowed publishers, or sign with one it allows."
            )

    def _refuse_unversioned(self, bucket: str) -> None:
        versioning = self.call(
            f"Reading the versioning of S3 bucket {bucket}", self.s3.get_bucket_versioning, Bucket=bucket
        )
        if (versioning or {}).get("Status") != "Enabled":
            raise PublishError(
                f"AWS Signer signs only objects of a versioned bucket, and versioning is off for `{bucket}` "
                f"(`s3-bucket`): turn it on (`aws s3api put-bucket-versioning --bucket {bucket} "
                "--versioning-configuration Status=Enabled`), or name a versioned bucket."
            )

    def _signed(
        self, artifact: ZipArtifact | None, profile: str, bucket: str, prefix: str, *, dry_run: bool
    ) -> ZipArtifact | None:
        if artifact is None:
            return None
        folder = f"{prefix}signed/{artifact.sha256}/"
        record_key = f"{folder}{profile}.json"
        record = self._record(bucket, record_key)
        if record is None and dry_run:
            self.report(f"Would sign {artifact.path.name} with profile {profile}")
            return artifact
        if record is None:
            record = self._sign_now(artifact, profile, bucket, prefix, folder)
            self.call(
                f"Recording the signature of {artifact.path.name}",
                self.s3.put_object,
                Bucket=bucket,
                Key=record_key,
                Body=json.dumps(record, indent=1, sort_keys=True).encode(),
            )
        else:
            self.report(f"{artifact.path.name} was signed before: s3://{bucket}/{record['signed_key']}")
        return dataclasses.replace(
            artifact,
            zipped_size=int(record["signed_size"]),
            code_sha256=str(record["signed_code_sha256"]),
            signed_key=str(record["signed_key"]),
        )

    def _record(self, bucket: str, key: str) -> dict[str, Any] | None:
        found = self.call(f"Reading s3://{bucket}/{key}", self.s3.get_object, Bucket=bucket, Key=key)
        if found is None:
            return None
        try:
            record = json.loads(found["Body"].read())
        except ValueError:
            return None
        wanted = {"unsigned_sha256", "signed_key", "signed_size", "signed_code_sha256"}
        if not isinstance(record, dict) or not wanted <= set(record):
            return None
        # The signed object must still be there for Lambda to read it.
        head = self.call(
            f"Checking s3://{bucket}/{record['signed_key']}",
            self.s3.head_object,
            Bucket=bucket,
            Key=str(record["signed_key"]),
        )
        return record if head is not None else None

    def _sign_now(
        self, artifact: ZipArtifact, profile: str, bucket: str, prefix: str, folder: str
    ) -> dict[str, Any]:
        key = s3_key(prefix, artifact)
        with artifact.path.open("rb") as body:
            put = self.call(
                f"Uploading {artifact.path.name} to s3://{bucket}/{key}",
                self.s3.put_object,
                Bucket=bucket,
                Key=key,
                Body=body,
            )
        started = time.monotonic()
        job = self.call(
            f"Starting a signing job for {artifact.path.name}",
            self.signer.start_signing_job,
            source={"s3": {"bucketName": bucket, "key": key, "version": str(put["VersionId"])}},
            destination={"s3": {"bucketName": bucket, "prefix": folder}},
            profileName=profile,
        )
        signed_key = self._wait(str(job["jobId"]), artifact)
        signed = self.call(
            f"Reading s3://{bucket}/{signed_key}", self.s3.get_object, Bucket=bucket, Key=signed_key
        )
        data = signed["Body"].read()
        self.report(
            f"Signed {artifact.path.name} with profile {profile} in {time.monotonic() - started:.2f}s: "
            f"s3://{bucket}/{signed_key}"
        )
        return {
            "unsigned_sha256": artifact.sha256,
            "signed_key": signed_key,
            "signed_size": len(data),
            "signed_code_sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
            "profile": profile,
        }

    def _wait(self, job_id: str, artifact: ZipArtifact) -> str:
        for _ in range(MAX_POLLS):
            job = self.call(f"Reading signing job {job_id}", self.signer.describe_signing_job, jobId=job_id)
            status = (job or {}).get("status")
            if status == "Succeeded":
                return str(job["signedObject"]["s3"]["key"])
            if status == "Failed":
                reason = (job or {}).get("statusReason", "no reason given")
                raise PublishError(
                    f"The signing job {job_id} for {artifact.path.name} failed: {reason}. Nothing was "
                    "deployed."
                )
            self.sleep(POLL_SECONDS)
        raise PublishError(f"The signing job {job_id} is still running after {MAX_POLLS * POLL_SECONDS:g}s.")
