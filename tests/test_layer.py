"""The layer zip: dependencies resolved by uv for the runtime, against a generated local wheelhouse."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from uv import find_uv_bin

from hatch_lambda.layer.uv import find_uv
from tests.helpers import (
    clean_environment,
    extract,
    invoke_like_lambda,
    output_of,
    require_cpython,
    run_hatchling,
    write_project,
)
from tests.wheelfactory import ELF_MACHINES

DEBRIS_NAMES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json", ".lock"}


def project(root: Path, dependencies: list[str], lambda_table: str = "", extra_tables: str = "") -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "cyclic-app"
                version = "1.2"
                dependencies = {json.dumps(dependencies)}
                {extra_tables}

                [tool.hatch.build.targets.wheel]
                packages = ["cyclic_app"]

                [tool.hatch.build.targets.lambda]
                {lambda_table}
            """,
            "cyclic_app/__init__.py": "",
            "cyclic_app/lambda_function.py": (
                "import hlfix_pure\n\n\ndef lambda_handler(event, context):\n"
                "    return {'said': hlfix_pure.shout(event['text'])}\n"
            ),
        },
    )


def layer_zip(root: Path) -> Path:
    (layer,) = (root / "dist").glob("*-lambda-layer-*.zip")
    return layer


def manifest(root: Path) -> dict:
    (path,) = (root / "dist").glob("*-lambda.json")
    return json.loads(path.read_text())


def names_in(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as opened:
        return opened.namelist()


def test_layer_holds_dependencies_under_python_without_debris_or_the_project(tmp_path, offline_environment):
    # hlfix-cycle depends back on cyclic-app: the project must still stay out of its own layer.
    root = project(tmp_path / "app", ["hlfix-pure", "hlfix-tool", "hlfix-cycle"], 'runtime = "python3.12"')

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    layer = layer_zip(root)
    assert layer.name == "cyclic_app-1.2-lambda-layer-python3.12-x86_64.zip"
    names = names_in(layer)
    assert all(name.startswith("python/") for name in names)
    for expected in ("python/hlfix_pure/__init__.py", "python/hlfix_tool.py", "python/hlfix_cycle.py"):
        assert expected in names
    assert "python/hlfix_native-2.0.dist-info/METADATA" in names
    assert not [name for name in names if name.startswith("python/bin/")]
    assert not [name for name in names if name.rsplit("/", 1)[-1] in DEBRIS_NAMES]
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in names if "cyclic_app" in name]
    packages = {package["name"] for package in manifest(root)["artifacts"]["layer"]["packages"]}
    assert packages == {"hlfix-pure", "hlfix-native", "hlfix-tool", "hlfix-cycle"}
    assert "Resolved 4 packages for python3.12 x86_64 (x86_64-manylinux_2_34) and installed 4" in output_of(
        completed
    )


@pytest.mark.parametrize(
    ("runtime", "architecture", "native_version", "machine"),
    [
        # Amazon Linux 2 has glibc 2.26: the manylinux_2_28 build (2.0) would not load there.
        ("python3.11", "x86_64", "1.0", "x86_64"),
        ("python3.9", "arm64", "1.0", "aarch64"),
        ("python3.12", "x86_64", "2.0", "x86_64"),
        ("python3.13", "arm64", "2.0", "aarch64"),
    ],
)
def test_wheels_match_the_runtime_python_architecture_and_glibc(
    tmp_path, offline_environment, runtime, architecture, native_version, machine
):
    table = f'runtime = "{runtime}"\narchitecture = "{architecture}"'
    root = project(tmp_path / "app", ["hlfix-native"], table)

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    python_tag = "cp" + runtime.removeprefix("python").replace(".", "")
    (package,) = manifest(root)["artifacts"]["layer"]["packages"]
    assert package["version"] == native_version
    assert package["wheel_tag"].startswith(f"{python_tag}-{python_tag}-manylinux")
    assert package["wheel_tag"].endswith(machine)
    with zipfile.ZipFile(layer_zip(root)) as opened:
        (shared_object,) = [name for name in opened.namelist() if name.endswith(".so")]
        header = opened.read(shared_object)
    assert int.from_bytes(header[18:20], "little") == ELF_MACHINES[machine]


def test_site_packages_layout_uses_the_runtime_versioned_directory(tmp_path, offline_environment):
    root = project(tmp_path / "app", ["hlfix-pure"], 'runtime = "python3.13"\nlayout = "site-packages"')

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    names = names_in(layer_zip(root))
    assert "python/lib/python3.13/site-packages/hlfix_pure/__init__.py" in names
    assert all(name.startswith("python/lib/python3.13/site-packages/") for name in names)
    assert manifest(root)["artifacts"]["layer"]["layout"] == "site-packages"


def test_extras_add_their_groups_and_self_references_expand(tmp_path, offline_environment):
    groups = """
        [project.optional-dependencies]
        more = ["hlfix-extra"]
        all = ["cyclic-app[more]"]
    """
    without = project(tmp_path / "without", ["hlfix-pure"], 'runtime = "python3.12"', groups)
    with_extras = project(
        tmp_path / "with", ["hlfix-pure"], 'runtime = "python3.12"\nextras = ["all"]', groups
    )

    for root in (without, with_extras):
        completed = run_hatchling(root, "lambda:layer", environment=offline_environment)
        assert completed.returncode == 0, output_of(completed)

    assert "python/hlfix_extra.py" not in names_in(layer_zip(without))
    assert "python/hlfix_extra.py" in names_in(layer_zip(with_extras))
    assert not [name for name in names_in(layer_zip(with_extras)) if "cyclic_app" in name]


