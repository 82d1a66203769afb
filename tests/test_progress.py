"""What a long build shows: progress lines on a terminal; in CI, one line per step with counts and times."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.helpers import output_of, run_hatchling, write_project


def one_dependency_project(root: Path) -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": """
                [project]
                name = "progress-app"
                version = "1.0"
                dependencies = ["hlfix-extra"]

                [tool.hatch.build.targets.wheel]
                packages = ["progress_app"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
            """,
            "progress_app/__init__.py": "",
        },
    )


def on_a_terminal(root: Path, environment: dict[str, str]) -> str:
    """`hatchling build -t lambda` with its output on a pseudo-terminal, as a user at a shell sees it."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "hatchling", "build", "-t", "lambda"],
        cwd=root,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the build exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=300) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


def test_a_terminal_sees_each_long_step_start(tmp_path, offline_environment):
    root = one_dependency_project(tmp_path / "app")

    shown = on_a_terminal(root, offline_environment)

    assert "Resolving 1 requirement for python3.12 x86_64..." in shown
    assert "Installing 1 package for python3.12 x86_64..." in shown
    assert "Compressing " in shown and "into the layer zip..." in shown


def test_ci_sees_one_line_per_step_with_counts_and_times(tmp_path, offline_environment):
    root = one_dependency_project(tmp_path / "app")

    completed = run_hatchling(root, "lambda", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode == 0, output
    assert "Resolving" not in output and "Compressing" not in output
    assert "Resolved 1 package for python3.12 x86_64 (x86_64-manylinux_2_34) and installed 1 in " in output
