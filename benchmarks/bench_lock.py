"""A warm build with `lock = "pylock.lambda.toml"` against one that resolves, side by side in one run.

The project: a handler with requests and pydantic, for python3.12 x86_64. `hatch-lambda lock`
writes the lock once; then each timed build follows a one-line edit of the handler, with the uv
cache and the layer cache warm (the layer comes from the cache in both). Without the lock, uv
revalidates the index to resolve; with it, nothing is resolved, and the same build runs with
`UV_OFFLINE=1` to show it never needs the network. Medians of `--repeat` runs.

Run: `.venv/bin/python benchmarks/bench_lock.py [--repeat 5]`. Needs the index once (or a warm uv cache).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PYPROJECT = """
    [build-system]
    requires = ["hatchling"]
    build-backend = "hatchling.build"

    [project]
    name = "lock-bench"
    version = "1.0"
    requires-python = ">=3.12"
    dependencies = ["requests", "pydantic>=2"]

    [tool.hatch.build.targets.wheel]
    packages = ["lock_bench"]

    [tool.hatch.build.targets.lambda]
    runtime = "python3.12"
    {lock}
"""


def write_project(root: Path, *, locked: bool) -> None:
    (root / "lock_bench").mkdir(parents=True)
    (root / "lock_bench" / "__init__.py").write_text("")
    lock = 'lock = "pylock.lambda.toml"' if locked else ""
    (root / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT.format(lock=lock)).lstrip())


def run(command: list[str], cwd: Path, environment: dict[str, str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed in {cwd}:\n{completed.stdout}{completed.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-lock-"))
    try:
        resolving, locked = work / "resolving", work / "locked"
        write_project(resolving, locked=False)
        write_project(locked, locked=False)
        environment = {**os.environ, "HATCH_LAMBDA_CACHE_DIR": str(work / "layer-cache")}
        environment.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's Python writes bytecode
        run([sys.executable, "-m", "hatch_lambda.cli", "lock"], locked, environment)
        shutil.rmtree(locked)
        write_project(locked, locked=True)
        run([sys.executable, "-m", "hatch_lambda.cli", "lock"], locked, environment)
        build = [sys.executable, "-m", "hatchling", "build", "-t", "lambda"]
        offline = {**environment, "UV_OFFLINE": "1"}
        for root in (resolving, locked):
            run(build, root, environment)  # fills the layer cache
        times: dict[str, list[float]] = {"resolving": [], "locked": [], "locked, UV_OFFLINE=1": []}
        for round_ in range(arguments.repeat):
            for name, root, env in (
                ("resolving", resolving, environment),
                ("locked", locked, environment),
                ("locked, UV_OFFLINE=1", locked, offline),
            ):
                (root / "lock_bench" / "__init__.py").write_text(f"ROUND = {round_}\n")
                times[name].append(run(build, root, env))
        print(f"warm hatchling build -t lambda after a one-line edit, medians of {arguments.repeat}:")
        medians = {name: statistics.median(values) for name, values in times.items()}
        for name, median in medians.items():
            print(f"  {name:22s} {median:6.2f} s")
        print(f"locked / resolving: {medians['locked'] / medians['resolving']:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
