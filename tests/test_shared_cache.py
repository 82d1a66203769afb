"""The shared layer cache in S3 (`HATCH_LAMBDA_CACHE_S3`, `cache-s3`), against moto's S3 server.

Each "runner" is a `hatchling build -t lambda` with its own empty local cache and its own copy of
the project, as two CI jobs are.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import boto3
import pytest

from hatch_lambda.layer.shared_cache import (
    S3Location,
    SharedCacheNeedsBoto3Error,
    SharedLayerCache,
    parse_s3_location,
)
from tests.helpers import output_of, run_hatchling, write_project

pytestmark = pytest.mark.moto

BUCKET = "layer-cache-bucket"
CACHE_URL = f"s3://{BUCKET}/ci/"
LAYER = "shared_app-1.0-lambda-layer-python3.12-x86_64.zip"


def s3():
    return boto3.client("s3")


def project(root: Path) -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": """
                [project]
                name = "shared-app"
                version = "1.0"
                dependencies = ["hlfix-pure"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
            """,
            "shared_app/__init__.py": "",
        },
    )


@pytest.fixture
def runners(tmp_path: Path, aws: dict[str, str], offline_environment: dict[str, str]):
    """Build the project as runner NUMBER: its own checkout and its own empty local layer cache."""
    s3().create_bucket(Bucket=BUCKET)

    def build(number: int, **overrides: str):
        root = project(tmp_path / f"runner-{number}" / "app")
        environment = {
            **offline_environment,
            **aws,
            "HATCH_LAMBDA_CACHE_DIR": str(tmp_path / f"runner-{number}" / "layer-cache"),
            "HATCH_LAMBDA_CACHE_S3": CACHE_URL,
            **overrides,
        }
        completed = run_hatchling(root, environment=environment)
        assert completed.returncode == 0, output_of(completed)
        return root, output_of(completed)

    return build


def cached_objects() -> dict[str, bytes]:
    listed = s3().list_objects_v2(Bucket=BUCKET, Prefix="ci/").get("Contents", [])
    return {item["Key"]: s3().get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read() for item in listed}


def test_the_second_runner_takes_the_layer_from_s3_and_installs_nothing(runners):
    first, first_output = runners(1)
    assert "installed" in first_output
    objects = cached_objects()
    assert sorted(key.rsplit(".", 1)[1] for key in objects) == ["json", "zip"]

    second, second_output = runners(2)

    assert f"Layer from the shared cache ({CACHE_URL}layers-v1/" in second_output
    assert "installed" not in second_output
    assert (second / "dist" / LAYER).read_bytes() == (first / "dist" / LAYER).read_bytes()
    sbom = "shared_app-1.0-lambda.cdx.json"
    assert (second / "dist" / sbom).read_bytes() == (first / "dist" / sbom).read_bytes()
    assert cached_objects() == objects  # a hit uploads nothing

    # The hit was kept in runner 2's local cache: its next build needs no S3 at all.
    _, third_output = runners(2, HATCH_LAMBDA_CACHE_S3="")
    assert "Layer from the cache (" in third_output


@pytest.mark.parametrize("damage", ["truncated", "altered record"])
def test_a_tampered_entry_is_refused_rebuilt_and_replaced(runners, damage):
    first, _ = runners(1)
    objects = cached_objects()
    zip_key = next(key for key in objects if key.endswith(".zip"))
    if damage == "truncated":
        s3().put_object(Bucket=BUCKET, Key=zip_key, Body=objects[zip_key][:-100])
    else:
        record_key = zip_key.removesuffix(".zip") + ".json"
        record = json.loads(objects[record_key])
        record["details"]["entry"]["files"] += 1
        s3().put_object(Bucket=BUCKET, Key=record_key, Body=json.dumps(record).encode())

    second, output = runners(2)

    assert f"Refused the shared layer cache entry s3://{BUCKET}/{zip_key}" in output
    assert "installed" in output
    assert (second / "dist" / LAYER).read_bytes() == (first / "dist" / LAYER).read_bytes()
    assert cached_objects() == objects  # the rebuilt layer took the damaged entry's place
    _, third = runners(3)
    assert "Layer from the shared cache" in third


def test_without_credentials_or_bucket_the_build_warns_and_builds_locally(runners, aws):
    s3().delete_bucket(Bucket=BUCKET)
    _, output = runners(1)
    assert f"The shared layer cache {CACHE_URL} cannot be used" in output
    assert "installed" in output

    anonymous = {name: "" for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    _, output = runners(2, **anonymous, AWS_EC2_METADATA_DISABLED="true")
    assert f"The shared layer cache {CACHE_URL} cannot be used (NoCredentialsError" in output
    assert "installed" in output


def test_concurrent_writers_never_overwrite_each_other(aws, tmp_path):
    s3().create_bucket(Bucket=BUCKET)
    location = parse_s3_location(CACHE_URL, "test")
    built = tmp_path / "layer.zip"
    built.write_bytes(b"the same layer, built by both runners" * 1000)
    details = {"entry": {"sha256": "recorded"}, "sbom": []}
    writers = [SharedLayerCache(location) for _ in range(4)]
    threads = [
        threading.Thread(target=writer.store, args=("k" * 32, built, {**details, "writer": index}))
        for index, writer in enumerate(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [warning for writer in writers for warning in writer.warnings] == []
    fetched = SharedLayerCache(location).fetch("k" * 32, tmp_path / "fetched.zip")
    assert fetched is not None and fetched["writer"] in range(4)  # one writer's record, whole
    assert (tmp_path / "fetched.zip").read_bytes() == built.read_bytes()
    SharedLayerCache(location).store("k" * 32, built, {**details, "writer": "late"})
    again = SharedLayerCache(location).fetch("k" * 32, tmp_path / "again.zip")
    assert again == fetched  # a later writer leaves the first one's entry as it was


def test_a_shared_cache_without_boto3_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # `import boto3` raises ImportError
    with pytest.raises(SharedCacheNeedsBoto3Error, match=r"hatch-lambda\[publish\]"):
        SharedLayerCache(S3Location(BUCKET, "ci/"))


def test_the_location_must_be_an_s3_url(tmp_path, offline_environment):
    assert parse_s3_location("s3://bucket", "x") == S3Location("bucket", "")
    assert parse_s3_location("s3://bucket/a/b", "x") == S3Location("bucket", "a/b/")
    root = project(tmp_path / "app")
    completed = run_hatchling(
        root, environment={**offline_environment, "HATCH_LAMBDA_CACHE_S3": "https://bucket/ci"}
    )
    assert completed.returncode != 0
    assert "Environment variable `HATCH_LAMBDA_CACHE_S3` must be an S3 location" in output_of(completed)
    assert "Traceback" not in output_of(completed)
    assert not (root / "dist").exists() or not any((root / "dist").iterdir())
