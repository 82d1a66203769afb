"""Publishing test support: a moto server (AWS emulator) per session, releases written as a build would.

`moto_server` starts moto's server (`moto.server.main`) on a free 127.0.0.1 port and stops exactly that
process at the end; `aws` points boto3 at it through `AWS_ENDPOINT_URL` with dummy credentials and
empties the emulator before each test.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from hatch_lambda.build.manifest import FORMAT_VERSION

REGION = "us-east-1"
# Both zips of a test release come from the same (made-up) inputs, as one build's would.
TEST_INPUTS = "inputs-of-the-test-release"
TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


# moto's server, plus a thread that ends it when its stdin closes: if the test process dies without
# running the fixture's teardown (killed by a timeout), the server still goes with it.
SERVER_SCRIPT = (
    "import os, sys, threading\n"
    "threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n"
    "from moto.server import main\n"
    "main(sys.argv[1:])\n"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("moto") / "server.log"
    port = _free_port()
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT, "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.PIPE,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server did not start:\n{log.read_text(errors='replace')}")
                time.sleep(0.1)
        yield url
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def aws_environment(endpoint: str, home: Path) -> dict[str, str]:
    """Variables that send boto3 to the emulator with dummy credentials, never to a real account."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
    }


@pytest.fixture
def aws(moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An empty emulator, and this process's boto3 pointed at it."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    environment = aws_environment(moto_server, tmp_path)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return environment


def lambda_client():
    return boto3.client("lambda", region_name=REGION)


def create_function(name: str, *, runtime: str = "python3.12", architecture: str = "x86_64", layers=()):
    iam = boto3.client("iam", region_name=REGION)
    try:
        role = iam.get_role(RoleName="publish-tests")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="publish-tests", AssumeRolePolicyDocument=TRUST_POLICY)["Role"]["Arn"]
    return lambda_client().create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": zip_bytes({"app.py": "def handler(event, context):\n    return 0\n"})},
        Architectures=[architecture],
        Layers=list(layers),
    )


def zip_bytes(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(files.items()):
            archive.writestr(zipfile.ZipInfo(name, (2020, 2, 2, 0, 0, 0)), content)
    return buffer.getvalue()


def code_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass
class Built:
    dist: Path
    manifest: Path
    source: bytes | None
    layer: bytes | None


def write_release(
    dist: Path,
    *,
    code: str = "VERSION = 1\n",
    dependencies: str | bytes | None = "DEPENDENCY = 1\n",
    runtime: str = "python3.12",
    architecture: str = "x86_64",
    source_unzipped: int | None = None,
    layer_unzipped: int | None = None,
    sbom_sha256: str | None = None,
) -> Built:
    """A dist/ as `hatch build -t lambda` leaves it: two zips and the manifest describing them."""
    dist.mkdir(parents=True, exist_ok=True)
    source = zip_bytes({"my_app/__init__.py": code})
    layer = None
    if isinstance(dependencies, bytes):
        layer = dependencies
    elif dependencies is not None:
        layer = zip_bytes({"python/dependency.py": dependencies})
    artifacts = {
        "source": _entry(dist, "my_app-0.1.0-lambda-source.zip", source, source_unzipped),
        "layer": None
        if layer is None
        else _entry(dist, f"my_app-0.1.0-lambda-layer-{runtime}-{architecture}.zip", layer, layer_unzipped),
    }
    if layer is None:
        layer_file = dist / f"my_app-0.1.0-lambda-layer-{runtime}-{architecture}.zip"
        layer_file.unlink(missing_ok=True)
    manifest = dist / "my_app-0.1.0-lambda.json"
    manifest.write_text(
        json.dumps(
            {
                "format": FORMAT_VERSION,
                "generator": "tests",
                "inputs": TEST_INPUTS,
                "deployable": True,
                "problems": [],
                "project": {"name": "my-app", "version": "0.1.0"},
                "runtime": runtime,
                "python_version": runtime.removeprefix("python"),
                "architecture": architecture,
                "artifacts": artifacts,
                **(
                    {"sbom": {"file": "my_app-0.1.0-lambda.cdx.json", "sha256": sbom_sha256}}
                    if sbom_sha256
                    else {}
                ),
            }
        ),
        encoding="utf-8",
    )
    return Built(dist, manifest, source, layer)


def _entry(dist: Path, name: str, data: bytes, unzipped: int | None) -> dict[str, object]:
    (dist / name).write_bytes(data)
    return {
        "file": name,
        "zipped_size": len(data),
        "unzipped_size": unzipped if unzipped is not None else len(data) * 2,
        "files": 1,
        "sha256": hashlib.sha256(data).hexdigest(),
        "code_sha256": code_sha256(data),
        "inputs": TEST_INPUTS,
    }


def large_random_zip(size: int) -> bytes:
    """A stored (uncompressed) zip of random bytes, so its zipped size is about `size`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(zipfile.ZipInfo("python/blob.bin", (2020, 2, 2, 0, 0, 0)), os.urandom(size))
    return buffer.getvalue()
