"""SnapStart's runtime hooks run as Lambda runs them: the stand-in `snapshot_restore_py` in a real
interpreter, and the verdict against Lambda's limits."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from hatch_lambda.runtime.snap_start import (
    AFTER_RESTORE,
    BEFORE_SNAPSHOT,
    RUN_PHASE_FUNCTION,
    HookRun,
    judge,
    read_phase,
    write_stand_in,
)

HANDLER_MODULE = """
    import time
    from snapshot_restore_py import register_after_restore, register_before_snapshot

    ORDER = []

    @register_before_snapshot
    def close_connections():
        ORDER.append("before 1")

    def warm_cache(label):
        ORDER.append(label)

    register_before_snapshot(warm_cache, "before 2")

    @register_after_restore
    def reconnect():
        ORDER.append("after 1")

    @register_after_restore
    def reseed():
        ORDER.append("after 2")
        {after_restore_body}

    def handler(event, context):
        return ORDER
"""

DRIVER = f"""
import importlib, json, sys
sys.path[:0] = sys.argv[1:3]
import snapshot_restore_py
module = importlib.import_module("app")
before = snapshot_restore_py.{RUN_PHASE_FUNCTION}("before-snapshot")
after = snapshot_restore_py.{RUN_PHASE_FUNCTION}("after-restore")
print(json.dumps({{"before": before, "after": after, "order": module.ORDER}}))
"""


def run_hooks(tmp_path: Path, after_restore_body: str = "pass") -> dict:
    task, runtime = tmp_path / "task", tmp_path / "runtime"
    task.mkdir()
    (task / "app.py").write_text(
        textwrap.dedent(HANDLER_MODULE).format(after_restore_body=after_restore_body), encoding="utf-8"
    )
    write_stand_in(runtime)
    completed = subprocess.run(
        [sys.executable, "-I", "-c", DRIVER, str(task), str(runtime)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout)


def test_before_snapshot_hooks_run_in_reverse_order_and_after_restore_hooks_in_order(tmp_path):
    reported = run_hooks(tmp_path)

    assert reported["order"] == ["before 2", "before 1", "after 1", "after 2"]
    runs = read_phase(BEFORE_SNAPSHOT, reported["before"]) + read_phase(AFTER_RESTORE, reported["after"])
    assert [run.name for run in runs] == [
        "app.warm_cache",
        "app.close_connections",
        "app.reconnect",
        "app.reseed",
    ]
    verdict = judge(runs, init_seconds=0.1)
    assert verdict.passed
    assert verdict.lines[0].startswith("before-snapshot hook app.warm_cache: ")


def test_a_hook_that_raises_stops_its_phase_and_fails_the_verdict(tmp_path):
    reported = run_hooks(tmp_path, after_restore_body='raise RuntimeError("no network yet")')

    runs = read_phase(AFTER_RESTORE, reported["after"])
    assert [run.name for run in runs] == ["app.reconnect", "app.reseed"]
    verdict = judge(runs, init_seconds=0.0)
    assert not verdict.passed
    assert "The after-restore hook app.reseed raised RuntimeError: no network yet" in verdict.problems[0]


def test_after_restore_hooks_are_held_to_lambdas_limit(tmp_path):
    reported = run_hooks(tmp_path, after_restore_body="time.sleep(0.2)")

    runs = read_phase(AFTER_RESTORE, reported["after"])
    assert runs[-1].seconds >= 0.2
    # Lambda's limit is 10 s; a smaller one here keeps the test fast and shows the message.
    verdict = judge(runs, init_seconds=0.0, after_restore_limit=0.1)
    assert any("SnapStartTimeoutException" in problem for problem in verdict.problems)


def test_init_and_before_snapshot_hooks_get_130_seconds_or_the_timeout():
    slow = [HookRun(BEFORE_SNAPSHOT, "app.warm", 100.0, None)]

    assert not judge(slow, init_seconds=40.0).passed
    assert judge(slow, init_seconds=40.0, timeout_seconds=300.0).passed
