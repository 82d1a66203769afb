"""The cold layer build against the raw uv recipe, and what `compile-bytecode` adds to it.

Run from the repository root with an interpreter where hatch-lambda, hatchling and uv are installed:

    python benchmarks/bench_cold_layer.py [--repeat N] [--python312 PATH] [--keep]

The project is `bench_build.py`'s (`bench_app`: requests, pydantic, cryptography, numpy; python3.12
x86_64). The uv cache is filled once first and kept (a warm uv cache, as in CI with a restored
cache); every timed build starts with an empty layer cache and an empty output directory. Three
recipes take turns, `--repeat` rounds, medians printed side by side:

* raw uv: `rm -rf`, `uv pip install --target DIR/python --python-platform x86_64-manylinux_2_34
  --python-version 3.12 --only-binary :all: DEPS`, `zip -r -q` (what the issue's target is set against);
* hatch-lambda: `python -m hatchling build -t lambda:layer`;
* hatch-lambda with `compile-bytecode = true` (the runtime's CPython named by
  `HATCH_LAMBDA_PYTHON_3_12`, so neither build pays for discovery).

The issue's targets: the cold layer at most 0.5x the raw uv recipe; a cold build with bytecode at
most 1.5x one without. It also prints how much uv's cache grew over the timed rounds: a locked
install takes its wheels from uv's cache, so repeated cold builds should add nothing. Last, the
floor under `compile-bytecode`: CPython 3.12's own `compile()` over every module of the layer, in
one process (no marshalling, no pipes, no start-up), against the time the 1.5x target leaves it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_build import (
    DEPENDENCIES,
    PYTHON_VERSION,
    UV_PYTHON_PLATFORM,
    base_environment,
    find_runtime_python,
    find_uv,
    run,
    settle,
    write_project,
    zip_directory,
)

TARGET_LAYER = 0.5
TARGET_BYTECODE = 1.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python312", help="a CPython 3.12 for compile-bytecode")
    parser.add_argument("--keep", action="store_true")
    arguments = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-cold-layer-"))
    python312 = find_runtime_python(arguments.python312)
    environment = {
        **base_environment(),
        "UV_CACHE_DIR": str(work / "uv-cache"),
        "HATCH_LAMBDA_CACHE_DIR": str(work / "layer-cache"),
        "HATCH_LAMBDA_PYTHON_3_12": python312,
    }
    plain = write_project(work / "plain")
    compiled = write_project(work / "compiled", "compile-bytecode = true\n")
    uv = find_uv()
    layer_dir = work / "raw-uv"
    raw_install = [
        uv, "pip", "install", "--quiet", "--target", str(layer_dir / "python"), "--python", sys.executable,
        "--python-platform", UV_PYTHON_PLATFORM, "--python-version", PYTHON_VERSION,
        "--only-binary", ":all:", *DEPENDENCIES,
    ]  # fmt: skip

    def raw_uv() -> float:
        started = time.perf_counter()
        shutil.rmtree(layer_dir, ignore_errors=True)
        run(raw_install, cwd=work, environment=environment)
        zip_directory(layer_dir, "python", work / "raw-uv.zip", environment)
        return time.perf_counter() - started

    def hatch_lambda(project: Path) -> float:
        shutil.rmtree(work / "layer-cache", ignore_errors=True)
        shutil.rmtree(project / "dist", ignore_errors=True)
        command = [sys.executable, "-m", "hatchling", "build", "-t", "lambda:layer"]
        return run(command, cwd=project, environment=environment)[0]

    recipes = {
        "raw uv (install --target + zip -r)": raw_uv,
        "hatch-lambda, layer": lambda: hatch_lambda(plain),
        "hatch-lambda, layer, compile-bytecode": lambda: hatch_lambda(compiled),
    }
    try:
        for recipe in recipes.values():  # fills the uv cache; not timed
            recipe()
        uv_cache_before = directory_bytes(work / "uv-cache")
        samples: dict[str, list[float]] = {name: [] for name in recipes}
        for _ in range(arguments.repeat):
            for name, recipe in recipes.items():
                settle()
                samples[name].append(recipe())
        medians = {name: statistics.median(values) for name, values in samples.items()}
        print(f"Cold layer, empty layer cache, warm uv cache; median of {arguments.repeat}")
        for name, seconds in medians.items():
            print(f"  {name:45} {seconds:6.2f} s   ({', '.join(f'{value:.2f}' for value in samples[name])})")
        grown = directory_bytes(work / "uv-cache") - uv_cache_before
        print(
            f"  uv's cache grew by {grown / 2**20:.1f} MiB over the {arguments.repeat} rounds' "
            f"{2 * arguments.repeat} cold hatch-lambda builds (and the raw recipe's)"
        )
        names = list(medians)
        layer_ratio = medians[names[1]] / medians[names[0]]
        bytecode_ratio = medians[names[2]] / medians[names[1]]
        verdict = "PASS" if layer_ratio <= TARGET_LAYER else "FAIL"
        print(f"  cold layer / raw uv:          {layer_ratio:.2f}x (target <= {TARGET_LAYER}x) {verdict}")
        verdict = "PASS" if bytecode_ratio <= TARGET_BYTECODE else "FAIL"
        print(
            f"  with bytecode / without:      {bytecode_ratio:.2f}x (target <= {TARGET_BYTECODE}x) {verdict}"
        )
        compile_floor(python312, layer_dir / "python", medians[names[1]], arguments.repeat)
    finally:
        if arguments.keep:
            print(f"Kept {work}")
        else:
            shutil.rmtree(work)
    return 0


# CPython's own compiler over every module of the layer, in one process: the work `compile-bytecode`
# cannot avoid (its `.pyc` files are these code objects, marshalled), without any of its own costs.
_COMPILE_ALL = """
import os, sys, time
root = sys.argv[1]
sources = sorted(
    os.path.join(directory, name)
    for directory, _, names in os.walk(root)
    if ".dist-info" not in directory
    for name in names
    if name.endswith(".py")
)
started, modules, lines = time.perf_counter(), 0, 0
for path in sources:
    with open(path, "rb") as stream:
        source = stream.read()
    try:
        compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        continue
    modules += 1
    lines += source.count(b"\\n")
