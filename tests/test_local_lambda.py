"""What `invoke_handler` returns, compared with what Lambda's runtime interface client does.

The expectations follow awslambdaric 4.2.2 (`lambda_runtime_marshaller.py`, `bootstrap.py`): the
encoder, the error payloads, and Lambda's service-side timeout message. The zips are written here
by hand (a module in a source zip, files in a layer zip), so each test is about one behaviour.
"""

from __future__ import annotations

import json
import platform
import stat
import zipfile
from pathlib import Path

import pytest

from hatch_lambda.platform.runtimes import Runtime, runtime_named
from hatch_lambda.runtime.environment import PLACEHOLDER_CREDENTIALS
from hatch_lambda.runtime.local_lambda import Invocation, LocalFunction, can_run_here, invoke_handler
from tests.helpers import find_cpython

HANDLERS = """\
import decimal
import os
import shutil
import subprocess
import time
from collections import namedtuple

Total = namedtuple("Total", ["amount", "currency"])


def amounts(event, context):
    return {"price": decimal.Decimal("1.10"), "count": decimal.Decimal("3"), "nan": decimal.Decimal("NaN")}


def accented(event, context):
    return {"note": "reçu €"}


def raw_bytes(event, context):
    return b"\\x00\\xffraw"


def a_bytearray(event, context):
    return bytearray(b"raw")


def a_namedtuple(event, context):
    return Total(decimal.Decimal("9.90"), "EUR")


def slow(event, context):
    time.sleep(30)


def leaves(event, context):
    raise SystemExit(3)


def environment(event, context):
    return {name: os.environ.get(name) for name in event["names"]}


def tool(event, context):
    found = shutil.which("layer-tool")
    mode = os.stat(found).st_mode
    output = subprocess.run([found], capture_output=True, text=True, check=True).stdout
    return {"found": found, "executable": bool(mode & 0o111), "output": output}
"""


def _zip(path: Path, files: dict[str, tuple[str, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, (text, mode) in files.items():
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, text)
    return path


@pytest.fixture
def zips(tmp_path: Path) -> tuple[Path, Path]:
    source = _zip(
        tmp_path / "source.zip", {"shop/__init__.py": ("", 0o644), "shop/handlers.py": (HANDLERS, 0o644)}
    )
    layer = _zip(tmp_path / "layer.zip", {"bin/layer-tool": ("#!/bin/sh\necho from the layer\n", 0o755)})
    return source, layer


def _python_for(runtime_name: str) -> tuple[Runtime, str]:
    runtime = runtime_named(runtime_name)
    assert runtime is not None
    if platform.machine() != "x86_64":
        pytest.skip("these tests run x86_64 targets here")
    python = find_cpython(runtime.python_version_text)
    if python is None or can_run_here(runtime, "x86_64") is not None:
        pytest.skip(f"this machine cannot run {runtime_name} x86_64")
    return runtime, python


def invoke(
    zips: tuple[Path, Path], function: str, event: object = None, runtime_name: str = "python3.12", **options
) -> Invocation:
    runtime, python = _python_for(runtime_name)
    local = LocalFunction(f"shop.handlers.{function}", runtime, *zips, **options)
    return invoke_handler(local, json.dumps(event or {}), python=python)


@pytest.fixture(autouse=True)
def _offline(offline_runtime_sdk: None) -> None:
    """The runtime SDK each invoke puts on the path is the wheelhouse's fake boto3."""


def test_a_decimal_is_encoded_as_its_exact_text(zips):
    invocation = invoke(zips, "amounts")

    assert invocation.response == b'{"price": 1.10, "count": 3, "nan": NaN}'


@pytest.mark.parametrize(
    ("runtime_name", "expected"), [("python3.11", "re\\u00e7u \\u20ac"), ("python3.12", "reçu €")]
)
def test_non_ascii_text_is_escaped_only_before_python312(zips, runtime_name, expected):
    invocation = invoke(zips, "accented", runtime_name=runtime_name)

    assert invocation.response == f'{{"note": "{expected}"}}'.encode()


def test_bytes_pass_through_but_a_bytearray_cannot_be_marshalled(zips):
    raw = invoke(zips, "raw_bytes")
    refused = invoke(zips, "a_bytearray")

    assert raw.response == b"\x00\xffraw"
    assert refused.error is not None
    assert refused.error["errorType"] == "Runtime.MarshalError"
    assert refused.error["errorMessage"] == (
        "Unable to marshal response: Object of type bytearray is not JSON serializable"
    )


def test_a_namedtuple_is_encoded_as_an_object_like_simplejson_does(zips):
    invocation = invoke(zips, "a_namedtuple")

    assert invocation.response == b'{"amount": 9.90, "currency": "EUR"}'


def test_an_init_error_has_an_empty_request_id(zips):
    invocation = invoke(zips, "missing")

    assert invocation.error == {
        "errorMessage": "Handler 'missing' missing on module 'shop.handlers'",
        "errorType": "Runtime.HandlerNotFound",
        "requestId": "",
        "stackTrace": [],
    }


def test_a_timeout_names_the_request_like_lambda(zips):
    invocation = invoke(zips, "slow", timeout_seconds=1.0)

    assert invocation.error == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {invocation.request_id} Error: Task timed out after 1.00 seconds",
    }


def test_a_handler_that_exits_is_a_runtime_exit_error(zips):
    invocation = invoke(zips, "leaves")

    assert invocation.error == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {invocation.request_id} Error: Runtime exited with error: exit status 3",
    }


def test_lambdas_variables_and_placeholder_credentials_are_set(zips):
    names = [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "_X_AMZN_TRACE_ID",
        "TZ",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "TABLE_NAME",
    ]
    invocation = invoke(zips, "environment", {"names": names}, environment={"TABLE_NAME": "orders"})

    seen = json.loads(invocation.response or b"")
    assert seen["AWS_REGION"] == seen["AWS_DEFAULT_REGION"] == "us-east-1"
    assert seen["AWS_LAMBDA_FUNCTION_NAME"] == "local-function"
    assert seen["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert seen["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert seen["TZ"] == ":UTC"
    assert {name: seen[name] for name in PLACEHOLDER_CREDENTIALS} == PLACEHOLDER_CREDENTIALS
    assert seen["TABLE_NAME"] == "orders"


def test_given_credentials_replace_the_placeholders(zips):
    credentials = {"AWS_ACCESS_KEY_ID": "AKIAMINE", "AWS_SECRET_ACCESS_KEY": "mine"}
    names = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"]

    invocation = invoke(zips, "environment", {"names": names}, credentials=credentials, region="eu-west-1")

    seen = json.loads(invocation.response or b"")
    assert seen == {**credentials, "AWS_SESSION_TOKEN": None, "AWS_REGION": "eu-west-1"}


def test_a_layer_tool_keeps_its_mode_and_is_on_path_like_opt_bin(zips):
    invocation = invoke(zips, "tool")

    result = json.loads(invocation.response or b"")
    assert result["found"].endswith("/opt/bin/layer-tool")
    assert result["executable"] is True
    assert result["output"] == "from the layer\n"
