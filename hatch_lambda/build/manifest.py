"""The `*-lambda.json` manifest: what was built, for whom, and the hashes Lambda will report.

Each build step updates its own entry and keeps the other one only while the file it describes is
still on disk with the same bytes, so the manifest never describes an artifact that is not there.
Publishing reads this file to know what to upload.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hatch_lambda.__about__ import __version__
from hatch_lambda.archive.atomic import write_text
from hatch_lambda.archive.reproducible_zip import WrittenZip
from hatch_lambda.files.digest import file_sha256
from hatch_lambda.files.installed_tree import InstalledDistribution
from hatch_lambda.platform.runtimes import Runtime, uv_python_platform

FORMAT_VERSION = 1
ARTIFACT_KEYS = ("source", "layer")


def zip_entry(written: WrittenZip) -> dict[str, Any]:
    return {
        "file": written.path.name,
        "zipped_size": written.zipped_size,
        "unzipped_size": written.unzipped_size,
        "files": written.file_count,
        "sha256": written.sha256,
        "code_sha256": written.code_sha256,
    }


def layer_entry(
    written: WrittenZip, layout: str, distributions: list[InstalledDistribution]
) -> dict[str, Any]:
    entry = zip_entry(written)
    entry["layout"] = layout
    entry["packages"] = [
        {"name": item.name, "version": item.version, "wheel_tag": item.wheel_tag} for item in distributions
    ]
    return entry


def update_manifest(
    path: Path,
    *,
    project_name: str,
    project_version: str,
    runtime: Runtime,
    architecture: str,
    artifact: str,
    entry: dict[str, Any] | None,
) -> None:
    """Record `entry` (None: this artifact was not produced) as `artifact` in the manifest at `path`."""
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "generator": f"hatch-lambda {__version__}",
        "project": {"name": project_name, "version": project_version},
        "runtime": runtime.name,
        "python_version": runtime.python_version_text,
        "architecture": architecture,
        "glibc": runtime.glibc_text,
        "python_platform": uv_python_platform(runtime, architecture),
        "artifacts": {key: None for key in ARTIFACT_KEYS},
    }
    for key in ARTIFACT_KEYS:
        if key != artifact:
            manifest["artifacts"][key] = current_entry(path, key, runtime, architecture)
    manifest["artifacts"][artifact] = entry
    write_text(path, json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def current_entry(path: Path, artifact: str, runtime: Runtime, architecture: str) -> dict[str, Any] | None:
    """The manifest's entry for `artifact` while it still describes a file on disk for this target."""
    previous = _read(path)
    same_target = previous.get("runtime") == runtime.name and previous.get("architecture") == architecture
    entry = previous.get("artifacts", {}).get(artifact)
    if (same_target or artifact == "source") and _still_on_disk(path.parent, entry):
        return dict(entry)
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _still_on_disk(directory: Path, entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        return False
    artifact = directory / entry["file"]
    return artifact.is_file() and file_sha256(artifact) == entry.get("sha256")
