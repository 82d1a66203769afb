"""Every binary proven to load on the runtime before anything is zipped: tags, ELF machine, glibc.

Refusals name the distribution, its wheel and the path inside the zip; binaries nothing on Linux
loads (Windows launchers, macOS dylibs, `.o` objects) are warnings, unless their name says Linux
imports them; `slim-exclude` runs first, so a user can drop what would fail.
"""

from __future__ import annotations

import importlib.machinery
import json
import re
import sys
import zipfile
from functools import partial
from pathlib import Path

import pytest
from packaging.tags import parse_tag

from hatch_lambda.files.record import ZIP_EPOCH, FileToPack
from hatch_lambda.platform import runtimes
from hatch_lambda.platform.proof import extension_suffixes, prove_layer, prove_source
from tests.helpers import clean_environment, output_of, run_hatchling, write_project
from tests.wheelfactory import elf_shared_object, mach_o_binary, pe_dll

NEWGLIBC_WHEEL = "hlfix-newglibc 1.0 (hlfix_newglibc-1.0-cp312-cp312-manylinux_2_17_x86_64.whl)"


def layer_project(
    root: Path,
    dependency: str,
    runtime: str = "python3.12",
    architecture: str = "x86_64",
    extra: str = "",
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
                {extra}
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
    # The message names packages and paths inside the zip, never the scratch directory.
    assert "hatch-lambda-" not in output.replace("hatch-lambda-tests", "")
    dist = root / "dist"
    assert not dist.exists() or not [path for path in dist.iterdir() if path.suffix == ".zip"]


@pytest.mark.parametrize(
    ("dependency", "fragments"),
    [
        (
            "hlfix-newglibc",
            [
                f"{NEWGLIBC_WHEEL}: hlfix_newglibc/_speedups.cp312-x86_64-linux-gnu.so needs GLIBC_2.38",
                "has glibc 2.34",
            ],
        ),
        (
            "hlfix-wrongarch",
            [
                "hlfix-wrongarch 1.0 (hlfix_wrongarch-1.0-cp312-cp312-manylinux_2_17_x86_64.whl): "
                "hlfix_wrongarch/_speedups.cp312-x86_64-linux-gnu.so is built for aarch64",
                "runs x86_64",
            ],
        ),
        (
            "hlfix-macbinary",
            [
                "hlfix-macbinary 1.0 (hlfix_macbinary-1.0-py3-none-any.whl): "
                "hlfix_macbinary/_native.cpython-312-x86_64-linux-gnu.so is a macOS (Mach-O) binary, "
                "named as an extension module (`.cpython-312-x86_64-linux-gnu.so`)",
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


@pytest.mark.parametrize("runtime", ["python3.11", "python3.12"])
@pytest.mark.parametrize("dependency", ["hlfix-stripped", "hlfix-retyped"])
def test_layer_needs_hidden_from_section_headers_are_refused(
    tmp_path, offline_environment, runtime, dependency
):
    """GLIBC_2.38 read through PT_DYNAMIC, as ld.so reads it, with no section header showing it."""
    root = layer_project(tmp_path / "app", dependency, runtime=runtime)

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    module = dependency.replace("-", "_")
    assert_refused(
        root,
        completed,
        f"{dependency} 1.0 ({module}-1.0-cp39-abi3-manylinux_2_17_x86_64.whl): "
        f"{module}/_speedups.cp39-x86_64-linux-gnu.so needs GLIBC_2.38",
    )


@pytest.mark.parametrize("runtime", ["python3.11", "python3.12"])
@pytest.mark.parametrize(
    "shared_object",
    [
        elf_shared_object("x86_64", ("GLIBC_2.38",), section_headers=False),
        elf_shared_object("x86_64", ("GLIBC_2.38",), verneed_section_type=1),
    ],
    ids=["stripped", "retyped"],
)
def test_source_zip_needs_hidden_from_section_headers_are_refused(
    tmp_path, offline_environment, runtime, shared_object
):
    root = vendoring_project(tmp_path / "app", runtime, "x86_64")
    (root / "vendored_app" / "libfast.so").write_bytes(shared_object)

    completed = run_hatchling(root, "lambda:source", environment=offline_environment)

    assert_refused(
        root,
        completed,
        f"source zip would not load on {runtime} x86_64",
        "the project (vendored_app-1.0-py2.py3-none-any.whl): vendored_app/libfast.so needs GLIBC_2.38",
    )


def vendoring_project(root: Path, runtime: str, architecture: str) -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "vendored-app"
                version = "1.0"

                [tool.hatch.build.targets.lambda]
                runtime = "{runtime}"
                architecture = "{architecture}"
            """,
            "vendored_app/__init__.py": "",
        },
    )


def test_glibc_ceiling_of_amazon_linux_2_is_enforced_on_real_elf_needs(tmp_path, offline_environment):
    # hlfix-native 1.0's module needs GLIBC_2.17: it loads on python3.11 (glibc 2.26).
    root = layer_project(tmp_path / "app", "hlfix-native", runtime="python3.11")

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    manifest = json.loads((root / "dist" / "proof_app-1.0-lambda.json").read_text())
    versions = {package["name"]: package["version"] for package in manifest["artifacts"]["layer"]["packages"]}
    assert versions["hlfix-native"] == "1.0"


def test_source_zip_with_a_foreign_binary_is_refused(tmp_path, offline_environment):
    root = vendoring_project(tmp_path / "app", "python3.12", "arm64")
    # A prebuilt library committed as package data, built for the developer's x86_64 laptop.
    (root / "vendored_app" / "libfast.so").write_bytes(elf_shared_object("x86_64", ("GLIBC_2.17",)))

    completed = run_hatchling(root, "lambda:source", environment=offline_environment)

    assert_refused(
        root,
        completed,
        "source zip would not load on python3.12 arm64",
        "the project (vendored_app-1.0-py2.py3-none-any.whl): vendored_app/libfast.so is built for x86_64",
    )


# Data is not code -----------------------------------------------------------------------------


def test_binaries_nothing_on_linux_loads_are_one_warning_and_ship(tmp_path, offline_environment):
    """Like setuptools' `cli-*.exe`: the layer builds, with one warning naming package and wheel."""
    root = layer_project(tmp_path / "app", "hlfix-launchers")

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode == 0, output
    (warning,) = [line for line in output.splitlines() if "nothing on Linux loads" in line]
    assert warning.count("hlfix-launchers 1.0 (hlfix_launchers-1.0-py3-none-any.whl) ships") == 1
    for fragment in (
        "ships 1 ELF file no loader maps, 3 Windows (PE) binaries, 1 macOS (Mach-O) binary,",
        "hlfix_launchers/cli-32.exe",
        "hlfix_launchers/objects/helper.o",
        "slim-exclude",
    ):
        assert fragment in warning, warning
    (layer,) = (root / "dist").glob("*-lambda-layer-*.zip")
    assert "python/hlfix_launchers/cli-64.exe" in zipfile.ZipFile(layer).namelist()

    again = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert "Layer from the cache" in output_of(again)
    assert warning in output_of(again).splitlines()


def test_slim_exclude_drops_a_file_before_the_proof(tmp_path, offline_environment):
    """The Mach-O file named as an extension module fails the proof unless `slim-exclude` drops it."""
    root = layer_project(
        tmp_path / "app",
        "hlfix-macbinary",
        extra='slim-exclude = ["hlfix_macbinary/_native.*"]',
    )

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode == 0, output
    assert (
        "hlfix-macbinary 1.0 (hlfix_macbinary-1.0-py3-none-any.whl) ships 1 macOS (Mach-O) binary" in output
    )
    (layer,) = (root / "dist").glob("*-lambda-layer-*.zip")
    names = zipfile.ZipFile(layer).namelist()
    assert "python/hlfix_macbinary/libhelper.dylib" in names
    assert not [name for name in names if "hlfix_macbinary/_native" in name]


RUNTIME_312 = runtimes.runtime_named("python3.12")
RUNTIME_311 = runtimes.runtime_named("python3.11")


def packed(name: str, data: bytes) -> FileToPack:
    return FileToPack(name, partial(bytes, data), False, ZIP_EPOCH, len(data))


@pytest.mark.parametrize(
    ("name", "data", "finding"),
    [
        (
            "pkg/_x.cpython-312-x86_64-linux-gnu.so",
            pe_dll(),
            "is a Windows (PE) binary, named as an extension",
        ),
        (
            "pkg/_x.abi3.so",
            b"not a binary\n",
            "is named as an extension module (`.abi3.so`) but is not an ELF",
        ),
        ("pkg/libfoo.so.1", mach_o_binary(), "is a macOS (Mach-O) binary, named as a shared library"),
        ("pkg/cli-64.exe", pe_dll(), "warning"),
        ("pkg/helper.dylib", mach_o_binary(), "warning"),
        ("pkg/thing.o", elf_shared_object("x86_64", (), file_type=1, segments="none"), "warning"),
        ("pkg/core", elf_shared_object("x86_64", ("GLIBC_2.38",), file_type=4), "warning"),
        ("pkg/data.bin", b"\x00\x01 plain data", None),
        (
            "pkg/_x.so",
            elf_shared_object("x86_64", (), file_type=1, segments="none"),
            "is an ELF relocatable object (ET_REL, a `.o` file), named as an extension module",
        ),
        ("pkg/tool", elf_shared_object("aarch64", ("GLIBC_2.17",), file_type=2), "is built for aarch64"),
        (
            "pkg/_x.so",
            elf_shared_object("x86_64", ("GLIBC_2.17",), file_type=2),
            "`dlopen` refuses executables",
        ),
        ("pkg/_x.so", elf_shared_object("x86_64", ("GLIBC_2.38",))[:300], "cannot be read as an ELF file"),
        (
            "pkg/_x.so",
            elf_shared_object("x86_64", ("GLIBC_2.17", "GLIBC_2.38"), weak_versions=["GLIBC_2.38"]),
            None,
        ),
        ("pkg/_x.so", elf_shared_object("x86_64", ("GLIBC_2.17", "GLIBC_2.34")), None),
        ("pkg/_x.so", elf_shared_object("x86_64", ("GLIBC_2.17", "GLIBC_2.35")), "needs GLIBC_2.35"),
    ],
)
def test_content_and_name_decide_failure_warning_or_nothing(name, data, finding):
    assert RUNTIME_312 is not None

    result = prove_source([packed(name, data)], RUNTIME_312, "x86_64", owner="the project")

    if finding is None:
        assert (result.violations, result.warnings) == ([], [])
    elif finding == "warning":
        assert result.violations == []
        (warning,) = result.warnings
        assert warning.startswith("the project ships 1 ")
        assert name in warning
    else:
        (violation,) = result.violations
        assert str(violation).startswith(f"the project: {name} ")
        assert finding in violation.problem, violation.problem
        assert result.warnings == []


def test_weak_needs_do_not_count_against_amazon_linux_2():
    assert RUNTIME_311 is not None
    module = elf_shared_object("x86_64", ("GLIBC_2.17", "GLIBC_2.34"), weak_versions=["GLIBC_2.34"])

    assert (
        prove_source([packed("m/_x.so", module)], RUNTIME_311, "x86_64", owner="the project").violations == []
    )


def test_data_files_are_one_warning_per_package_listing_a_few():
    assert RUNTIME_312 is not None
    files = [packed(f"pkg/launcher-{index}.exe", pe_dll()) for index in range(9)]

    result = prove_source(files, RUNTIME_312, "x86_64", owner="the project")

    (warning,) = result.warnings
    assert "9 Windows (PE) binaries" in warning
    assert "and 4 more" in warning
    assert "`pkg/*.exe`" in warning


def test_extension_suffixes_are_the_interpreters_own():
    """The host CPython is Linux/glibc on x86_64 or aarch64 here: its EXTENSION_SUFFIXES are the oracle."""
    runtime = runtimes.runtime_named(f"python3.{sys.version_info[1]}")
    if runtime is None:
        pytest.skip("the host CPython is no Lambda runtime's")
    architecture = {"x86_64": "x86_64", "aarch64": "arm64"}.get(__import__("platform").machine())
    if architecture is None or sys.platform != "linux":
        pytest.skip("the host is not a Linux on a Lambda machine")

    assert list(extension_suffixes(runtime, architecture)) == importlib.machinery.EXTENSION_SUFFIXES


# The installed tree ---------------------------------------------------------------------------


def test_wheel_tags_outside_the_runtime_are_reported(tmp_path):
    """The tag check stands on its own: a tree whose WHEEL names another CPython ABI is refused."""
    tree = tmp_path / "target"
    dist_info = tree / "fast_thing-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "WHEEL").write_text(
        "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-manylinux_2_17_x86_64\n"
    )
    (dist_info / "RECORD").write_text("fast_thing/_fast.so,,\nfast_thing/mac.bin,,\nfast_thing/_mac.so,,\n")
    (tree / "fast_thing").mkdir()
    (tree / "fast_thing" / "_fast.so").write_bytes(elf_shared_object("x86_64", ("GLIBC_2.17",)))
    (tree / "fast_thing" / "mac.bin").write_bytes(mach_o_binary())
    (tree / "fast_thing" / "_mac.so").write_bytes(mach_o_binary())
    (tree / "stray.so").write_bytes(b"")
    files = [
        packed(f"python/{path.relative_to(tree).as_posix()}", b"")
        for path in sorted(tree.rglob("*"))
        if path.is_file()
    ]
    assert RUNTIME_312 is not None

    result = prove_layer(tree, files, "python/", RUNTIME_312, "x86_64")

    violations = [str(violation) for violation in result.violations]
    owner = "fast_thing 1.0 (fast_thing-1.0-cp311-cp311-manylinux_2_17_x86_64.whl)"
    assert len(violations) == 3
    assert violations[0].startswith(f"{owner}: its wheel is tagged cp311-cp311-manylinux_2_17_x86_64")
    assert "CPython 3.12" in violations[0]
    assert violations[1].startswith(f"{owner}: fast_thing/_mac.so is a macOS (Mach-O) binary")
    assert violations[2].startswith("files no RECORD lists: stray.so is named as an extension module")
    (warning,) = result.warnings
    assert warning.startswith(
        f"{owner} ships 1 macOS (Mach-O) binary, which nothing on Linux loads (fast_thing/mac.bin)"
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


@pytest.mark.e2e
@pytest.mark.network
def test_setuptools_and_distlib_launchers_warn_and_slim_exclude_silences_them(tmp_path):
    """The real packages: their `.exe` launchers are package data, refused before, a warning now."""
    environment = clean_environment(HATCH_LAMBDA_CACHE_DIR=str(tmp_path / "cache"))
    root = write_project(
        tmp_path / "app",
        {
            "pyproject.toml": """
                [project]
                name = "packaging-app"
                version = "1.0"
                dependencies = ["setuptools", "distlib"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
            """,
            "packaging_app/__init__.py": "",
        },
    )

    completed = run_hatchling(root, "lambda:layer", environment=environment)

    output = output_of(completed)
    assert completed.returncode == 0, output
    warnings = [line for line in output.splitlines() if "which nothing on Linux loads" in line]
    assert len(warnings) == 2, output
    assert re.search(
        r"distlib \S+ \(distlib-\S+-py2\.py3-none-any\.whl\) ships \d+ Windows \(PE\) binaries", output
    )
    assert re.search(
        r"setuptools \S+ \(setuptools-\S+-py3-none-any\.whl\) ships \d+ Windows \(PE\) binaries", output
    )
    assert "`setuptools/*.exe`" in output

    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + 'slim-exclude = ["setuptools/*.exe", "distlib/*.exe"]\n', encoding="utf-8"
    )
    completed = run_hatchling(root, "lambda:layer", environment=environment)

    assert completed.returncode == 0, output_of(completed)
    assert "nothing on Linux loads" not in output_of(completed)
