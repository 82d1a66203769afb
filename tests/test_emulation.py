"""arm64 targets on an x86_64 machine: the handler check and `invoke` under qemu's user-mode emulator.

`.ci/arm64-python.sh` unpacks Debian's aarch64 CPython 3.11 into a sysroot (no install) and prints
the command line for `HATCH_LAMBDA_PYTHON_3_11_ARM64`. On CI (CI=true) that must work; elsewhere,
without root and apt, these tests are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import deflate
import pytest

from hatch_lambda.layer.uv import find_uv
from tests.helpers import REPOSITORY, clean_environment, output_of, run_hatchling, run_invoke, write_project

VARIABLE = "HATCH_LAMBDA_PYTHON_3_11_ARM64"

NUMPY_HANDLER = """\
import platform

import numpy


def handler(event, context):
    values = numpy.arange(event["n"], dtype=numpy.float64)
    return {"machine": platform.machine(), "sum": float(values.sum()), "mean": float(values.mean())}
"""


@pytest.fixture(scope="session")
def arm64_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The command line that runs an aarch64 CPython 3.11 here, made by the CI script."""
    reason = None
    if platform.machine() != "x86_64":
        reason = "this machine is not x86_64"
    elif os.geteuid() != 0 or shutil.which("apt-get") is None:
        reason = ".ci/arm64-python.sh needs root and apt-get"
    if reason is None:
        sysroot = tmp_path_factory.mktemp("arm64-sysroot")
        made = subprocess.run(
            ["bash", str(REPOSITORY / ".ci" / "arm64-python.sh"), str(sysroot)],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        if made.returncode == 0:
            return made.stdout.strip().splitlines()[-1]
        reason = f".ci/arm64-python.sh failed:\n{made.stdout}{made.stderr}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run arm64 handlers under emulation: {reason}")
    pytest.skip(reason)


def _project(root: Path, module: str, dependencies: str) -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "arm-app"
                version = "1.0"
                dependencies = [{dependencies}]

                [tool.hatch.build.targets.wheel]
                packages = ["arm_app"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.11"
                architecture = "arm64"
                handler = "arm_app.handler.handler"
            """,
            "arm_app/__init__.py": "",
            "arm_app/handler.py": module,
        },
    )


def test_without_an_emulator_the_arm64_check_is_skipped_with_the_reason(tmp_path, offline_environment):
    root = _project(tmp_path / "app", "def handler(event, context):\n    return 1\n", '"hlfix-pure"')
    environment = {key: value for key, value in offline_environment.items() if key != VARIABLE}

    built = run_hatchling(root, "lambda", environment=environment)

    assert built.returncode == 0, output_of(built)
    assert (
        "Skipped the handler check: this machine is x86_64 and the target is arm64 (aarch64); "
        f"set `{VARIABLE}`"
    ) in output_of(built)


def test_the_check_runs_the_arm64_zips_under_emulation(tmp_path, offline_environment, arm64_python):
    module = (
        "import boto3\nimport hlfix_pure\n\nS3 = boto3.client('s3')\n\n\n"
        "def handler(event, context):\n    pass\n"
    )
    root = _project(tmp_path / "app", module, '"hlfix-pure"')

    built = run_hatchling(root, "lambda", environment={**offline_environment, VARIABLE: arm64_python})

    assert built.returncode == 0, output_of(built)
    assert (
        "Checked handler arm_app.handler.handler: it imports from the zips and takes (event, context) "
        "on CPython 3.11 under emulation"
    ) in output_of(built)


@pytest.mark.network
def test_a_real_numpy_layer_imports_and_runs_under_emulation(tmp_path, layer_cache, arm64_python):
    root = _project(tmp_path / "app", NUMPY_HANDLER, '"numpy"')
    environment = clean_environment(HATCH_LAMBDA_CACHE_DIR=str(layer_cache), **{VARIABLE: arm64_python})

    built = run_hatchling(root, "lambda", environment=environment)
    invoked = run_invoke(root, "--event", "-", environment=environment, stdin='{"n": 10}')

    assert built.returncode == 0, output_of(built)
    assert "Checked handler arm_app.handler.handler" in output_of(built)
    assert "under emulation" in output_of(built)
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout) == {"machine": "aarch64", "sum": 45.0, "mean": 4.5}
    assert f"note: the handler ran under emulation, with `{VARIABLE}`" in invoked.stderr


WRITE_ZIP = """
import hashlib, io, random, sys
from hatch_lambda.archive import libdeflate
from hatch_lambda.archive.zip_stream import Entry, write_entries

rng = random.Random(11)
words = [bytes(rng.choices(b"abcdefghij_ (),:", k=rng.randint(2, 12))) for _ in range(3000)]
datas = [b" ".join(rng.choices(words, k=rng.randint(0, 60_000))) for _ in range(40)]
datas += [rng.randbytes(200_000), b""]
entries = [
    Entry(f"python/m{index:03}.py", lambda data=data: data, (1980, 1, 1, 0, 0, 0), 0o100644 << 16, 3)
    for index, data in enumerate(datas)
]
out = []
for level in (1, 6, 12):
    stream = io.BytesIO()
    write_entries(stream, entries, level=level)
    out.append(hashlib.sha256(stream.getvalue()).hexdigest())
print(libdeflate.parallel(), *out)
"""


@pytest.mark.network
def test_the_aarch64_cpython_writes_the_same_zip_bytes_as_this_x86_64_one(tmp_path, arm64_python):
    # The pinned `deflate` wheel for aarch64, beside hatch-lambda's own (pure Python) source.
    site = tmp_path / "aarch64-site"
    subprocess.run(
        [
            *(find_uv(), "pip", "install", "--quiet", "--target", str(site)),
            *("--python-platform", "aarch64-manylinux_2_17", "--python-version", "3.11"),
            *("--only-binary", ":all:", f"deflate=={deflate.__version__}"),
        ],
        check=True,
        capture_output=True,
    )
    emulated = subprocess.run(
        [*arm64_python.split(), "-s", "-c", WRITE_ZIP],
        env={**clean_environment(), "PYTHONPATH": f"{REPOSITORY}:{site}"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    native = subprocess.run(
        [sys.executable, "-c", WRITE_ZIP], cwd=REPOSITORY, capture_output=True, text=True, check=False
    )

    assert emulated.returncode == 0, emulated.stderr
    assert native.returncode == 0, native.stderr
    assert emulated.stdout.split()[0] == "True"  # the aarch64 wheel's C API, on its threads
    assert emulated.stdout == native.stdout
