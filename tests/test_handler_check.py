"""The handler check: import the handler from the real zips, laid out like Lambda, with CPython 3.12.

Each test builds a small project with the real `hatchling build -t lambda` against the generated
wheelhouse (its layer holds `hlfix_pure`), then calls `check_handler` on the zips it wrote.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path

import pytest

from hatch_lambda.errors import BadHandlerError, HandlerCheckError
from hatch_lambda.platform.runtimes import Runtime, runtime_named
from hatch_lambda.runtime.local_lambda import LocalFunction, can_run_here, check_handler, check_handlers
from tests.helpers import output_of, require_cpython, run_hatchling, write_project
from tests.wheelfactory import FAKE_BOTO3_VERSION

PYTHON312 = runtime_named("python3.12")
GOOD_HANDLER = """\
import hlfix_pure


def lambda_handler(event, context):
    return {"said": hlfix_pure.shout(event["text"])}
"""


@pytest.fixture(autouse=True)
def _offline(offline_runtime_sdk: None) -> None:
    """Every check here installs the wheelhouse's fake boto3 as Lambda's runtime SDK."""


@pytest.fixture(scope="module")
def python312() -> str:
    python = require_cpython("3.12")
    if platform.machine() != "x86_64":
        pytest.skip("these tests build x86_64 zips and run them here")
    assert PYTHON312 is not None
    reason = can_run_here(PYTHON312, "x86_64")
    if reason is not None:  # not Linux, or a glibc older than Amazon Linux 2023's
        pytest.skip(reason)
    return python


def build(
    root: Path,
    environment: dict[str, str],
    modules: dict[str, str],
    lambda_table: str = "",
    runtime: str = "python3.12",
    dependencies: str = '"hlfix-pure"',
) -> tuple[Path, Path]:
    """Build `checked_app` (its `modules` inside the package) for `runtime`; its source and layer zips."""
    files = {f"checked_app/{name}.py": source for name, source in modules.items()}
    write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "checked-app"
                version = "1.0"
                dependencies = [{dependencies}]

                [tool.hatch.build.targets.wheel]
                packages = ["checked_app"]

                [tool.hatch.build.targets.lambda]
                runtime = "{runtime}"
                {lambda_table}
            """,
            "checked_app/__init__.py": "",
            **files,
        },
    )
    completed = run_hatchling(root, "lambda", environment=environment)
    assert completed.returncode == 0, output_of(completed)
    manifest = json.loads((root / "dist" / "checked_app-1.0-lambda.json").read_text())
    artifacts = manifest["artifacts"]
    return root / "dist" / artifacts["source"]["file"], root / "dist" / artifacts["layer"]["file"]


def function(handler: str, zips: tuple[Path, Path], runtime: Runtime | None = PYTHON312) -> LocalFunction:
    assert runtime is not None
    return LocalFunction(handler, runtime, *zips)


def check_fails(
    handler: str, zips: tuple[Path, Path], python: str, runtime: Runtime | None = PYTHON312
) -> HandlerCheckError:
    with pytest.raises(HandlerCheckError) as raised:
        check_handler(function(handler, zips, runtime), python=python)
    error = raised.value
    assert error.handler == handler
    assert f"The handler `{handler}` would fail on Lambda" in str(error)
    assert error.traceback_text.strip() in str(error)
    return error


def test_a_good_handler_imports_from_the_zips_and_takes_event_and_context(
    tmp_path, offline_environment, python312
):
    zips = build(tmp_path / "app", offline_environment, {"lambda_function": GOOD_HANDLER})

    checked = check_handler(function("checked_app.lambda_function.lambda_handler", zips), python=python312)

    assert checked.handler == "checked_app.lambda_function.lambda_handler"
    assert checked.python == python312
    assert checked.runtime_provided == ()


def test_the_layer_versioned_site_packages_layout_is_on_the_path(tmp_path, offline_environment, python312):
    zips = build(
        tmp_path / "app", offline_environment, {"lambda_function": GOOD_HANDLER}, 'layout = "site-packages"'
    )

    check_handler(function("checked_app.lambda_function.lambda_handler", zips), python=python312)


