"""`hatch-lambda invoke`, run as users run it: the installed console script, on real built zips."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from hatch_lambda.platform.runtimes import runtime_named
from hatch_lambda.runtime.local_lambda import can_run_here
from tests.helpers import clean_environment, copy_fixture, output_of, run_hatchling, run_invoke, write_project

ORDERS = """\
import json
import os
import sys
import time
from pathlib import Path

import hlfix_pure


def shout(event, context):
    print("shouting", event["text"])
    return {"said": hlfix_pure.shout(event["text"])}


def describe(event, context):
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def where(event, context):
    return {
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "cwd": os.getcwd(),
        "sys_path": sys.path,
        "handler_variable": os.environ["_HANDLER"],
        "execution_env": os.environ["AWS_EXECUTION_ENV"],
        "table": os.environ.get("TABLE_NAME"),
        "stage": os.environ.get("STAGE"),
        "access_key": os.environ.get("AWS_ACCESS_KEY_ID"),
        "region": os.environ.get("AWS_REGION"),
    }


def reject(event, context):
    raise ValueError("order " + str(event["order"]) + " has no lines")


def save(event, context):
    Path(__file__).with_name("orders.json").write_text("[]")


def slow(event, context):
    time.sleep(30)
"""


@pytest.fixture
def built_app(tmp_path, offline_environment) -> Path:
    """`orders-app` built for python3.12 x86_64, the handlers above in `orders_app/handlers.py`."""
    python312 = runtime_named("python3.12")
    assert python312 is not None
    if platform.machine() != "x86_64":
        pytest.skip("these tests build x86_64 zips and run them here")
    reason = can_run_here(python312, "x86_64")
    if reason is not None:  # not Linux, an older glibc than Amazon Linux 2023's, or no CPython 3.12
        pytest.skip(reason)
    root = write_project(
        tmp_path / "orders-app",
        {
            "pyproject.toml": """
                [project]
                name = "orders-app"
                version = "2.0"
                dependencies = ["hlfix-pure"]

                [tool.hatch.build.targets.wheel]
                packages = ["orders_app"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
            """,
            "orders_app/__init__.py": "",
            "orders_app/handlers.py": ORDERS,
        },
    )
    completed = run_hatchling(root, "lambda", environment=offline_environment)
    assert completed.returncode == 0, output_of(completed)
    return root


Invoke = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def invoke(offline_environment) -> Invoke:
    """`hatch-lambda invoke ARGUMENTS` in a project, offline: the runtime SDK is the fake boto3."""

    def run(
        project: Path, *arguments: str, stdin: str | None = None, **variables: str
    ) -> subprocess.CompletedProcess[str]:
        return run_invoke(project, *arguments, environment={**offline_environment, **variables}, stdin=stdin)

    return run


def test_invoke_prints_the_handlers_result_for_the_event(built_app, invoke):
    (built_app / "event.json").write_text('{"text": "ship it"}')

    completed = invoke(built_app, "--handler", "orders_app.handlers.shout", "--event", "event.json")

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"said": "SHIP IT!"}
    # The handler's own output is the function's log, on standard error, like the END/REPORT lines.
    assert "shouting ship it" in completed.stderr
    assert "REPORT RequestId: " in completed.stderr


def test_the_context_carries_lambdas_attributes(built_app, invoke):
    completed = invoke(
        built_app, "--handler", "orders_app.handlers.describe", "--memory", "512", "--timeout", "10"
    )

    assert completed.returncode == 0, completed.stderr
    context = json.loads(completed.stdout)
    assert context["function_name"] == "orders-app"
    assert context["function_version"] == "$LATEST"
    # A string, as awslambdaric reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE.
    assert context["memory_limit_in_mb"] == "512"
    assert uuid.UUID(context["aws_request_id"]).version == 4
    assert context["invoked_function_arn"].startswith("arn:aws:lambda:us-east-1:")
    assert context["invoked_function_arn"].endswith(":function:orders-app")
    assert context["log_group_name"] == "/aws/lambda/orders-app"
    assert "/[$LATEST]" in context["log_stream_name"]
    assert 0 < context["remaining_ms"] <= 10_000


def test_the_function_runs_from_the_task_root_with_lambdas_path_and_variables(built_app, invoke):
    completed = invoke(built_app, "--handler", "orders_app.handlers.where", "--env", "TABLE_NAME=orders")

    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout)
    task_root = seen["task_root"]
    assert seen["cwd"] == task_root
    opt = str(Path(task_root).parent / "opt")
    assert seen["sys_path"][:3] == [
        task_root,
        f"{opt}/python/lib/python3.12/site-packages",
        f"{opt}/python",
    ]
    assert not [entry for entry in seen["sys_path"][3:] if "site-packages" in entry]
    assert seen["handler_variable"] == "orders_app.handlers.where"
    assert seen["execution_env"] == "AWS_Lambda_python3.12"
    assert seen["table"] == "orders"
    assert not Path(task_root).exists(), "the temporary layout is removed after the invoke"


def test_the_handler_comes_from_pyproject_and_the_event_from_standard_input(built_app, invoke):
    pyproject = built_app / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'handler = "orders_app.handlers.shout"\n', encoding="utf-8")

    completed = invoke(built_app, "--event", "-", stdin='{"text": "from stdin"}')

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"said": "FROM STDIN!"}


def test_a_handler_exception_exits_1_with_lambdas_error_json(built_app, invoke):
    (built_app / "event.json").write_text('{"order": 42}')

    completed = invoke(built_app, "--handler", "orders_app.handlers.reject", "--event", "event.json")

    assert completed.returncode == 1
    error = json.loads(completed.stdout)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "order 42 has no lines"
    assert uuid.UUID(error["requestId"])
    raising = '    raise ValueError("order " + str(event["order"]) + " has no lines")'
    line = ORDERS.splitlines().index(raising) + 1
    assert error["stackTrace"] == [
        f'  File "/var/task/orders_app/handlers.py", line {line}, in reject\n{raising}\n'
    ]
    assert "[ERROR] ValueError: order 42 has no lines" in completed.stderr
    assert "Traceback (most recent call last):" in completed.stderr


def test_writing_beside_the_code_fails_like_on_lambda(built_app, invoke):
    completed = invoke(built_app, "--handler", "orders_app.handlers.save")

    assert completed.returncode == 1
    error = json.loads(completed.stdout)
    assert error["errorType"] == "OSError"
    assert error["errorMessage"] == "[Errno 30] Read-only file system: '/var/task/orders_app/orders.json'"


def test_a_handler_running_past_its_timeout_is_stopped(built_app, invoke):
    completed = invoke(built_app, "--handler", "orders_app.handlers.slow", "--timeout", "1")

    assert completed.returncode == 1
    error = json.loads(completed.stdout)
    assert error["errorType"] == "Sandbox.Timedout"
    request_id = completed.stderr.split("END RequestId: ")[1].split()[0]
    assert error == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
    }


def test_without_a_build_it_says_to_build_first(tmp_path, invoke):
    project = write_project(
        tmp_path / "unbuilt", {"pyproject.toml": '[project]\nname = "unbuilt"\nversion = "1.0"\n'}
    )

    completed = invoke(project, "--handler", "unbuilt.handler.main")

    assert completed.returncode == 2
    assert completed.stdout == ""
    (line,) = completed.stderr.splitlines()
    assert "No `*-lambda.json` manifest for unbuilt in dist" in line
    assert "run `hatch build -t lambda` first" in line


def test_a_target_this_machine_cannot_run_exits_2_with_the_reason(built_app, invoke):
    (manifest,) = (built_app / "dist").glob("*-lambda.json")
    data = json.loads(manifest.read_text())
    data["architecture"] = "arm64"
    manifest.write_text(json.dumps(data))

    completed = invoke(built_app, "--handler", "orders_app.handlers.shout")

    assert completed.returncode == 2
    assert "Cannot run python3.12 arm64 on this machine: this machine is x86_64" in completed.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--handler", "shout"], "Bad handler 'shout' in `--handler`"),
        ([], "No handler to call: pass `--handler"),
        (["--handler", "orders_app.handlers.shout", "--event", "missing.json"], "Cannot read the event file"),
        (
            ["--handler", "orders_app.handlers.shout", "--event", "-"],
            "The event in standard input is not JSON",
        ),
    ],
)
def test_usage_problems_exit_2_with_one_line(built_app, invoke, arguments, message):
    completed = invoke(built_app, *arguments, stdin="{not json")

    assert completed.returncode == 2
    (line,) = completed.stderr.splitlines()
    assert message in line


# Configuration, credentials and freshness ---------------------------------------------------------


def test_the_environment_comes_from_pyproject_then_env_files_then_env(built_app, invoke):
    pyproject = built_app / "pyproject.toml"
    table = '\n[tool.hatch.build.targets.lambda.environment]\nTABLE_NAME = "from-pyproject"\nSTAGE = "dev"\n'
    pyproject.write_text(pyproject.read_text() + table, encoding="utf-8")
    (built_app / "prod.env").write_text(
        "# the production stage\nexport STAGE='prod'  \nTABLE_NAME=\"from-file\" # overridden below\n"
    )
    where = ["--handler", "orders_app.handlers.where"]

    configured = invoke(built_app, *where)
    from_file = invoke(built_app, *where, "--env-file", "prod.env")
    overridden = invoke(built_app, *where, "--env-file", "prod.env", "--env", "TABLE_NAME=from-option")

    assert (json.loads(configured.stdout)["table"], json.loads(configured.stdout)["stage"]) == (
        "from-pyproject",
        "dev",
    )
    assert (json.loads(from_file.stdout)["table"], json.loads(from_file.stdout)["stage"]) == (
        "from-file",
        "prod",
    )
    assert json.loads(overridden.stdout)["table"] == "from-option"


def test_a_malformed_env_file_exits_2_naming_the_line(built_app, invoke):
    (built_app / "bad.env").write_text("TABLE_NAME=orders\nnot an assignment\n")

    completed = invoke(built_app, "--handler", "orders_app.handlers.where", "--env-file", "bad.env")

    assert completed.returncode == 2
    (line,) = completed.stderr.splitlines()
    assert "bad.env:2: `not an assignment` is not NAME=value" in line


def test_credentials_are_placeholders_unless_the_callers_are_asked_for(built_app, invoke):
    mine = {"AWS_ACCESS_KEY_ID": "AKIACALLER", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "eu-west-1"}
    where = ["--handler", "orders_app.handlers.where"]

    placeholder = json.loads(invoke(built_app, *where, **mine).stdout)
    passed = json.loads(invoke(built_app, *where, "--aws-credentials", **mine).stdout)

    assert (placeholder["access_key"], placeholder["region"]) == ("AKIAIOSFODNN7EXAMPLE", "us-east-1")
    assert (passed["access_key"], passed["region"]) == ("AKIACALLER", "eu-west-1")


def test_a_pyproject_that_hatchling_reads_is_read(built_app, invoke):
    # `[tool.hatch.build]` split around other tables: valid TOML, which tomlkit 0.15 refuses.
    pyproject = built_app / "pyproject.toml"
    text = pyproject.read_text().replace("[tool.hatch.build.targets.lambda]\n", "")
    text = text.replace(
        "[tool.hatch.build.targets.wheel]",
        "[tool.hatch]\n[tool.hatch.build.targets.wheel]",
    )
    text += (
        '\n[tool.hatch.build]\ndirectory = "dist"\n\n[tool.ruff]\nline-length = 100\n\n'
        '[tool.hatch.build.targets.lambda]\nruntime = "python3.12"\nhandler = "orders_app.handlers.shout"\n'
    )
    pyproject.write_text(text, encoding="utf-8")

    completed = invoke(built_app, "--event", "-", stdin='{"text": "split"}')

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"said": "SPLIT!"}


def test_zips_older_than_the_sources_are_named_in_one_line(built_app, invoke):
    handlers = built_app / "orders_app" / "handlers.py"
    fresh = invoke(built_app, "--handler", "orders_app.handlers.describe")
    (source_zip,) = (built_app / "dist").glob("*-lambda-source.zip")
    later = source_zip.stat().st_mtime + 10
    os.utime(handlers, (later, later))

    stale = invoke(built_app, "--handler", "orders_app.handlers.describe")

    assert "changed after" not in fresh.stderr
    (note,) = [line for line in stale.stderr.splitlines() if "changed after" in line]
    assert note.startswith(f"note: orders_app/handlers.py changed after {source_zip.name} was built")
    assert "rebuild with `hatch build -t lambda`" in note


# A project shaped like SAM and Serverless apps ------------------------------------------------------


def _order_events(tmp_path: Path, environment: dict[str, str]) -> tuple[Path, str]:
    if can_run_here(runtime_named("python3.12"), "x86_64") is not None:
        pytest.skip("this machine cannot run python3.12 x86_64")
    project = copy_fixture("order-events", tmp_path / "order-events")
    built = run_hatchling(project, "lambda", environment=environment)
    assert built.returncode == 0, output_of(built)
    return project, output_of(built)


def test_two_handlers_that_read_their_environment_and_leave_boto3_to_lambda(
    tmp_path, offline_environment, invoke
):
    project, output = _order_events(tmp_path, offline_environment)
    (project / "event.json").write_text('{"body": "{\\"total\\": \\"12.50\\"}"}')

    unchosen = invoke(project)
    api = invoke(project, "--handler", "order_events.api.handler", "--event", "event.json")

    checked = [line for line in output.splitlines() if line.startswith("Checked handler ")]
    assert [line.split(":")[0] for line in checked] == [
        "Checked handler order_events.api.handler",
        "Checked handler order_events.worker.handler",
    ]
    assert (
        output.count("imported from Lambda's runtime SDK (boto3 0.0.1), not from the zips: boto3, botocore")
        == 2
    )
    assert unchosen.returncode == 2
    assert "lists 2 handlers: pick one with" in unchosen.stderr
    assert "--handler order_events.worker.handler" in unchosen.stderr
    assert api.returncode == 0, api.stderr
    assert (
        api.stdout
        == '{"statusCode": 201, "table": "orders", "region": "us-east-1", "total": 12.50, "note": "reçu"}\n'
    )


@pytest.mark.network
def test_the_runtimes_real_boto3_is_what_the_handlers_import(tmp_path, layer_cache):
    environment = clean_environment(HATCH_LAMBDA_CACHE_DIR=str(layer_cache))
    project, output = _order_events(tmp_path, environment)

    worker = run_invoke(
        project,
        *("--handler", "order_events.worker.handler", "--event", "-"),
        environment=environment,
        stdin='{"Records": [{"body": "1"}, {"body": "2"}]}',
    )

    assert "imported from Lambda's runtime SDK (boto3 1." in output
    assert "botocore" in output
    assert worker.returncode == 0, worker.stderr
    assert json.loads(worker.stdout) == {
        "queue": "https://sqs.us-east-1.amazonaws.com/123456789012/order-events",
        "processed": 2,
        "batchItemFailures": [],
    }


def test_publish_reads_the_pyproject_hatchling_reads(tmp_path):
    """`hatch-lambda publish` reads `[tool.hatch.build]` written in two places, as the build does."""
    from hatch_lambda.publish.settings import read_project  # noqa: PLC0415

    split = """
        [project]
        name = "split-app"
        version = "1"

        [tool.hatch]
        [tool.hatch.build.targets.wheel]
        packages = ["split_app"]

        [tool.hatch.build]
        directory = "out"

        [tool.ruff]
        line-length = 100

        [tool.hatch.build.targets.lambda]
        other-layers-size = 10

        [tool.hatch.publish.lambda]
        alias = "live"
    """
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(split), encoding="utf-8")

    project = read_project(tmp_path)

    assert (project.name, project.build_directory, project.other_layers_size) == ("split-app", "out", 10)
    assert project.publish_table == {"alias": "live"}
