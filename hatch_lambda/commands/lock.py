"""`hatch-lambda lock`: the lock a user would otherwise have to get right by hand, for the target.

`uv pip compile pyproject.toml -o pylock.toml` locks for the machine's Python and platform; a
Lambda layer needs the runtime's CPython, architecture and glibc. This writes
`pylock.lambda.toml` (PEP 751's `pylock.<name>.toml` form) from the target's own requirements
(dependencies, extras, groups, first-party packages' dependencies), resolved by uv exactly as a
build resolves them, with hashes. Existing pins are kept where they still fit (`--upgrade`,
`--upgrade-package NAME` let go of them). `--check` changes nothing: it exits 1 when the lock no
longer satisfies `pyproject.toml`, for CI. With `lock = "pylock.lambda.toml"`, builds never resolve.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatch_lambda.archive.atomic import replacing
from hatch_lambda.build.reporting import counted
from hatch_lambda.errors import LambdaBuildError

if TYPE_CHECKING:
    from hatch_lambda.build.target import Target

LOCK_NAME = "pylock.lambda.toml"


def add_lock(commands: Any) -> None:
    lock = commands.add_parser(
        "lock",
        help=f"write {LOCK_NAME}: the layer's pins for the target's runtime and architecture",
        description=(
            f"Write {LOCK_NAME} (PEP 751) for the lambda target's runtime and architecture from the "
            "project's dependencies, extras and groups, with hashes."
        ),
    )
    lock.add_argument("--project", default=".", metavar="DIR", help="the project's directory")
    lock.add_argument("--upgrade", action="store_true", help="let go of every existing pin")
    lock.add_argument(
        "--upgrade-package", action="append", default=[], metavar="NAME", help="let go of NAME's pin"
    )
    lock.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if the lock no longer fits pyproject.toml",
    )
    lock.set_defaults(run=run_lock)


def run_lock(arguments: argparse.Namespace) -> int:
    # hatchling and the build machinery only when the command runs: `hatch-lambda invoke` stays light.
    from hatch_lambda.build.first_party import collect_first_party  # noqa: PLC0415
    from hatch_lambda.build.layer_version import install_request  # noqa: PLC0415
    from hatch_lambda.layer.plan import LayerInputs, plan_layer  # noqa: PLC0415
    from hatch_lambda.layer.uv import resolve_with_uv  # noqa: PLC0415
    from hatch_lambda.platform.runtimes import uv_python_platform  # noqa: PLC0415

    project = Path(arguments.project).resolve()
    lock = project / LOCK_NAME
    if arguments.check and not lock.is_file():
        print(f"{LOCK_NAME} does not exist: run `hatch-lambda lock`.", flush=True)
        return 1
    with _named_before_written(lock):
        target = _target(project)
    config = target.config
    with tempfile.TemporaryDirectory(prefix="hatch-lambda-lock-") as scratch:
        code = collect_first_party(target, target.sources, Path(scratch, "first-party"))
        request = install_request(target, code.layer_requirements)
        if arguments.check:
            # Planned exactly as a build with `lock = "pylock.lambda.toml"` plans: its warnings are
            # what no longer fits the project.
            inputs = LayerInputs("uv", lock, config.extras, config.dependency_groups)
            checked = plan_layer(request, inputs, Path(scratch))
            for warning in checked.warnings:
                print(warning, flush=True)
            if checked.warnings:
                print(f"{LOCK_NAME} no longer satisfies pyproject.toml: run `hatch-lambda lock`.", flush=True)
                return 1
            print(
                f"{LOCK_NAME} satisfies pyproject.toml ({counted(checked.resolved, 'package')}).", flush=True
            )
            return 0
        written = Path(scratch, LOCK_NAME)
        if lock.is_file():
            shutil.copyfile(lock, written)  # uv keeps the pins it finds in the output file
        upgrade = [] if arguments.upgrade else (arguments.upgrade_package or None)
        count = resolve_with_uv(request, written, upgrade=upgrade)
        with replacing(lock) as temporary:
            shutil.copyfile(written, temporary)
    platform = uv_python_platform(config.runtime, config.architecture)
    print(
        f"Locked {counted(count, 'package')} for {target.description} ({platform}) into {LOCK_NAME}",
        flush=True,
    )
    if config.lock is None or config.lock.name != LOCK_NAME:
        print(
            f'Set `lock = "{LOCK_NAME}"` in [tool.hatch.build.targets.lambda] to build from it.', flush=True
        )
    return 0


@contextlib.contextmanager
def _named_before_written(lock: Path) -> Iterator[None]:
    """The target may already name the lock this command is about to write for the first time
    (`lock = "pylock.lambda.toml"`): an empty stand-in lets its settings validate meanwhile."""
    if lock.exists():
        yield
        return
    lock.write_text('lock-version = "1.0"\n', encoding="utf-8")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _target(project: Path) -> Target:
    from hatchling.bridge.app import Application  # noqa: PLC0415
    from hatchling.plugin.manager import PluginManager  # noqa: PLC0415

    from hatch_lambda.build.builder import LambdaBuilder  # noqa: PLC0415

    if not (project / "pyproject.toml").is_file():
        raise LambdaBuildError(
            f"No pyproject.toml in {project}: run it in the project, or pass --project DIR."
        )
    builder = LambdaBuilder(
        str(project), plugin_manager=PluginManager(), app=Application().get_safe_application()
    )
    try:
        return builder.lambda_target()
    except SystemExit as aborted:  # the builder aborts with the message already printed
        raise LambdaBuildError("the lambda target's configuration is not valid (see above)") from aborted
