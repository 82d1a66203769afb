"""Monorepos: a uv workspace with a shared library and two functions, laid out as growing teams do.

The library is first-party code: it must ship in each function's source zip (built by its own
backend, laid out like `pip install --no-deps --target`), never in the layer, and never be looked up
on an index, even when a package of the same name is on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hatch_lambda.layer.uv import find_uv
from tests.helpers import (
    clean_environment,
    copy_fixture,
    extract,
    find_cpython,
    invoke_like_lambda,
    output_of,
    run_hatchling,
    run_in,
    write_project,
)
from tests.wheelfactory import WheelSpec, write_wheel

HANDLER = """\
import acme_shared
{extra_import}

def handler(event, context):
    return {{"greeting": acme_shared.greet(event.get("name", "you"))}}
"""


def workspace(
    root: Path, *, root_sources: str = "acme-shared = { workspace = true }", orders_table: str = ""
) -> Path:
    """A virtual workspace root, `packages/acme-shared`, and `functions/orders` and `functions/invoices`."""
    write_project(
        root,
        {
            "packages/acme-shared/pyproject.toml": """
                [build-system]
                requires = ["hatchling"]
                build-backend = "hatchling.build"

                [project]
                name = "acme-shared"
                version = "1.0"
                requires-python = ">=3.12"
                dependencies = ["hlfix-extra"]
            """,
            "packages/acme-shared/acme_shared/__init__.py": (
                "def greet(name):\n    return f'Hello, {name}!'\n"
            ),
        },
    )
    # The virtual root: no project and no build system of its own.
    (root / "pyproject.toml").write_text(
        f'[tool.uv.workspace]\nmembers = ["packages/*", "functions/*"]\n\n[tool.uv.sources]\n{root_sources}\n'
    )
    for function, extra_dependency, extra_import in (
        ("orders", '"hlfix-pure"', "import hlfix_pure"),
        ("invoices", "", ""),
    ):
        dependencies = ", ".join(item for item in ('"acme-shared"', extra_dependency) if item)
        write_project(
            root / "functions" / function,
            {
                "pyproject.toml": f"""
                    [project]
                    name = "{function}"
                    version = "0.1.0"
                    requires-python = ">=3.12"
                    dependencies = [{dependencies}]

                    [tool.hatch.build.targets.wheel]
                    packages = ["{function}"]

                    [tool.hatch.build.targets.lambda]
                    runtime = "python3.12"
                    handler = "{function}.app.handler"
                    {orders_table if function == "orders" else ""}
                """,
                f"{function}/__init__.py": "",
                f"{function}/app.py": HANDLER.format(extra_import=extra_import),
            },
        )
    return root


def zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as opened:
        return opened.namelist()


def built(function_root: Path, name: str) -> tuple[Path, Path | None]:
    dist = function_root / "dist"
    layer = dist / f"{name}-0.1.0-lambda-layer-python3.12-x86_64.zip"
    return dist / f"{name}-0.1.0-lambda-source.zip", layer if layer.exists() else None


@pytest.fixture
def impostor_wheelhouse(tmp_path: Path) -> Path:
    """A package named like the workspace's library, on the "index": it must never be installed."""
    directory = tmp_path / "impostor-wheelhouse"
    directory.mkdir()
    write_wheel(
        WheelSpec("acme-shared", "99.0", files={"acme_shared/__init__.py": "raise SystemExit('impostor')\n"}),
        directory,
    )
    return directory