@pytest.mark.parametrize("runtime_name", [f"python3.{minor}" for minor in range(9, 15)])
def test_the_check_runs_with_each_runtimes_python_found_here(
    tmp_path, offline_environment, python312, runtime_name
):
    runtime = runtime_named(runtime_name)
    assert runtime is not None
    python = require_cpython(runtime.python_version_text)
    writes = "open(__file__ + '.bak', 'w')\n"
    modules = {"lambda_function": GOOD_HANDLER, "writes": writes}
    zips = build(tmp_path / "app", offline_environment, modules, runtime=runtime_name)

    check_handler(function("checked_app.lambda_function.lambda_handler", zips, runtime), python=python)
    missing = check_fails("checked_app.lambda_function.handler", zips, python, runtime)
    read_only = check_fails("checked_app.writes.handler", zips, python, runtime)

    assert "Runtime.HandlerNotFound" in missing.summary
    assert "[Errno 30] Read-only file system: '/var/task/checked_app/writes.py.bak'" in read_only.summary


def test_the_runtime_python_is_found_when_none_is_given(tmp_path, offline_environment, python312):
    zips = build(tmp_path / "app", offline_environment, {"lambda_function": GOOD_HANDLER})

    checked = check_handler(function("checked_app.lambda_function.lambda_handler", zips))

    assert Path(checked.python).name.startswith("python")


def test_a_missing_module_fails_naming_what_the_source_zip_holds(tmp_path, offline_environment, python312):
    zips = build(tmp_path / "app", offline_environment, {"lambda_function": GOOD_HANDLER})

    error = check_fails("checked_app.handler.lambda_handler", zips, python312)

    assert "Runtime.ImportModuleError: Unable to import module 'checked_app.handler'" in str(error)
    assert "ModuleNotFoundError: No module named 'checked_app.handler'" in error.traceback_text
    assert "The source zip has no module `checked_app.handler` (at its root: `checked_app`)" in str(error)


def test_a_missing_function_fails(tmp_path, offline_environment, python312):
    zips = build(tmp_path / "app", offline_environment, {"lambda_function": GOOD_HANDLER})

    error = check_fails("checked_app.lambda_function.handler", zips, python312)

    assert "Runtime.HandlerNotFound: Handler 'handler' missing on module 'checked_app.lambda_function'" in (
        str(error)
    )
    assert "AttributeError: module 'checked_app.lambda_function' has no attribute 'handler'" in (
        error.traceback_text
    )


def test_a_handler_that_is_not_callable_fails(tmp_path, offline_environment, python312):
    zips = build(tmp_path / "app", offline_environment, {"settings": "handler = {'table': 'orders'}\n"})

    error = check_fails("checked_app.settings.handler", zips, python312)

    assert "TypeError: 'dict' object is not callable" in error.traceback_text
    assert "Lambda calls `handler(event, context)`: `handler` must be a function" in str(error)


def test_a_handler_without_a_context_parameter_fails_showing_its_definition(
    tmp_path, offline_environment, python312
):
    zips = build(
        tmp_path / "app", offline_environment, {"one_arg": "\n\ndef handler(event):\n    return 1\n"}
    )

    error = check_fails("checked_app.one_arg.handler", zips, python312)

    assert 'File "/var/task/checked_app/one_arg.py", line 3' in error.traceback_text
    assert "def handler(event):" in error.traceback_text
    assert "handler(event) cannot be called with (event, context): too many positional arguments" in (
        error.traceback_text
    )
    assert "`def handler(event, context):`" in str(error)


def test_an_async_handler_fails(tmp_path, offline_environment, python312):
    zips = build(
        tmp_path / "app", offline_environment, {"aio": "async def handler(event, context):\n    pass\n"}
    )

    error = check_fails("checked_app.aio.handler", zips, python312)

    assert "coroutine" in error.summary
    assert "asyncio.run" in error.advice


