"""The publishing decisions as pure functions: settings, layer lists, limits, upload routes."""

from __future__ import annotations

import pytest

from hatch_lambda.errors import PublishError
from hatch_lambda.platform.limits import UNZIPPED_LIMIT
from hatch_lambda.publish.plan import (
    AttachedLayer,
    FunctionState,
    LayerVersionState,
    function_problems,
    layer_base_arn,
    plan_publish,
    replace_layer,
    s3_key,
    upload_for,
)
from hatch_lambda.publish.release import find_manifest, read_release
from hatch_lambda.publish.settings import settings_from
from tests.publish_support import write_release

FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:my-app"
BASE = "arn:aws:lambda:eu-west-1:123456789012:layer:my-app-deps"
OTHER = "arn:aws:lambda:eu-west-1:123456789012:layer:other:4"


def state(layers=(), runtime="python3.12", architectures=("x86_64",), code_sha256="old="):
    return FunctionState("my-app", FUNCTION_ARN, runtime, architectures, code_sha256, tuple(layers))


@pytest.fixture
def release(tmp_path):
    return read_release(write_release(tmp_path / "dist").manifest)


def test_settings_merge_later_tables_win_and_options_split_lists():
    settings = settings_from(
        [
            {"layer-name": "user-deps", "s3-bucket": "user-bucket"},
            {"layer-name": "my-app-deps", "function-name": ["a"]},
            {"function_name": "a, b", "dry-run": "true", "no_prompt": False, "initialize_auth": False},
        ]
    )
    assert settings.layer_name == "my-app-deps"
    assert settings.s3_bucket == "user-bucket"
    assert settings.function_names == ("a", "b")
    assert settings.dry_run is True


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"layer": "x"}, "Unknown publish setting `layer`"),
        ({"layer-name": 3}, "`layer-name` must be a string"),
        ({"function-name": [1]}, "`function-name` must be a string or a list"),
        ({"function-name": "a", "json": "maybe"}, "`json` must be true or false"),
        ({}, "Nothing to publish to"),
        ({"layer-name": "x", "alias": "live"}, "`alias` needs `function-name`"),
    ],
)
def test_bad_settings_name_the_key(table, message):
    with pytest.raises(PublishError, match=message):
        settings_from([table])


def test_the_new_layer_version_takes_the_old_ones_place_and_other_layers_keep_their_order():
    current = [OTHER, f"{BASE}:3", "arn:aws:lambda:eu-west-1:1:layer:tail:1"]
    assert replace_layer(current, BASE, f"{BASE}:4") == (OTHER, f"{BASE}:4", current[2])
    assert replace_layer([OTHER], BASE, f"{BASE}:4") == (OTHER, f"{BASE}:4")
    assert replace_layer([f"{BASE}:1", OTHER, f"{BASE}:2"], BASE, f"{BASE}:4") == (f"{BASE}:4", OTHER)
    assert replace_layer([f"{BASE}:4"], BASE, f"{BASE}:4") == (f"{BASE}:4",)


def test_the_layer_arn_comes_from_the_functions_account_and_region_unless_given():
    assert layer_base_arn(FUNCTION_ARN, "my-app-deps") == BASE
    assert layer_base_arn(FUNCTION_ARN, BASE) == BASE


def test_the_newest_layer_version_is_reused_when_it_holds_the_same_bytes(release):
    settings = settings_from([{"layer-name": "my-app-deps", "function-name": "my-app"}])
    by_hash = LayerVersionState(f"{BASE}:7", "", release.layer.code_sha256)
    by_description = LayerVersionState(f"{BASE}:7", f"my-app 0.1.0; sha256:{release.layer.sha256}", None)
    different = LayerVersionState(f"{BASE}:7", "manual", "other=")
    for newest, reused in ((by_hash, True), (by_description, True), (different, False), (None, False)):
        plan = plan_publish(release, settings, newest, [state()], 0)
        assert (plan.layer.reuse_arn is not None) is reused
        assert (plan.layer.upload is None) is reused


def test_code_is_uploaded_only_when_its_code_sha256_differs(release):
    settings = settings_from([{"function-name": "my-app", "layer-name": "deps"}])
    current = plan_publish(release, settings, None, [state(code_sha256=release.source.code_sha256)], 0)
    stale = plan_publish(release, settings, None, [state()], 0)
    assert current.functions[0].code_upload is None
    assert stale.functions[0].code_upload is not None


def test_zips_go_in_the_call_up_to_50_mb_and_through_s3_above_or_when_a_bucket_is_set(release):
    direct = settings_from([{"function-name": "f"}])
    bucket = settings_from([{"function-name": "f", "s3-bucket": "b", "s3-prefix": "lambda/"}])
    assert upload_for(release.source, direct).bucket is None
    through_s3 = upload_for(release.source, bucket)
    assert (through_s3.bucket, through_s3.key) == ("b", s3_key("lambda/", release.source))
    assert through_s3.key == f"lambda/{release.source.sha256}/my_app-0.1.0-lambda-source.zip"
    big = type(release.source)(release.source.path, 52_428_801, 1, "s", "c")
    with pytest.raises(PublishError, match="set `s3-bucket`"):
        upload_for(big, direct)


def test_limits_count_our_zips_and_other_layers_by_the_larger_of_zipped_size_and_other_layers_size(tmp_path):
    release = read_release(
        write_release(tmp_path / "dist", source_unzipped=100_000_000, layer_unzipped=150_000_000).manifest
    )
    fits = state(layers=[AttachedLayer(f"{BASE}:1", 90_000_000)])  # our old version: replaced, not counted
    assert function_problems(fits, release, "my-app-deps", 0) == []
    [problem] = function_problems(state(layers=[AttachedLayer(OTHER, 12_200_000)]), release, "my-app-deps", 0)
    assert "other layers 12,200,000" in problem
    assert f"{UNZIPPED_LIMIT:,}" in problem
    [declared] = function_problems(
        state(layers=[AttachedLayer(OTHER, 10)]), release, "my-app-deps", 12_200_000
    )
    assert "other layers 12,200,000" in declared


def test_runtime_architecture_and_image_functions_are_refused(release):
    problems = function_problems(state(runtime=None, architectures=("arm64",)), release, "deps", 0)
    assert problems == [
        "my-app runs a container image (no runtime); the build is for python3.12.",
        "my-app runs on arm64; the build is for x86_64.",
    ]


def test_a_layer_without_a_layer_name_and_functions_without_source_are_refused(tmp_path, release):
    with pytest.raises(PublishError, match="no `layer-name` is set"):
        plan_publish(release, settings_from([{"function-name": "f"}]), None, [], 0)
    no_source = read_release(write_release(tmp_path / "other").manifest)
    no_source = type(no_source)(**{**no_source.__dict__, "source": None})
    with pytest.raises(PublishError, match="lists no source zip"):
        plan_publish(no_source, settings_from([{"function-name": "f", "layer-name": "d"}]), None, [], 0)


def test_the_manifest_is_found_in_the_build_directory_and_checked_against_its_files(tmp_path):
    built = write_release(tmp_path / "dist")
    assert find_manifest([], tmp_path / "dist", "my-app") == built.manifest
    assert find_manifest([built.manifest], tmp_path / "elsewhere", None) == built.manifest
    with pytest.raises(PublishError, match=r"No `\*-lambda\.json` manifest for other"):
        find_manifest([], tmp_path / "dist", "other")
    (tmp_path / "dist" / "my_app-0.1.0-lambda-source.zip").write_bytes(b"changed")
    with pytest.raises(PublishError, match=r"changed after my_app-0\.1\.0-lambda\.json was written"):
        read_release(built.manifest)
