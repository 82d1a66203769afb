"""Every binary proven to load on the runtime before anything is zipped: tags, ELF machine, glibc."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.tags import parse_tag

from hatch_lambda.platform import runtimes
from hatch_lambda.platform.proof import check_installed_tree
from tests.helpers import output_of, run_hatchling, write_project
from tests.wheelfactory import elf_shared_object, mach_o_binary


def layer_project(
    root: Path, dependency: str, runtime: str = "python3.12", architecture: str = "x86_64"
) -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "proof-app"
                version = "1.0"
                dependencies = ["hlfix-pure", "{dependency}"]

                [tool.hatch.build.targets.lambda]
                runtime = "{runtime}"
                architecture = "{architecture}"
            """,
            "proof_app/__init__.py": "",
        },
    )


def assert_refused(root: Path, completed, *fragments: str) -> None:
    output = output_of(completed)
    assert completed.returncode != 0, output
    assert "would not load on" in output
    for fragment in fragments:
        assert fragment in output
    assert "Traceback" not in output
    dist = root / "dist"
    assert not dist.exists() or not [path for path in dist.iterdir() if path.suffix == ".zip"]


@pytest.mark.parametrize(
    ("dependency", "fragments"),
    [
        (
            "hlfix-newglibc",
            ["hlfix_newglibc", "_speedups.cp312-x86_64-linux-gnu.so", "needs GLIBC_2.38", "has glibc 2.34"],
        ),
        ("hlfix-wrongarch", ["hlfix_wrongarch", "is built for aarch64", "runs x86_64"]),
        (
            "hlfix-macbinary",
            [
                "hlfix_macbinary/libhelper.dylib: is a macOS (Mach-O) binary",
                "hlfix_macbinary/_native.cpython-312-x86_64-linux-gnu.so: is a macOS (Mach-O) binary",
            ],
        ),
    ],
)
def test_layer_with_a_binary_that_cannot_load_is_refused(
    tmp_path, offline_environment, dependency, fragments
):
    root = layer_project(tmp_path / "app", dependency)

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert_refused(root, completed, "layer would not load on python3.12 x86_64", *fragments)


def test_glibc_ceiling_of_amazon_linux_2_is_enforced_on_real_elf_needs(tmp_path, offline_environment):
    # hlfix-native 1.0's module needs GLIBC_2.17: it loads on python3.11 (glibc 2.26).
    root = layer_project(tmp_path / "app", "hlfix-native", runtime="python3.11")

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    manifest = json.loads((root / "dist" / "proof_app-1.0-lambda.json").read_text())
    versions = {package["name"]: package["version"] for package in manifest["artifacts"]["layer"]["packages"]}
    assert versions["hlfix-native"] == "1.0"


def test_source_zip_with_a_foreign_binary_is_refused(tmp_path, offline_environment):
    root = write_project(
        tmp_path / "app",
        {
            "pyproject.toml": """
                [project]
                name = "vendored-app"
                version = "1.0"

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                architecture = "arm64"
            """,
            "vendored_app/__init__.py": "",
        },
    )
    # A prebuilt library committed as package data, built for the developer's x86_64 laptop.
    (root / "vendored_app" / "libfast.so").write_bytes(elf_shared_object("x86_64", ("GLIBC_2.17",)))

    completed = run_hatchling(root, "lambda:source", environment=offline_environment)

    assert_refused(
        root,
        completed,
        "source zip would not load on python3.12 arm64",
        "the project: vendored_app/libfast.so",
    )


def test_wheel_tags_outside_the_runtime_are_reported(tmp_path):
    """The tag check stands on its own: a tree whose WHEEL names another CPython ABI is refused."""
    tree = tmp_path / "target"
    dist_info = tree / "fast_thing-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "WHEEL").write_text(
        "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-manylinux_2_17_x86_64\n"
    )
    (dist_info / "RECORD").write_text("fast_thing/_fast.so,,\nfast_thing/mac.bin,,\n")
    (tree / "fast_thing").mkdir()
    (tree / "fast_thing" / "_fast.so").write_bytes(elf_shared_object("x86_64", ("GLIBC_2.17",)))
    (tree / "fast_thing" / "mac.bin").write_bytes(mach_o_binary())
    runtime = runtimes.runtime_named("python3.12")
    assert runtime is not None

    violations = [str(violation) for violation in check_installed_tree(tree, runtime, "x86_64")]

    assert len(violations) == 2
    assert violations[0].startswith("fast_thing-1.0: fast_thing-1.0.dist-info/WHEEL: its wheel is tagged ")
    assert "cp311-cp311-manylinux_2_17_x86_64" in violations[0]
    assert "CPython 3.12" in violations[0]
    assert (
        violations[1] == "fast_thing: fast_thing/mac.bin: is a macOS (Mach-O) binary, which Linux cannot load"
    )


@pytest.mark.parametrize(
    ("tag", "accepted"),
    [
        ("cp312-cp312-manylinux_2_34_x86_64", True),
        ("cp312-cp312-manylinux_2_35_x86_64", False),
        ("cp39-abi3-manylinux_2_28_x86_64", True),
        ("cp313-abi3-manylinux_2_17_x86_64", False),
        ("cp312-cp312-manylinux2014_x86_64", True),
        ("cp312-cp312-manylinux_2_17_aarch64", False),
        ("cp312-cp312-linux_x86_64", False),
        ("cp312-cp312-musllinux_1_2_x86_64", False),
        ("py3-none-any", True),
        ("py2.py3-none-any", True),
    ],
)
def test_compatible_tags_for_python312_x86_64(tag, accepted):
    runtime = runtimes.runtime_named("python3.12")
    assert runtime is not None
    compatible = runtimes.compatible_wheel_tags(runtime, "x86_64")
    assert bool(set(parse_tag(tag)) & compatible) is accepted


def test_amazon_linux_2_tags_stop_at_glibc_226():
    runtime = runtimes.runtime_named("python3.11")
    assert runtime is not None
    tags = runtimes.platform_tags(runtime, "arm64")
    assert tags[0] == "manylinux_2_26_aarch64"
    assert "manylinux_2_27_aarch64" not in tags
    assert "manylinux2014_aarch64" in tags
    assert not [tag for tag in tags if tag.startswith(("manylinux1", "manylinux2010"))]
