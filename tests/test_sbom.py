"""The CycloneDX SBOM every `hatchling build -t lambda` writes beside the manifest.

Each document is validated against the official CycloneDX 1.6 JSON schema (the copy
cyclonedx-python-lib ships), and read as a user would: which distributions, with which purls,
hashes, licences and dependencies.
"""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
import zipfile
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from hatch_lambda.build.sbom import declared_licenses, purl, uuid_urn
from hatch_lambda.files.record import FileToPack
from hatch_lambda.files.slim import slim_layer
from hatch_lambda.layer.identity import uv_lock_file_hashes
from tests.helpers import output_of, run_hatchling, run_in, write_project
from tests.test_workspaces import uv_lock, workspace
from tests.wheelfactory import WheelSpec, write_wheel

CARRIED_SBOM = '{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1}\n'
SBOM_NAME = "sbom_app-1.0-lambda.cdx.json"


def sbom_wheels(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for spec in (
        WheelSpec(
            "sbomfix-alpha",
            "1.0",
            files={
                "sbomfix_alpha/__init__.py": "",
                "sbomfix_alpha-1.0.dist-info/sboms/auditwheel.cdx.json": CARRIED_SBOM,
            },
            requires=["sbomfix-beta[fast]>=1", "sbomfix-windows; sys_platform == 'win32'"],
            metadata=["License-Expression: MIT", "License: ignored when an expression is given"],
        ),
        WheelSpec(
            "sbomfix-beta",
            "2.0+local.1",
            files={"sbomfix_beta.py": ""},
            requires=["sbomfix-gamma; extra == 'fast'"],
            metadata=["Classifier: License :: OSI Approved :: Apache Software License"],
        ),
        # Locked by `uv lock` (universal), never installed for Lambda's Linux.
        WheelSpec("sbomfix-windows", "1.0", files={"sbomfix_windows.py": ""}),
        WheelSpec("sbomfix-gamma", "3.0", files={"sbomfix_gamma.py": ""}, metadata=["License: BSD-3-Clause"]),
    ):
        write_wheel(spec, directory)
    return directory


@pytest.fixture
def project(tmp_path: Path, offline_environment: dict[str, str]) -> Path:
    offline_environment["UV_FIND_LINKS"] = str(sbom_wheels(tmp_path / "sbom-wheels"))
    return write_project(
        tmp_path / "app",
        {
            "pyproject.toml": """
                [project]
                name = "sbom-app"
                version = "1.0"
                dependencies = ["sbomfix-alpha"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                slim = true
                slim-exclude = ["*.json"]
            """,
            "sbom_app/__init__.py": "def handler(event, context):\n    return 1\n",
        },
    )


def build(project: Path, environment: dict[str, str]) -> str:
    completed = run_hatchling(project, environment=environment)
    assert completed.returncode == 0, output_of(completed)
    return output_of(completed)


def validated(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, f"{path.name} is not valid CycloneDX 1.6: {error}"
    document: dict[str, Any] = json.loads(text)
    return document


def components(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in document["components"]}


def dependencies(document: dict[str, Any]) -> dict[str, list[str]]:
    return {item["ref"]: item["dependsOn"] for item in document["dependencies"]}


def test_the_sbom_lists_the_layer_with_purls_hashes_licences_and_the_graph(project, offline_environment):
    build(project, offline_environment)
    dist = project / "dist"
    document = validated(dist / SBOM_NAME)
    found = components(document)
    assert document["metadata"]["component"]["purl"] == "pkg:pypi/sbom-app@1.0"
    assert "timestamp" not in document["metadata"]  # no SOURCE_DATE_EPOCH: no date
    assert {"sbomfix-alpha", "sbomfix-beta", "sbomfix-gamma"} <= set(found)
    assert "sbomfix-windows" not in found

    alpha, beta, gamma = found["sbomfix-alpha"], found["sbomfix-beta"], found["sbomfix-gamma"]
    assert alpha["purl"] == "pkg:pypi/sbomfix-alpha@1.0"
    assert beta["purl"] == "pkg:pypi/sbomfix-beta@2.0%2Blocal.1"
    wheel = hashlib.sha256(
        (project.parent / "sbom-wheels" / "sbomfix_alpha-1.0-py3-none-any.whl").read_bytes()
    )
    assert alpha["hashes"] == [{"alg": "SHA-256", "content": wheel.hexdigest()}]
    assert alpha["licenses"] == [{"expression": "MIT"}]
    assert beta["licenses"] == [{"license": {"name": "Apache Software License"}}]
    assert gamma["licenses"] == [{"license": {"name": "BSD-3-Clause"}}]

    graph = dependencies(document)
    assert graph["pkg:pypi/sbom-app@1.0"] == ["pkg:pypi/sbomfix-alpha@1.0"]
    assert graph[alpha["purl"]] == [beta["purl"]]
    assert graph[beta["purl"]] == [gamma["purl"]]  # the `fast` extra alpha asks for

    # The zips themselves, with the sha256 the manifest records.
    manifest = json.loads((dist / "sbom_app-1.0-lambda.json").read_text(encoding="utf-8"))
    layer = manifest["artifacts"]["layer"]
    assert found[layer["file"]]["hashes"][0]["content"] == layer["sha256"]
    assert manifest["sbom"] == {
        "file": SBOM_NAME,
        "sha256": hashlib.sha256((dist / SBOM_NAME).read_bytes()).hexdigest(),
    }


def test_an_sbom_a_wheel_carries_stays_in_the_layer_and_is_referenced(project, offline_environment):
    build(project, offline_environment)  # with `slim = true` and `slim-exclude = ["*.json"]`
    dist = project / "dist"
    carried = "python/sbomfix_alpha-1.0.dist-info/sboms/auditwheel.cdx.json"
    with zipfile.ZipFile(dist / "sbom_app-1.0-lambda-layer-python3.12-x86_64.zip") as layer:
        assert layer.read(carried).decode() == CARRIED_SBOM
    reference = components(validated(dist / SBOM_NAME))["sbomfix-alpha"]["externalReferences"]
    assert reference[0]["type"] == "bom"
    assert reference[0]["url"] == carried
    assert reference[0]["hashes"][0]["content"] == hashlib.sha256(CARRIED_SBOM.encode()).hexdigest()


def test_warm_and_cold_builds_write_the_same_sbom_bytes(project, offline_environment, tmp_path):
    sbom = project / "dist" / SBOM_NAME
    build(project, offline_environment)
    cold = sbom.read_bytes()
    output = build(project, offline_environment)
    assert "Layer from the cache" in output
    assert sbom.read_bytes() == cold
    elsewhere = {**offline_environment, "HATCH_LAMBDA_CACHE_DIR": str(tmp_path / "other-cache")}
    assert "Layer from the cache" not in build(project, elsewhere)
    assert sbom.read_bytes() == cold


def test_source_date_epoch_dates_the_sbom_and_nothing_else_does(project, offline_environment):
    build(project, {**offline_environment, "SOURCE_DATE_EPOCH": "1700000000"})
    document = validated(project / "dist" / SBOM_NAME)
    assert document["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"


def test_a_failed_build_leaves_the_sbom_as_it_was(project, offline_environment):
    build(project, offline_environment)
    sbom = project / "dist" / SBOM_NAME
    before = sbom.read_bytes()
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            '"sbomfix-alpha"', '"sbomfix-alpha", "sbomfix-missing"'
        ),
        encoding="utf-8",
    )
    completed = run_hatchling(project, environment=offline_environment)
    assert completed.returncode != 0
    assert sbom.read_bytes() == before


def test_a_source_only_build_describes_the_carried_layer(project, offline_environment):
    build(project, offline_environment)
    completed = run_hatchling(project, "lambda:source", environment=offline_environment)
    assert completed.returncode == 0, output_of(completed)
    found = components(validated(project / "dist" / SBOM_NAME))
    assert found["sbomfix-alpha"]["licenses"] == [{"expression": "MIT"}]
    assert found["sbomfix-alpha"]["externalReferences"][0]["type"] == "bom"


def test_slim_never_drops_a_carried_sbom():
    paths = [
        "python/pkg/tests/test_a.py",
        "python/pkg-1.0.dist-info/sboms/auditwheel.cdx.json",
        "python/pkg/data.json",
    ]
    files = [
        FileToPack(path, lambda: b"x", executable=False, modified=(2024, 1, 1, 0, 0, 0), size=1)
        for path in paths
    ]
    result = slim_layer(files, "python/", ["*.json", "*/sboms/*"], drop_never_imported=True)
    assert [file.archive_path for file in result.kept] == [
        "python/pkg-1.0.dist-info/sboms/auditwheel.cdx.json"
    ]


def test_licences_prefer_the_pep_639_expression():
    metadata = Message()
    metadata["License"] = "MIT License"
    metadata["Classifier"] = "License :: OSI Approved :: MIT License"
    assert declared_licenses(metadata) == [{"license": {"name": "MIT License"}}]
    metadata["License-Expression"] = "MIT OR Apache-2.0"
    assert declared_licenses(metadata) == [{"expression": "MIT OR Apache-2.0"}]


def test_purls_follow_the_pypi_rules():
    assert purl("Foo_Bar.baz", "1.0+cpu") == "pkg:pypi/foo-bar-baz@1.0%2Bcpu"


def test_the_schema_check_rejects_a_document_that_breaks_it(project, offline_environment):
    build(project, offline_environment)
    document = json.loads((project / "dist" / SBOM_NAME).read_text(encoding="utf-8"))
    document["serialNumber"] = "not-a-urn"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document)) is not None


