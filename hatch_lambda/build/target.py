"""One project's lambda target as a build sees it: validated settings, project facts, and the reporter."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from hatch_lambda.build.config import LambdaBuilderConfig
from hatch_lambda.build.reporting import Reporter, waiting
from hatch_lambda.files.record import FileToPack, ZipDateTime
from hatch_lambda.layer.sources import ProjectSources
from hatch_lambda.layer.uv import find_uv
from hatch_lambda.platform.limits import human

if TYPE_CHECKING:
    from hatch_lambda.build.early_python import EarlyRuntimePython

SOURCE_SUFFIX = "-lambda-source.zip"
LAYER_INFIX = "-lambda-layer-"
MANIFEST_SUFFIX = "-lambda.json"
SBOM_SUFFIX = "-lambda.cdx.json"


class Target:
    def __init__(
        self,
        config: LambdaBuilderConfig,
        *,
        project_name: str,
        project_version: str,
        stem: str,
        requirements: list[str],
        sources: ProjectSources,
        fixed_date_time: ZipDateTime | None,
        reporter: Reporter,
        lock_packages: list[str] | None = None,
    ) -> None:
        self.config = config
        self.project_name = project_name
        self.project_version = project_version
        self.stem = stem  # the wheel's name and version, `my_app-0.1.0`: every artifact name starts with it
        self.requirements = requirements  # as the project declares them, first-party names included
        self.sources = sources
        # A workspace's shared layer takes the pins of every member it serves from the lock.
        self.lock_packages = lock_packages or []
        self.fixed_date_time = fixed_date_time
        self.reporter = reporter
        self._early_python: EarlyRuntimePython | None = None

    @property
    def lock(self) -> Path | None:
        """The lock the layer installs: the one the target names, else the project's or workspace's
        `uv.lock`, unless `lock = "none"`."""
        if self.config.lock is not None or self.config.lock_disabled:
            return self.config.lock
        return self.sources.lock

    @property
    def root(self) -> Path:
        return Path(self.config.root)

    @property
    def description(self) -> str:
        return f"{self.config.runtime.name} {self.config.architecture}"

    @property
    def source_name(self) -> str:
        return f"{self.stem}{SOURCE_SUFFIX}"

    @property
    def layer_name(self) -> str:
        return f"{self.stem}{LAYER_INFIX}{self.config.runtime.name}-{self.config.architecture}.zip"

    @property
    def manifest_name(self) -> str:
        return f"{self.stem}{MANIFEST_SUFFIX}"

    @property
    def sbom_name(self) -> str:
        return f"{self.stem}{SBOM_SUFFIX}"

    def owns(self, file_name: str, versions: list[str]) -> bool:
        """Whether `file_name` is one of this project's own artifacts of `versions` (what `clean` removes)."""
        return (
            ("source" in versions and file_name == self.source_name)
            or (
                "layer" in versions
                and file_name.startswith(f"{self.stem}{LAYER_INFIX}")
                and file_name.endswith(".zip")
            )
            or ({"source", "layer"} <= set(versions) and file_name in {self.manifest_name, self.sbom_name})
        )

    def start_finding_runtime_python(self, *, compiles_source: bool) -> None:
        """Begin finding the runtime's CPython in the background (and, when `compiles_source`, starting
        the source zip's compiler), if this build needs it: the steps that ask for it join the work
        in flight (`build.early_python`)."""
        if self._early_python is not None or not needs_runtime_python(self.config):
            return
        from hatch_lambda.build.early_python import EarlyRuntimePython  # noqa: PLC0415 - only when needed

        self._early_python = EarlyRuntimePython(self.config, compiles_source=compiles_source)
        self._early_python.start()

    @cached_property
    def bytecode_python(self) -> str:
        """The runtime's CPython, found once per build: the compiler and the cache key both need it."""
        from hatch_lambda.runtime.bytecode import runtime_python  # noqa: PLC0415 - `compile-bytecode` only

        return runtime_python(self.config.runtime, find_uv())

    def bytecode(self, files: list[FileToPack], *, import_root: str, extracted_to: str) -> list[FileToPack]:
        """Unchecked-hash `.pyc` files for `compile-bytecode`: Lambda can never write `__pycache__`."""
        if not self.config.compile_bytecode:
            return []
        from hatch_lambda.runtime.bytecode import compile_bytecode  # noqa: PLC0415 - `compile-bytecode` only

        runtime = self.config.runtime
        waiting(self.reporter, f"Compiling bytecode with CPython {runtime.python_version_text}...")
        python = self.bytecode_python
        started = self._early_python.take_compiler(python) if self._early_python is not None else None
        compiled = compile_bytecode(
            files,
            python=python,
            python_version=runtime.python_version,
            import_root=import_root,
            extracted_to=extracted_to,
            started=started,
        )
        if compiled.uncompilable:
            shown = ", ".join(f"{item.archive_path} ({item.reason})" for item in compiled.uncompilable[:10])
            more = f" and {len(compiled.uncompilable) - 10} more" if len(compiled.uncompilable) > 10 else ""
            self.reporter.display_warning(
                f"{len(compiled.uncompilable)} files do not compile for CPython "
                f"{runtime.python_version_text} and ship without bytecode: {shown}{more}"
            )
        self.reporter.display_info(
            f"Compiled {len(compiled.pyc_files)} modules to unchecked-hash bytecode "
            f"({human(unzipped_size(compiled.pyc_files))})"
        )
        return compiled.pyc_files


def needs_runtime_python(config: LambdaBuilderConfig) -> bool:
    """Whether a build of `config` starts the runtime's CPython at all."""
    return config.compile_bytecode or bool(config.handlers)


def unzipped_size(files: list[FileToPack]) -> int:
    return sum(file.unzipped_size for file in files)