def test_a_project_without_dependencies_gets_no_layer_and_is_told(tmp_path, offline_environment):
    root = project(tmp_path / "app", [], 'runtime = "python3.12"')

    completed = run_hatchling(root, "lambda", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    assert "No layer zip: the project has no dependencies" in output_of(completed)
    assert not list((root / "dist").glob("*-lambda-layer-*"))
    assert manifest(root)["artifacts"]["layer"] is None
    assert manifest(root)["artifacts"]["source"]["file"] == "cyclic_app-1.2-lambda-source.zip"


def test_a_dependency_without_a_usable_wheel_fails_with_the_target_named(tmp_path, offline_environment):
    root = project(tmp_path / "app", ["hlfix-pure", "hlfix-maconly"], 'runtime = "python3.12"')

    completed = run_hatchling(root, "lambda", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode != 0
    assert "`hlfix-maconly`" in output
    assert "python3.12" in output
    assert "x86_64" in output
    assert "glibc 2.34" in output
    assert "uv said:" in output
    assert "macosx" in output  # uv's own hint, naming the platforms that do have wheels
    assert not [path.name for path in (root / "dist").iterdir() if "layer" in path.name]


def test_a_failed_rebuild_leaves_the_previous_layer_untouched(tmp_path, offline_environment):
    root = project(tmp_path / "app", ["hlfix-pure"], 'runtime = "python3.12"')
    assert run_hatchling(root, "lambda:layer", environment=offline_environment).returncode == 0
    before = layer_zip(root).read_bytes()

    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"hlfix-pure"', '"hlfix-pure", "hlfix-missing"'))
    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode != 0
    assert "`hlfix-missing`" in output_of(completed)
    assert layer_zip(root).read_bytes() == before
    assert sorted(path.name for path in (root / "dist").iterdir()) == [
        "cyclic_app-1.2-lambda-layer-python3.12-x86_64.zip",
        "cyclic_app-1.2-lambda.cdx.json",
        "cyclic_app-1.2-lambda.json",
    ]


def test_index_settings_come_from_uv_configuration_files(tmp_path, wheelhouse, uv_cache, layer_cache):
    root = project(tmp_path / "app", ["hlfix-pure"], 'runtime = "python3.12"')
    (root / "uv.toml").write_text(f"no-index = true\nfind-links = [{json.dumps(str(wheelhouse))}]\n")

    environment = clean_environment(UV_CACHE_DIR=str(uv_cache), HATCH_LAMBDA_CACHE_DIR=str(layer_cache))
    completed = run_hatchling(root, "lambda:layer", environment=environment)

    assert completed.returncode == 0, output_of(completed)
    assert "python/hlfix_pure/__init__.py" in names_in(layer_zip(root))


def test_handler_runs_from_the_extracted_zips_on_the_runtime_python(tmp_path, offline_environment):
    python = require_cpython("3.12")
    root = project(tmp_path / "app", ["hlfix-pure"], 'runtime = "python3.12"')

    completed = run_hatchling(root, "lambda", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    task = extract(root / "dist" / "cyclic_app-1.2-lambda-source.zip", tmp_path / "var-task")
    layer = extract(layer_zip(root), tmp_path / "opt")
    result = invoke_like_lambda(
        python, task, layer, "cyclic_app.lambda_function.lambda_handler", {"text": "hi"}
    )
    assert result == {"said": "HI!"}


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
@pytest.mark.parametrize("runtime", [f"python3.{minor}" for minor in range(9, 15)])
def test_every_runtime_and_architecture_builds_a_layer(tmp_path, offline_environment, runtime, architecture):
    root = project(
        tmp_path / "app", ["hlfix-pure"], f'runtime = "{runtime}"\narchitecture = "{architecture}"'
    )

    completed = run_hatchling(root, "lambda", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    layer = manifest(root)["artifacts"]["layer"]
    assert layer["file"] == f"cyclic_app-1.2-lambda-layer-{runtime}-{architecture}.zip"
    (native,) = [package for package in layer["packages"] if package["name"] == "hlfix-native"]
    python_tag = "cp" + runtime.removeprefix("python").replace(".", "")
    assert native["wheel_tag"].startswith(f"{python_tag}-{python_tag}-")
    assert native["wheel_tag"].endswith("x86_64" if architecture == "x86_64" else "aarch64")


def test_uv_is_found_through_hatch_first_then_the_uv_package(tmp_path, monkeypatch):
    hatch_uv = tmp_path / "hatch-uv"
    hatch_uv.write_bytes(Path(find_uv_bin()).read_bytes())
    hatch_uv.chmod(0o755)

    monkeypatch.setenv("HATCH_UV", str(hatch_uv))
    assert find_uv() == str(hatch_uv)
    monkeypatch.setenv("HATCH_UV", str(tmp_path / "gone"))
    assert find_uv() == str(find_uv_bin())
