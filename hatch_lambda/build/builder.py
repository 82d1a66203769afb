"""The `lambda` build target. It only wires the parts together:

project wheel → `wheel_source` → `archive` → source zip
requirements → `uv_installer` → `installed_tree` → `archive` → layer zip
and records both in the manifest.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hatchling.builders.plugin.interface import BuilderInterface
from hatchling.builders.utils import get_reproducible_timestamp

from hatch_lambda.build import manifest
from hatch_lambda.platform import runtimes
from hatch_lambda.files.record import FileToPack, ZipDateTime, zip_date_time
from hatch_lambda.archive.reproducible_zip import WrittenZip, write_reproducible_zip
from hatch_lambda.runtime.bytecode import FUNCTION_ROOT, LAYER_ROOT, compile_bytecode, runtime_python
from hatch_lambda.build.config import LambdaBuilderConfig
from hatch_lambda.errors import LambdaBuildError, PlatformProofError
from hatch_lambda.layer.request import InstallRequest
from hatch_lambda.files.installed_tree import files_to_pack, installed_distributions, owners_by_record
from hatch_lambda.platform.interpreters import environment_variable_for, find_runtime_python
from hatch_lambda.layer.cache import CachedLayer, LayerCache, cache_directory, place
from hatch_lambda.layer.install import install_layer
from hatch_lambda.layer.plan import LayerInputs, LayerPlan, cache_key, plan_layer
from hatch_lambda.runtime.local_lambda import LocalFunction, can_run_here, check_handlers
from hatch_lambda.build.project_wheel import build_project_wheel
from hatch_lambda.layer.requirements import layer_requirements
from hatch_lambda.platform.limits import DIRECT_UPLOAD_LIMIT, check_unzipped_total, human, largest_distributions
from hatch_lambda.files.slim import slim_layer
from hatch_lambda.layer.uv import find_uv
from hatch_lambda.platform.proof import Violation, check_files_to_pack
from hatch_lambda.files.wheel_contents import plan_target_install

SOURCE_SUFFIX = "-lambda-source.zip"
LAYER_INFIX = "-lambda-layer-"
MANIFEST_SUFFIX = "-lambda.json"


class LambdaBuilder(BuilderInterface[LambdaBuilderConfig, Any]):
    """Build AWS Lambda artifacts: a source zip of the project's wheel and a layer of its dependencies."""

    PLUGIN_NAME = "lambda"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One builder runs every version of a `hatch build -t lambda`: what it learnt once is kept.
        self._checked_pair: tuple[str, str | None] | None = None
        self._deprecation_shown = False
        self._found_bytecode_python: str | None = None

    @classmethod
    def get_config_class(cls) -> type[LambdaBuilderConfig]:
        return LambdaBuilderConfig

    def get_version_api(self) -> dict[str, Callable[..., str]]:
        return {"source": self.build_source, "layer": self.build_layer}

    def get_default_versions(self) -> list[str]:
        return ["source", "layer"]

    def clean(self, directory: str, versions: list[str]) -> None:
        """Remove this target's own artifacts only; never the sdist, the wheel or anything else."""
        versions = versions or self.get_default_versions()
        for path in Path(directory).iterdir():
            name = path.name.lstrip(".")
            ours = (
                ("source" in versions and name.endswith(SOURCE_SUFFIX))
                or ("layer" in versions and LAYER_INFIX in name and name.endswith(".zip"))
                or (set(self.get_default_versions()) <= set(versions) and name.endswith(MANIFEST_SUFFIX))
                or (path.name.startswith(".") and name.endswith(".partial") and "-lambda" in name)
            )
            if ours and path.is_file():
                path.unlink()

    # Versions ---------------------------------------------------------------------------------

    def build_source(self, directory: str, **_build_data: Any) -> str:
        with self._user_errors_abort():
            config = self._validated_config()
            destination = Path(directory, f"{self.project_id}{SOURCE_SUFFIX}")
            with tempfile.TemporaryDirectory(prefix="hatch-lambda-wheel-") as scratch:
                wheel = build_project_wheel(config, Path(scratch))
                plan = plan_target_install(wheel)
                self._prove_loadable(
                    "source zip", check_files_to_pack(plan.files, config.runtime, config.architecture)
                )
                self.app.display_info(f"Built wheel {wheel.name} ({len(plan.files)} files to ship)")
                if plan.left_out:
                    self.app.display_warning(
                        "Left out of the source zip (Lambda cannot use scripts, data or headers): "
                        + ", ".join(plan.left_out)
                    )
                files = [
                    *plan.files,
                    *self._bytecode(config, plan.files, import_root="", extracted_to=FUNCTION_ROOT),
                ]
                self._check_unzipped_total(config, directory, source_size=_unzipped(files))
                written = write_reproducible_zip(destination, files, fixed_date_time=self._fixed_date_time())
            self._report_zip(written)
            self._record(config, directory, "source", manifest.zip_entry(written))
            self._check_handler(config, directory)
            return str(destination)

    def build_layer(self, directory: str, **_build_data: Any) -> str:
        with self._user_errors_abort():
            config = self._validated_config()
            runtime, architecture = config.runtime, config.architecture
            requirements = self._layer_requirements(config)
            manifest_path = self._manifest_path(directory)
            if not requirements:
                self.app.display_info("No layer zip: the project has no dependencies to put in one")
                self._record(config, directory, "layer", None)
                self._check_handler(config, directory)
                return str(manifest_path)
            destination = Path(directory, f"{self.project_id}{LAYER_INFIX}{runtime.name}-{architecture}.zip")
            inputs = LayerInputs(config.installer, config.lock, config.extras, config.dependency_groups)
            with tempfile.TemporaryDirectory(prefix="hatch-lambda-layer-") as scratch:
                plan = plan_layer(self._install_request(config, requirements), inputs, Path(scratch))
                for warning in plan.warnings:
                    self.app.display_warning(warning)
                # Real mtimes (`reproducible = false`) make every build's bytes differ: nothing to reuse.
                key = cache_key(plan, self._layer_options(config)) if config.reproducible else None
                if key is None:
                    details = self._build_layer_zip(config, directory, destination, plan, Path(scratch))
                else:
                    cache = LayerCache(cache_directory())
                    with cache.locked(key):
                        cached = cache.lookup(key)
                        if cached is None:
                            details = self._build_layer_zip(
                                config, directory, destination, plan, Path(scratch)
                            )
                            cache.store(key, destination, details)
                        else:
                            details = self._place_cached_layer(config, directory, destination, cached)
            self._record(config, directory, "layer", {**details["entry"], "file": destination.name})
            self._check_handler(config, directory)
            return str(destination)

    def _build_layer_zip(
        self, config: LambdaBuilderConfig, directory: str, destination: Path, plan: LayerPlan, scratch: Path
    ) -> dict[str, Any]:
        runtime, architecture = config.runtime, config.architecture
        target = scratch / "target"
        layer = install_layer(plan.request, config.installer, target)
        summary = layer.summary
        self.app.display_info(
            f"Resolved {summary.resolved or plan.resolved} packages for {runtime.name} {architecture} "
            f"({summary.platform}) and installed {summary.installed} in {summary.seconds:.2f}s"
        )
        if layer.removed:
            self.app.display_info(
                "Removed what pip chose for this machine but the target does not need: "
                + ", ".join(layer.removed)
            )
        for warning in layer.warnings:
            self.app.display_warning(warning)
        distributions = installed_distributions(target)
        files = self._slimmed(config, files_to_pack(target, config.layer_prefix))
        files += self._bytecode(config, files, import_root=config.layer_prefix, extracted_to=LAYER_ROOT)
        self._check_unzipped_total(config, directory, layer_size=_unzipped(files))
        written = write_reproducible_zip(destination, files, fixed_date_time=self._fixed_date_time())
        largest = largest_distributions(files, owners_by_record(target), config.layer_prefix)
        self._report_zip(written, largest)
        return {
            "entry": manifest.layer_entry(written, config.layout, distributions),
            "largest": largest,
            "warnings": layer.warnings,
        }

    def _place_cached_layer(
        self, config: LambdaBuilderConfig, directory: str, destination: Path, cached: CachedLayer
    ) -> dict[str, Any]:
        entry = cached.details["entry"]
        self._check_unzipped_total(config, directory, layer_size=int(entry["unzipped_size"]))
        place(cached.zip_path, destination)
        self.app.display_info(
            f"Layer from the cache ({cached.zip_path.parent}): the same {len(entry['packages'])} packages, "
            "options and hatch-lambda version were built before; no install, no zipping"
        )
        for warning in cached.details.get("warnings", []):
            self.app.display_warning(warning)
        written = WrittenZip(
            destination,
            int(entry["zipped_size"]),
            int(entry["unzipped_size"]),
            int(entry["files"]),
            entry["sha256"],
        )
        self._report_zip(
            written, [(str(name), int(size)) for name, size in cached.details.get("largest", [])]
        )
        return cached.details

    def _layer_options(self, config: LambdaBuilderConfig) -> dict[str, Any]:
        """Every option that changes the layer zip's bytes, for the cache key."""
        return {
            "runtime": config.runtime.name,
            "architecture": config.architecture,
            "layout": config.layout,
            "installer": config.installer,
            "exclude-packages": config.exclude_packages,
            "allow-sdist": config.allow_sdist,
            "slim": config.slim,
            "slim-exclude": config.slim_exclude,
            # Bytecode bytes can differ between patch releases of one CPython minor version.
            "compile-bytecode": _python_version(self._bytecode_python(config))
            if config.compile_bytecode
            else False,
            "date": self._fixed_date_time(),
        }

    # Helpers ----------------------------------------------------------------------------------

    def _check_handler(self, config: LambdaBuilderConfig, directory: str) -> None:
        """Import the handler from the zips now in `directory`, as Lambda would, once per pair of zips.

        Both versions call this: `-t lambda:source` alone must check the new code against the layer
        already built, and a full build must check the new layer. The pair of hashes checked last is
        remembered, so a full build whose layer did not change checks once.
        """
        if config.handler is None:
            return
        path = self._manifest_path(directory)
        source = manifest.current_entry(path, "source", config.runtime, config.architecture)
        layer = manifest.current_entry(path, "layer", config.runtime, config.architecture)
        if source is None or (layer is None and self._layer_requirements(config)):
            return  # the other zip is not built yet; the build that writes it checks
        pair = (source["sha256"], layer["sha256"] if layer else None)
        if pair == self._checked_pair:
            return
        reason = can_run_here(config.runtime, config.architecture)
        if reason is not None:
            self.app.display_info(f"Skipped the handler check: {reason}")
            return
        function = LocalFunction(
            config.handler,
            config.runtime,
            Path(directory, source["file"]),
            Path(directory, layer["file"]) if layer else None,
            function_name=self.metadata.core.name,
            environment=config.environment,
            architecture=config.architecture,
            runtime_sdk=config.runtime_sdk,
            project_root=Path(self.root),
        )
        for checked in check_handlers(function, config.handlers):
            for line in checked.report_lines():
                self.app.display_info(line)
        self._checked_pair = pair

    def _layer_requirements(self, config: LambdaBuilderConfig) -> list[str]:
        core = self.metadata.core
        return layer_requirements(
            core.name,
            core.dependencies,
            core.optional_dependencies,
            config.extras,
            dependency_groups=self.metadata.config.get("dependency-groups"),
            groups=config.dependency_groups,
        )

    def _install_request(self, config: LambdaBuilderConfig, requirements: list[str]) -> InstallRequest:
        build_python = None
        if config.allow_sdist:
            build_python = find_runtime_python(config.runtime, find_uv())
            if build_python is None:
                version = config.runtime.python_version_text
                message = (
                    f"`allow-sdist` builds packages with CPython {version}, the runtime's Python, and none "
                    f"was found. Install one (`uv python install {version}` or `pyenv install {version}`), "
                    f"or point `{environment_variable_for(config.runtime)}` at its executable."
                )
                raise LambdaBuildError(message)
        return InstallRequest(
            requirements=requirements,
            runtime=config.runtime,
            architecture=config.architecture,
            project_name=self.metadata.core.name,
            project_root=Path(self.root),
            exclude_packages=config.exclude_packages,
            allow_sdist=config.allow_sdist,
            build_python=build_python,
        )

    def _validated_config(self) -> LambdaBuilderConfig:
        """Read every option up front, so a bad one stops the build before any work is done."""
        config = self.config
        try:
            config.validate_keys()
            runtime = config.runtime
            _ = config.architecture, config.extras, config.layout, config.dependency_groups
            _ = config.exclude_packages, config.allow_sdist, config.installer, config.lock
            _ = config.slim, config.slim_exclude, config.compile_bytecode, config.other_layers_size
            _ = config.handlers, config.environment, config.runtime_sdk
        except (ValueError, TypeError) as error:
            self.app.abort(str(error))
            raise
        if runtime.deprecated_on and not self._deprecation_shown:
            self._deprecation_shown = True
            self.app.display_warning(
                f"Lambda runtime {runtime.name} is deprecated since {runtime.deprecated_on}: AWS will block "
                f"creating and then updating functions that use it. Move to {runtimes.RUNTIMES[-1].name}."
            )
        return config

    def _bytecode(
        self, config: LambdaBuilderConfig, files: list[FileToPack], *, import_root: str, extracted_to: str
    ) -> list[FileToPack]:
        """Unchecked-hash `.pyc` files for `compile-bytecode`: Lambda can never write `__pycache__`."""
        if not config.compile_bytecode:
            return []
        compiled = compile_bytecode(
            files,
            python=self._bytecode_python(config),
            python_version=config.runtime.python_version,
            import_root=import_root,
            extracted_to=extracted_to,
        )
        if compiled.uncompilable:
            shown = ", ".join(f"{item.archive_path} ({item.reason})" for item in compiled.uncompilable[:10])
            more = f" and {len(compiled.uncompilable) - 10} more" if len(compiled.uncompilable) > 10 else ""
            self.app.display_warning(
                f"{len(compiled.uncompilable)} files do not compile for CPython "
                f"{config.runtime.python_version_text} and ship without bytecode: {shown}{more}"
            )
        self.app.display_info(
            f"Compiled {len(compiled.pyc_files)} modules to unchecked-hash bytecode "
            f"({human(_unzipped(compiled.pyc_files))})"
        )
        return compiled.pyc_files

    def _bytecode_python(self, config: LambdaBuilderConfig) -> str:
        if self._found_bytecode_python is None:
            self._found_bytecode_python = runtime_python(config.runtime, find_uv())
        return self._found_bytecode_python

    def _slimmed(self, config: LambdaBuilderConfig, files: list[FileToPack]) -> list[FileToPack]:
        if not (config.slim or config.slim_exclude):
            return files
        result = slim_layer(files, config.layer_prefix, config.slim_exclude, drop_never_imported=config.slim)
        self.app.display_info(
            f"Slimmed the layer: left out {result.removed_files} files ({human(result.removed_bytes)}) "
            "that Lambda never imports"
        )
        return result.kept

    def _check_unzipped_total(
        self,
        config: LambdaBuilderConfig,
        directory: str,
        *,
        source_size: int | None = None,
        layer_size: int | None = None,
    ) -> None:
        """Lambda's 250 MB counts the code and every layer, so each build adds what is already built."""
        path = self._manifest_path(directory)
        parts = {}
        for artifact, label, given in (("source", "source zip", source_size), ("layer", "layer", layer_size)):
            if given is not None:
                parts[label] = given
                continue
            # The other zip, as the manifest records it while it is still on disk.
            entry = manifest.current_entry(path, artifact, config.runtime, config.architecture)
            if entry is not None:
                parts[label] = int(entry["unzipped_size"])
        if config.other_layers_size:
            parts["other layers (other-layers-size)"] = config.other_layers_size
        check_unzipped_total(parts)

    def _prove_loadable(self, artifact: str, violations: list[Violation]) -> None:
        if violations:
            target = f"{self.config.runtime.name} {self.config.architecture}"
            raise PlatformProofError(artifact, target, [str(violation) for violation in violations])

    def _fixed_date_time(self) -> ZipDateTime | None:
        return zip_date_time(get_reproducible_timestamp()) if self.config.reproducible else None

    def _manifest_path(self, directory: str) -> Path:
        return Path(directory, f"{self.project_id}{MANIFEST_SUFFIX}")

    def _record(
        self, config: LambdaBuilderConfig, directory: str, artifact: str, entry: dict[str, Any] | None
    ) -> None:
        manifest.update_manifest(
            self._manifest_path(directory),
            project_name=self.metadata.core.name,
            project_version=self.metadata.version,
            runtime=config.runtime,
            architecture=config.architecture,
            artifact=artifact,
            entry=entry,
        )

    def _report_zip(self, written: WrittenZip, largest: list[tuple[str, int]] | None = None) -> None:
        self.app.display_info(
            f"Wrote {written.path.name}: {written.file_count} files, {human(written.zipped_size)} zipped, "
            f"{human(written.unzipped_size)} unzipped"
        )
        if written.zipped_size > DIRECT_UPLOAD_LIMIT:
            self.app.display_info(
                f"Note: {written.path.name} is over 50 MB zipped, so Lambda accepts it only through S3 "
                "(upload it to a bucket and pass S3Bucket/S3Key), not in the API call itself."
            )
        if largest:
            self.app.display_info(
                "Largest packages: " + ", ".join(f"{name} {human(size)}" for name, size in largest)
            )

    @contextmanager
    def _user_errors_abort(self) -> Iterator[None]:
        try:
            yield
        except LambdaBuildError as error:
            self.app.abort(str(error))
            raise  # abort exits; this only satisfies type checkers


def _unzipped(files: list[FileToPack]) -> int:
    return sum(file.unzipped_size for file in files)


def _python_version(python: str) -> str:
    probe = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    )
    return probe.stdout.strip()
