"""Sizes and Lambda's limits: the report, the 250 MB ceiling, the S3 note, and `slim`."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from tests.helpers import output_of, run_hatchling, write_project
from tests.wheelfactory import WheelSpec, elf_shared_object, write_wheel


def project(root: Path, dependencies: list[str], table: str = "") -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "sized-app"
                version = "1.0"
                dependencies = {json.dumps(dependencies)}

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                {table}
            """,
            "sized_app/__init__.py": "",
        },
    )


def layer_names(root: Path) -> set[str]:
    with zipfile.ZipFile(root / "dist" / "sized_app-1.0-lambda-layer-python3.12-x86_64.zip") as opened:
        return set(opened.namelist())


def test_the_layer_report_lists_the_largest_packages_first(tmp_path, offline_environment):
    root = project(tmp_path / "app", ["hlfix-heavy", "hlfix-pure", "hlfix-tool"])

    completed = run_hatchling(root, "lambda", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode == 0, output
    (line,) = [line for line in output.splitlines() if line.startswith("Largest packages: ")]
    names = [item.split(" ")[0] for item in line.removeprefix("Largest packages: ").split(", ")]
    assert names[0] == "hlfix_heavy"
    assert set(names) == {"hlfix_heavy", "hlfix_native", "hlfix_pure", "hlfix_tool"}
    assert "zipped" in output and "unzipped" in output


def test_slim_drops_tests_stubs_and_sources_but_keeps_what_imports(tmp_path, offline_environment):
    full = project(tmp_path / "full", ["hlfix-heavy"])
    slim = project(tmp_path / "slim", ["hlfix-heavy"], 'slim = true\nslim-exclude = ["hlfix_heavy/data/*"]')

    for root in (full, slim):
        completed = run_hatchling(root, "lambda:layer", environment=offline_environment)
        assert completed.returncode == 0, output_of(completed)

    removed = layer_names(full) - layer_names(slim)
    assert removed == {
        "python/hlfix_heavy/__init__.pyi",
        "python/hlfix_heavy/tests/__init__.py",
        "python/hlfix_heavy/tests/test_value.py",
        "python/hlfix_heavy/sub/test/test_more.py",
        "python/hlfix_heavy/_speed.c",
        "python/hlfix_heavy/_speed.pyx",
        "python/hlfix_heavy/include/speed.h",
        "python/hlfix_heavy/data/blob.bin",
    }
    assert "python/hlfix_heavy/testing.py" in layer_names(slim)
    assert "python/hlfix_heavy-1.0.dist-info/METADATA" in layer_names(slim)
    assert "Slimmed the layer: left out 8 files" in output_of(completed)


def test_code_and_layers_over_250_mb_unzipped_fail_before_writing(tmp_path, offline_environment):
    root = project(tmp_path / "app", ["hlfix-pure"], "other-layers-size = 262_143_000")
    assert run_hatchling(root, "lambda:source", environment=offline_environment).returncode == 0

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode != 0
    assert "over Lambda's limit of 262,144,000 bytes (250 MB)" in output
    assert "other layers (other-layers-size) 262,143,000" in output
    assert "source zip" in output and "layer" in output
    assert not list((root / "dist").glob("*layer*"))


def test_a_zip_over_50_mb_gets_the_s3_note(tmp_path, offline_environment):
    big_wheels = tmp_path / "big-wheels"
    big_wheels.mkdir()
    # Random bytes do not compress: the zip stays over 50 MB.
    blob = os.urandom(53 * 1024 * 1024)
    write_wheel(WheelSpec("hlfix-big", "1.0", files={"hlfix_big/blob.bin": blob}), big_wheels)
    environment = {
        **offline_environment,
        "UV_FIND_LINKS": f"{offline_environment['UV_FIND_LINKS']},{big_wheels}",
    }
    root = project(tmp_path / "app", ["hlfix-big"])

    completed = run_hatchling(root, "lambda:layer", environment=environment)

    assert completed.returncode == 0, output_of(completed)
    assert "is over 50 MB zipped, so Lambda accepts it only through S3" in output_of(completed)


def test_over_the_limit_the_advice_suggests_slim_only_when_it_is_off(tmp_path, offline_environment):
    outputs = {}
    for slim in ("false", "true"):
        root = project(tmp_path / slim, ["hlfix-pure"], f"other-layers-size = 262_143_000\nslim = {slim}")
        completed = run_hatchling(root, "lambda:layer", environment=offline_environment)
        assert completed.returncode != 0
        outputs[slim] = output_of(completed)

    assert "over Lambda's limit of 262,144,000 bytes (250 MB)" in outputs["false"]
    assert "Make the layer smaller (`slim = true`, `exclude-packages`)" in outputs["false"]
    assert "over Lambda's limit of 262,144,000 bytes (250 MB)" in outputs["true"]
    assert "slim = true" not in outputs["true"]
    assert "`exclude-packages`, or `slim-exclude` patterns" in outputs["true"]


def test_a_layer_over_the_limit_fails_before_its_binaries_are_proven(tmp_path, offline_environment):
    # hlfix-wrongarch's extension is built for aarch64: the proof would refuse this x86_64 layer.
    # The layer is a few hundred bytes; 100 bytes are left under the limit.
    root = project(tmp_path / "app", ["hlfix-wrongarch"], "other-layers-size = 262_143_900")

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode != 0
    assert "over Lambda's limit of 262,144,000 bytes (250 MB)" in output
    assert "would not load on" not in output
    assert "Traceback" not in output
    assert not list((root / "dist").glob("*layer*"))


def test_a_source_zip_over_the_limit_fails_before_its_binaries_are_proven(tmp_path, offline_environment):
    root = project(tmp_path / "app", [], "other-layers-size = 262_143_900")
    # A library built for aarch64 shipped as package data: the proof would refuse it on x86_64.
    (root / "sized_app" / "libfast.so").write_bytes(elf_shared_object("aarch64", ("GLIBC_2.17",)))

    completed = run_hatchling(root, "lambda:source", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode != 0
    assert "over Lambda's limit of 262,144,000 bytes (250 MB)" in output
    assert "would not load on" not in output
    assert not list((root / "dist").glob("*.zip"))
