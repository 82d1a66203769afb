"""SnapStart publishing and the runtime's lifecycle before publishing, with botocore's Stubber:
moto does not implement SnapStart, and the Stubber fails a test on any call it was not given."""

from __future__ import annotations

from datetime import date

import boto3
import pytest
from botocore.stub import ANY, Stubber

from hatch_lambda.errors import PublishError
from hatch_lambda.publish.executor import POLL_SECONDS, Publisher, publish_project
from hatch_lambda.publish.plan import FunctionState, plan_publish, runtime_lifecycle_warning
from hatch_lambda.publish.release import read_release
from hatch_lambda.publish.settings import settings_from
from tests.helpers import write_project
from tests.publish_support import write_release

ACCOUNT = "arn:aws:lambda:us-east-1:123456789012"
FUNCTION_ARN = f"{ACCOUNT}:function:my-app"
SETTINGS = {"function-name": "my-app", "alias": "live", "snap-start": True}


@pytest.fixture
def stubbed():
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        lines: list[str] = []
        sleeps: list[float] = []
        publisher = Publisher(client, lambda: None, report=lines.append, sleep=sleeps.append)
        yield stubber, publisher, lines, sleeps
        stubber.assert_no_pending_responses()


def configuration(*, code_sha256="old=", snap_start="None", state="Active", version="$LATEST", **extra):
    return {
        "FunctionName": "my-app",
        "FunctionArn": FUNCTION_ARN if version == "$LATEST" else f"{FUNCTION_ARN}:{version}",
        "Runtime": "python3.12",
        "Architectures": ["x86_64"],
        "CodeSha256": code_sha256,
        "Version": version,
        "State": state,
        "LastUpdateStatus": "Successful",
        "SnapStart": {"ApplyOn": snap_start, "OptimizationStatus": "Off"},
        **extra,
    }


def alias_arn(name="live"):
    return f"{FUNCTION_ARN}:{name}"


def release_of(tmp_path, runtime="python3.12"):
    return read_release(write_release(tmp_path / "dist", dependencies=None, runtime=runtime).manifest)


def test_snap_start_is_turned_on_a_version_published_and_the_alias_moved_once_it_is_active(stubbed, tmp_path):
    stubber, publisher, lines, sleeps = stubbed
    release = release_of(tmp_path)
    new_code = release.source.code_sha256
    function = {"FunctionName": "my-app"}
    stubber.add_response("get_function_configuration", configuration(), function)
    stubber.add_client_error(
        "get_function_configuration",
        "ResourceNotFoundException",
        "No alias",
        404,
        {**function, "Qualifier": "live"},
    )
    stubber.add_response("get_function_configuration", configuration(), function)
    stubber.add_response(
        "update_function_code", configuration(code_sha256=new_code), {**function, "ZipFile": ANY}
    )
    stubber.add_response("get_function_configuration", configuration(code_sha256=new_code), function)
    # SnapStart is off, so it is set; Lambda snapshots only published versions.
    stubber.add_response(
        "update_function_configuration",
        configuration(code_sha256=new_code, snap_start="PublishedVersions"),
        {**function, "SnapStart": {"ApplyOn": "PublishedVersions"}},
    )
    stubber.add_response(
        "get_function_configuration",
        configuration(code_sha256=new_code, snap_start="PublishedVersions"),
        function,
    )
    stubber.add_response(
        "publish_version",
        configuration(code_sha256=new_code, snap_start="PublishedVersions", state="Pending", version="7"),
        {**function, "CodeSha256": new_code},
    )
    for state in ("Pending", "Pending", "Active"):
        stubber.add_response(
            "get_function_configuration",
            configuration(code_sha256=new_code, snap_start="PublishedVersions", state=state, version="7"),
            {**function, "Qualifier": "7"},
        )
    stubber.add_client_error(
        "get_alias", "ResourceNotFoundException", "No alias", 404, {**function, "Name": "live"}
    )
    stubber.add_response(
        "create_alias",
        {"AliasArn": alias_arn(), "Name": "live", "FunctionVersion": "7"},
        {**function, "Name": "live", "FunctionVersion": "7"},
    )

    outcome = publisher.run(release, settings_from([SETTINGS]), other_layers_size=0)

    result = outcome.functions[0]
    assert (result.code, result.version, result.alias_action, result.snap_start) == (
        "updated",
        "7",
        "created",
        "turned on",
    )
    assert sleeps == [POLL_SECONDS, POLL_SECONDS]
    assert any("Taking the SnapStart snapshot of my-app version 7" in line for line in lines)
    assert any("Version 7 of my-app is active" in line for line in lines)


def test_snap_start_already_on_and_the_alias_current_changes_nothing(stubbed, tmp_path):
    stubber, publisher, _, _ = stubbed
    release = release_of(tmp_path)
    code = release.source.code_sha256
    function = {"FunctionName": "my-app"}
    stubber.add_response(
        "get_function_configuration",
        configuration(code_sha256=code, snap_start="PublishedVersions"),
        function,
    )
    stubber.add_response(
        "get_function_configuration",
        configuration(code_sha256=code, snap_start="PublishedVersions", version="7"),
        {**function, "Qualifier": "live"},
    )
    stubber.add_response(
        "get_function_configuration",
        configuration(code_sha256=code, snap_start="PublishedVersions"),
        function,
    )
    stubber.add_response(
        "get_alias",
        {"AliasArn": alias_arn(), "Name": "live", "FunctionVersion": "7"},
        {**function, "Name": "live"},
    )

    outcome = publisher.run(release, settings_from([SETTINGS]), other_layers_size=0)

    result = outcome.functions[0]
    assert (result.code, result.alias_action, result.snap_start) == ("unchanged", "unchanged", "on")


