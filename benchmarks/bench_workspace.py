"""Ten functions in one uv workspace: `hatch-lambda build --all` against one member's own build.

The workspace: a virtual root, `packages/acme-shared` (pydantic, requests) and ten function
members that depend on it, each with a lambda target for python3.12 x86_64. The uv cache and the
layer cache are warm (each command runs once before it is timed), as on a developer's machine or a
CI job that restores both. Timed, side by side in one run, medians of `--repeat` runs:

- one member: `python -m hatchling build -t lambda` in `functions/fn01`;
- all ten: `hatch-lambda build --all --no-isolation` at the root (ten source zips, one shared layer).

Run: `.venv/bin/python benchmarks/bench_workspace.py [--repeat 5] [--members 10]`. Needs the index
(or a warm uv cache) for pydantic and requests.
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

TARGET_RATIO = 1.3


def write_workspace(root: Path, members: int) -> list[Path]:
    files = {
        "pyproject.toml": """
            [tool.uv.workspace]
            members = ["packages/*", "functions/*"]

            [tool.uv.sources]
            acme-shared = { workspace = true }
        """,
        "packages/acme-shared/pyproject.toml": """
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "acme-shared"
            version = "1.0"
            requires-python = ">=3.12"
            dependencies = ["pydantic>=2", "requests"]
        """,
        "packages/acme-shared/acme_shared/__init__.py": (
            "from pydantic import BaseModel\n\n\nclass Order(BaseModel):\n    id: str\n"
        ),
    }
    functions = []
    for index in range(1, members + 1):
        name = f"fn{index:02d}"
        functions.append(root / "functions" / name)
        files[f"functions/{name}/pyproject.toml"] = f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{name}"
            version = "0.1.0"
            requires-python = ">=3.12"
            dependencies = ["acme-shared"]

            [tool.hatch.build.targets.wheel]
            packages = ["{name}"]

            [tool.hatch.build.targets.lambda]
            runtime = "python3.12"
        """
        files[f"functions/{name}/{name}/__init__.py"] = ""
        files[f"functions/{name}/{name}/app.py"] = (
            "from acme_shared import Order\n\n\ndef handler(event, context):\n    return Order(**event).id\n"
        )
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return functions


def timed(command: list[str], cwd: Path, environment: dict[str, str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed in {cwd}:\n{completed.stdout}{completed.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--members", type=int, default=10)
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-workspace-"))
    try:
        root = work / "acme"
        functions = write_workspace(root, arguments.members)
        environment = {**os.environ, "HATCH_LAMBDA_CACHE_DIR": str(work / "layer-cache")}
        one = [sys.executable, "-m", "hatchling", "build", "-t", "lambda"]
        everything = [sys.executable, "-m", "hatch_lambda.cli", "build", "--all", "--no-isolation"]
        timed(one, functions[0], environment)  # warm the uv and layer caches
        timed(everything, root, environment)
        one_member, all_members = [], []
        for _ in range(arguments.repeat):
            one_member.append(timed(one, functions[0], environment))
            all_members.append(timed(everything, root, environment))
        single, whole = statistics.median(one_member), statistics.median(all_members)
        print(
            f"members: {arguments.members}, repeats: {arguments.repeat} (medians), uv and layer caches warm"
        )
        print(f"one member   (hatchling build -t lambda in functions/fn01):  {single:6.2f} s")
        print(f"all members  (hatch-lambda build --all, one shared layer):   {whole:6.2f} s")
        ratio = whole / single
        verdict = "meets" if ratio <= TARGET_RATIO else "misses"
        print(f"ratio all/one: {ratio:.2f}x ({verdict} the target of <= {TARGET_RATIO}x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