def test_an_exception_at_import_fails_with_its_traceback(tmp_path, offline_environment, python312):
    module = "import json\n\nCONFIG = json.loads('{not json')\n\n\ndef handler(event, context):\n    pass\n"
    zips = build(tmp_path / "app", offline_environment, {"configured": module})

    error = check_fails("checked_app.configured.handler", zips, python312)

    assert error.traceback_text.startswith("Traceback (most recent call last):")
    assert 'File "/var/task/checked_app/configured.py", line 3, in <module>' in error.traceback_text
    assert "json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes" in (
        error.traceback_text
    )
    assert "every cold start on Lambda would fail the same way" in str(error)


def test_a_syntax_error_fails(tmp_path, offline_environment, python312):
    zips = build(tmp_path / "app", offline_environment, {"broken": "def handler(event, context)\n    pass\n"})

    error = check_fails("checked_app.broken.handler", zips, python312)

    assert "Runtime.UserCodeSyntaxError: Syntax error in module 'checked_app.broken'" in str(error)
    assert "SyntaxError" in error.traceback_text


def test_a_dependency_missing_from_the_layer_fails(tmp_path, offline_environment, python312):
    # hlfix-extra is in the wheelhouse but not among the project's dependencies.
    module = "import hlfix_pure\nimport hlfix_extra\n\n\ndef handler(event, context):\n    pass\n"
    zips = build(tmp_path / "app", offline_environment, {"needs_extra": module})

    error = check_fails("checked_app.needs_extra.handler", zips, python312)

    assert 'File "/var/task/checked_app/needs_extra.py", line 2, in <module>' in error.traceback_text
    assert "ModuleNotFoundError: No module named 'hlfix_extra'" in error.traceback_text
    assert "`hlfix_extra` is imported but is in neither the source zip, nor the layer, nor Lambda's" in (
        str(error)
    )


def test_the_host_site_packages_are_not_on_the_path(tmp_path, offline_environment, python312):
    # pyenv's CPython has pip in its own site-packages; Lambda's path has no such directory.
    zips = build(
        tmp_path / "app", offline_environment, {"uses_pip": "import pip\n\n\ndef handler(e, c):\n    pass\n"}
    )

    error = check_fails("checked_app.uses_pip.handler", zips, python312)

    assert "No module named 'pip'" in error.traceback_text


def test_the_task_directory_is_read_only_like_lambda(tmp_path, offline_environment, python312):
    writes_beside = (
        "from pathlib import Path\n\nPath(__file__).with_name('cache.json').write_text('{}')\n\n\n"
        "def handler(event, context):\n    pass\n"
    )
    marker = f"checked-app-cache-{os.getpid()}"
    writes_tmp = (
        f"import os, tempfile\n\nCACHE = os.path.join(tempfile.gettempdir(), {marker!r})\n"
        "with open(CACHE, 'w') as stream:\n    stream.write('{}')\n\n\n"
        "def handler(event, context):\n    pass\n"
    )
    zips = build(
        tmp_path / "app", offline_environment, {"writes_beside": writes_beside, "writes_tmp": writes_tmp}
    )

    error = check_fails("checked_app.writes_beside.handler", zips, python312)
    check_handler(function("checked_app.writes_tmp.handler", zips), python=python312)

    assert "OSError: [Errno 30] Read-only file system: '/var/task/checked_app/cache.json'" in (
        error.traceback_text
    )
    assert "only /tmp is writable" in str(error)
    # The function's own /tmp, removed with it: nothing is left in this machine's.
    assert not (Path(tempfile.gettempdir()) / marker).exists()