def test_each_workspace_member_gets_an_sbom_with_its_first_party_code(tmp_path, offline_environment):
    root = workspace(tmp_path / "acme")
    command = [sys.executable, "-m", "hatch_lambda.cli", "build", "--all", "--no-isolation"]
    completed = run_in(root, command, offline_environment)
    assert completed.returncode == 0, output_of(completed)
    for name in ("orders", "invoices"):
        sbom = root / "dist" / f"{name}-0.1.0-lambda.cdx.json"
        document = validated(sbom)
        found = components(document)
        artifact = {item["name"]: item["value"] for item in found["acme-shared"]["properties"]}
        assert artifact["hatch-lambda:artifact"] == "source"
        assert found["hlfix-extra"]["properties"][0]["value"] == "layer"
        assert "hashes" in found["hlfix-extra"]  # the wheel the shared layer installed
        graph = dependencies(document)
        assert "pkg:pypi/acme-shared@1.0" in graph[f"pkg:pypi/{name}@0.1.0"]
        assert graph["pkg:pypi/acme-shared@1.0"] == ["pkg:pypi/hlfix-extra@1.0"]
        manifest = json.loads((root / "dist" / f"{name}-0.1.0-lambda.json").read_text(encoding="utf-8"))
        assert manifest["sbom"]["sha256"] == hashlib.sha256(sbom.read_bytes()).hexdigest()