def test_the_shared_library_ships_as_code_in_each_function_and_never_from_an_index(
    tmp_path, offline_environment, impostor_wheelhouse
):
    root = workspace(tmp_path / "acme")
    environment = {
        **offline_environment,
        "UV_FIND_LINKS": f"{offline_environment['UV_FIND_LINKS']},{impostor_wheelhouse}",
    }
    for name in ("orders", "invoices"):
        function = root / "functions" / name
        completed = run_hatchling(function, "lambda", environment=environment)
        output = output_of(completed)

        assert completed.returncode == 0, output
        assert f"Checked handler {name}.app.handler" in output
        assert "from workspace member `acme-shared`" in output
        source, layer = built(function, name)
        assert "acme_shared/__init__.py" in zip_names(source)
        assert "acme_shared-1.0.dist-info/METADATA" in zip_names(source)
        assert layer is not None
        assert not [entry for entry in zip_names(layer) if "acme_shared" in entry]
        # The library's own third-party dependency is in the layer.
        assert "python/hlfix_extra.py" in zip_names(layer)
        assert "has no pin" not in output
        manifest = json.loads((function / "dist" / f"{name}-0.1.0-lambda.json").read_text())
        assert manifest["deployable"] is True


def test_an_edit_of_the_library_changes_the_source_zip_and_not_the_layer(tmp_path, offline_environment):
    root = workspace(tmp_path / "acme")
    orders = root / "functions" / "orders"
    assert run_hatchling(orders, "lambda", environment=offline_environment).returncode == 0
    source, layer = built(orders, "orders")
    source_before, layer_before = source.read_bytes(), layer.read_bytes()

    library = root / "packages" / "acme-shared" / "acme_shared" / "__init__.py"
    library.write_text("def greet(name):\n    return f'Hi, {name}.'\n")
    completed = run_hatchling(orders, "lambda", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    assert source.read_bytes() != source_before
    assert layer.read_bytes() == layer_before
    with zipfile.ZipFile(source) as opened:
        assert b"Hi, " in opened.read("acme_shared/__init__.py")


def uv_lock(root: Path, environment: dict[str, str]) -> None:
    python = find_cpython("3.12")
    assert python, "these tests need a CPython 3.12 (pyenv provides one on the project's machines)"
    completed = subprocess.run(
        [find_uv(), "lock", "--python", python, "--quiet"],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


def test_the_workspace_lock_is_the_default_lock(tmp_path, offline_environment):
    root = workspace(tmp_path / "acme")
    uv_lock(root, offline_environment)
    orders = root / "functions" / "orders"

    completed = run_hatchling(orders, "lambda", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode == 0, output
    assert "Installing the pins of ../../uv.lock, the project's uv.lock (its workspace's)" in output
    assert "has no pin" not in output
    _, layer = built(orders, "orders")
    assert {"python/hlfix_extra.py", "python/hlfix_pure/__init__.py"} <= set(zip_names(layer))
    assert "acme_shared/__init__.py" in zip_names(built(orders, "orders")[0])

    pyproject = orders / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'handler = "orders.app.handler"', 'handler = "orders.app.handler"\nlock = "none"'
        )
    )
    resolved = run_hatchling(orders, "lambda", environment=offline_environment)
    assert resolved.returncode == 0, output_of(resolved)
    assert "Installing the pins" not in output_of(resolved)


def test_a_sibling_by_path_is_code_too(tmp_path, offline_environment):
    root = workspace(tmp_path / "acme")
    lone = write_project(
        tmp_path / "lone-function",
        {
            "pyproject.toml": f"""
                [project]
                name = "lone"
                version = "0.1.0"
                requires-python = ">=3.12"
                dependencies = ["acme-shared @ {(root / "packages" / "acme-shared").as_uri()}"]

                [tool.hatch.metadata]
                allow-direct-references = true

                [tool.hatch.build.targets.wheel]
                packages = ["lone"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                handler = "lone.app.handler"
            """,
            "lone/__init__.py": "",
            "lone/app.py": HANDLER.format(extra_import=""),
        },
    )

    completed = run_hatchling(lone, "lambda", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode == 0, output
    assert "from file reference `acme-shared`" in output
    source = lone / "dist" / "lone-0.1.0-lambda-source.zip"
    assert "acme_shared/__init__.py" in zip_names(source)
    layer = lone / "dist" / "lone-0.1.0-lambda-layer-python3.12-x86_64.zip"
    assert not [entry for entry in zip_names(layer) if "acme_shared" in entry or "uv_build" in entry]


def test_path_dependencies_layer_puts_the_library_in_the_layer(tmp_path, offline_environment):
    root = workspace(tmp_path / "acme", orders_table='path-dependencies = "layer"')
    orders = root / "functions" / "orders"

    completed = run_hatchling(orders, "lambda", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    source, layer = built(orders, "orders")
    assert not [entry for entry in zip_names(source) if entry.startswith("acme_shared")]
    assert "python/acme_shared/__init__.py" in zip_names(layer)


def test_two_packages_writing_one_path_are_refused_by_name(tmp_path, offline_environment):
    root = workspace(tmp_path / "acme")
    orders = root / "functions" / "orders"
    clash = orders / "acme_shared" / "__init__.py"
    clash.parent.mkdir()
    clash.write_text("")
    pyproject = orders / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('packages = ["orders"]', 'packages = ["orders", "acme_shared"]')
    )

    completed = run_hatchling(orders, "lambda", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode != 0
    assert "orders-0.1.0-py3-none-any.whl and acme_shared-1.0-py3-none-any.whl would both write" in output
    assert "`acme_shared/__init__.py`" in output
    assert not (orders / "dist").exists() or not list((orders / "dist").glob("*.zip"))


def test_an_index_source_without_a_lock_says_to_lock(tmp_path, offline_environment):
    root = workspace(
        tmp_path / "acme",
        root_sources='acme-shared = { workspace = true }\nhlfix-pure = { index = "internal" }',
    )
    orders = root / "functions" / "orders"

    completed = run_hatchling(orders, "lambda", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode != 0
    assert "`hlfix-pure` (index `internal`)" in output
    assert "run `uv lock`" in output
    assert "Traceback" not in output


def test_a_workspace_source_for_a_name_that_is_no_member_is_refused(tmp_path, offline_environment):
    root = workspace(
        tmp_path / "acme", root_sources="acme-shared = { workspace = true }\nghost = { workspace = true }"
    )
    orders = root / "functions" / "orders"
    pyproject = orders / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"acme-shared",', '"acme-shared", "ghost",'))

    completed = run_hatchling(orders, "lambda", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode != 0
    assert "no member of the workspace is named `ghost`" in output


@pytest.mark.network
def test_the_fixture_workspace_builds_each_function_with_real_packages(tmp_path, layer_cache):
    """fixtures/acme-workspace from the real index: the library in each source zip, pydantic in the layer."""
    python = find_cpython("3.12")
    assert python, "these tests need a CPython 3.12 (pyenv provides one on the project's machines)"
    root = copy_fixture("acme-workspace", tmp_path / "acme")
    environment = clean_environment(HATCH_LAMBDA_CACHE_DIR=str(layer_cache))
    events = {
        "orders": ({"order_id": "A-1", "quantity": 3, "unit_price_cents": 250}, {"total_cents": 750}),
        "invoices": (
            {"orders": [{"order_id": "A-1", "quantity": 2, "unit_price_cents": 5}]},
            {"invoice_total_cents": 10},
        ),
    }
    for name, (event, expected) in events.items():
        function = root / "functions" / name
        completed = run_hatchling(function, "lambda", environment=environment)
        output = output_of(completed)
        assert completed.returncode == 0, output
        assert f"Checked handler {name}.app.handler" in output
        dist = function / "dist"
        source = dist / f"acme_{name}-0.3.0-lambda-source.zip"
        layer = dist / f"acme_{name}-0.3.0-lambda-layer-python3.12-x86_64.zip"
        assert {"acme_shared/models.py", "acme_shared-1.4.0.dist-info/METADATA"} <= set(zip_names(source))
        assert not [entry for entry in zip_names(layer) if entry.startswith("python/acme_shared")]
        assert any(entry.startswith("python/pydantic/") for entry in zip_names(layer))

        result = invoke_like_lambda(
            python,
            extract(source, tmp_path / name / "task"),
            extract(layer, tmp_path / name / "opt"),
            f"{name}.app.handler",
            event,
        )
        assert expected.items() <= result.items()


def test_build_all_gives_each_function_its_code_and_one_shared_layer(tmp_path, offline_environment):
    from hatch_lambda.publish.release import read_release  # noqa: PLC0415

    root = workspace(tmp_path / "acme")
    command = [sys.executable, "-m", "hatch_lambda.cli", "build", "--all", "--no-isolation"]

    completed = run_in(root, command, offline_environment)

    output = output_of(completed)
    assert completed.returncode == 0, output
    dist = root / "dist"
    assert sorted(path.name for path in dist.iterdir()) == [
        "acme-lambda-layer-python3.12-x86_64.zip",
        "invoices-0.1.0-lambda-source.zip",
        "invoices-0.1.0-lambda.cdx.json",
        "invoices-0.1.0-lambda.json",
        "orders-0.1.0-lambda-source.zip",
        "orders-0.1.0-lambda.cdx.json",
        "orders-0.1.0-lambda.json",
    ]
    assert "Checked handler orders.app.handler" in output
    assert "Checked handler invoices.app.handler" in output
    assert output.count("Resolved ") == 1  # resolved, installed and zipped once for both
    layer = dist / "acme-lambda-layer-python3.12-x86_64.zip"
    assert {"python/hlfix_extra.py", "python/hlfix_pure/__init__.py"} <= set(zip_names(layer))
    assert not [entry for entry in zip_names(layer) if "acme_shared" in entry]
    for name in ("orders", "invoices"):
        release = read_release(dist / f"{name}-0.1.0-lambda.json")
        assert release.layer is not None and release.layer.path == layer
        assert "acme_shared/__init__.py" in zip_names(dist / f"{name}-0.1.0-lambda-source.zip")

    layer_before, layer_file = layer.read_bytes(), layer.stat()
    sources_before = {
        name: (dist / f"{name}-0.1.0-lambda-source.zip").read_bytes() for name in ("orders", "invoices")
    }
    library = root / "packages" / "acme-shared" / "acme_shared" / "__init__.py"
    library.write_text("def greet(name):\n    return f'Hi, {name}.'\n")
    again = run_in(root, command, offline_environment)
    assert again.returncode == 0, output_of(again)
    # Only code changed: the shared layer dist/ holds is kept as it is, the same file.
    assert f"{layer.name} already holds it and is kept as it is" in output_of(again)
    kept = layer.stat()
    assert (kept.st_ino, kept.st_mtime_ns) == (layer_file.st_ino, layer_file.st_mtime_ns)
    assert layer.read_bytes() == layer_before
    for name, before in sources_before.items():
        assert (dist / f"{name}-0.1.0-lambda-source.zip").read_bytes() != before
        release = read_release(dist / f"{name}-0.1.0-lambda.json")  # every file re-hashed
        assert release.layer is not None and release.layer.path == layer


@pytest.mark.parametrize(
    ("table", "key"), [("slim = true", "slim"), ("compress-level = 9", "compress-level")]
)
def test_build_all_refuses_members_that_disagree_on_the_shared_layer(
    tmp_path, offline_environment, table, key
):
    root = workspace(tmp_path / "acme", orders_table=table)

    completed = run_in(
        root,
        [sys.executable, "-m", "hatch_lambda.cli", "build", "--all", "--no-isolation"],
        offline_environment,
    )

    output = output_of(completed)
    assert completed.returncode != 0
    assert f"set `{key}` differently" in output
    assert not (root / "dist").exists() or not list((root / "dist").iterdir())


def test_build_all_outside_a_workspace_says_what_to_do(tmp_path, offline_environment):
    lone = write_project(tmp_path / "lone", {"pyproject.toml": '[project]\nname = "lone"\nversion = "1"\n'})

    completed = run_in(
        lone, [sys.executable, "-m", "hatch_lambda.cli", "build", "--all"], offline_environment
    )

    assert completed.returncode == 2
    assert "declares no uv workspace" in completed.stderr
