"""`[tool.hatch.build.targets.lambda]`: the only module that knows the TOML keys.

Follows hatchling's convention: one cached property per option, type-checked on first use, with
errors that name the exact field. The rest of the code receives typed values.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from hatchling.builders.config import BuilderConfig
from packaging.utils import canonicalize_name

from hatch_lambda.platform import runtimes
from hatch_lambda.platform.runtimes import Runtime
from hatch_lambda.runtime.handler_name import parse_handler

LAYOUTS = ("python", "site-packages")

OWN_OPTIONS = (
    "allow-blocked-runtime",
    "allow-sdist",
    "architecture",
    "compile-bytecode",
    "dependency-groups",
    "exclude-packages",
    "extras",
    "handler",
    "installer",
    "layout",
    "lock",
    "other-layers-size",
    "runtime",
    "slim",
    "slim-exclude",
)
INSTALLERS = ("uv", "pip")

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
        """Refuse keys this target does not understand, so a typo never passes silently."""
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
        value = self.target_config.get("architecture", runtimes.DEFAULT_ARCHITECTURE)
        if value not in runtimes.ARCHITECTURES:
            choices = ", ".join(runtimes.ARCHITECTURES)
            message = f"Field {self._field('architecture')} must be one of: {choices} (got {value!r})"
            raise ValueError(message)
        return str(value)

    @cached_property
    def extras(self) -> list[str]:
        defined = list(self.builder.metadata.core.optional_dependencies)
        return self._names_defined_in("extras", defined, "a group of `project.optional-dependencies`")

    @cached_property
    def dependency_groups(self) -> list[str]:
        table = self.builder.metadata.config.get("dependency-groups", {})
        defined = list(table) if isinstance(table, dict) else []
        return self._names_defined_in(
            "dependency-groups", defined, "a group of the `[dependency-groups]` table"
        )

    @cached_property
    def exclude_packages(self) -> list[str]:
        """Distributions kept out of the layer, with whatever only they needed."""
        return [canonicalize_name(name) for name in self._string_list("exclude-packages")]

    @cached_property
    def allow_sdist(self) -> list[str]:
        """Dependencies that may be built from source; everything else must come as a wheel."""
        return [canonicalize_name(name) for name in self._string_list("allow-sdist")]

    @cached_property
    def installer(self) -> str:
        value = self.target_config.get("installer", "uv")
        if value not in INSTALLERS:
            message = (
                f"Field {self._field('installer')} must be one of: {', '.join(INSTALLERS)} (got {value!r})"
            )
            raise ValueError(message)
        return str(value)

    @cached_property
    def lock(self) -> Path | None:
        value = self.target_config.get("lock")
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            message = f"Field {self._field('lock')} must be a path to a lock file"
            raise TypeError(message)
        path = Path(self.root, value)
        if not path.is_file():
            message = f"Field {self._field('lock')} names `{value}`, which does not exist in the project"
            raise ValueError(message)
        return path

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
    def handler(self) -> str | None:
        value = self.target_config.get("handler")
        if value is None:
            return None
        if not isinstance(value, str):
            message = f"Field {self._field('handler')} must be a string, `package.module.function`"
            raise TypeError(message)
        # The one rule for handler strings, the one the build-time check and `invoke` apply too.
        return parse_handler(value, self._field("handler")).text

    @cached_property
    def layout(self) -> str:
        value = self.target_config.get("layout", "python")
        if value not in LAYOUTS:
            message = f"Field {self._field('layout')} must be one of: {', '.join(LAYOUTS)} (got {value!r})"
            raise ValueError(message)
        return str(value)

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
