"""The real `hatch build`, with the plugin installed from this checkout the way users install it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import (
    copy_fixture,
    extract,
    find_cpython,
    invoke_like_lambda,
    output_of,
    run_in,
    write_project,
)

pytestmark = pytest.mark.e2e


def hatch_build(
    project: Path, environment: dict[str, str], *arguments: str
) -> subprocess.CompletedProcess[str]:
    return run_in(project, [sys.executable, "-m", "hatch", "build", *arguments], environment)


def dist_names(project: Path) -> list[str]:
    return sorted(path.name for path in (project / "dist").iterdir())


def small_project(root: Path, build_system_requires: str = '["hatchling"]', target_table: str = "") -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [build-system]
                requires = {build_system_requires}
                build-backend = "hatchling.build"

                [project]
                name = "e2e-app"
                version = "1.0"
                requires-python = ">=3.9"
                dependencies = ["hlfix-pure"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                {target_table}
            """,
            "e2e_app/__init__.py": "",
            "e2e_app/lambda_function.py": "def lambda_handler(event, context):\n    return event\n",
        },
    )


@pytest.fixture
def with_wheelhouse(hatch_environment, wheelhouse):
    """The plugin and the generated dependencies through find-links; hatchling itself from the index."""
    return {**hatch_environment, "UV_FIND_LINKS": f"{hatch_environment['UV_FIND_LINKS']},{wheelhouse}"}


@pytest.mark.network
def test_demo_project_builds_with_hatch_and_its_handler_runs_on_cpython_312(tmp_path, hatch_environment):
    python = find_cpython("3.12")
    if python is None:
        pytest.fail("these tests need a CPython 3.12 (pyenv provides one on the project's machines)")
    project = copy_fixture("my-app", tmp_path / "my-app")

    completed = hatch_build(project, hatch_environment, "-t", "lambda")

    assert completed.returncode == 0, output_of(completed)
    assert dist_names(project) == [
        "my_app-0.1.0-lambda-layer-python3.12-x86_64.zip",
        "my_app-0.1.0-lambda-source.zip",
        "my_app-0.1.0-lambda.cdx.json",
        "my_app-0.1.0-lambda.json",
    ]
    layer_zip = project / "dist" / "my_app-0.1.0-lambda-layer-python3.12-x86_64.zip"
    with zipfile.ZipFile(layer_zip) as opened:
        compiled = [name for name in opened.namelist() if name.endswith(".so")]
    assert any(
        name.startswith("python/pydantic_core/_pydantic_core.cpython-312-x86_64-linux-gnu")
        for name in compiled
    )

    task = extract(project / "dist" / "my_app-0.1.0-lambda-source.zip", tmp_path / "var" / "task")
    layer = extract(layer_zip, tmp_path / "opt")
    result = invoke_like_lambda(
        python, task, layer, "my_app.lambda_function.lambda_handler", {"name": "Ada", "excited": True}
    )

    assert result["statusCode"] == 200
    assert result["body"] == "Hello, Ada!"
    manifest = json.loads((project / "dist" / "my_app-0.1.0-lambda.json").read_text())
    packages = {
        package["name"].replace("_", "-").lower(): package
        for package in manifest["artifacts"]["layer"]["packages"]
    }
    assert result["versions"] == {
        "my-app": "0.1.0",
        "pydantic": packages["pydantic"]["version"],
        "requests": packages["requests"]["version"],
    }


def test_hatch_selects_versions_and_targets_and_cleans_only_its_own(tmp_path, with_wheelhouse):
    project = small_project(tmp_path / "app", target_table='dependencies = ["hatch-lambda"]')

    source_only = hatch_build(project, with_wheelhouse, "-t", "lambda:source")
    assert source_only.returncode == 0, output_of(source_only)
    assert dist_names(project) == [
        "e2e_app-1.0-lambda-source.zip",
        "e2e_app-1.0-lambda.cdx.json",
        "e2e_app-1.0-lambda.json",
    ]

    everything = hatch_build(project, with_wheelhouse, "-t", "sdist", "-t", "wheel", "-t", "lambda")
    assert everything.returncode == 0, output_of(everything)
    expected = [
        "e2e_app-1.0-lambda-layer-python3.12-x86_64.zip",
        "e2e_app-1.0-lambda-source.zip",
        "e2e_app-1.0-lambda.cdx.json",
        "e2e_app-1.0-lambda.json",
        "e2e_app-1.0-py3-none-any.whl",
        "e2e_app-1.0.tar.gz",
    ]
    assert dist_names(project) == expected
    wheel_before = (project / "dist" / "e2e_app-1.0-py3-none-any.whl").read_bytes()
    layer_before = (project / "dist" / expected[0]).read_bytes()

    rebuilt = hatch_build(project, with_wheelhouse, "-c", "-t", "lambda")
    assert rebuilt.returncode == 0, output_of(rebuilt)
    assert dist_names(project) == expected
    assert (project / "dist" / "e2e_app-1.0-py3-none-any.whl").read_bytes() == wheel_before
    assert (project / "dist" / expected[0]).read_bytes() == layer_before

    cleaned = hatch_build(project, with_wheelhouse, "--clean-only", "-t", "lambda")
    assert cleaned.returncode == 0, output_of(cleaned)
    assert dist_names(project) == ["e2e_app-1.0-py3-none-any.whl", "e2e_app-1.0.tar.gz"]


def test_plugin_listed_in_build_system_requires(tmp_path, with_wheelhouse):
    project = small_project(tmp_path / "app", build_system_requires='["hatchling", "hatch-lambda"]')

    completed = hatch_build(project, with_wheelhouse, "-t", "lambda")

    assert completed.returncode == 0, output_of(completed)
    assert "e2e_app-1.0-lambda-layer-python3.12-x86_64.zip" in dist_names(project)


def test_hatch_rebuilds_after_a_dependency_change_and_a_failed_build_changes_nothing(
    tmp_path, with_wheelhouse
):
    """The second day of a project's life, through `hatch build`: a dependency added, then a bad edit."""
    target = 'dependencies = ["hatch-lambda"]\nhandler = "e2e_app.lambda_function.lambda_handler"'
    project = small_project(tmp_path / "app", target_table=target)
    handler = project / "e2e_app" / "lambda_function.py"
    handler.write_text("import hlfix_pure\n\ndef lambda_handler(event, context):\n    return event\n")
    first = hatch_build(project, with_wheelhouse, "-t", "lambda")
    assert first.returncode == 0, output_of(first)

    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('["hlfix-pure"]', '["hlfix-pure", "hlfix-extra"]'))
    handler.write_text(
        "import hlfix_extra, hlfix_pure\n\ndef lambda_handler(event, context):\n    return event\n"
    )
    second = hatch_build(project, with_wheelhouse, "-t", "lambda")
    assert second.returncode == 0, output_of(second)
    assert "Checked handler e2e_app.lambda_function.lambda_handler" in output_of(second)
    before = {path.name: path.read_bytes() for path in sorted((project / "dist").iterdir())}

    handler.write_text(
        "import hlfix_not_installed\n\ndef lambda_handler(event, context):\n    return event\n"
    )
    failed = hatch_build(project, with_wheelhouse, "-t", "lambda")

    assert failed.returncode != 0, output_of(failed)
    assert "The build failed while checking the handler" in output_of(failed)
    assert {path.name: path.read_bytes() for path in sorted((project / "dist").iterdir())} == before
