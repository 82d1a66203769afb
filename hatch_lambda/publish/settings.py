"""What publishing starts from: the publish settings and the project's build settings.

Settings come from up to three tables, later ones winning: Hatch's user config `[publish.lambda]`,
the project's `[tool.hatch.publish.lambda]`, and `-o key=value` options (strings, so lists are
comma-separated there). This module is the only place that knows those keys; the rest of the
publishing code receives `PublishSettings`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hatch_lambda.errors import LambdaBuildError, PublishError
from hatch_lambda.layer.sources import read_pyproject

PUBLISH_TABLE = "tool.hatch.publish.lambda"
SETTING_KEYS = (
    "layer-name",
    "function-name",
    "s3-bucket",
    "s3-prefix",
    "alias",
    "snap-start",
    "signing-profile",
    "dry-run",
    "json",
)
BUILD_TABLE = "tool.hatch.build.targets.lambda"
ALLOW_BLOCKED_RUNTIME_HINT = f"`{BUILD_TABLE}.allow-blocked-runtime` = true"
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
    snap_start: bool = False  # SnapStart for the functions' published versions, the alias's among them
    signing_profile: str | None = None  # AWS Signer profile that signs both zips before they deploy


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
        snap_start=_flag(merged, "snap-start"),
        signing_profile=_optional_text(merged, "signing-profile"),
    )
    if settings.signing_profile is not None and settings.s3_bucket is None:
        raise PublishError(
            "Publish setting `signing-profile` needs `s3-bucket`: AWS Signer signs S3 objects, so the "
            "zips go through a (versioned) bucket in the functions' region."
        )
    if settings.layer_name is None and not settings.function_names:
        raise PublishError(
            f"Nothing to publish to: set `layer-name` and/or `function-name` in [{PUBLISH_TABLE}] "
            "(or pass them as options)."
        )
    if settings.alias is not None and not settings.function_names:
        raise PublishError("Publish setting `alias` needs `function-name`: an alias belongs to a function.")
    if settings.snap_start and (settings.alias is None or not settings.function_names):
        raise PublishError(
            "Publish setting `snap-start` needs `function-name` and `alias`: Lambda snapshots only "
            "published versions, never $LATEST, so invoke the function through the alias that "
            "publishing moves to each new version."
        )
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
    allow_blocked_runtime: bool = False


def read_project(project: Path) -> ProjectForPublishing:
    path = project / "pyproject.toml"
    if not path.is_file():
        return ProjectForPublishing(None, "dist", 0, {})
    try:
        document = read_pyproject(path)  # with tomllib, as hatchling reads it
    except LambdaBuildError as error:
        raise PublishError(str(error)) from error
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
    allow_blocked_runtime = target.get("allow-blocked-runtime", False)
    if not isinstance(allow_blocked_runtime, bool):
        raise PublishError(f"Field `{BUILD_TABLE}.allow-blocked-runtime` must be a boolean")
    publish_table = hatch.get("publish", {}).get("lambda", {})
    return ProjectForPublishing(
        name if isinstance(name, str) else None,
        str(directory),
        other_layers_size,
        dict(publish_table) if isinstance(publish_table, dict) else {},
        allow_blocked_runtime,
    )
