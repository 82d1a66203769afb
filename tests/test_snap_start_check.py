"""SnapStart hooks in the build-time handler check and in `hatch-lambda invoke --snap-start`.

The handler's module registers hooks with `snapshot_restore_py`, which Lambda's Python 3.12+
runtimes bundle: the check must provide it, run the hooks in Lambda's order (before-snapshot in
reverse order of registration, then after-restore in order), and fail the build when one raises.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.helpers import output_of, require_cpython, run_hatchling, run_in, write_project

HOOKED = """\
import os
from snapshot_restore_py import register_after_restore, register_before_snapshot

ORDER = []


@register_before_snapshot
def close_connections():
    ORDER.append("close")


@register_before_snapshot
def flush_cache():
    ORDER.append("flush")


@register_after_restore
def reconnect():
    ORDER.append("reconnect")
    {after_restore_body}


def handler(event, context):
    return {{"order": ORDER, "init": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}}
"""


def snap_project(root: Path, after_restore_body: str = "pass") -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": """
                [project]
                name = "snappy"
                version = "1.0"
                requires-python = ">=3.12"

                [tool.hatch.build.targets.wheel]
                packages = ["snappy"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                handler = "snappy.app.handler"
            """,
            "snappy/__init__.py": "",
            "snappy/app.py": HOOKED.format(after_restore_body=after_restore_body),
        },
    )


def test_the_check_provides_snapshot_restore_py_and_runs_the_hooks_in_lambdas_order(
    tmp_path, offline_environment
):
    require_cpython("3.12")
    root = snap_project(tmp_path / "snappy")

    completed = run_hatchling(root, "lambda", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode == 0, output
    assert "Checked handler snappy.app.handler" in output
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith("SnapStart ")]
    assert [line.split(":")[0] for line in lines] == [
        "SnapStart before-snapshot hook snappy.app.flush_cache",
        "SnapStart before-snapshot hook snappy.app.close_connections",
        "SnapStart after-restore hook snappy.app.reconnect",
    ]
    assert "snapshot_restore_py" not in output.split("imported from Lambda's runtime SDK")[-1].split("\n")[0]


def test_a_hook_that_raises_fails_the_build_by_name(tmp_path, offline_environment):
    require_cpython("3.12")
    root = snap_project(tmp_path / "snappy", after_restore_body="raise ConnectionError('database gone')")

    completed = run_hatchling(root, "lambda", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode != 0
    assert "its SnapStart hooks would fail on Lambda" in output
    assert "snappy.app.reconnect" in output and "database gone" in output
    assert not (root / "dist").exists() or not list((root / "dist").glob("*.zip"))


def test_invoke_snap_start_runs_init_hooks_then_the_handler(tmp_path, offline_environment):
    require_cpython("3.12")
    root = snap_project(tmp_path / "snappy")
    assert run_hatchling(root, "lambda", environment=offline_environment).returncode == 0
    invoke = [sys.executable, "-m", "hatch_lambda.cli", "invoke"]

    snapped = run_in(root, [*invoke, "--snap-start"], offline_environment)
    plain = run_in(root, invoke, offline_environment)

    assert snapped.returncode == 0, output_of(snapped)
    assert json.loads(snapped.stdout) == {"order": ["flush", "close", "reconnect"], "init": "snap-start"}
    assert "SnapStart after-restore hook snappy.app.reconnect" in snapped.stderr
    assert plain.returncode == 0, output_of(plain)
    assert json.loads(plain.stdout) == {"order": [], "init": "on-demand"}
