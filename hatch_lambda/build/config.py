"""`[tool.hatch.build.targets.lambda]`: the only module that knows the TOML keys.

Follows hatchling's convention: one cached property per option, type-checked on first use, with
errors that name the exact field. The rest of the code receives typed values.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, TypeVar

from hatchling.builders.config import BuilderConfig
from packaging.utils import InvalidName, canonicalize_name

from hatch_lambda.archive.libdeflate import LEVELS as COMPRESS_LEVELS
from hatch_lambda.archive.reproducible_zip import DEFAULT_COMPRESS_LEVEL
from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.files.record import ZipDateTime, zip_date_time
from hatch_lambda.layer.locks import lock_kind, unknown_lock_advice
from hatch_lambda.layer.shared_cache import ENVIRONMENT_VARIABLE as SHARED_CACHE_VARIABLE
from hatch_lambda.layer.shared_cache import S3Location, parse_s3_location
from hatch_lambda.layer.sources import read_pyproject
from hatch_lambda.platform import runtimes
from hatch_lambda.platform.runtimes import Runtime
from hatch_lambda.runtime.runtime_sdk import configured_runtime_sdk

_T = TypeVar("_T")

LAYOUTS = ("python", "site-packages")

OWN_OPTIONS = (
    "allow-blocked-runtime",
    "allow-sdist",
    "architecture",
    "cache-s3",
    "compile-bytecode",
    "compress-level",
    "dependency-groups",
    "environment",
    "exclude-packages",
    "extras",
    "handler",
    "installer",
    "layout",
    "lock",
    "other-layers-size",
    "path-dependencies",
    "runtime",
    "runtime-sdk",
    "slim",
    "slim-exclude",
)
INSTALLERS = ("uv", "pip")
# Where first-party dependencies (workspace members, directories by path) ship: as code, in the
# source zip beside the project, or in the layer like any other dependency.
PATH_DEPENDENCY_PLACES = ("code", "layer")
# `lock = "none"`: resolve afresh even where a `uv.lock` would be the default.
NO_LOCK = "none"
# hatchling's default when SOURCE_DATE_EPOCH is unset (2020-02-02), and the last second a zip entry's
# date can hold (its year is 7 bits counted from 1980).
DEFAULT_SOURCE_DATE_EPOCH = 1580601600
LAST_ZIP_TIMESTAMP = 4354819198  # 2107-12-31 23:59:58 UTC

# Hatchling's standard target options that keep their meaning for this target.
STANDARD_OPTIONS = (
    "dependencies",
    "directory",
    "hooks",
    "reproducible",
    "require-runtime-dependencies",
    "require-runtime-features",
    "versions",
)

# Hatchling's file-selection options. The source zip holds exactly what the wheel holds, so these
# belong in the wheel target's table; accepting them here would silently do nothing.
WHEEL_SELECTION_OPTIONS = (
    "artifacts",
    "dev-mode-dirs",
    "dev-mode-exact",
    "exclude",
    "force-include",
    "ignore-vcs",
    "include",
    "only-include",
    "only-packages",
    "packages",
    "skip-excluded-dirs",
    "sources",
)


class LambdaBuilderConfig(BuilderConfig):
    def _field(self, key: str) -> str:
        return f"`tool.hatch.build.targets.{self.plugin_name}.{key}`"

    def validate_keys(self) -> None:
        """Refuse keys this target does not understand, so a typo never passes silently, values of
        hatchling's standard options of the wrong type, and a `SOURCE_DATE_EPOCH` zips cannot hold."""
        for key in self.target_config:
            if key in WHEEL_SELECTION_OPTIONS:
                message = (
                    f"Field {self._field(key)} has no effect: the source zip holds exactly what the "
                    f"project's wheel holds. Set `tool.hatch.build.targets.wheel.{key}` instead."
                )
                raise ValueError(message)
            if key not in OWN_OPTIONS and key not in STANDARD_OPTIONS:
                valid = ", ".join(sorted((*OWN_OPTIONS, *STANDARD_OPTIONS)))
                message = f"Unknown field {self._field(key)}. Valid fields are: {valid}"
                raise ValueError(message)
        # The standard options hatchling reads only on some paths: their types are checked now too.
        _ = self.dependencies, self.require_runtime_dependencies, self.require_runtime_features
        # The builder dates zips with hatchling's reading of SOURCE_DATE_EPOCH, after uv has run:
        # a value it cannot use must stop the build here, first.
        _ = self.zip_date_time
        # Read by the zip writer only after uv has run: a bad value must stop the build first.
        _ = self.compress_level
        _ = self.cache_s3

    # Hatchling's standard options, read by hatchling itself before this target builds: it raises a
    # TypeError naming the field, which hatchling's CLI shows as a traceback. Shown as the message.

    @cached_property
    def hook_config(self) -> dict[str, Any]:
        return self._standard_option(lambda: super(LambdaBuilderConfig, self).hook_config)

    @cached_property
    def versions(self) -> list[str]:
        return self._standard_option(lambda: super(LambdaBuilderConfig, self).versions)

    @cached_property
    def dependencies(self) -> list[str]:
        return self._standard_option(lambda: super(LambdaBuilderConfig, self).dependencies)

    @cached_property
    def directory(self) -> str:
        return self._standard_option(lambda: super(LambdaBuilderConfig, self).directory)

    @cached_property
    def reproducible(self) -> bool:
        return self._standard_option(lambda: super(LambdaBuilderConfig, self).reproducible)

    @cached_property
    def require_runtime_dependencies(self) -> bool:
        return self._standard_option(lambda: super(LambdaBuilderConfig, self).require_runtime_dependencies)

    @cached_property
    def require_runtime_features(self) -> list[str]:
        return self._standard_option(lambda: super(LambdaBuilderConfig, self).require_runtime_features)

    def _standard_option(self, read: Callable[[], _T]) -> _T:
        try:
            return read()
        except (TypeError, ValueError) as error:
            self.builder.app.abort(str(error))
            raise  # abort exits; this only satisfies type checkers

    @cached_property
    def runtime(self) -> Runtime:
        names = runtimes.runtime_names()
        if "runtime" not in self.target_config:
            requires_python = self.builder.metadata.core.requires_python
            runtime = runtimes.newest_runtime_allowed(requires_python)
            if runtime is None:
                message = (
                    f"No Lambda runtime satisfies `project.requires-python` ({requires_python!r}); "
                    f"set {self._field('runtime')} to one of: {', '.join(names)}"
                )
                raise ValueError(message)
            return runtime
        value = self.target_config["runtime"]
        runtime = runtimes.runtime_named(value) if isinstance(value, str) else None
        if runtime is None:
            message = f"Field {self._field('runtime')} must be one of: {', '.join(names)} (got {value!r})"
            raise ValueError(message)
        requires_python = self.builder.metadata.core.requires_python
        if not runtimes.runtime_allowed(runtime, requires_python):
            message = (
                f"Field {self._field('runtime')} is {runtime.name} (CPython "
                f"{runtime.python_version_text}), which `project.requires-python` ({requires_python!r}) "
                "excludes: choose a runtime it allows, or widen `requires-python`"
            )
            raise ValueError(message)
        return runtime

    @cached_property
    def allow_blocked_runtime(self) -> bool:
        """Build for a runtime past AWS's block-update date anyway (for when AWS moves the date)."""
        return self._boolean("allow-blocked-runtime")

    @property
    def allow_blocked_runtime_hint(self) -> str:
        """How a message names the override, for `runtimes.lifecycle_notice`."""
        return f"{self._field('allow-blocked-runtime')} = true"

    @cached_property
    def architecture(self) -> str:
        return self._choice("architecture", tuple(runtimes.ARCHITECTURES), runtimes.DEFAULT_ARCHITECTURE)

    @cached_property
    def extras(self) -> list[str]:
        defined = list(self.builder.metadata.core.optional_dependencies)
        return self._names_defined_in("extras", defined, "a group of `project.optional-dependencies`")

    @cached_property
    def dependency_groups(self) -> list[str]:
        table = self.builder.metadata.config.get("dependency-groups", {})
        defined = list(table) if isinstance(table, dict) else []
        chosen = self._names_defined_in(
            "dependency-groups", defined, "a group of the `[dependency-groups]` table"
        )
        if not chosen:
            return chosen
        from dependency_groups import resolve as resolve_groups  # noqa: PLC0415 - only when chosen

        for group in chosen:
            # Read now, so a bad entry stops the build before anything is resolved or written.
            try:
                resolve_groups(table, group)
            except (ValueError, TypeError, LookupError) as error:
                message = (
                    f"Field {self._field('dependency-groups')} names `{group}`, whose entries in "
                    f"`[dependency-groups]` are not PEP 735 requirements: {str(error).splitlines()[0]}"
                )
                raise ValueError(message) from None
        return chosen

    @cached_property
    def exclude_packages(self) -> list[str]:
        """Distributions kept out of the layer, with whatever only they needed."""
        return self._package_names("exclude-packages")

    @cached_property
    def allow_sdist(self) -> list[str]:
        """Dependencies that may be built from source; everything else must come as a wheel."""
        return self._package_names("allow-sdist")

    @cached_property
    def installer(self) -> str:
        return self._choice("installer", INSTALLERS, "uv")

    @cached_property
    def lock_disabled(self) -> bool:
        """`lock = "none"`: never the project's or workspace's `uv.lock`, resolve instead."""
        return self.target_config.get("lock") == NO_LOCK

    @cached_property
    def path_dependencies(self) -> str:
        value = self.target_config.get("path-dependencies", "code")
        if value not in PATH_DEPENDENCY_PLACES:
            choices = ", ".join(PATH_DEPENDENCY_PLACES)
            message = f"Field {self._field('path-dependencies')} must be one of: {choices} (got {value!r})"
            raise ValueError(message)
        return str(value)

    @cached_property
    def lock(self) -> Path | None:
        """The lock file the target names, inside the project (or its workspace), in a format `locks`
        reads; see `lock_disabled` for "none", and `layer.sources` for the default."""
        value = self.target_config.get("lock")
        if value is None or value == NO_LOCK:
            return None
        if not isinstance(value, str) or not value:
            message = f"Field {self._field('lock')} must be a path to a lock file, relative to the project"
            raise TypeError(message)
        root = Path(self.root).resolve()
        path = Path(root, value).resolve()
        if root not in path.parents and not _is_workspace_lock(path, root):
            message = (
                f"Field {self._field('lock')} names `{value}`, which is outside the project: give a path "
                "relative to the project's root, to a file inside it (or the `uv.lock` of the uv "
                "workspace the project belongs to)"
            )
            raise ValueError(message)
        if not path.is_file():
            message = f"Field {self._field('lock')} names `{value}`, which does not exist in the project"
            raise ValueError(message)
        kind = lock_kind(path)
        if kind is None:
            raise ValueError(f"Field {self._field('lock')}: {unknown_lock_advice(path)}")
        if kind != "requirements" and self.installer == "pip":
            message = (
                f"Field {self._field('lock')} names a {kind} lock, which pip cannot install, and "
                f'{self._field("installer")} is "pip": use `installer = "uv"` with this lock, or give '
                "pip a requirements file (`uv export --format requirements.txt`)"
            )
            raise ValueError(message)
        return path

    @cached_property
    def zip_date_time(self) -> ZipDateTime | None:
        """The one date of every zip entry (`SOURCE_DATE_EPOCH`, as hatchling reads it), or None when
        `reproducible = false` keeps the files' own dates. Read up front: a bad value must stop the
        build before anything is resolved."""
        if not self.reproducible:
            return None
        text = os.environ.get("SOURCE_DATE_EPOCH", str(DEFAULT_SOURCE_DATE_EPOCH))
        try:
            timestamp = int(text)
        except ValueError:
            message = (
                f"Environment variable `SOURCE_DATE_EPOCH` must be whole seconds since 1970 (got {text!r})"
            )
            raise ValueError(message) from None
        if timestamp > LAST_ZIP_TIMESTAMP:
            message = (
                f"Environment variable `SOURCE_DATE_EPOCH` is {timestamp}, after 2107-12-31, the last date a "
                "zip entry can hold: set it to a date before then (usually the last commit's: "
                "`git log -1 --format=%ct`)"
            )
            raise ValueError(message)
        return zip_date_time(timestamp)

    @cached_property
    def cache_s3(self) -> S3Location | None:
        """The shared layer cache: `HATCH_LAMBDA_CACHE_S3` (a CI runner's), else `cache-s3`."""
        if os.environ.get(SHARED_CACHE_VARIABLE):
            return parse_s3_location(
                os.environ[SHARED_CACHE_VARIABLE], f"Environment variable `{SHARED_CACHE_VARIABLE}`"
            )
        value = self.target_config.get("cache-s3")
        if value is None:
            return None
        if not isinstance(value, str):
            message = f"Field {self._field('cache-s3')} must be a string, `s3://BUCKET/PREFIX/`"
            raise TypeError(message)
        return parse_s3_location(value, f"Field {self._field('cache-s3')}")

    @cached_property
    def slim(self) -> bool:
        return self._boolean("slim")

    @cached_property
    def slim_exclude(self) -> list[str]:
        return self._string_list("slim-exclude")

    @cached_property
    def compile_bytecode(self) -> bool:
        return self._boolean("compile-bytecode")

    @cached_property
    def compress_level(self) -> int:
        """libdeflate's level for both zips: 1 fastest, 12 smallest; 6 as zlib's default."""
        value = self.target_config.get("compress-level", DEFAULT_COMPRESS_LEVEL)
        if isinstance(value, bool) or not isinstance(value, int) or value not in COMPRESS_LEVELS:
            message = (
                f"Field {self._field('compress-level')} must be a whole number from {COMPRESS_LEVELS[0]} "
                f"(fastest) to {COMPRESS_LEVELS[-1]} (smallest) (got {value!r})"
            )
            raise ValueError(message)
        return value

    @cached_property
    def other_layers_size(self) -> int:
        """Unzipped bytes of the layers attached from elsewhere, counted against Lambda's 250 MB."""
        value = self.target_config.get("other-layers-size", 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            message = (
                f"Field {self._field('other-layers-size')} must be a whole number of bytes (got {value!r})"
            )
            raise TypeError(message)
        return value

    @cached_property
    def handlers(self) -> list[str]:
        """Every function's handler in the source zip: `handler` is one string or an array of them."""
        # The one rule for handler strings, the one the build-time check and `invoke` apply too.
        value = self.target_config.get("handler", [])
        if value == []:
            return []
        from hatch_lambda.runtime.handler_name import parse_handlers  # noqa: PLC0415 - only when set

        return parse_handlers(value, self._field("handler"))

    @cached_property
    def handler(self) -> str | None:
        """The first handler, for code that serves one function."""
        return self.handlers[0] if self.handlers else None

    @cached_property
    def environment(self) -> dict[str, str]:
        """The function's environment variables, as its Lambda configuration sets them."""
        value = self.target_config.get("environment", {})
        if value == {}:
            return {}
        from hatch_lambda.runtime.environment import configured_environment  # noqa: PLC0415 - only when set

        return configured_environment(value, self._field("environment"))

    @cached_property
    def runtime_sdk(self) -> str:
        """The boto3 requirement standing in for the one Lambda's runtime carries."""
        return configured_runtime_sdk(self.target_config.get("runtime-sdk"), self._field("runtime-sdk"))

    @cached_property
    def layout(self) -> str:
        return self._choice("layout", LAYOUTS, "python")

    @cached_property
    def layer_prefix(self) -> str:
        """Where dependencies go inside the layer zip; both are on Lambda's sys.path."""
        if self.layout == "site-packages":
            return self.runtime.site_packages + "/"
        return "python/"

    def _names_defined_in(self, key: str, defined: list[str], what: str) -> list[str]:
        """The option's names, each of which must match (after normalisation) one of `defined`."""
        value = self._string_list(key)
        known = {canonicalize_name(name): name for name in defined}
        for name in value:
            if canonicalize_name(name) not in known:
                listed = ", ".join(sorted(known.values())) or "none are defined"
                message = f"Field {self._field(key)} names `{name}`, which is not {what} (known: {listed})"
                raise ValueError(message)
        return value

    def _choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.target_config.get(key, default)
        if not isinstance(value, str) or value not in choices:
            message = f"Field {self._field(key)} must be one of: {', '.join(choices)} (got {value!r})"
            raise ValueError(message)
        return value

    def _package_names(self, key: str) -> list[str]:
        """Distribution names, normalised. They are handed to uv as lines of a file, so anything but
        a PEP 508 name (a newline, a leading `-`) would be read as an option: refused here."""
        names: list[str] = []
        for name in self._string_list(key):
            try:
                names.append(canonicalize_name(name, validate=True))
            except InvalidName:
                message = (
                    f"Field {self._field(key)} holds {name!r}, which is not a package name (PEP 508: "
                    "letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit)"
                )
                raise ValueError(message) from None
        return names

    def _boolean(self, key: str) -> bool:
        value = self.target_config.get(key, False)
        if not isinstance(value, bool):
            message = f"Field {self._field(key)} must be a boolean"
            raise TypeError(message)
        return value

    def _string_list(self, key: str) -> list[str]:
        value: Any = self.target_config.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            message = f"Field {self._field(key)} must be an array of strings"
            raise TypeError(message)
        return list(value)


def _is_workspace_lock(path: Path, project_root: Path) -> bool:
    """`uv.lock` at the root of a uv workspace that holds the project: the one lock a workspace
    member has, and the one file outside the project `lock` may name."""
    if path.name != "uv.lock" or path.parent not in project_root.parents:
        return False
    try:
        workspace = read_pyproject(path.parent / "pyproject.toml")
    except LambdaBuildError:
        return False
    uv_table = workspace.get("tool", {}).get("uv", {})
    return isinstance(uv_table, dict) and "workspace" in uv_table
