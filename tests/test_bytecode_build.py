"""`compile-bytecode = true` through the real build: both zips carry the runtime's `.pyc` files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.helpers import find_cpython, output_of, require_cpython, run_hatchling, write_project


def project(root: Path, runtime: str) -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "compiled-app"
                version = "1.0"
                dependencies = ["hlfix-pure"]

                [tool.hatch.build.targets.lambda]
                runtime = "{runtime}"
                compile-bytecode = true
                handler = "compiled_app.handler.handle"
            """,
            "compiled_app/__init__.py": "",
            "compiled_app/handler.py": "import hlfix_pure\n\n\ndef handle(event, context):\n    return 1\n",
        },
    )


def names(archive: Path) -> set[str]:
    with zipfile.ZipFile(archive) as opened:
        return set(opened.namelist())


def test_both_zips_get_unchecked_hash_bytecode_reproducibly(tmp_path, offline_environment):
    require_cpython("3.12")
    builds = []
    for name in ("one", "two"):
        root = project(tmp_path / name, "python3.12")
        completed = run_hatchling(
            root,
            "lambda",
            environment={**offline_environment, "HATCH_LAMBDA_CACHE_DIR": str(tmp_path / name / "cache")},
        )
        assert completed.returncode == 0, output_of(completed)
        assert output_of(completed).count("Compiled 2 modules to unchecked-hash bytecode") == 2
        builds.append(root / "dist")

    source = builds[0] / "compiled_app-1.0-lambda-source.zip"
    layer = builds[0] / "compiled_app-1.0-lambda-layer-python3.12-x86_64.zip"
    assert "compiled_app/__pycache__/handler.cpython-312.pyc" in names(source)
    assert "python/hlfix_pure/__pycache__/__init__.cpython-312.pyc" in names(layer)
    with zipfile.ZipFile(source) as opened:
        header = opened.read("compiled_app/__pycache__/handler.cpython-312.pyc")[:8]
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, not checked against the source
    for name in (source.name, layer.name):
        assert (builds[0] / name).read_bytes() == (builds[1] / name).read_bytes()


def test_without_the_runtime_python_the_build_says_how_to_get_one(tmp_path, offline_environment):
    if find_cpython("3.14") is not None:
        pytest.skip("this machine has a CPython 3.14")
    root = project(tmp_path / "app", "python3.14")

    completed = run_hatchling(root, "lambda:source", environment=offline_environment)

    assert completed.returncode != 0
    assert "uv python install 3.14" in output_of(completed)
    assert "HATCH_LAMBDA_PYTHON_3_14" in output_of(completed)
    assert not (root / "dist").exists() or not list((root / "dist").glob("*.zip"))
