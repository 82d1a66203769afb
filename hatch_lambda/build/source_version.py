"""The `source` version: the project's wheel, laid out as `pip install --no-deps --target` would, zipped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hatch_lambda.archive.reproducible_zip import WrittenZip, write_reproducible_zip
from hatch_lambda.build import manifest
from hatch_lambda.build.checks import prove_loadable
from hatch_lambda.build.project_wheel import build_project_wheel
from hatch_lambda.build.reporting import report_zip
from hatch_lambda.build.target import Target, unzipped_size
from hatch_lambda.files.wheel_contents import plan_target_install
from hatch_lambda.platform.proof import check_files_to_pack
from hatch_lambda.runtime.bytecode import FUNCTION_ROOT


def build_source_zip(
    target: Target, destination: Path, scratch: Path, *, inputs: str, check_size: Callable[[int], None]
) -> dict[str, Any]:
    """Write the source zip to `destination`; return its manifest entry.

    `check_size` is given the unzipped size before anything is zipped.
    """
    config = target.config
    wheel = build_project_wheel(config, scratch)
    plan = plan_target_install(wheel)
    prove_loadable(target, "source zip", check_files_to_pack(plan.files, config.runtime, config.architecture))
    target.reporter.display_info(f"Built wheel {wheel.name} ({len(plan.files)} files to ship)")
    if plan.left_out:
        target.reporter.display_warning(
            "Left out of the source zip (Lambda cannot use scripts, data or headers): "
            + ", ".join(plan.left_out)
        )
    files = [*plan.files, *target.bytecode(plan.files, import_root="", extracted_to=FUNCTION_ROOT)]
    check_size(unzipped_size(files))
    written: WrittenZip = write_reproducible_zip(destination, files, fixed_date_time=target.fixed_date_time)
    report_zip(target.reporter, written)
    return manifest.zip_entry(written, inputs)
