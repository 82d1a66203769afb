"""The `*-lambda.json` manifest: hashes as Lambda reports them, sizes, packages, partial rebuilds."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

from tests.helpers import output_of, run_hatchling, write_project


def project(root: Path, architecture: str = "x86_64") -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "Manifest.App"
                version = "0.9"
                dependencies = ["hlfix-pure"]

                [tool.hatch.build.targets.wheel]
                packages = ["manifest_app"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                architecture = "{architecture}"
            """,
            "manifest_app/__init__.py": "VALUE = 1\n",
        },
    )


def read_manifest(root: Path) -> dict:
    return json.loads((root / "dist" / "manifest_app-0.9-lambda.json").read_text())


def test_manifest_describes_both_zips_as_lambda_would(tmp_path, offline_environment):
    root = project(tmp_path / "app")

    completed = run_hatchling(root, "lambda", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    manifest = read_manifest(root)
    assert manifest["project"] == {"name": "manifest-app", "version": "0.9"}
    assert (manifest["runtime"], manifest["architecture"]) == ("python3.12", "x86_64")
    assert manifest["python_platform"] == "x86_64-manylinux_2_34"
    assert manifest["glibc"] == "2.34"
    for key in ("source", "layer"):
        entry = manifest["artifacts"][key]
        artifact = root / "dist" / entry["file"]
        data = artifact.read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["code_sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert entry["zipped_size"] == len(data)
        with zipfile.ZipFile(artifact) as opened:
            assert entry["unzipped_size"] == sum(info.file_size for info in opened.infolist())
            assert entry["files"] == len(opened.infolist())
    packages = manifest["artifacts"]["layer"]["packages"]
    assert [(package["name"], package["version"]) for package in packages] == [
        ("hlfix-native", "2.0"),
        ("hlfix-pure", "1.0"),
    ]
    assert packages[0]["wheel_tag"] == "cp312-cp312-manylinux_2_28_x86_64"
    assert packages[1]["wheel_tag"] == "py3-none-any"


def test_rebuilding_one_artifact_keeps_the_other_while_it_is_still_valid(tmp_path, offline_environment):
    root = project(tmp_path / "app")
    assert run_hatchling(root, "lambda", environment=offline_environment).returncode == 0
    layer_entry = read_manifest(root)["artifacts"]["layer"]

    (root / "manifest_app" / "__init__.py").write_text("VALUE = 2\n")
    assert run_hatchling(root, "lambda:source", environment=offline_environment).returncode == 0

    manifest = read_manifest(root)
    assert manifest["artifacts"]["layer"] == layer_entry
    source = root / "dist" / manifest["artifacts"]["source"]["file"]
    assert manifest["artifacts"]["source"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()


def test_a_layer_for_another_architecture_is_not_carried_over(tmp_path, offline_environment):
    root = project(tmp_path / "app")
    assert run_hatchling(root, "lambda", environment=offline_environment).returncode == 0

    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"x86_64"', '"arm64"'))
    assert run_hatchling(root, "lambda:source", environment=offline_environment).returncode == 0

    manifest = read_manifest(root)
    assert manifest["architecture"] == "arm64"
    assert "layer" not in manifest["artifacts"]  # needed, not built: not the `null` of "no dependencies"
    assert manifest["artifacts"]["source"] is not None
    assert manifest["deployable"] is False


def test_clean_removes_only_this_targets_artifacts(tmp_path, offline_environment):
    root = project(tmp_path / "app")
    built = run_hatchling(root, "sdist", "wheel", "lambda", environment=offline_environment)
    assert built.returncode == 0, output_of(built)
    (root / "dist" / "notes.txt").write_text("mine\n")

    cleaned = run_hatchling(root, "lambda", environment=offline_environment, extra=("--clean-only",))

    assert cleaned.returncode == 0, output_of(cleaned)
    assert sorted(path.name for path in (root / "dist").iterdir()) == [
        "manifest_app-0.9-py2.py3-none-any.whl",
        "manifest_app-0.9.tar.gz",
        "notes.txt",
    ]
