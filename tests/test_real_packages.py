"""Real packages from the index: numpy and cryptography on Amazon Linux 2 and 2023, both architectures.

The layer must hold binaries that load on the runtime. Two oracles that do not share code with the
plugin check it: binutils' `readelf` for the glibc versions every shared object needs, and the
index's own file list for the newest numpy release that still has a wheel for the runtime.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from packaging.tags import parse_tag
from packaging.utils import parse_wheel_filename
from packaging.version import Version

from hatch_lambda.platform import runtimes
from tests.helpers import (
    clean_environment,
    extract,
    find_cpython,
    invoke_like_lambda,
    output_of,
    run_hatchling,
    write_project,
)

pytestmark = [pytest.mark.e2e, pytest.mark.network]

HANDLER = """
import numpy
from cryptography.fernet import Fernet


def lambda_handler(event, context):
    key = Fernet.generate_key()
    token = Fernet(key).encrypt(event["secret"].encode())
    matrix = numpy.arange(event["n"] * event["n"], dtype=numpy.float64).reshape(event["n"], event["n"])
    return {
        "numpy": numpy.__version__,
        "trace": float(numpy.trace(matrix)),
        "roundtrip": Fernet(key).decrypt(token).decode(),
    }
"""
GLIBC = re.compile(r"GLIBC_(\d+)\.(\d+)")


def build(tmp_path: Path, runtime: str, architecture: str) -> Path:
    root = write_project(
        tmp_path / "app",
        {
            "pyproject.toml": f"""
                [project]
                name = "crunch"
                version = "1.0"
                requires-python = ">=3.11"
                dependencies = ["numpy", "cryptography"]

                [tool.hatch.build.targets.lambda]
                runtime = "{runtime}"
                architecture = "{architecture}"
            """,
            "crunch/__init__.py": "",
            "crunch/lambda_function.py": HANDLER,
        },
    )
    completed = run_hatchling(
        root, "lambda", environment=clean_environment(HATCH_LAMBDA_CACHE_DIR=str(tmp_path / "cache"))
    )
    assert completed.returncode == 0, output_of(completed)
    return root


def highest_glibc_needed(shared_object: Path) -> tuple[int, int]:
    listing = subprocess.run(
        ["readelf", "-V", "-W", str(shared_object)], capture_output=True, text=True, check=True
    )
    versions = [(int(major), int(minor)) for major, minor in GLIBC.findall(listing.stdout)]
    return max(versions, default=(0, 0))


def newest_release_with_a_wheel(project: str, runtime: runtimes.Runtime, architecture: str) -> Version:
    request = urllib.request.Request(
        f"https://pypi.org/simple/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    accepted = runtimes.compatible_wheel_tags(runtime, architecture)
    versions = []
    for file in files:
        if not file["filename"].endswith(".whl") or file.get("yanked"):
            continue
        _name, version, _build, tags = parse_wheel_filename(file["filename"])
        if not version.is_prerelease and set(tags) & accepted:
            versions.append(version)
    return max(versions)


@pytest.mark.parametrize(
    ("runtime_name", "architecture"),
    [("python3.11", "x86_64"), ("python3.11", "arm64"), ("python3.12", "x86_64"), ("python3.12", "arm64")],
)
def test_numpy_and_cryptography_layers_load_on_the_runtime(tmp_path, runtime_name, architecture):
    if shutil.which("readelf") is None:
        pytest.fail("these tests need binutils' readelf as an independent oracle")
    runtime = runtimes.runtime_named(runtime_name)
    assert runtime is not None
    root = build(tmp_path, runtime_name, architecture)

    layer_zip = root / "dist" / f"crunch-1.0-lambda-layer-{runtime_name}-{architecture}.zip"
    layer = extract(layer_zip, tmp_path / "opt")
    shared_objects = [path for path in (layer / "python").rglob("*.so*") if path.is_file()]
    assert any("numpy" in str(path) for path in shared_objects)
    assert any("cryptography" in str(path) for path in shared_objects)
    machine = runtimes.machine_of(architecture).replace("_", "-")
    for shared_object in shared_objects:
        header = subprocess.run(
            ["readelf", "-h", str(shared_object)], capture_output=True, text=True, check=True
        )
        assert ("X86-64" if machine == "x86-64" else "AArch64") in header.stdout, shared_object
        assert highest_glibc_needed(shared_object) <= runtime.glibc, shared_object

    manifest = json.loads((root / "dist" / "crunch-1.0-lambda.json").read_text())
    numpy = next(
        package for package in manifest["artifacts"]["layer"]["packages"] if package["name"] == "numpy"
    )
    assert Version(numpy["version"]) == newest_release_with_a_wheel("numpy", runtime, architecture)
    assert set(parse_tag(numpy["wheel_tag"])) & runtimes.compatible_wheel_tags(runtime, architecture)

    if architecture == "x86_64":
        python = find_cpython(runtime.python_version_text)
        if python is None:
            pytest.fail(f"no CPython {runtime.python_version_text} to exercise the layer with")
        task = extract(root / "dist" / "crunch-1.0-lambda-source.zip", tmp_path / "task")
        result = invoke_like_lambda(
            python, task, layer, "crunch.lambda_function.lambda_handler", {"secret": "s3cr3t", "n": 4}
        )
        assert result == {"numpy": numpy["version"], "trace": 30.0, "roundtrip": "s3cr3t"}


def test_numpy_for_amazon_linux_2_is_older_than_for_amazon_linux_2023(tmp_path):
    """The point of the glibc ceiling: numpy's newest wheels need glibc 2.28, above python3.11's 2.26."""
    python311 = runtimes.runtime_named("python3.11")
    python312 = runtimes.runtime_named("python3.12")
    assert python311 is not None and python312 is not None
    assert newest_release_with_a_wheel("numpy", python311, "x86_64") < newest_release_with_a_wheel(
        "numpy", python312, "x86_64"
    )


IMPORT_EVERYTHING = r"""
import importlib, json, pkgutil, sys
root = sys.argv[1]
sys.path[:0] = [root]
imported = set()
for top in sorted({info.name for info in pkgutil.iter_modules([root])}):
    try:
        package = importlib.import_module(top)
    except Exception:
        continue
    imported.add(top)
    for info in pkgutil.walk_packages(getattr(package, "__path__", []), top + ".", onerror=lambda name: None):
        parts = info.name.split(".")
        if "tests" in parts or "test" in parts or parts[-1] == "__main__":
            continue  # the test suites themselves are what slim removes; __main__ runs programs
        try:
            importlib.import_module(info.name)
        except BaseException:
            continue
        imported.add(info.name)
