"""Publishing against moto in server mode: real boto3 calls over HTTP to an emulated Lambda and S3."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest

from hatch_lambda import cli
from hatch_lambda.errors import PublishError
from hatch_lambda.publish.executor import publish_project
from tests.publish_support import (
    REGION,
    code_sha256,
    create_function,
    lambda_client,
    large_random_zip,
    write_release,
)

pytestmark = pytest.mark.moto

SETTINGS = {"layer-name": "my-app-deps", "function-name": "my-app"}


def publish(project, settings, *locations):
    lines: list[str] = []
    outcome, _ = publish_project(project, list(locations), [settings], report=lines.append)
    return outcome, lines


def layer_versions(name="my-app-deps"):
    return lambda_client().list_layer_versions(LayerName=name)["LayerVersions"]


def configuration(name="my-app", qualifier=None):
    arguments = {"FunctionName": name}
    if qualifier:
        arguments["Qualifier"] = qualifier
    return lambda_client().get_function_configuration(**arguments)


def test_first_publish_creates_the_layer_updates_the_code_and_attaches_the_layer(aws, tmp_path):
    create_function("my-app")
    built = write_release(tmp_path / "dist")

    outcome, lines = publish(tmp_path, SETTINGS)

    [version] = layer_versions()
    assert outcome.layer.action == "published"
    assert outcome.layer.arn == version["LayerVersionArn"]
    assert version["CompatibleRuntimes"] == ["python3.12"]
    assert version["CompatibleArchitectures"] == ["x86_64"]
    assert "sha256:" in version["Description"]
    function = configuration()
    assert function["CodeSha256"] == code_sha256(built.source)
    assert [layer["Arn"] for layer in function["Layers"]] == [version["LayerVersionArn"]]
    [result] = outcome.functions
    assert (result.code, result.layers_changed, result.layers) == (
        "updated",
        True,
        [version["LayerVersionArn"]],
    )
    assert any(line.startswith("Published layer arn:aws:lambda:") for line in lines)


def test_the_layer_version_records_the_sbom_sha256_next_to_the_zip(aws, tmp_path):
    create_function("my-app")
    sbom_sha256 = "ab" * 32
    built = write_release(tmp_path / "dist", sbom_sha256=sbom_sha256)

    publish(tmp_path, SETTINGS)

    [version] = layer_versions()
    description = version["Description"]
    assert f"sha256:{hashlib.sha256(built.layer).hexdigest()}" in description
    assert f"sbom-sha256:{sbom_sha256}" in description
    assert len(description) <= 256


def test_republishing_unchanged_bytes_uploads_and_publishes_nothing(aws, tmp_path):
    create_function("my-app")
    write_release(tmp_path / "dist")
    publish(tmp_path, SETTINGS)
    modified = configuration()["LastModified"]

    outcome, lines = publish(tmp_path, SETTINGS)

    assert len(layer_versions()) == 1
    assert outcome.layer.action == "reused"
    [result] = outcome.functions
    assert (result.code, result.layers_changed) == ("unchanged", False)
    assert configuration()["LastModified"] == modified
    assert not any(line.startswith(("Published", "Updated", "Uploaded")) for line in lines)


def test_a_code_change_uploads_only_the_code(aws, tmp_path):
    create_function("my-app")
    write_release(tmp_path / "dist")
    first, _ = publish(tmp_path, SETTINGS)
    built = write_release(tmp_path / "dist", code="VERSION = 2\n")

    outcome, _ = publish(tmp_path, SETTINGS)

    assert len(layer_versions()) == 1
    assert outcome.layer.action == "reused"
    assert outcome.functions[0].code == "updated"
    assert configuration()["CodeSha256"] == code_sha256(built.source)
    assert [layer["Arn"] for layer in configuration()["Layers"]] == [first.layer.arn]


def test_a_layer_change_publishes_a_version_and_replaces_the_old_one_in_place_keeping_other_layers(
    aws, tmp_path
):
    client = lambda_client()
    zip_of = write_release(tmp_path / "other").layer
    before = client.publish_layer_version(LayerName="monitoring", Content={"ZipFile": zip_of})[
        "LayerVersionArn"
    ]
    after = client.publish_layer_version(LayerName="secrets", Content={"ZipFile": zip_of})["LayerVersionArn"]
    write_release(tmp_path / "dist")
    create_function("my-app")
    first, _ = publish(tmp_path, SETTINGS)
    # The user orders the layers: ours between two others.
    client.update_function_configuration(FunctionName="my-app", Layers=[before, first.layer.arn, after])
    write_release(tmp_path / "dist", dependencies="DEPENDENCY = 2\n")

    outcome, _ = publish(tmp_path, SETTINGS)

    assert outcome.layer.action == "published"
    assert outcome.layer.arn.endswith(":my-app-deps:2")
    assert outcome.functions[0].code == "unchanged"
    assert [layer["Arn"] for layer in configuration()["Layers"]] == [before, outcome.layer.arn, after]


def test_one_layer_serves_several_functions(aws, tmp_path):
    for name in ("api", "worker", "cron"):
        create_function(name)
    built = write_release(tmp_path / "dist")

    outcome, _ = publish(tmp_path, {"layer-name": "my-app-deps", "function-name": ["api", "worker", "cron"]})

    assert len(layer_versions()) == 1
    assert [result.name for result in outcome.functions] == ["api", "worker", "cron"]
    for name in ("api", "worker", "cron"):
        function = configuration(name)
        assert function["CodeSha256"] == code_sha256(built.source)
        assert [layer["Arn"] for layer in function["Layers"]] == [outcome.layer.arn]


def test_a_zip_over_50_mb_goes_through_s3_under_a_content_key_uploaded_once(aws, tmp_path):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="my-artifacts")
    create_function("my-app")
    built = write_release(tmp_path / "dist", dependencies=large_random_zip(51 * 1024 * 1024))
    with pytest.raises(PublishError, match="set `s3-bucket`"):
        publish(tmp_path, SETTINGS)
    assert layer_versions() == []
    settings = {**SETTINGS, "s3-bucket": "my-artifacts", "s3-prefix": "lambda/"}

    outcome, lines = publish(tmp_path, settings)

    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket="my-artifacts")["Contents"])
    layer_sha256 = json.loads(built.manifest.read_text())["artifacts"]["layer"]["sha256"]
    assert f"lambda/{layer_sha256}/my_app-0.1.0-lambda-layer-python3.12-x86_64.zip" in keys
    assert len(keys) == 2  # the source zip too: with a bucket set, everything goes through it
    assert outcome.layer.action == "published"
    assert configuration()["CodeSha256"] == code_sha256(built.source)
    assert sum(line.startswith("Uploaded") for line in lines) == 2
    # The layer version is gone (deleted by hand, say): publishing again needs no second upload.
    lambda_client().delete_layer_version(LayerName="my-app-deps", VersionNumber=1)

    again, lines = publish(tmp_path, settings)

    assert again.layer.action == "published"
    assert not any(line.startswith("Uploaded") for line in lines)
    assert any("already holds my_app-0.1.0-lambda-layer" in line for line in lines)


def test_alias_flow_publishes_a_version_only_when_something_changed(aws, tmp_path):
    create_function("my-app")
    write_release(tmp_path / "dist")
    settings = {**SETTINGS, "alias": "live"}

    first, _ = publish(tmp_path, settings)

    [result] = first.functions
    assert result.alias_action == "created"
    assert result.alias_arn.endswith(":function:my-app:live")
    live = configuration(qualifier="live")
    assert live["Version"] == result.version
    assert [layer["Arn"] for layer in live["Layers"]] == [first.layer.arn]

    unchanged, _ = publish(tmp_path, settings)
    assert unchanged.functions[0].alias_action == "unchanged"
    assert unchanged.functions[0].version == result.version
    versions = lambda_client().list_versions_by_function(FunctionName="my-app")["Versions"]
    assert [item["Version"] for item in versions] == ["$LATEST", result.version]

    built = write_release(tmp_path / "dist", code="VERSION = 2\n")
    changed, _ = publish(tmp_path, settings)
    assert changed.functions[0].alias_action == "updated"
    assert changed.functions[0].version != result.version
    assert configuration(qualifier="live")["CodeSha256"] == code_sha256(built.source)


def test_dry_run_reads_but_changes_nothing(aws, tmp_path):
    create_function("my-app")
    before = configuration()
    write_release(tmp_path / "dist")

    outcome, lines = publish(tmp_path, {**SETTINGS, "alias": "live", "dry-run": True})

    assert outcome.dry_run
    assert outcome.layer.action == "would publish"
    assert outcome.functions[0].code == "would update"
    assert outcome.functions[0].layers == ["<new version of my-app-deps>"]
    assert outcome.functions[0].alias_action == "would create"
    assert layer_versions() == []
    assert configuration()["CodeSha256"] == before["CodeSha256"]
    assert all(line.startswith(("Would", "Code of", "Publishing")) for line in lines), lines


def test_a_function_of_another_runtime_or_architecture_is_refused_before_any_upload(aws, tmp_path):
    create_function("my-app", runtime="python3.11")
    create_function("my-arm-app", architecture="arm64")
    write_release(tmp_path / "dist")

    with pytest.raises(PublishError) as refused:
        publish(tmp_path, {"layer-name": "my-app-deps", "function-name": ["my-app", "my-arm-app"]})

    assert "my-app runs python3.11; the build is for python3.12" in str(refused.value)
    assert "my-arm-app runs on arm64; the build is for x86_64" in str(refused.value)
    assert layer_versions() == []


def test_a_missing_function_is_refused_with_advice(aws, tmp_path):
    write_release(tmp_path / "dist")

    with pytest.raises(PublishError, match=r"There is no function my-app .* create it first"):
        publish(tmp_path, SETTINGS)


def test_cli_publishes_with_the_projects_settings_and_prints_json(aws, tmp_path, capsys):
    create_function("my-app")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "my-app"\nversion = "0.1.0"\n\n'
        '[tool.hatch.publish.lambda]\nlayer-name = "my-app-deps"\nfunction-name = "my-app"\n',
        encoding="utf-8",
    )
    write_release(tmp_path / "dist")

    code = cli.main(["publish", "--project", str(tmp_path), "--alias", "live", "--json"])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["dry_run"] is False
    assert result["layer"]["action"] == "published"
    assert result["functions"][0]["alias_arn"].endswith(":function:my-app:live")
    assert "AWS_SECRET_ACCESS_KEY" not in captured.err and "testing" not in captured.err


def test_cli_reports_a_refusal_with_exit_code_2(aws, tmp_path, capsys):
    write_release(tmp_path / "dist")

    code = cli.main(["publish", "--project", str(tmp_path), "--function-name", "absent"])

    assert code == 2
    assert "hatch-lambda publish:" in capsys.readouterr().err


def test_after_a_failed_build_publish_deploys_what_the_good_build_wrote(aws, tmp_path, offline_environment):
    """A real build, a failing one after it, then publish: the good release goes out, whole."""
    from tests.helpers import output_of, run_hatchling, write_project  # noqa: PLC0415

    root = write_project(
        tmp_path / "my-app",
        {
            "pyproject.toml": """
                [project]
                name = "my-app"
                version = "0.1.0"
                requires-python = ">=3.12"
                dependencies = ["hlfix-pure"]

                [tool.hatch.build.targets.wheel]
                packages = ["my_app"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                handler = "my_app.app.handler"
            """,
            "my_app/__init__.py": "",
            "my_app/app.py": "import hlfix_pure\n\ndef handler(event, context):\n    return 1\n",
        },
    )
    good = run_hatchling(root, "lambda", environment=offline_environment)
    assert good.returncode == 0, output_of(good)
    good_source = (root / "dist" / "my_app-0.1.0-lambda-source.zip").read_bytes()
    (root / "my_app" / "app.py").write_text(
        "import hlfix_gone\n\ndef handler(event, context):\n    return 2\n"
    )
    assert run_hatchling(root, "lambda", environment=offline_environment).returncode != 0
    create_function("my-app")  # its Handler is `app.handler`, not the target's

    outcome, lines = publish(root, SETTINGS)

    assert configuration()["CodeSha256"] == code_sha256(good_source)
    [version] = layer_versions()
    assert [layer["Arn"] for layer in configuration()["Layers"]] == [version["LayerVersionArn"]]
    assert outcome.functions[0].code == "updated"
    assert any(
        "Function my-app has Handler `app.handler`, but the target's `handler` is `my_app.app.handler`"
        in line
        for line in lines
    )


def test_publish_all_sends_the_shared_layer_once_and_each_members_code(aws, tmp_path, offline_environment):
    """`hatch-lambda build --all` then `hatch-lambda publish --all` at a workspace root."""
    import sys  # noqa: PLC0415

    from tests.helpers import output_of, run_in  # noqa: PLC0415
    from tests.test_workspaces import workspace  # noqa: PLC0415

    root = workspace(tmp_path / "acme")
    for name in ("orders", "invoices"):
        pyproject = root / "functions" / name / "pyproject.toml"
        pyproject.write_text(
            pyproject.read_text()
            + f'\n[tool.hatch.publish.lambda]\nlayer-name = "acme-deps"\nfunction-name = "{name}"\n'
        )
        create_function(name)
    built = run_in(
        root,
        [sys.executable, "-m", "hatch_lambda.cli", "build", "--all", "--no-isolation"],
        offline_environment,
    )
    assert built.returncode == 0, output_of(built)

    assert cli.main(["publish", "--all", "--project", str(root)]) == 0

    [version] = layer_versions("acme-deps")
    for name in ("orders", "invoices"):
        function = configuration(name)
        source = (root / "dist" / f"{name}-0.1.0-lambda-source.zip").read_bytes()
        assert function["CodeSha256"] == code_sha256(source)
        assert [layer["Arn"] for layer in function["Layers"]] == [version["LayerVersionArn"]]