def test_a_failed_snapshot_stops_with_its_reason_and_leaves_the_alias_alone(stubbed, tmp_path):
    stubber, publisher, _, _ = stubbed
    release = release_of(tmp_path)
    code = release.source.code_sha256
    state = FunctionState(
        "my-app", FUNCTION_ARN, "python3.12", ("x86_64",), code, (), None, snap_start="PublishedVersions"
    )
    step = plan_publish(release, settings_from([SETTINGS]), None, [state], 0).functions[0]
    function = {"FunctionName": "my-app"}
    stubber.add_response("get_function_configuration", configuration(code_sha256=code), function)
    stubber.add_response(
        "publish_version",
        configuration(code_sha256=code, state="Pending", version="8"),
        {**function, "CodeSha256": code},
    )
    failed = configuration(
        code_sha256=code,
        state="Failed",
        version="8",
        StateReason="Init raised ModuleNotFoundError",
        StateReasonCode="FunctionError",
    )
    stubber.add_response("get_function_configuration", failed, {**function, "Qualifier": "8"})

    with pytest.raises(PublishError, match=r"(?s)Version 8 of my-app failed.*ModuleNotFoundError.*not moved"):
        publisher.update_function(step, None)


def test_snap_start_is_refused_by_name_for_runtimes_before_python312(tmp_path):
    release = release_of(tmp_path, runtime="python3.11")
    state = FunctionState("my-app", FUNCTION_ARN, "python3.11", ("x86_64",), "old=", ())

    with pytest.raises(PublishError, match=r"SnapStart supports Python 3\.12 and later.*python3\.11"):
        plan_publish(release, settings_from([SETTINGS]), None, [state], 0)


def test_what_snap_start_does_not_support_is_refused_by_name_before_any_upload(tmp_path):
    release = release_of(tmp_path)
    state = FunctionState(
        "my-app",
        FUNCTION_ARN,
        "python3.12",
        ("x86_64",),
        "old=",
        (),
        ephemeral_storage_mb=2048,
        file_systems=1,
    )

    with pytest.raises(PublishError) as raised:
        plan_publish(release, settings_from([SETTINGS]), None, [state], 0)

    assert "my-app has 2048 MB of ephemeral storage; SnapStart allows at most 512 MB" in str(raised.value)
    assert "my-app mounts an EFS file system" in str(raised.value)


def test_snap_start_needs_an_alias():
    with pytest.raises(PublishError, match="`snap-start` needs `function-name` and `alias`"):
        settings_from([{"function-name": "my-app", "snap-start": True}])


def test_publishing_gives_the_builds_lifecycle_messages():
    assert runtime_lifecycle_warning("python3.12", date(2026, 12, 1), allowed=False) is None
    warning = runtime_lifecycle_warning("python3.10", date(2026, 12, 1), allowed=False)
    assert "creating functions on it is blocked since 2026-11-30" in warning
    with pytest.raises(PublishError, match=r"Nothing was published.*updating them since 2027-01-15"):
        runtime_lifecycle_warning("python3.10", date(2027, 1, 15), allowed=False)
    assert "Going ahead" in runtime_lifecycle_warning("python3.10", date(2027, 1, 15), allowed=True)


def test_a_blocked_runtime_is_refused_before_any_call_to_aws(tmp_path, monkeypatch):
    """No AWS configuration at all: the refusal must come first."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    root = write_project(
        tmp_path / "app", {"pyproject.toml": '[project]\nname = "my-app"\nversion = "0.1.0"\n'}
    )
    write_release(root / "dist", runtime="python3.10", dependencies=None)

    with pytest.raises(PublishError, match="allow-blocked-runtime"):
        publish_project(
            root, [], [{"function-name": "my-app"}], report=lambda line: None, today=lambda: date(2027, 2, 1)
        )


def test_a_dry_run_says_it_would_turn_snap_start_on_and_publish_a_version(stubbed, tmp_path):
    stubber, publisher, lines, _ = stubbed
    release = release_of(tmp_path)
    function = {"FunctionName": "my-app"}
    stubber.add_response("get_function_configuration", configuration(), function)
    stubber.add_client_error(
        "get_function_configuration",
        "ResourceNotFoundException",
        "No alias",
        404,
        {**function, "Qualifier": "live"},
    )

    outcome = publisher.run(release, settings_from([{**SETTINGS, "dry-run": True}]), other_layers_size=0)

    assert outcome.functions[0].snap_start == "would turn on"
    assert "Would turn on SnapStart (ApplyOn PublishedVersions) for my-app" in lines
    assert "  SnapStart would turn on: version (new)" in outcome.summary_lines()
