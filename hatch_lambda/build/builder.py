"""The `lambda` build target: Hatch's interface, wired to one release transaction (`build.release`).

Hatchling calls one function per version (`source`, `layer`). A release is one transaction over
every version asked for, so the first version's call builds them all (planned, built, proven,
checked, committed together) and each call returns its own artifact's path. `build()` is wrapped
to learn which versions this run builds and whether it cleans, and to make the target and start
finding the runtime's CPython before hatchling's own steps; hatchling's template method itself runs
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatchling.builders.config import env_var_enabled
from hatchling.builders.constants import BuildEnvVars
from hatchling.builders.plugin.interface import BuilderInterface

from hatch_lambda.errors import LambdaBuildError

# Hatchling imports every builder plugin to find any target, `wheel` and `sdist` too: this module
# stays light, and what builds the lambda target is imported when it builds (`_target`, `_release`).
if TYPE_CHECKING:
    from hatch_lambda.build.config import LambdaBuilderConfig
    from hatch_lambda.build.release import Committed
    from hatch_lambda.build.target import Target

VERSIONS = ("source", "layer")


class LambdaBuilder(BuilderInterface["LambdaBuilderConfig", Any]):
    """Build AWS Lambda artifacts: a source zip of the project's wheel and a layer of its dependencies."""

    PLUGIN_NAME = "lambda"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._versions: list[str] | None = None  # what this run of `build()` builds
        self._clean_only = False
        self._clean: list[str] | None = None  # versions `-c` asked to remove, at the commit
        self._committed: Committed | None = None
        self._target: Target | None = None  # made once per `build()`, as it starts

    @classmethod
    def get_config_class(cls) -> type[LambdaBuilderConfig]:
        from hatch_lambda.build.config import LambdaBuilderConfig  # noqa: PLC0415

        return LambdaBuilderConfig

    def get_version_api(self) -> dict[str, Callable[..., str]]:
        return {"source": self._build_source, "layer": self._build_layer}

    def get_default_versions(self) -> list[str]:
        return list(VERSIONS)

    def build(
        self,
        *,
        directory: str | None = None,
        versions: list[str] | None = None,
        clean_only: bool | None = False,
        **options: Any,
    ) -> Generator[str, None, None]:
        self._versions = [version for version in VERSIONS if version in (versions or self.config.versions)]
        self._clean_only = bool(clean_only)
        self._clean = None
        self._committed = None
        self._target = None
        # Read as hatchling reads it.
        hooks_only = options.get("hooks_only") or env_var_enabled(BuildEnvVars.HOOKS_ONLY)
        if not self._clean_only and not hooks_only and self._versions:
            with self._user_errors_abort():
                self._target = self.lambda_target()
                # Begun before hatchling's own steps and the release's modules load: an interpreter's
                # start-up (and the compiler's) overlaps them.
                self._target.start_finding_runtime_python(compiles_source="source" in self._versions)
        yield from super().build(directory=directory, versions=versions, clean_only=clean_only, **options)

    def clean(self, directory: str, versions: list[str]) -> None:
        """Remove this project's own artifacts only; never the sdist, the wheel or another project's files.

        With `--clean-only` they go now. With `-c` they go when the new release is committed, so a
        failed build still leaves the previous release in place.
        """
        versions = versions or self.get_default_versions()
        if self._clean_only:
            from hatch_lambda.build.release import remove_now  # noqa: PLC0415

            with self._user_errors_abort():
                remove_now(self.lambda_target(), Path(directory), versions)
        else:
            self._clean = versions

    def _build_source(self, directory: str, **_build_data: Any) -> str:
        return str(self._release(directory, "source").artifacts["source"])

    def _build_layer(self, directory: str, **_build_data: Any) -> str:
        return str(self._release(directory, "layer").artifacts["layer"])

    def _release(self, directory: str, version: str) -> Committed:
        if self._committed is None:
            versions = self._versions or [version]  # a version called without `build()`: that one alone
            with self._user_errors_abort():
                target = self._target or self.lambda_target()
                from hatch_lambda.build.release import build_release  # noqa: PLC0415

                self._committed = build_release(target, Path(directory), versions, clean=self._clean)
        return self._committed

    def lambda_target(self) -> Target:
        """The validated target, for this build and for commands that work on it (`hatch-lambda lock`)."""
        from hatchling.builders.utils import get_reproducible_timestamp  # noqa: PLC0415

        from hatch_lambda.build.target import Target  # noqa: PLC0415
        from hatch_lambda.files.record import zip_date_time  # noqa: PLC0415
        from hatch_lambda.layer.requirements import layer_requirements  # noqa: PLC0415
        from hatch_lambda.layer.sources import read_sources  # noqa: PLC0415

        core = self.metadata.core
        config = self._validated_config()
        return Target(
            config,
            project_name=core.name,
            project_version=self.metadata.version,
            stem=self.project_id,
            requirements=layer_requirements(
                core.name,
                core.dependencies,
                core.optional_dependencies,
                config.extras,
                dependency_groups=self.metadata.config.get("dependency-groups"),
                groups=config.dependency_groups,
            ),
            sources=read_sources(Path(self.root)),
            fixed_date_time=zip_date_time(get_reproducible_timestamp()) if config.reproducible else None,
            reporter=self.app,
        )

    def _validated_config(self) -> LambdaBuilderConfig:
        """Read every option up front, so a bad one stops the build before any work is done."""
        from hatch_lambda.platform import runtimes  # noqa: PLC0415

        config = self.config
        try:
            config.validate_keys()
            runtime = config.runtime
            _ = config.architecture, config.extras, config.layout, config.dependency_groups
            _ = config.exclude_packages, config.allow_sdist, config.installer, config.lock
            _ = config.slim, config.slim_exclude, config.compile_bytecode, config.other_layers_size
            _ = config.handler, config.path_dependencies, config.lock_disabled
            _ = config.handlers, config.environment, config.runtime_sdk, config.allow_blocked_runtime
            warning = runtimes.enforce_lifecycle(
                runtime,
                runtimes.lifecycle_today(),
                allowed=config.allow_blocked_runtime,
                override=config.allow_blocked_runtime_hint,
            )
        except (ValueError, TypeError) as error:
            self.app.abort(str(error))
            raise
        if warning:
            self.app.display_warning(warning)
        return config

    @contextmanager
    def _user_errors_abort(self) -> Iterator[None]:
        try:
            yield
        except LambdaBuildError as error:
            self.app.abort(str(error))
            raise  # abort exits; this only satisfies type checkers
