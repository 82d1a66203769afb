"""`hatch build -t lambda` then `hatch publish -p lambda`, for real, against the moto server; and the
promise that a build never imports boto3."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hatch_lambda.errors import PublishError
from hatch_lambda.publish import executor as publisher
from tests.helpers import output_of, run_hatchling, run_in, write_project
from tests.publish_support import create_function, lambda_client

PROJECT = {
    "pyproject.toml": """
        [project]
        name = "pub-app"
        version = "1.0"
        requires-python = ">=3.9"
        dependencies = ["hlfix-pure"]

        [tool.hatch.build.targets.lambda]
        runtime = "python3.12"

        [tool.hatch.publish.lambda]
        layer-name = "pub-app-deps"
        function-name = "pub-app"
    """,
    "pub_app/__init__.py": "",
    "pub_app/lambda_function.py": "def lambda_handler(event, context):\n    return event\n",
}


@pytest.mark.e2e
@pytest.mark.moto
def test_hatch_publish_dash_p_lambda_publishes_what_hatch_build_wrote(
    aws, tmp_path, offline_environment, hatch_environment
):
    project = write_project(tmp_path / "pub-app", PROJECT)
    built = run_hatchling(project, "lambda", environment=offline_environment)
    assert built.returncode == 0, output_of(built)
    manifest = json.loads((project / "dist" / "pub_app-1.0-lambda.json").read_text())
    create_function("pub-app")
    # hatch runs from this interpreter, where hatch-lambda[publish] is installed: that is Hatch's own
    # environment here, as `uv tool install hatch --with 'hatch-lambda[publish]'` makes it for users.
    environment = {**hatch_environment, **aws}
    command = [
        sys.executable,
        "-m",
        "hatch",
        "publish",
        "-p",
        "lambda",
        "-o",
        "alias=live",
        "-o",
        "json=true",
    ]

    published = run_in(project, command, environment)

    assert published.returncode == 0, output_of(published)
    result = json.loads(published.stdout)
    assert result["layer"]["action"] == "published"
    assert result["functions"][0]["alias_action"] == "created"
    function = lambda_client().get_function_configuration(FunctionName="pub-app", Qualifier="live")
    assert function["CodeSha256"] == manifest["artifacts"]["source"]["code_sha256"]
    assert [layer["Arn"] for layer in function["Layers"]] == [result["layer"]["arn"]]
    assert "testing" not in output_of(published)  # the (dummy) secret key is never printed

    again = run_in(project, [sys.executable, "-m", "hatch", "publish", "-p", "lambda"], environment)

    assert again.returncode == 0, output_of(again)
    assert "layer pub-app-deps: reused" in again.stdout
    assert "function pub-app: code unchanged" in again.stdout
    assert len(lambda_client().list_layer_versions(LayerName="pub-app-deps")["LayerVersions"]) == 1


def test_a_build_never_imports_boto3(tmp_path, offline_environment):
    project = write_project(tmp_path / "pub-app", PROJECT)
    command = [sys.executable, "-X", "importtime", "-m", "hatchling", "build", "-t", "lambda"]

    completed = run_in(project, command, offline_environment)

    assert completed.returncode == 0, output_of(completed)
    imported = [line.rsplit("|", 1)[-1].strip() for line in completed.stderr.splitlines() if "|" in line]
    assert "hatch_lambda.build.builder" in imported
    assert not [name for name in imported if name.split(".")[0] in {"boto3", "botocore", "hatch"}]


def test_hatchling_accepts_the_publisher_hook_beside_the_builder_hook():
    """Both hooks live in one module: hatchling's plugin manager must not reject the one it lacks."""
    code = (
        "from hatchling.plugin.manager import PluginManager\n"
        "manager = PluginManager()\n"
        "print(manager.builder.get('lambda').__name__)\n"
        "import sys; print(any(name.startswith(('boto3', 'hatch.')) for name in sys.modules))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["LambdaBuilder", "False"]


def test_publishing_without_boto3_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(PublishError, match=r'pip install "hatch-lambda\[publish\]"'):
        publisher._clients()
