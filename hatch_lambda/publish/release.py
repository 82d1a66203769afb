"""The release publishing reads: the build's manifest, its zips, each checked against the file."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from hatch_lambda.build.manifest import FORMAT_VERSION
from hatch_lambda.errors import PublishError
from hatch_lambda.files.digest import file_sha256


@dataclass(frozen=True)
class ZipArtifact:
    """One zip of the build, as its manifest entry describes it, checked against the file."""

    path: Path
    zipped_size: int
    unzipped_size: int
    sha256: str  # the zip's own (unsigned) bytes: what decides whether anything changed
    code_sha256: str  # what Lambda will report: the signed object's with `signing-profile`
    signed_key: str | None = None  # the S3 key of the signed object Lambda deploys (`signing-profile`)


@dataclass(frozen=True)
class Release:
    """One manifest of `hatch build -t lambda`: what to publish, and for which runtime."""

    manifest: Path
    project_name: str
    project_version: str
    runtime: str
    architecture: str
    source: ZipArtifact | None
    layer: ZipArtifact | None
    handlers: tuple[str, ...] = ()  # the target's `handler`, as the build recorded it
    sbom_sha256: str | None = None  # the CycloneDX SBOM's, as the build recorded it


REBUILD = "run `hatch build -t lambda` again"


def find_manifest(locations: Iterable[Path], default_directory: Path, project_name: str | None) -> Path:
    """The manifest to publish: one named directly, or the newest in a directory (the build's by default)."""
    given = list(locations)
    manifests = [path for path in given if path.name.endswith("-lambda.json")]
    directories = [path for path in given if path.is_dir()]
    others = [path for path in given if path not in manifests and path not in directories]
    if others:
        listed = ", ".join(str(path) for path in others)
        raise PublishError(f"Give the build directory or its `*-lambda.json` manifest, not {listed}.")
    if len(manifests) > 1 or (manifests and directories):
        raise PublishError("Give one manifest or one build directory to publish, not several.")
    if manifests:
        if not manifests[0].is_file():
            raise PublishError(f"No manifest at {manifests[0]}: {REBUILD}.")
        return manifests[0]
    directory = directories[0] if directories else default_directory
    found = sorted(directory.glob("*-lambda.json")) if directory.is_dir() else []
    if project_name is not None:
        found = [path for path in found if _manifest_project(path) == canonicalize_name(project_name)]
    if not found:
        whose = f" for {project_name}" if project_name else ""
        raise PublishError(
            f"No `*-lambda.json` manifest{whose} in {directory}: run `hatch build -t lambda` first."
        )
    # Several versions built into one directory: the newest build is the one being published.
    return max(found, key=lambda path: path.stat().st_mtime)


def _manifest_project(path: Path) -> str | None:
    try:
        return canonicalize_name(json.loads(path.read_text(encoding="utf-8"))["project"]["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_release(manifest: Path) -> Release:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        _refuse_undeployable(manifest, data)
        artifacts = data["artifacts"]
        release = Release(
            manifest=manifest,
            project_name=str(data["project"]["name"]),
            project_version=str(data["project"]["version"]),
            runtime=str(data["runtime"]),
            architecture=str(data["architecture"]),
            source=_artifact(manifest, artifacts.get("source")),
            layer=_artifact(manifest, artifacts.get("layer")),
            handlers=tuple(str(handler) for handler in data.get("handler_check", {}).get("handlers", [])),
            sbom_sha256=str(data["sbom"]["sha256"]) if isinstance(data.get("sbom"), dict) else None,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise PublishError(f"{manifest} is not a hatch-lambda manifest ({error!r}): {REBUILD}.") from error
    if release.source is None and release.layer is None:
        raise PublishError(f"{manifest} lists no zip to publish: {REBUILD}.")
    return release


def _refuse_undeployable(manifest: Path, data: dict[str, Any]) -> None:
    """Only a release the build committed whole, from one set of inputs, is published."""
    if data.get("format") != FORMAT_VERSION:
        raise PublishError(f"{manifest} was written by another version of hatch-lambda: {REBUILD}.")
    if data.get("deployable") is not True:
        problems = "; ".join(str(problem) for problem in data.get("problems", [])) or "no reason recorded"
        raise PublishError(f"{manifest} does not describe a release that can be deployed ({problems}).")
    entries = [entry for entry in data["artifacts"].values() if isinstance(entry, dict)]
    if any(entry.get("inputs") != data.get("inputs") for entry in entries):
        raise PublishError(
            f"The zips listed in {manifest.name} were built from different inputs (a source zip built "
            f"against another layer): {REBUILD}."
        )


def _artifact(manifest: Path, entry: Any) -> ZipArtifact | None:
    if entry is None:
        return None
    artifact = ZipArtifact(
        path=manifest.parent / str(entry["file"]),
        zipped_size=int(entry["zipped_size"]),
        unzipped_size=int(entry["unzipped_size"]),
        sha256=str(entry["sha256"]),
        code_sha256=str(entry["code_sha256"]),
    )
    if not artifact.path.is_file():
        raise PublishError(f"{artifact.path.name}, listed in {manifest.name}, is missing: {REBUILD}.")
    # Publishing must upload exactly the bytes the manifest's hashes describe.
    if file_sha256(artifact.path) != artifact.sha256:
        raise PublishError(f"{artifact.path.name} changed after {manifest.name} was written: {REBUILD}.")
    return artifact