def test_a_uv_lock_install_lists_the_locked_wheel_hashes(project, offline_environment):
    uv_lock(project, offline_environment)
    output = build(project, offline_environment)
    assert "the project's uv.lock" in output
    found = components(validated(project / "dist" / SBOM_NAME))
    for name, wheel in (
        ("sbomfix-alpha", "sbomfix_alpha-1.0-py3-none-any.whl"),
        ("sbomfix-gamma", "sbomfix_gamma-3.0-py3-none-any.whl"),
    ):
        digest = hashlib.sha256((project.parent / "sbom-wheels" / wheel).read_bytes()).hexdigest()
        assert found[name]["hashes"] == [{"alg": "SHA-256", "content": digest}]


def test_uv_lock_hashes_are_read_by_file_name(tmp_path):
    lock = tmp_path / "uv.lock"
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "local-1.0-py3-none-any.whl").write_bytes(b"local wheel")
    lock.write_text(
        """
version = 1

[[package]]
name = "remote"
version = "2.0"
sdist = { url = "https://files.example/remote-2.0.tar.gz", hash = "sha256:aa" }
wheels = [{ url = "https://files.example/remote-2.0-py3-none-any.whl", hash = "sha256:bb" }]

[[package]]
name = "local"
version = "1.0"
wheels = [{ path = "wheels/local-1.0-py3-none-any.whl" }]
""",
        encoding="utf-8",
    )
    assert uv_lock_file_hashes(lock) == {
        "local-1.0-py3-none-any.whl": hashlib.sha256(b"local wheel").hexdigest(),
        "remote-2.0-py3-none-any.whl": "bb",
        "remote-2.0.tar.gz": "aa",
    }


@pytest.mark.parametrize(
    "digest",
    # Every bit the variant and the version replace set, none set, and some digests.
    [b"\xff" * 32, b"\x00" * 32, *(hashlib.sha256(str(seed).encode()).digest() for seed in range(18))],
)
def test_the_serial_number_is_the_uuid_module_s_version_5_urn(digest):
    assert uuid_urn(digest) == uuid.UUID(bytes=digest[:16], version=5).urn