def test_the_sdk_bundled_with_the_runtime_may_be_imported_without_shipping_it(
    tmp_path, offline_environment, python312
):
    module = (
        "import boto3\nfrom botocore.exceptions import ClientError\n\nDYNAMODB = boto3.client('dynamodb')"
        "\n\n\nclass OrderMissing(ClientError):\n    pass\n\n\n"
        "def handler(event, context):\n    pass\n"
    )
    zips = build(tmp_path / "app", offline_environment, {"uses_sdk": module})

    checked = check_handler(function("checked_app.uses_sdk.handler", zips), python=python312)

    assert checked.runtime_provided == ("boto3", "botocore")
    assert checked.runtime_sdk_versions["boto3"] == FAKE_BOTO3_VERSION
    assert (
        "imported from Lambda's runtime SDK (boto3 0.0.1), not from the zips: boto3, botocore"
        in (checked.report_lines()[1])
    )


def test_the_sdk_in_the_layer_wins_over_the_runtimes(tmp_path, offline_environment, python312):
    # Not excluded, boto3 ships in the layer: Lambda imports it from /opt/python, not its own.
    module = "import boto3\n\nSQS = boto3.client('sqs')\n\n\ndef handler(event, context):\n    pass\n"
    zips = build(
        tmp_path / "app", offline_environment, {"uses_sdk": module}, dependencies='"hlfix-pure", "boto3"'
    )

    checked = check_handler(function("checked_app.uses_sdk.handler", zips), python=python312)

    assert checked.runtime_provided == ()
    assert len(checked.report_lines()) == 1


def test_a_module_neither_the_zips_nor_the_runtime_provide_fails_by_name(
    tmp_path, offline_environment, python312
):
    # requests is not in Lambda's runtime (botocore vendors nothing importable as `requests`).
    module = "import boto3\nimport requests\n\n\ndef handler(event, context):\n    pass\n"
    zips = build(tmp_path / "app", offline_environment, {"uses_requests": module})

    error = check_fails("checked_app.uses_requests.handler", zips, python312)

    assert "ModuleNotFoundError: No module named 'requests'" in error.traceback_text
    assert "`requests` is imported but is in neither the source zip, nor the layer, nor Lambda's runtime" in (
        str(error)
    )


CONFIGURED = """\
import os

import boto3

TABLE_NAME = os.environ["TABLE_NAME"]
STAGE = os.environ["STAGE"]
DYNAMODB = boto3.client("dynamodb")


def handler(event, context):
    return {"table": TABLE_NAME}
"""


def test_code_run_at_import_sees_the_functions_environment(tmp_path, offline_environment, python312):
    zips = build(tmp_path / "app", offline_environment, {"configured": CONFIGURED})
    configured = LocalFunction(
        "checked_app.configured.handler",
        PYTHON312,
        *zips,
        environment={"TABLE_NAME": "orders", "STAGE": "prod"},
    )

    check_handler(configured, python=python312)
    error = check_fails("checked_app.configured.handler", zips, python312)

    assert "KeyError: 'TABLE_NAME'" in error.traceback_text
    assert "`tool.hatch.build.targets.lambda.environment`" in error.advice


def test_several_handlers_are_each_checked_in_a_fresh_interpreter(tmp_path, offline_environment, python312):
    # `first` leaves a mark in the process that `second` must not see: each is its own function.
    first = "import builtins\n\nbuiltins.FIRST_WAS_HERE = True\n\n\ndef handler(event, context):\n    pass\n"
    second = (
        "import builtins\n\nassert not hasattr(builtins, 'FIRST_WAS_HERE')\n\n\n"
        "def handler(event, context):\n    pass\n"
    )
    zips = build(tmp_path / "app", offline_environment, {"first": first, "second": second})
    handlers = ["checked_app.first.handler", "checked_app.second.handler"]

    checks = check_handlers(function(handlers[0], zips), handlers, python=python312)

    assert [check.handler for check in checks] == handlers
    assert [check.report_lines()[0].split(":")[0] for check in checks] == [
        f"Checked handler {handler}" for handler in handlers
    ]
    with pytest.raises(HandlerCheckError) as raised:
        check_handlers(
            function(handlers[0], zips), [*handlers, "checked_app.first.missing"], python=python312
        )
    assert raised.value.handler == "checked_app.first.missing"


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        ("lambda_handler", "it needs a module and a function, joined by a dot"),
        ("checked_app.", "it needs a module and a function, joined by a dot"),
        ("checked_app..handler", "an empty part between dots"),
        ("checked_app.lambda_function lambda_handler", "without spaces"),
        ("", "without spaces"),
    ],
)
def test_a_malformed_handler_is_refused_naming_the_setting(tmp_path, handler, reason):
    with pytest.raises(BadHandlerError) as raised:
        check_handler(function(handler, (tmp_path / "source.zip", tmp_path / "layer.zip")), python="python3")

    assert "`tool.hatch.build.targets.lambda.handler`" in str(raised.value)
    assert reason in str(raised.value)
    assert str(raised.value).startswith(f"Bad handler {handler!r}")


