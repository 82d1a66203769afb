"""What moto does not emulate: in-progress updates, conflicts, throttling and Lambda's limits,
checked with botocore's Stubber (no network, no server)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY, Stubber

from hatch_lambda.errors import AwsCallError, PublishError
from hatch_lambda.publish.executor import MAX_ATTEMPTS, POLL_SECONDS, Publisher
from hatch_lambda.publish.plan import AttachedLayer, FunctionState, plan_publish
from hatch_lambda.publish.release import read_release
from hatch_lambda.publish.settings import settings_from
from tests.publish_support import write_release

ACCOUNT = "arn:aws:lambda:us-east-1:123456789012"
FUNCTION_ARN = f"{ACCOUNT}:function:my-app"
OUR_LAYER = f"{ACCOUNT}:layer:my-app-deps"


@pytest.fixture
def stubbed():
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        sleeps: list[float] = []
        publisher = Publisher(client, lambda: None, report=lambda line: None, sleep=sleeps.append)
        yield stubber, publisher, sleeps
        stubber.assert_no_pending_responses()


def configuration(status="Successful", layers=(), code_sha256="old=", state="Active"):
    return {
        "FunctionName": "my-app",
        "FunctionArn": FUNCTION_ARN,
        "Runtime": "python3.12",
        "Architectures": ["x86_64"],
        "CodeSha256": code_sha256,
        "State": state,
        "LastUpdateStatus": status,
        "Layers": [{"Arn": arn, "CodeSize": 1000} for arn in layers],
    }


def function_state(layers=(), code_sha256="old="):
    return FunctionState(
        "my-app",
        FUNCTION_ARN,
        "python3.12",
        ("x86_64",),
        code_sha256,
        tuple(AttachedLayer(arn, 1000) for arn in layers),
    )


def plan_for(tmp_path, state, **settings):
    release = read_release(write_release(tmp_path / "dist").manifest)
    merged = settings_from([{"layer-name": "my-app-deps", "function-name": "my-app", **settings}])
    return release, plan_publish(release, merged, None, [state], 0)


def test_waits_while_an_update_is_in_progress_before_changing_the_layers(stubbed, tmp_path):
    stubber, publisher, sleeps = stubbed
    _, plan = plan_for(tmp_path, function_state())
    step = plan.functions[0]
    step = type(step)(step.state, None, step.layer_base_arn, None)  # code already current
    stubber.add_response(
        "get_function_configuration", configuration("InProgress"), {"FunctionName": "my-app"}
    )
    stubber.add_response("get_function_configuration", configuration(), {"FunctionName": "my-app"})
    stubber.add_response(
        "update_function_configuration",
        configuration("InProgress"),
        {"FunctionName": "my-app", "Layers": [f"{OUR_LAYER}:3"]},
    )
    stubber.add_response(
        "get_function_configuration", configuration("InProgress"), {"FunctionName": "my-app"}
    )
    stubber.add_response("get_function_configuration", configuration(), {"FunctionName": "my-app"})

    result = publisher.update_function(step, f"{OUR_LAYER}:3")

    assert result.layers == [f"{OUR_LAYER}:3"]
    assert sleeps == [POLL_SECONDS, POLL_SECONDS]


def test_a_conflict_is_retried_with_backoff_then_the_code_update_goes_through(stubbed, tmp_path):
    stubber, publisher, sleeps = stubbed
    release, plan = plan_for(tmp_path, function_state())
    step = type(plan.functions[0])(plan.functions[0].state, plan.functions[0].code_upload, None, None)
    stubber.add_response("get_function_configuration", configuration(), {"FunctionName": "my-app"})
    for _ in range(2):
        stubber.add_client_error(
            "update_function_code", "ResourceConflictException", "An update is in progress", 409
        )
    stubber.add_response(
        "update_function_code",
        configuration("InProgress", code_sha256=release.source.code_sha256),
        {"FunctionName": "my-app", "ZipFile": ANY},
    )
    stubber.add_response("get_function_configuration", configuration(), {"FunctionName": "my-app"})

    result = publisher.update_function(step, None)

    assert result.code == "updated"
    assert sleeps == [1.0, 2.0]


def test_throttling_is_retried_and_a_persistent_failure_says_to_run_again(stubbed, tmp_path):
    stubber, publisher, sleeps = stubbed
    _, plan = plan_for(tmp_path, function_state())
    for _ in range(MAX_ATTEMPTS):
        stubber.add_client_error("publish_layer_version", "TooManyRequestsException", "Rate exceeded", 429)

    with pytest.raises(AwsCallError, match=r"(?s)TooManyRequestsException.*run the same command again"):
        publisher.publish_layer(plan.layer)

    assert len(sleeps) == MAX_ATTEMPTS - 1
    assert sleeps[:4] == [1.0, 2.0, 4.0, 8.0]


def test_a_failed_update_on_lambda_stops_with_its_reason(stubbed, tmp_path):
    stubber, publisher, _ = stubbed
    failed = {**configuration("Failed"), "LastUpdateStatusReason": "Layer version not found"}
    stubber.add_response("get_function_configuration", failed, {"FunctionName": "my-app"})

    with pytest.raises(PublishError, match="failed on Lambda: Layer version not found"):
        publisher.wait_until_updated("my-app")


def test_a_layer_with_the_wrong_code_sha256_is_reported(stubbed, tmp_path):
    stubber, publisher, _ = stubbed
    _, plan = plan_for(tmp_path, function_state())
    stubber.add_response(
        "publish_layer_version",
        {"LayerVersionArn": f"{OUR_LAYER}:1", "Version": 1, "Content": {"CodeSha256": "other="}},
        {
            "LayerName": "my-app-deps",
            "Content": {"ZipFile": ANY},
            "CompatibleRuntimes": ["python3.12"],
            "CompatibleArchitectures": ["x86_64"],
            "Description": ANY,
        },
    )

    with pytest.raises(PublishError, match="did not arrive intact"):
        publisher.publish_layer(plan.layer)


def test_a_function_over_the_limits_is_refused_before_any_upload(stubbed, tmp_path):
    """Only reads are stubbed: any upload or publish would make the Stubber fail the test."""
    stubber, publisher, _ = stubbed
    release = read_release(write_release(tmp_path / "dist").manifest)
    others = [f"{ACCOUNT}:layer:other-{index}:1" for index in range(5)]
    stubber.add_response(
        "list_layer_versions", {"LayerVersions": []}, {"LayerName": "my-app-deps", "MaxItems": 1}
    )
    stubber.add_response(
        "get_function_configuration", configuration(layers=others), {"FunctionName": "my-app"}
    )
    settings = settings_from([{"layer-name": "my-app-deps", "function-name": "my-app"}])

    with pytest.raises(PublishError, match="my-app would have 6 layers; Lambda allows 5"):
        publisher.run(release, settings, other_layers_size=0)
