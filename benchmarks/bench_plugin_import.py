"""What registering the `lambda` target costs every hatchling process, side by side in one run.

Hatchling imports every installed builder plugin to find any target (`hatch build -t wheel` too).
Each figure is the median wall time of `--repeat` fresh interpreters:

- hatchling alone: `import hatchling.builders.plugin.interface` (what any build loads anyway);
- with hatch-lambda registered: that, plus `hatch_lambda.hooks.hatch_register_builder()`;
- the lambda target's machinery: everything a lambda build then imports (`hatch_lambda.build.release`).

Run: `.venv/bin/python benchmarks/bench_plugin_import.py [--repeat 15]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

PROGRAMS = {
    "hatchling alone": "import hatchling.builders.plugin.interface",
    "with hatch-lambda registered": (
        "import hatchling.builders.plugin.interface, hatch_lambda.hooks as h; h.hatch_register_builder()"
    ),
    "the lambda target's machinery": "import hatchling.builders.plugin.interface, hatch_lambda.build.release",
}


def timed(program: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", program], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    arguments = parser.parse_args()
    medians = {}
    for name, program in PROGRAMS.items():
        timed(program)  # warm the file cache
        medians[name] = statistics.median(timed(program) for _ in range(arguments.repeat))
    base = medians["hatchling alone"]
    for name, median in medians.items():
        print(f"{name:32s} {median * 1000:7.1f} ms  (+{(median - base) * 1000:6.1f} ms over hatchling alone)")


if __name__ == "__main__":
    main()