# When the host cannot run the target ----------------------------------------------------------


def test_this_x86_64_host_runs_python312_x86_64(python312):
    assert PYTHON312 is not None
    assert can_run_here(PYTHON312, "x86_64") is None


def test_an_arm64_target_is_not_run_on_this_x86_64_host(
    tmp_path, offline_environment, python312, monkeypatch
):
    monkeypatch.delenv("HATCH_LAMBDA_PYTHON_3_12_ARM64", raising=False)
    build(tmp_path / "app", offline_environment, {"lambda_function": GOOD_HANDLER}, 'architecture = "arm64"')
    manifest = json.loads((tmp_path / "app" / "dist" / "checked_app-1.0-lambda.json").read_text())
    runtime = runtime_named(manifest["runtime"])
    assert runtime is not None

    reason = can_run_here(runtime, manifest["architecture"])

    assert reason is not None
    assert reason.startswith("this machine is x86_64 and the target is arm64 (aarch64); set ")
    assert "`HATCH_LAMBDA_PYTHON_3_12_ARM64`" in reason


def test_a_runtime_without_an_interpreter_here_is_not_run(tmp_path, monkeypatch, python312):
    empty = tmp_path / "empty"
    empty.mkdir()
    # Nothing where the interpreter search looks: pyenv, uv's managed Pythons, PATH, the variable.
    monkeypatch.setenv("PYENV_ROOT", str(empty))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(empty))
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("HATCH_LAMBDA_PYTHON_3_14", raising=False)
    python314 = runtime_named("python3.14")
    assert isinstance(python314, Runtime)

    reason = can_run_here(python314, "x86_64")

    assert reason is not None
    assert reason.startswith("no CPython 3.14 was found on this machine")
    assert "`HATCH_LAMBDA_PYTHON_3_14`" in reason


def test_the_build_checks_the_handler_and_fails_with_the_traceback(tmp_path, offline_environment):
    if can_run_here(runtime_named("python3.12"), "x86_64") is not None:
        pytest.skip("this host cannot run python3.12 x86_64")
    root = write_project(
        tmp_path / "checked",
        {
            "pyproject.toml": """
                [project]
                name = "checked-app"
                version = "1.0"
                dependencies = ["hlfix-pure"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                handler = "checked_app.lambda_function.lambda_handler"
            """,
            "checked_app/__init__.py": "",
            "checked_app/lambda_function.py": (
                "import hlfix_pure\n\n\ndef lambda_handler(event, context):\n"
                "    return hlfix_pure.shout('x')\n"
            ),
        },
    )

    good = run_hatchling(root, "lambda", environment=offline_environment)
    assert good.returncode == 0, output_of(good)
    assert output_of(good).count("Checked handler checked_app.lambda_function.lambda_handler") == 1

    (root / "checked_app" / "lambda_function.py").write_text("import hlfix_missing\n")
    broken = run_hatchling(root, "lambda:source", environment=offline_environment)

    assert broken.returncode != 0
    assert "hlfix_missing" in output_of(broken)
    assert "Traceback" in output_of(broken) or "No module named" in output_of(broken)
