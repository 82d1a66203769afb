"""What a release must pass before it is committed: the proof it loads, Lambda's size limit, the handler."""

from __future__ import annotations

from pathlib import Path

from hatch_lambda.build.manifest import CHECK_NOT_ASKED, CHECK_PASSED, CHECK_SKIPPED, HandlerCheckRecord
from hatch_lambda.build.reporting import counted, waiting
from hatch_lambda.build.target import Target
from hatch_lambda.errors import PlatformProofError
from hatch_lambda.platform.limits import check_unzipped_total
from hatch_lambda.platform.proof import ProofResult


def prove_loadable(target: Target, artifact: str, proof: ProofResult) -> None:
    for warning in proof.warnings:
        target.reporter.display_warning(warning)
    if proof.violations:
        raise PlatformProofError(
            artifact, target.description, [str(violation) for violation in proof.violations]
        )


def check_release_size(target: Target, *, source: int | None, layer: int | None) -> None:
    """Lambda's 250 MB counts the code and every layer, unzipped: the parts known so far must fit."""
    parts = {}
    if source is not None:
        parts["source zip"] = source
    if layer is not None:
        parts["layer"] = layer
    if target.config.other_layers_size:
        parts["other layers (other-layers-size)"] = target.config.other_layers_size
    check_unzipped_total(parts, slim=target.config.slim)


def check_release_handler(
    target: Target, source_zip: Path | None, layer_zip: Path | None, *, unpaired: str | None
) -> HandlerCheckRecord:
    """Import each handler from the pair of zips this build commits, as Lambda would; once per build.

    `unpaired` says why the zips in hand do not make a release (one missing, or built from other
    inputs): then there is nothing meaningful to import from, and the check is skipped with that reason.
    """
    config = target.config
    if not config.handlers:
        return HandlerCheckRecord(CHECK_NOT_ASKED)
    # The emulator loads only for a target that asks for the check: every other build skips it.
    from hatch_lambda.runtime.local_lambda import LocalFunction, check_handlers  # noqa: PLC0415
    from hatch_lambda.runtime.target_python import find_target_python  # noqa: PLC0415

    handlers = tuple(config.handlers)
    # The interpreter is found (and asked what it is) once, then runs every handler.
    python = unpaired or find_target_python(config.runtime, config.architecture)
    if isinstance(python, str) or source_zip is None:
        reason = python if isinstance(python, str) else None
        target.reporter.display_info(f"Skipped the handler check: {reason}")
        return HandlerCheckRecord(CHECK_SKIPPED, handlers, reason)
    function = LocalFunction(
        handlers[0],
        config.runtime,
        source_zip,
        layer_zip,
        function_name=target.project_name,
        environment=config.environment,
        architecture=config.architecture,
        runtime_sdk=config.runtime_sdk,
        project_root=target.root,
    )
    waiting(
        target.reporter,
        f"Checking {counted(len(handlers), 'handler')} on CPython {config.runtime.python_version_text}...",
    )
    for checked in check_handlers(function, list(handlers), python=python):
        for line in checked.report_lines():
            target.reporter.display_info(line)
    return HandlerCheckRecord(CHECK_PASSED, handlers)
