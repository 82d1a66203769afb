"""`[tool.hatch.build.targets.lambda]` validation, seen as a user sees it: through a real build."""

from __future__ import annotations

import pytest

from tests.helpers import output_of, run_hatchling, write_project


def project(root, lambda_table: str, requires_python: str = ">=3.9", extra: str = ""):
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "conf-app"
                version = "0.3"
                requires-python = "{requires_python}"
                {extra}

                [tool.hatch.build.targets.lambda]
                {lambda_table}
            """,
            "conf_app/__init__.py": "",
        },
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'architechture = "arm64"',
            "Unknown field `tool.hatch.build.targets.lambda.architechture`. "
            "Valid fields are: allow-blocked-runtime, allow-sdist, architecture,",
        ),
        (
            'runtime = "python3.8"',
            "Field `tool.hatch.build.targets.lambda.runtime` must be one of: python3.9, python3.10, "
            "python3.11, python3.12, python3.13, python3.14 (got 'python3.8')",
        ),
        (
            'architecture = "aarch64"',
            "Field `tool.hatch.build.targets.lambda.architecture` must be one of: x86_64, arm64",
        ),
        (
            'layout = "lib"',
            "Field `tool.hatch.build.targets.lambda.layout` must be one of: python, site-packages",
        ),
        ('extras = "aws"', "Field `tool.hatch.build.targets.lambda.extras` must be an array of strings"),
        (
            'extras = ["aws"]',
            "Field `tool.hatch.build.targets.lambda.extras` names `aws`, which is not a group of "
            "`project.optional-dependencies`",
        ),
        ('installer = "poetry"', "Field `tool.hatch.build.targets.lambda.installer` must be one of: uv, pip"),
        (
            'lock = "pylock.toml"',
            "Field `tool.hatch.build.targets.lambda.lock` names `pylock.toml`, "
            "which does not exist in the project",
        ),
        ("slim = 1", "Field `tool.hatch.build.targets.lambda.slim` must be a boolean"),
        (
            'path-dependencies = "sdist"',
            "Field `tool.hatch.build.targets.lambda.path-dependencies` must be one of: code, layer",
        ),
        (
            'allow-blocked-runtime = "yes"',
            "Field `tool.hatch.build.targets.lambda.allow-blocked-runtime` must be a boolean",
        ),
        (
            'compile-bytecode = "yes"',
            "Field `tool.hatch.build.targets.lambda.compile-bytecode` must be a boolean",
        ),
        (
            "compress-level = 13",
            "Field `tool.hatch.build.targets.lambda.compress-level` must be a whole number from 1 (fastest) "
            "to 12 (smallest) (got 13)",
        ),
        (
            'compress-level = "6"',
            "Field `tool.hatch.build.targets.lambda.compress-level` must be a whole number from 1 (fastest) "
            "to 12 (smallest) (got '6')",
        ),
        (
            'slim-exclude = "tests/*"',
            "Field `tool.hatch.build.targets.lambda.slim-exclude` must be an array of strings",
        ),
        (
            "exclude-packages = [1]",
            "Field `tool.hatch.build.targets.lambda.exclude-packages` must be an array of strings",
        ),
        (
            'allow-sdist = "x"',
            "Field `tool.hatch.build.targets.lambda.allow-sdist` must be an array of strings",
        ),
        (
            "other-layers-size = -5",
            "Field `tool.hatch.build.targets.lambda.other-layers-size` must be a whole number of bytes "
            "(got -5)",
        ),
        (
            'handler = "lambda_handler"',
            "Bad handler 'lambda_handler' in `tool.hatch.build.targets.lambda.handler`: "
            "it needs a module and a function, joined by a dot",
        ),
        ("handler = 3", "Field `tool.hatch.build.targets.lambda.handler` must be a string"),
        (
            'handler = ["conf_app.api.handler", 3]',
            "Field `tool.hatch.build.targets.lambda.handler` must be a string, `package.module.function`, "
            "or an array of them",
        ),
        (
            'handler = ["conf_app.api.handler", "conf_app.api.handler"]',
            "Field `tool.hatch.build.targets.lambda.handler` names conf_app.api.handler more than once",
        ),
        (
            "environment = { TABLE_NAME = 1 }",
            "Field `tool.hatch.build.targets.lambda.environment` must be a table of strings",
        ),
        (
            'environment = { AWS_REGION = "eu-west-1", TABLE_NAME = "orders" }',
            "Field `tool.hatch.build.targets.lambda.environment` sets AWS_REGION, which Lambda reserves",
        ),
        (
            'runtime-sdk = "requests==2.32.0"',
            "Field `tool.hatch.build.targets.lambda.runtime-sdk`: `requests==2.32.0` must name boto3",
        ),
        ("runtime-sdk = 1", "Field `tool.hatch.build.targets.lambda.runtime-sdk` must be a string"),
        (
            'packages = ["conf_app"]',
            "Field `tool.hatch.build.targets.lambda.packages` has no effect: the source zip holds exactly "
            "what the project's wheel holds. Set `tool.hatch.build.targets.wheel.packages` instead.",
        ),
    ],
)
def test_bad_settings_fail_the_build_naming_the_field(tmp_path, offline_environment, table, message):
    root = project(tmp_path / "app", table)

    completed = run_hatchling(root, "lambda", environment=offline_environment)

    assert completed.returncode != 0
    assert message in output_of(completed)
    assert "Traceback" not in output_of(completed)
    assert not (root / "dist").exists() or not list((root / "dist").iterdir())


def test_no_runtime_for_requires_python_says_to_set_one(tmp_path, offline_environment):
    root = project(tmp_path / "app", "", requires_python=">=3.15")

    completed = run_hatchling(root, "lambda", environment=offline_environment)

    assert completed.returncode != 0
    assert "No Lambda runtime satisfies `project.requires-python` ('>=3.15')" in output_of(completed)
    assert "`tool.hatch.build.targets.lambda.runtime`" in output_of(completed)


def test_default_runtime_follows_requires_python_and_standard_options_work(tmp_path, offline_environment):
    root = project(
        tmp_path / "app",
        'directory = "lambda-out"\nversions = ["layer"]',
        requires_python="<3.12",
        extra='dependencies = ["hlfix-pure"]',
    )

    completed = run_hatchling(root, "lambda", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    built = sorted(path.name for path in (root / "lambda-out").iterdir())
    assert built == [
        "conf_app-0.3-lambda-layer-python3.11-x86_64.zip",
        "conf_app-0.3-lambda.cdx.json",
        "conf_app-0.3-lambda.json",
    ]
    # python3.11 is not yet deprecated on the suite's fixed day.
    assert "deprecated" not in output_of(completed)


def test_unknown_version_is_refused_by_hatchling(tmp_path, offline_environment):
    root = project(tmp_path / "app", "")

    completed = run_hatchling(root, "lambda:layers", environment=offline_environment)

    assert completed.returncode != 0
    assert "Unknown versions for target `lambda`: layers" in output_of(completed)