print(time.perf_counter() - started, modules, lines)
"""


def compile_floor(python312: str, tree: Path, without_bytecode: float, repeat: int) -> None:
    """Print what CPython's compiler alone takes over the layer's modules, against what the target
    leaves `compile-bytecode` (the build with it at most `TARGET_BYTECODE` times the one without)."""
    seconds: list[float] = []
    for _ in range(repeat):
        completed = subprocess.run(
            [python312, "-I", "-S", "-c", _COMPILE_ALL, str(tree)], capture_output=True, text=True, check=True
        )
        taken, modules, lines = completed.stdout.split()
        seconds.append(float(taken))
    alone = statistics.median(seconds)
    cores = os.cpu_count() or 1
    allowed = (TARGET_BYTECODE - 1) * without_bytecode
    print(
        f"  the compile alone: CPython 3.12's compile() over the layer's {modules} modules "
        f"({int(lines):,} lines), one process, median of {repeat}: {alone:.2f} s; on {cores} cores "
        f"at best {alone / cores:.2f} s, where the target leaves compile-bytecode {allowed:.2f} s"
    )


def directory_bytes(root: Path) -> int:
    """What a directory holds on disk, each hard-linked file once (as `du` counts it)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in root.rglob("*"):
        status = path.lstat()
        if path.is_file() and not path.is_symlink() and (status.st_dev, status.st_ino) not in seen:
            seen.add((status.st_dev, status.st_ino))
            total += status.st_size
    return total


if __name__ == "__main__":
    sys.exit(main())
