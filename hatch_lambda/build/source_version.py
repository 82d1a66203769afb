"""The `source` version: the project's wheel, laid out as `pip install --no-deps --target` would, zipped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hatch_lambda.archive.reproducible_zip import WrittenZip, write_reproducible_zip
from hatch_lambda.build import manifest
from hatch_lambda.build.checks import prove_loadable
from hatch_lambda.build.first_party import BuiltPackage
from hatch_lambda.build.project_wheel import build_project_wheel
from hatch_lambda.build.reporting import report_zip
from hatch_lambda.build.target import Target, unzipped_size
from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.files.record import FileToPack
from hatch_lambda.files.wheel_contents import plan_target_install
from hatch_lambda.platform.proof import ProofResult, prove_source


def build_source_zip(
    target: Target,
    destination: Path,
    scratch: Path,
    *,
    first_party: list[BuiltPackage],
    inputs: str,
    check_size: Callable[[int], None],
) -> dict[str, Any]:
    """Write the source zip to `destination`; return its manifest entry.

    `check_size` is given the unzipped size before the proof, and again with the bytecode, before
    anything is zipped.
    """
    config = target.config
    wheel = build_project_wheel(config, scratch)
    plan = plan_target_install(wheel)
    target.reporter.display_info(f"Built wheel {wheel.name} ({len(plan.files)} files to ship)")
    shipped = [*plan.files]
    for package in first_party:
        target.reporter.display_info(
            f"Built wheel {package.wheel_name} from {package.package.origin} `{package.package.name}` "
            f"({len(package.files)} files to ship as code)"
        )
        shipped += package.files
    _refuse_overlaps(wheel.name, plan.files, first_party)
    check_size(unzipped_size(shipped))  # before the proof: too large to deploy fails at once
    proofs = [prove_source(plan.files, config.runtime, config.architecture, f"the project ({wheel.name})")]
    proofs += [
        prove_source(package.files, config.runtime, config.architecture, package.wheel_name)
        for package in first_party
    ]
    prove_loadable(
        target,
        "source zip",
        ProofResult(
            violations=[violation for proof in proofs for violation in proof.violations],
            warnings=[warning for proof in proofs for warning in proof.warnings],
        ),
    )
    if plan.left_out:
        target.reporter.display_warning(
            "Left out of the source zip (Lambda cannot use scripts, data or headers): "
            + ", ".join(plan.left_out)
        )
    bytecode: list[FileToPack] = []
    if target.config.compile_bytecode:
        from hatch_lambda.runtime.bytecode import FUNCTION_ROOT  # noqa: PLC0415 - `compile-bytecode` only

        bytecode = target.bytecode(shipped, import_root="", extracted_to=FUNCTION_ROOT)
    files = [*shipped, *bytecode]
    if bytecode:
        check_size(unzipped_size(files))
    written: WrittenZip = write_reproducible_zip(
        destination,
        files,
        fixed_date_time=target.fixed_date_time,
        compress_level=target.config.compress_level,
    )
    report_zip(target.reporter, written)
    return manifest.zip_entry(written, inputs)


def _refuse_overlaps(
    project_wheel: str, project_files: list[FileToPack], first_party: list[BuiltPackage]
) -> None:
    """Two packages that would write the same path at the zip root: one would silently replace the other."""
    owners = {file.archive_path: project_wheel for file in project_files}
    for package in first_party:
        for file in package.files:
            other = owners.setdefault(file.archive_path, package.wheel_name)
            if other != package.wheel_name:
                message = (
                    f"{other} and {package.wheel_name} would both write `{file.archive_path}` into the "
                    "source zip: rename one package's modules, or ship one of them in the layer "
                    '(`path-dependencies = "layer"`)'
                )
                raise LambdaBuildError(message)
