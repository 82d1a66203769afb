"""SnapStart's runtime hooks, run locally the way Lambda runs them (for the handler check and `invoke`).

On Lambda, the Python runtimes bundle AWS's `snapshot_restore_py` (github.com/aws/snapshot-restore-py):
`register_before_snapshot(func, *args, **kwargs)` and `register_after_restore(...)`, usable as
decorators, append `(func, args, kwargs)` to registries that `get_before_snapshot()` and
`get_after_restore()` return. With SnapStart, Lambda imports the handler's module (init), runs the
before-snapshot hooks in the REVERSE order of registration, takes the snapshot; on restore it runs
the after-restore hooks in the order of registration, which must finish within 10 seconds
(`SnapStartTimeoutException`), then invokes the handler. Init, before-snapshot hooks included, may
take 130 seconds or the function's timeout if that is longer (AWS: snapstart-runtime-hooks-python).
Only hooks registered by code the handler's module imports count.

This module holds what a local run needs and nothing of how the run is started:

- `write_stand_in(directory)` writes a standard-library-only `snapshot_restore_py` with the same
  API into the runtime-SDK directory that stands in for Lambda's own paths, plus one private
  function, `_hatch_lambda_run_phase("before-snapshot" | "after-restore")`, that runs one phase's
  hooks in Lambda's order and returns, per hook, its name, seconds and error (JSON-ready);
- `read_phase` and `judge` turn those reports into `HookRun`s and into problems against Lambda's
  limits, with the messages a user sees.

The process that imports the handler (the bootstrap) calls `_hatch_lambda_run_phase` after init,
with `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start` (`INITIALIZATION_ENVIRONMENT`) set, before-snapshot
first, then after-restore, then (for `invoke --snap-start`) the handler.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODULE_NAME = "snapshot_restore_py"
RUN_PHASE_FUNCTION = "_hatch_lambda_run_phase"
BEFORE_SNAPSHOT = "before-snapshot"
AFTER_RESTORE = "after-restore"
PHASES = (BEFORE_SNAPSHOT, AFTER_RESTORE)
# What Lambda's runtime sets during a SnapStart init (the handler may branch on it).
INITIALIZATION_ENVIRONMENT = {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}
AFTER_RESTORE_LIMIT_SECONDS = 10.0
INIT_LIMIT_SECONDS = 130.0  # or the function's timeout, if longer (at most 900 s)

# Runs inside the runtime's CPython (3.12 and up for SnapStart), standard library only.
STAND_IN_SOURCE = '''\
"""A stand-in for Lambda's `snapshot_restore_py`, written by hatch-lambda for a local run."""

import time
import traceback

_before_snapshot_registry = []
_after_restore_registry = []


def register_before_snapshot(func, *args, **kwargs):
    _before_snapshot_registry.append((func, args, kwargs))
    return func


def register_after_restore(func, *args, **kwargs):
    _after_restore_registry.append((func, args, kwargs))
    return func


def get_before_snapshot():
    return _before_snapshot_registry


def get_after_restore():
    return _after_restore_registry


def _hatch_lambda_run_phase(phase):
    """Run one phase's hooks in Lambda's order; stop at the first that raises, as Lambda does."""
    if phase == "before-snapshot":
        hooks = list(reversed(_before_snapshot_registry))
    elif phase == "after-restore":
        hooks = list(_after_restore_registry)
    else:
        raise ValueError(phase)
    runs = []
    for func, args, kwargs in hooks:
        name = getattr(func, "__module__", "?") + "." + getattr(func, "__qualname__", repr(func))
        started = time.monotonic()
        error = None
        try:
            func(*args, **kwargs)
        except BaseException as raised:
            error = "".join(traceback.format_exception_only(type(raised), raised)).strip()
        runs.append({"name": name, "seconds": time.monotonic() - started, "error": error})
        if error is not None:
            break
    return runs
'''


def write_stand_in(directory: Path) -> Path:
    """Write `snapshot_restore_py.py` into `directory` (the runtime-SDK directory); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{MODULE_NAME}.py"
    path.write_text(STAND_IN_SOURCE, encoding="utf-8")
    return path


@dataclass(frozen=True)
class HookRun:
    phase: str
    name: str  # module.qualname of the hook
    seconds: float
    error: str | None  # the exception, one line, if the hook raised


def read_phase(phase: str, reported: Iterable[Mapping[str, Any]]) -> list[HookRun]:
    """The hooks one `_hatch_lambda_run_phase(phase)` call reported."""
    return [
        HookRun(
            phase,
            str(item["name"]),
            float(item["seconds"]),
            None if item.get("error") is None else str(item["error"]),
        )
        for item in reported
    ]


@dataclass(frozen=True)
class SnapStartVerdict:
    lines: list[str]  # one per hook, in the order run: what the user sees
    problems: list[str]  # what would fail on Lambda; empty when the hooks pass

    @property
    def passed(self) -> bool:
        return not self.problems


def judge(
    runs: list[HookRun],
    *,
    init_seconds: float,
    timeout_seconds: float = 3.0,
    after_restore_limit: float = AFTER_RESTORE_LIMIT_SECONDS,
) -> SnapStartVerdict:
    """The hooks' times against Lambda's limits: init plus before-snapshot hooks within 130 s (or the
    timeout, if longer), after-restore hooks within 10 s together; any hook that raised fails."""
    lines = [
        f"{run.phase} hook {run.name}: {run.seconds:.3f}s" + (f", raised {run.error}" if run.error else "")
        for run in runs
    ]
    problems = [
        f"The {run.phase} hook {run.name} raised {run.error}: Lambda would fail "
        + (
            "the snapshot (the version never becomes active)"
            if run.phase == BEFORE_SNAPSHOT
            else "the restore"
        )
        for run in runs
        if run.error is not None
    ]
    init_limit = max(INIT_LIMIT_SECONDS, min(timeout_seconds, 900.0))
    before = init_seconds + sum(run.seconds for run in runs if run.phase == BEFORE_SNAPSHOT)
    if before > init_limit:
        problems.append(
            f"Init and the before-snapshot hooks took {before:.1f}s; Lambda allows {init_limit:g}s "
            "while it creates a snapshot."
        )
    after = sum(run.seconds for run in runs if run.phase == AFTER_RESTORE)
    if after > after_restore_limit:
        problems.append(
            f"The after-restore hooks took {after:.1f}s; Lambda allows {after_restore_limit:g}s "
            "(SnapStartTimeoutException). Move the work to init or into the handler."
        )
    return SnapStartVerdict(lines, problems)
