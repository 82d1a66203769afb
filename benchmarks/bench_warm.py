"""A warm `hatch build -t lambda` against `hatch build -t wheel` of the same project, side by side in one run.

Run from the repository root with an interpreter where hatch-lambda, hatch, hatchling and uv are installed:

    python benchmarks/bench_warm.py [--repeat N] [--python312 PATH] [--keep]

The project is `bench_build.py`'s (`bench_app`: requests, pydantic, cryptography, numpy; python3.12
x86_64), written once per variant:

* `lock`: `lock = "pylock.lambda.toml"`, written by `hatch-lambda lock`;
* `lock + handler`: the same, with `handler` set, so every build checks the handler;
* `lock + compile-bytecode`: the same, with `compile-bytecode = true`;
* `no lock` (informational): uv resolves on every build.

Every variant is built once to fill the caches (uv's, the layer cache, hatch's build environment;
not timed). Then each round gives the handler a one-line edit and times, for every variant, the
wheel and the lambda target, first with `python -m hatchling build` (the backend alone) and then with
`hatch build` (what users run: hatch checks its build environment first), each into `dist/` as the
last build left it (a user's rebuild) and into an empty `dist/` (a CI job that restored its caches).
Every lambda build must take its layer from the cache and its source zip must hold the edit, or the
benchmark stops.
Medians of `--repeat` rounds; the ratios are lambda / wheel of the same command and project.

The issue's targets, for `hatch build`: with a lock at most 1.15x, with a lock and `handler` at
most 1.6x, with a lock and `compile-bytecode` at most 1.2x. It also prints the handler check's own
time as the builds report it, and the handler's imports timed alone in the check's interpreter and
layer tree: the part of the check that is Lambda's own cold-start work.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench_build import (
    HANDLER_FUNCTION,
    SOURCE_ZIP,
    BenchmarkError,
    base_environment,
    code_zip_has,
    find_runtime_python,
    one_line_change,
    run,
    settle,
    write_project,
)

REPOSITORY = Path(__file__).resolve().parent.parent
LOCK = 'lock = "pylock.lambda.toml"\n'
# hatch installs the target's dependencies into its build environment; find-links gives it this checkout.
PLUGIN = 'dependencies = ["hatch-lambda"]\n'
VARIANTS = {
    "lock": LOCK,
    "lock + handler": LOCK + f'handler = "{HANDLER_FUNCTION}"\n',
    "lock + compile-bytecode": LOCK + "compile-bytecode = true\n",
    "no lock": "",
}
TARGETS = {"lock": 1.15, "lock + handler": 1.6, "lock + compile-bytecode": 1.2}
CACHE_HIT = "from the cache"
# Both ways a warm build meets its output directory, timed side by side.
DIST_STATES = ("kept", "fresh")
CHECKED = re.compile(r"^Checked handler \S+: .*\((\d+\.\d+)s\)$", re.MULTILINE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python312", help="a CPython 3.12 for the handler check and compile-bytecode")
    parser.add_argument("--keep", action="store_true")
    arguments = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-warm-"))
    try:
        plugin = work / "plugin"
        build_wheel = [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(plugin)]
        run(build_wheel, cwd=REPOSITORY, environment=base_environment())
        hatch_config = work / "hatch-config.toml"
        hatch_config.write_text("", encoding="utf-8")
        environment = {
            **base_environment(),
            "UV_CACHE_DIR": str(work / "uv-cache"),
            "UV_FIND_LINKS": str(plugin),
            "HATCH_LAMBDA_CACHE_DIR": str(work / "layer-cache"),
            "HATCH_LAMBDA_PYTHON_3_12": find_runtime_python(arguments.python312),
            "HATCH_DATA_DIR": str(work / "hatch-data"),
            "HATCH_CACHE_DIR": str(work / "hatch-cache"),
            "HATCH_CONFIG": str(hatch_config),
        }
        projects = {
            name: write_project(work / slug(name), PLUGIN + options) for name, options in VARIANTS.items()
        }
        commands = {
            "hatchling build": [sys.executable, "-m", "hatchling", "build"],
            "hatch build": [sys.executable, "-m", "hatch", "build"],
        }
        for name, project in projects.items():
            if LOCK in VARIANTS[name]:
                run([sys.executable, "-m", "hatch_lambda.cli", "lock"], cwd=project, environment=environment)
            for command in commands.values():  # fills every cache; not timed
                for target in ("wheel", "lambda"):
                    run([*command, "-t", target], cwd=project, environment=environment)

        samples: dict[tuple[str, str, str], list[float]] = {}
        checks: list[float] = []  # the check's own time, as each `handler` build reports it
        imports: list[float] = []  # the handler's imports alone, in the check's interpreter and tree
        for round_ in range(arguments.repeat):
            for name, project in projects.items():
                for command_name, command in commands.items():
                    for dist in DIST_STATES:
                        marker = f"round {round_} {command_name} {dist}"
                        one_line_change(project, marker)
                        for target in ("wheel", "lambda"):
                            if dist == "fresh":
                                shutil.rmtree(project / "dist", ignore_errors=True)
                            settle()
                            seconds, output = run(
                                [*command, "-t", target], cwd=project, environment=environment
                            )
                            if target == "lambda":
                                require_warm(name, command_name, output, project, marker)
                                checks.extend(float(found) for found in CHECKED.findall(output))
                            samples.setdefault((name, command_name, dist, target), []).append(seconds)
            imports.append(handler_imports_alone(environment, work / "layer-cache"))

        print(f"Warm builds after a one-line edit, warm caches; median of {arguments.repeat}")
        print("  dist/ kept: a user's rebuild (dist/ holds the last build's artifacts);")
        print("  dist/ fresh: an empty output directory (a CI job that restored the caches)")
        print(f"  {'variant':25} {'command':16} {'dist/':6} {'wheel':>8} {'lambda':>8} {'ratio':>7}  target")
        for name in projects:
            for command_name in commands:
                for dist in DIST_STATES:
                    wheel = statistics.median(samples[(name, command_name, dist, "wheel")])
                    lambda_ = statistics.median(samples[(name, command_name, dist, "lambda")])
                    ratio = lambda_ / wheel
                    target = TARGETS.get(name)
                    passed = target is not None and ratio <= target
                    verdict = "" if target is None else f"<= {target}x {'PASS' if passed else 'FAIL'}"
                    print(
                        f"  {name:25} {command_name:16} {dist:6} {wheel:7.2f}s {lambda_:7.2f}s "
                        f"{ratio:6.2f}x  {verdict}"
                    )
        print(
            f"  the handler check, as the builds report it: median {statistics.median(checks):.2f} s "
            f"of {len(checks)}; the handler's imports alone (CPython 3.12, the shared tree and its "
            f"bytecode, `-I -S -X pycache_prefix`): median {statistics.median(imports):.2f} s "
            f"of {len(imports)}"
        )
    except BenchmarkError as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        if arguments.keep:
            print(f"Kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def handler_imports_alone(environment: dict[str, str], layer_cache: Path) -> float:
    """What the handler imports (numpy, pydantic, cryptography, requests), timed in a fresh CPython
    3.12 run as the check runs it, from the check's shared layer tree and bytecode directory: the
    part of the check that is the handler's own cold-start work."""
    (tree,) = layer_cache.glob("layer-trees-v1/*/opt/python")
    (prefix,) = layer_cache.glob("handler-pycache-v1/cpython-3.12-*")
    probe = (
        f"import sys; sys.path[:0] = [{str(tree)!r}]; import numpy, pydantic, cryptography.fernet, requests"
    )
    python = environment["HATCH_LAMBDA_PYTHON_3_12"]
    command = [python, "-I", "-S", "-X", f"pycache_prefix={prefix}", "-c", probe]
    return run(command, cwd=layer_cache, environment=environment)[0]


def slug(name: str) -> str:
    return "".join(character if character.isalnum() else "-" for character in name)


def require_warm(name: str, command_name: str, output: str, project: Path, marker: str) -> None:
    """A warm build takes its layer from the cache and zips the edited code, or this measures nothing."""
    if CACHE_HIT not in output:
        message = f"{name}, {command_name}: the layer did not come from the cache:\n{output}"
        raise BenchmarkError(message)
    if not code_zip_has(project / "dist" / SOURCE_ZIP, marker):
        message = f"{name}, {command_name}: the source zip does not hold the edit {marker!r}"
        raise BenchmarkError(message)


if __name__ == "__main__":
    sys.exit(main())
