"""`signing-profile`: both zips signed with AWS Signer before they deploy.

Signer is stubbed with botocore's Stubber (moto has no signing jobs): each stubbed job "signs" by
the test placing the signed object where the job says it wrote it. S3 and Lambda are moto's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from hatch_lambda.errors import PublishError
from hatch_lambda.publish.executor import Publisher
from hatch_lambda.publish.release import read_release
from hatch_lambda.publish.settings import settings_from
from tests.publish_support import (
    REGION,
    code_sha256,
    create_function,
    lambda_client,
    write_release,
    zip_bytes,
)

pytestmark = pytest.mark.moto

BUCKET = "signed-artifacts"
PROFILE = "release_signer"
PROFILE_VERSION_ARN = f"arn:aws:signer:{REGION}:123456789012:/signing-profiles/{PROFILE}/abcdef1234"
SETTINGS = {
    "layer-name": "my-app-deps",
    "function-name": "my-app",
    "s3-bucket": BUCKET,
    "signing-profile": PROFILE,
}


class LambdaWithSigningConfigs:
    """moto's Lambda client, plus `get_code_signing_config`, which moto does not implement."""

    def __init__(self, configs: dict[str, list[str]]) -> None:
        self._client = lambda_client()
        self.configs = configs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_code_signing_config(self, CodeSigningConfigArn: str) -> dict[str, Any]:
        allowed = self.configs[CodeSigningConfigArn]
        return {"CodeSigningConfig": {"AllowedPublishers": {"SigningProfileVersionArns": allowed}}}


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.fixture
def signer():
    client = boto3.client("signer", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def signed_bytes(data: bytes) -> bytes:
    return data + b"SIGNATURE"  # a zip's trailing bytes: other bytes, another CodeSha256


def expect_profile(stubber: Stubber) -> None:
    stubber.add_response(
        "get_signing_profile",
        {"profileName": PROFILE, "profileVersionArn": PROFILE_VERSION_ARN},
        {"profileName": PROFILE},
    )


def expect_signing(stubber: Stubber, s3, data: bytes, job: str) -> str:
    """A job that signs the object holding `data`; returns the key of the signed object."""
    folder = f"signed/{hashlib.sha256(data).hexdigest()}/"
    signed_key = f"{folder}{job}.zip"
    s3.put_object(Bucket=BUCKET, Key=signed_key, Body=signed_bytes(data))  # what Signer writes
    stubber.add_response(
        "start_signing_job",
        {"jobId": job},
        {
            "source": {"s3": {"bucketName": BUCKET, "key": ANY, "version": ANY}},
            "destination": {"s3": {"bucketName": BUCKET, "prefix": folder}},
            "profileName": PROFILE,
        },
    )
    stubber.add_response("describe_signing_job", {"jobId": job, "status": "InProgress"}, {"jobId": job})
    stubber.add_response(
        "describe_signing_job",
        {
            "jobId": job,
            "status": "Succeeded",
            "signedObject": {"s3": {"bucketName": BUCKET, "key": signed_key}},
        },
        {"jobId": job},
    )
    return signed_key


def publish(dist: Path, signer_client, lambda_proxy=None, **settings):
    lines: list[str] = []
    publisher = Publisher(
        lambda_proxy or LambdaWithSigningConfigs({}),
        lambda: boto3.client("s3", region_name=REGION),
        report=lines.append,
        sleep=lambda seconds: None,
        signer_client=lambda: signer_client,
    )
    release = read_release(dist / "my_app-0.1.0-lambda.json")
    outcome = publisher.run(release, settings_from([{**SETTINGS, **settings}]), other_layers_size=0)
    return outcome, lines


def first_release(stubber: Stubber, s3, tmp_path: Path):
    """A function, a build, and the signing jobs its first publish starts."""
    create_function("my-app")
    built = write_release(tmp_path / "dist")
    expect_profile(stubber)
    expect_signing(stubber, s3, built.source, "job-source")
    expect_signing(stubber, s3, built.layer, "job-layer")
    return built


def test_both_zips_are_signed_and_the_signed_objects_deployed(aws, s3, signer, tmp_path):
    client, stubber = signer
    built = first_release(stubber, s3, tmp_path)

    outcome, lines = publish(tmp_path / "dist", client)

    function = lambda_client().get_function_configuration(FunctionName="my-app")
    assert function["CodeSha256"] == code_sha256(signed_bytes(built.source))
    [version] = lambda_client().list_layer_versions(LayerName="my-app-deps")["LayerVersions"]
    layer = lambda_client().get_layer_version(LayerName="my-app-deps", VersionNumber=version["Version"])
    assert layer["Content"]["CodeSha256"] == code_sha256(signed_bytes(built.layer))
    assert f"sha256:{hashlib.sha256(built.layer).hexdigest()}" in version["Description"]  # the unsigned zip's
    assert outcome.functions[0].code == "updated"
    assert any(line.startswith("Signed my_app-0.1.0-lambda-source.zip with profile") for line in lines)


def test_unchanged_zips_are_neither_signed_nor_uploaded_again(aws, s3, signer, tmp_path):
    client, stubber = signer
    first_release(stubber, s3, tmp_path)
    publish(tmp_path / "dist", client)
    objects = len(s3.list_object_versions(Bucket=BUCKET)["Versions"])

    expect_profile(stubber)  # and no signing job: the Stubber fails on any other call
    outcome, lines = publish(tmp_path / "dist", client)

    assert outcome.functions[0].code == "unchanged"
    assert outcome.layer is not None and outcome.layer.action == "reused"
    assert len(s3.list_object_versions(Bucket=BUCKET)["Versions"]) == objects
    assert any("was signed before" in line for line in lines)


def test_a_function_whose_code_signing_config_refuses_the_profile_is_refused_before_any_upload(
    aws, s3, signer, tmp_path
):
    client, stubber = signer
    config_arn = f"arn:aws:lambda:{REGION}:123456789012:code-signing-config:csc-0123456789abcdef0"
    created = create_function("my-app")
    lambda_client().delete_function(FunctionName="my-app")
    lambda_client().create_function(
        **{key: created[key] for key in ("FunctionName", "Runtime", "Role", "Handler", "Architectures")},
        Code={"ZipFile": zip_bytes({"app.py": ""})},
        CodeSigningConfigArn=config_arn,
    )
    write_release(tmp_path / "dist")
    expect_profile(stubber)
    other = {config_arn: [PROFILE_VERSION_ARN.replace(PROFILE, "someone_else")]}

    with pytest.raises(PublishError, match=r"does not allow signing profile `release_signer`"):
        publish(tmp_path / "dist", client, LambdaWithSigningConfigs(other))

    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_an_unversioned_bucket_is_refused_before_any_upload(aws, signer, tmp_path):
    client, stubber = signer
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    create_function("my-app")
    write_release(tmp_path / "dist")
    expect_profile(stubber)

    with pytest.raises(PublishError, match=r"versioning is off for `signed-artifacts`"):
        publish(tmp_path / "dist", client)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_signing_needs_an_s3_bucket():
    with pytest.raises(PublishError, match=r"`signing-profile` needs `s3-bucket`"):
        settings_from([{"function-name": "my-app", "signing-profile": PROFILE}])