print(json.dumps(sorted(imported)))
"""


def test_a_slim_layer_imports_everything_the_full_one_does(tmp_path):
    python = find_cpython("3.12")
    if python is None:
        pytest.fail("no CPython 3.12 to import the layers with")
    layers = {}
    for flavour, table in (("full", ""), ("slim", "slim = true")):
        root = write_project(
            tmp_path / flavour,
            {
                "pyproject.toml": f"""
                    [project]
                    name = "heavy"
                    version = "1.0"
                    dependencies = ["numpy", "cryptography", "pydantic", "requests"]

                    [tool.hatch.build.targets.lambda]
                    runtime = "python3.12"
                    {table}
                """,
                "heavy/__init__.py": "",
            },
        )
        completed = run_hatchling(
            root,
            "lambda:layer",
            environment=clean_environment(HATCH_LAMBDA_CACHE_DIR=str(tmp_path / "cache")),
        )
        assert completed.returncode == 0, output_of(completed)
        layer_zip = root / "dist" / "heavy-1.0-lambda-layer-python3.12-x86_64.zip"
        layers[flavour] = (
            layer_zip.stat().st_size,
            extract(layer_zip, tmp_path / f"{flavour}-opt") / "python",
        )

    imported = {}
    for flavour, (_size, site) in layers.items():
        completed = subprocess.run(
            [python, "-I", "-S", "-B", "-c", IMPORT_EVERYTHING, str(site)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        imported[flavour] = set(json.loads(completed.stdout.strip().splitlines()[-1]))

    assert imported["slim"] == imported["full"]
    assert {"numpy", "numpy.linalg", "cryptography.fernet", "pydantic", "requests"} <= imported["slim"]
    assert layers["slim"][0] < layers["full"][0]
