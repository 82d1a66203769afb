"""Warm lambda builds of this checkout against an earlier revision of hatch-lambda, in one run.

Run from the repository root with an interpreter where hatch-lambda (this checkout, editable),
hatchling and uv are installed:

    python benchmarks/bench_warm_against.py --against REV [--repeat N] [--python312 PATH] [--keep]

On a shared machine the same build can take 0.2 s or 0.3 s from one minute to the next, more than
most speedups change: comparing two revisions in two runs measures the machine. Here both take
turns in one run. REV is checked out into a temporary `git worktree` (removed at the end) and put
first on `PYTHONPATH`, so `python -m hatchling build -t lambda` runs its hatch-lambda with the
same interpreter, hatchling and uv as this checkout's.

The project is `bench_build.py`'s (`bench_app`: requests, pydantic, cryptography, numpy; python3.12
x86_64) with `lock = "pylock.lambda.toml"`, in the variants `bench_warm.py` times: a lock alone,
with `handler`, with `compile-bytecode`. Each revision has its own copy of each project and its own
layer cache (their records may differ); uv's cache is shared. Each is built once untimed to fill
its caches; then every round gives every copy the same one-line edit, and times each revision's
build into its `dist/` as the last build left it (a user's rebuild), the revision going first
alternating between rounds. Medians of `--repeat` rounds, and the change in per cent.

Every round also compares the two revisions' artifacts: a speedup must leave the source zip and
the layer zip byte for byte as they were, or the benchmark says so.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_build import (
    HANDLER_FUNCTION,
    LAYER_ZIP,
    SOURCE_ZIP,
    BenchmarkError,
    base_environment,
    earlier_checkout,
    find_runtime_python,
    one_line_change,
    run,
    settle,
    write_project,
)

LOCK = 'lock = "pylock.lambda.toml"\n'
VARIANTS = {
    "lock": LOCK,
    "lock + handler": LOCK + f'handler = "{HANDLER_FUNCTION}"\n',
    "lock + compile-bytecode": LOCK + "compile-bytecode = true\n",
}
SIDES = ("earlier", "this checkout")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the earlier revision (a commit, a tag, HEAD~3)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--python312", help="a CPython 3.12 for the handler check and compile-bytecode")
    parser.add_argument("--keep", action="store_true")
    arguments = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-against-"))
    try:
        with earlier_checkout(arguments.against, work / "earlier-checkout") as revision:
            compare(arguments, work, revision)
    except (BenchmarkError, subprocess.CalledProcessError) as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        if arguments.keep:
            print(f"Kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def compare(arguments: argparse.Namespace, work: Path, revision: str) -> None:
    earlier = work / "earlier-checkout"
    common = {
        **base_environment(),
        "UV_CACHE_DIR": str(work / "uv-cache"),
        "HATCH_LAMBDA_PYTHON_3_12": find_runtime_python(arguments.python312),
    }
    common.pop("PYTHONPATH", None)
    environments = {
        side: {
            **common,
            "HATCH_LAMBDA_CACHE_DIR": str(work / f"layer-cache-{index}"),
            **({"PYTHONPATH": str(earlier)} if side == "earlier" else {}),
        }
        for index, side in enumerate(SIDES)
    }
    projects = {
        (name, side): write_project(work / f"{slug(name)}-{index}", options)
        for name, options in VARIANTS.items()
        for index, side in enumerate(SIDES)
    }
    build = [sys.executable, "-m", "hatchling", "build", "-t", "lambda"]
    for (name, side), project in projects.items():
        lock = projects[(name, SIDES[0])] / "pylock.lambda.toml"
        if side == SIDES[0]:
            run([sys.executable, "-m", "hatch_lambda.cli", "lock"], cwd=project, environment=common)
        else:
            shutil.copyfile(lock, project / "pylock.lambda.toml")  # the very same pins
        run(build, cwd=project, environment=environments[side])  # fills its caches; not timed

    samples: dict[tuple[str, str], list[float]] = {}
    differing: list[str] = []
    for round_ in range(arguments.repeat):
        order = SIDES if round_ % 2 == 0 else tuple(reversed(SIDES))
        for name in VARIANTS:
            marker = f"round {round_}"
            for side in order:
                one_line_change(projects[(name, side)], marker)
                settle()
                seconds, output = run(build, cwd=projects[(name, side)], environment=environments[side])
                require_cached_layer(name, side, output)
                samples.setdefault((name, side), []).append(seconds)
            for artifact in (SOURCE_ZIP, LAYER_ZIP):
                built = [projects[(name, side)] / "dist" / artifact for side in SIDES]
                if not filecmp.cmp(*built, shallow=False):
                    differing.append(f"{name}, round {round_}: {artifact}")

    print(f"Warm `hatchling build -t lambda` after a one-line edit, dist/ kept; median of {arguments.repeat}")
    print(f"  {'variant':25} {'earlier (' + revision + ')':>18} {'this checkout':>14}  change")
    for name in VARIANTS:
        before = statistics.median(samples[(name, SIDES[0])])
        after = statistics.median(samples[(name, SIDES[1])])
        print(
            f"  {name:25} {before * 1000:15.0f} ms {after * 1000:11.0f} ms  "
            f"{100 * (after / before - 1):+5.1f}%"
        )
    if differing:
        print("  artifacts that differ between the two revisions: " + "; ".join(differing))
    else:
        print("  every round's source zip and layer zip: the same bytes from both revisions")


def require_cached_layer(name: str, side: str, output: str) -> None:
    """A warm build takes its layer from the cache, or this measures nothing."""
    if "from the cache" not in output:
        message = f"{name}, {side}: the layer did not come from the cache:\n{output}"
        raise BenchmarkError(message)


def slug(name: str) -> str:
    return "".join(character if character.isalnum() else "-" for character in name)


if __name__ == "__main__":
    sys.exit(main())
