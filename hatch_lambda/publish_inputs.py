"""What publishing starts from: the publish settings, the project's build settings, and the manifest.

Settings come from up to three tables, later ones winning: Hatch's user config `[publish.lambda]`,
the project's `[tool.hatch.publish.lambda]`, and `-o key=value` options (strings, so lists are
comma-separated there). This module is the only place that knows those keys; the rest of the
publishing code receives `PublishSettings` and `Release`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from packaging.utils import canonicalize_name
from tomlkit.exceptions import TOMLKitError

from hatch_lambda.archive import file_sha256
from hatch_lambda.errors import PublishError

PUBLISH_TABLE = "tool.hatch.publish.lambda"
SETTING_KEYS = ("layer-name", "function-name", "s3-bucket", "s3-prefix", "alias", "dry-run", "json")
# Keys Hatch itself puts into a publisher's options or tables; they are not ours to validate.
HATCH_OWN_KEYS = frozenset({"no-prompt", "initialize-auth", "disable"})
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class PublishSettings:
    layer_name: str | None
    function_names: tuple[str, ...]
    s3_bucket: str | None
    s3_prefix: str
    alias: str | None
    dry_run: bool = False
    json_output: bool = False


def settings_from(tables: Iterable[Mapping[str, Any]]) -> PublishSettings:
    """Merge the setting tables (later wins) and validate each value; errors name the key."""
    merged: dict[str, Any] = {}
    for table in tables:
        for raw_key, value in table.items():
            key = raw_key.replace("_", "-")
            if key in HATCH_OWN_KEYS:
                continue
            if key not in SETTING_KEYS:
                valid = ", ".join(SETTING_KEYS)
                raise PublishError(
                    f"Unknown publish setting `{raw_key}` ({PUBLISH_TABLE} or -o); valid: {valid}."
                )
            merged[key] = value
    settings = PublishSettings(
        layer_name=_optional_text(merged, "layer-name"),
        function_names=_names(merged.get("function-name")),
        s3_bucket=_optional_text(merged, "s3-bucket"),
        s3_prefix=_optional_text(merged, "s3-prefix") or "",
        alias=_optional_text(merged, "alias"),
        dry_run=_flag(merged, "dry-run"),
        json_output=_flag(merged, "json"),
    )
    if settings.layer_name is None and not settings.function_names:
        raise PublishError(
            f"Nothing to publish to: set `layer-name` and/or `function-name` in [{PUBLISH_TABLE}] "
            "(or pass them as options)."
        )
    if settings.alias is not None and not settings.function_names:
        raise PublishError("Publish setting `alias` needs `function-name`: an alias belongs to a function.")
    return settings


def _optional_text(merged: Mapping[str, Any], key: str) -> str | None:
    value = merged.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PublishError(f"Publish setting `{key}` must be a string (got {value!r}).")
    return value


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        # `-o function-name=a,b` can only carry a list as text.
        names = [part.strip() for part in value.split(",")]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        names = [item.strip() for item in value]
    else:
        raise PublishError(
            f"Publish setting `function-name` must be a string or a list of strings (got {value!r})."
        )
    if not all(names):
        raise PublishError(f"Publish setting `function-name` holds an empty name (got {value!r}).")
    return tuple(dict.fromkeys(names))


def _flag(merged: Mapping[str, Any], key: str) -> bool:
    value = merged.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in TRUE_WORDS | FALSE_WORDS:
        return value.lower() in TRUE_WORDS
    raise PublishError(f"Publish setting `{key}` must be true or false (got {value!r}).")


# The project ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectForPublishing:
    """What publishing reads from pyproject.toml; empty values when there is none."""

    name: str | None
    build_directory: str
    other_layers_size: int
    publish_table: dict[str, Any]


def read_project(project: Path) -> ProjectForPublishing:
    path = project / "pyproject.toml"
    if not path.is_file():
        return ProjectForPublishing(None, "dist", 0, {})
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
    except (OSError, TOMLKitError) as error:
        raise PublishError(f"Cannot read {path}: {error}.") from error
    name = document.get("project", {}).get("name")
    hatch = document.get("tool", {}).get("hatch", {})
    build = hatch.get("build", {})
    target = build.get("targets", {}).get("lambda", {})
    directory = target.get("directory") or build.get("directory") or "dist"
    other_layers_size = target.get("other-layers-size", 0)
    if not isinstance(other_layers_size, int) or isinstance(other_layers_size, bool) or other_layers_size < 0:
        raise PublishError(
            "Field `tool.hatch.build.targets.lambda.other-layers-size` must be a whole number of bytes "
            f"(got {other_layers_size!r})"
        )
    publish_table = hatch.get("publish", {}).get("lambda", {})
    return ProjectForPublishing(
        name if isinstance(name, str) else None,
        str(directory),
        other_layers_size,
        dict(publish_table) if isinstance(publish_table, dict) else {},
    )


# The manifest -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZipArtifact:
    """One zip of the build, as its manifest entry describes it, checked against the file."""

    path: Path
    zipped_size: int
    unzipped_size: int
    sha256: str
    code_sha256: str


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
        artifacts = data["artifacts"]
        release = Release(
            manifest=manifest,
            project_name=str(data["project"]["name"]),
            project_version=str(data["project"]["version"]),
            runtime=str(data["runtime"]),
            architecture=str(data["architecture"]),
            source=_artifact(manifest, artifacts.get("source")),
            layer=_artifact(manifest, artifacts.get("layer")),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise PublishError(f"{manifest} is not a hatch-lambda manifest ({error!r}): {REBUILD}.") from error
    if release.source is None and release.layer is None:
        raise PublishError(f"{manifest} lists no zip to publish: {REBUILD}.")
    return release


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
