"""Time hatch-lambda against the recipes it replaces, on a realistic project.

Run from the repository root with an interpreter where hatch-lambda and hatchling are installed:

    python benchmarks/bench_build.py [--repeat N] [--keep] [--json PATH]

The project (`bench_app`: requests, pydantic, cryptography, numpy; python3.12, x86_64) is written to
a temporary directory and built by three recipes, each a sequence of real subprocesses:

* hatch-lambda: `python -m hatchling build -t lambda:source`, then `-t lambda:layer`;
* raw uv: `uv pip install . --no-deps --target` + `zip -r` for the source, and
  `uv pip install --target --python-platform ... --only-binary :all:` + `zip -r` for the layer;
* the guide's pip recipe: `pip install . --no-deps --target` + `zip -r` for the source, and
  `pip install --target --platform ... --only-binary=:all:` + `zip -r` for the layer.

Each recipe is timed in two cache states, each time into empty output and target directories:
"empty cache" (a fresh package cache: everything is downloaded from the index) and "warm cache" (the
package cache that recipe filled in its previous runs, as in CI with a cached uv or pip directory).
In both states a one-line edit of the handler is then rebuilt the way each recipe rebuilds (all of
it). The target (hatch-lambda's layer build within 1.1x of the raw uv recipe's) is checked on the
warm-cache figures, where network noise does not drown the tools' own work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_NAME = "bench-app"
PROJECT_VERSION = "0.1.0"
PACKAGE = "bench_app"
DEPENDENCIES = ["requests", "pydantic>=2", "cryptography", "numpy"]
RUNTIME = "python3.12"
PYTHON_VERSION = "3.12"
ARCHITECTURE = "x86_64"
# What hatch-lambda passes to uv for python3.12 on x86_64 (Amazon Linux 2023, glibc 2.34).
UV_PYTHON_PLATFORM = "x86_64-manylinux_2_34"
# pip takes platform tags literally and prefers them in the order given, so the guide's manylinux2014
# is widened to every manylinux tag up to the runtime's glibc 2.34, newest first: pip then picks the
# same wheels as uv.
PIP_PLATFORMS = [*(f"manylinux_2_{minor}_x86_64" for minor in range(34, 16, -1)), "manylinux2014_x86_64"]
TARGET_RATIO = 1.10

SOURCE_ZIP = f"{PROJECT_NAME.replace('-', '_')}-{PROJECT_VERSION}-lambda-source.zip"
LAYER_ZIP = f"{PROJECT_NAME.replace('-', '_')}-{PROJECT_VERSION}-lambda-layer-{RUNTIME}-{ARCHITECTURE}.zip"

PYPROJECT = f"""\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{PROJECT_NAME}"
version = "{PROJECT_VERSION}"
description = "A realistic Lambda function for the hatch-lambda benchmark"
requires-python = ">=3.9"
dependencies = {json.dumps(DEPENDENCIES)}

[tool.hatch.build.targets.wheel]
packages = ["{PACKAGE}"]

[tool.hatch.build.targets.lambda]
runtime = "{RUNTIME}"
architecture = "{ARCHITECTURE}"
"""

HANDLER = '''\
"""Handler: `bench_app.lambda_function.lambda_handler`."""

import json

import numpy as np
import requests
from cryptography.fernet import Fernet
from pydantic import BaseModel

from bench_app.models import Order

MESSAGE = "order processed"


def lambda_handler(event, context):
    order = Order.model_validate(event or {})
    token = Fernet(Fernet.generate_key()).encrypt(json.dumps(order.model_dump()).encode())
    return {
        "statusCode": 200,
        "body": {
            "message": MESSAGE,
            "order": order.id,
            "total": float(np.sum(np.asarray(order.amounts, dtype=float))),
            "token_length": len(token),
            "user_agent": requests.utils.default_user_agent(),
        },
    }
'''

MODELS = """\
from pydantic import BaseModel, Field


class Order(BaseModel):
    id: int = 0
    amounts: list = Field(default_factory=list)
"""

# Transport settings only: they change how the index is reached, not what is installed.
PASSED_THROUGH = {
    "PIP_CERT",
    "PIP_CLIENT_CERT",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_PROXY",
    "UV_HTTP_TIMEOUT",
    "UV_NATIVE_TLS",
}


class BenchmarkError(RuntimeError):
    pass


# Subprocesses --------------------------------------------------------------------------------------


def base_environment() -> dict[str, str]:
    """This environment without tool settings that would change what a recipe installs or from where."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key in PASSED_THROUGH
        or not key.startswith(("UV_", "PIP_", "HATCH_", "VIRTUAL_ENV", "SOURCE_DATE_EPOCH"))
    }
    environment["UV_NO_CONFIG"] = "1"  # no uv.toml: uv reads the default index, for both uv recipes
    environment["PIP_CONFIG_FILE"] = os.devnull  # no pip.conf: pip reads the default index
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    environment["PIP_NO_INPUT"] = "1"
    return environment


def run(command: list[str], *, cwd: Path, environment: dict[str, str]) -> tuple[float, str]:
    """Run `command`, return (wall seconds, output); any failure stops the benchmark."""
    started = time.perf_counter()
    completed = subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, check=False, timeout=900
    )
    elapsed = time.perf_counter() - started
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        message = f"`{' '.join(command)}` failed with exit code {completed.returncode}:\n{output}"
        raise BenchmarkError(message)
    return elapsed, output


def find_uv() -> str:
    try:
        from uv import find_uv_bin  # noqa: PLC0415
    except ImportError as error:
        message = "The `uv` package is not installed in this interpreter (pip install uv)."
        raise BenchmarkError(message) from error
    return str(find_uv_bin())


# The project -----------------------------------------------------------------------------------------


def write_project(root: Path) -> Path:
    package = root / PACKAGE
    package.mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (package / "__init__.py").write_text('"""The benchmark\'s Lambda function."""\n', encoding="utf-8")
    (package / "lambda_function.py").write_text(HANDLER, encoding="utf-8")
    (package / "models.py").write_text(MODELS, encoding="utf-8")
    return root


def one_line_change(project: Path, marker: str) -> None:
    handler = project / PACKAGE / "lambda_function.py"
    text = handler.read_text(encoding="utf-8")
    changed = re.sub(r'^MESSAGE = ".*"$', f'MESSAGE = "order processed ({marker})"', text, flags=re.M)
    handler.write_text(changed, encoding="utf-8")


def source_zip_has(source_zip: Path, marker: str) -> bool:
    with zipfile.ZipFile(source_zip) as archive:
        return marker in archive.read(f"{PACKAGE}/lambda_function.py").decode("utf-8")


@dataclass(frozen=True)
class ZipContents:
    zipped: int
    unzipped: int
    files: int
    distributions: tuple[str, ...]


def zip_contents(path: Path) -> ZipContents:
    with zipfile.ZipFile(path) as archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        distributions = sorted(
            {
                info.filename.split("/")[1][: -len(".dist-info")].lower().replace("_", "-")
                for info in infos
                if info.filename.count("/") >= 2 and info.filename.split("/")[1].endswith(".dist-info")
            }
        )
    return ZipContents(
        zipped=path.stat().st_size,
        unzipped=sum(info.file_size for info in infos),
        files=len(infos),
        distributions=tuple(distributions),
    )


# Recipes -----------------------------------------------------------------------------------------------

Steps = dict[str, float]


@dataclass
class Workspace:
    """One recipe's project copy, output directory and package cache for one run."""

    project: Path
    output: Path
    scratch: Path
    cache: Path


class Recipe:
    name = ""

    def __init__(self, environment: dict[str, str]) -> None:
        self.base_environment = environment

    def environment(self, workspace: Workspace) -> dict[str, str]:
        raise NotImplementedError

    def build_source(self, workspace: Workspace) -> Steps:
        raise NotImplementedError

    def build_layer(self, workspace: Workspace) -> Steps:
        raise NotImplementedError

    def rebuild(self, workspace: Workspace) -> Steps:
        """What the recipe runs after a code change: both artifacts."""
        steps = {f"source {key}": value for key, value in self.build_source(workspace).items()}
        steps.update({f"layer {key}": value for key, value in self.build_layer(workspace).items()})
        return steps

    def source_zip(self, workspace: Workspace) -> Path:
        return workspace.output / SOURCE_ZIP

    def layer_zip(self, workspace: Workspace) -> Path:
        return workspace.output / LAYER_ZIP


class HatchLambda(Recipe):
    name = "hatch-lambda"
    _UV_SECONDS = re.compile(r"and installed \d+ in ([\d.]+)s")

    def environment(self, workspace: Workspace) -> dict[str, str]:
        return {**self.base_environment, "UV_CACHE_DIR": str(workspace.cache)}

    def _hatchling(self, workspace: Workspace, target: str) -> tuple[float, str]:
        command = [sys.executable, "-m", "hatchling", "build", "-t", target, "-d", str(workspace.output)]
        return run(command, cwd=workspace.project, environment=self.environment(workspace))

    def _steps(self, seconds: float, output: str) -> Steps:
        steps = {"hatchling": seconds}
        reported = self._UV_SECONDS.search(output)
        if reported:
            steps["uv (as reported)"] = float(reported.group(1))
        return steps

    def build_source(self, workspace: Workspace) -> Steps:
        return self._steps(*self._hatchling(workspace, "lambda:source"))

    def build_layer(self, workspace: Workspace) -> Steps:
        return self._steps(*self._hatchling(workspace, "lambda:layer"))

    def rebuild(self, workspace: Workspace) -> Steps:
        return self._steps(*self._hatchling(workspace, "lambda"))


class TargetAndZip(Recipe):
    """A shell-script recipe: wipe the target, install into it, `zip -r` it."""

    def install_source(self, workspace: Workspace, target: Path) -> list[str]:
        raise NotImplementedError

    def install_layer(self, workspace: Workspace, target: Path) -> list[str]:
        raise NotImplementedError

    def _build(
        self,
        workspace: Workspace,
        target: Path,
        install: list[str],
        zip_from: Path,
        zip_what: str,
        destination: Path,
    ) -> Steps:
        started = time.perf_counter()
        shutil.rmtree(target, ignore_errors=True)
        destination.unlink(missing_ok=True)  # `zip` would otherwise update the old archive
        steps = {"clean": time.perf_counter() - started}
        environment = self.environment(workspace)
        steps["install"], _ = run(install, cwd=workspace.project, environment=environment)
        zip_command = ["zip", "-r", "-q", str(destination), zip_what]
        steps["zip"], _ = run(zip_command, cwd=zip_from, environment=environment)
        return steps

    def build_source(self, workspace: Workspace) -> Steps:
        target = workspace.scratch / "source"
        command = self.install_source(workspace, target)
        return self._build(workspace, target, command, target, ".", self.source_zip(workspace))

    def build_layer(self, workspace: Workspace) -> Steps:
        target = workspace.scratch / "layer"
        command = self.install_layer(workspace, target / "python")
        return self._build(workspace, target, command, target, "python", self.layer_zip(workspace))


class RawUv(TargetAndZip):
    name = "raw uv"

    def __init__(self, environment: dict[str, str]) -> None:
        super().__init__(environment)
        self.uv = find_uv()

    def environment(self, workspace: Workspace) -> dict[str, str]:
        return {**self.base_environment, "UV_CACHE_DIR": str(workspace.cache)}

    def _common(self, target: Path) -> list[str]:
        # `--python` as hatch-lambda passes it, so neither recipe pays for interpreter discovery.
        return [
            self.uv, "pip", "install", "--target", str(target), "--python", sys.executable,
            "--python-platform", UV_PYTHON_PLATFORM, "--python-version", PYTHON_VERSION,
        ]  # fmt: skip

    def install_source(self, workspace: Workspace, target: Path) -> list[str]:
        return [*self._common(target), ".", "--no-deps"]

    def install_layer(self, workspace: Workspace, target: Path) -> list[str]:
        return [*self._common(target), "--only-binary", ":all:", *DEPENDENCIES]


class GuidePip(TargetAndZip):
    name = "guide's pip"

    def environment(self, workspace: Workspace) -> dict[str, str]:
        return {**self.base_environment, "PIP_CACHE_DIR": str(workspace.cache)}

    def install_source(self, workspace: Workspace, target: Path) -> list[str]:
        return [sys.executable, "-m", "pip", "install", ".", "--no-deps", "--target", str(target)]

    def install_layer(self, workspace: Workspace, target: Path) -> list[str]:
        platforms = [argument for tag in PIP_PLATFORMS for argument in ("--platform", tag)]
        return [
            sys.executable, "-m", "pip", "install", "--target", str(target), *platforms,
            "--implementation", "cp", "--python-version", PYTHON_VERSION, "--only-binary=:all:",
            *DEPENDENCIES,
        ]  # fmt: skip


# Measurements --------------------------------------------------------------------------------------------

CACHE_STATES = ("empty", "warm")
COLUMNS = ("cold source", "cold layer", "cold total", "after change")


@dataclass
class Sample:
    recipe: str
    cache: str
    seconds: dict[str, float]
    steps: dict[str, Steps]
    layer: ZipContents
    source: ZipContents


@dataclass
class Results:
    samples: list[Sample] = field(default_factory=list)

    def of(self, recipe: str, cache: str) -> list[Sample]:
        return [sample for sample in self.samples if sample.recipe == recipe and sample.cache == cache]

    def median(self, recipe: str, cache: str, column: str) -> float:
        return statistics.median(sample.seconds[column] for sample in self.of(recipe, cache))

    def median_step(self, recipe: str, cache: str, phase: str, step: str) -> float | None:
        values = [s.steps[phase][step] for s in self.of(recipe, cache) if step in s.steps[phase]]
        return statistics.median(values) if values else None


def measure(recipe: Recipe, root: Path, cache: Path, cache_state: str, marker: str) -> Sample:
    """Cold source and layer builds into empty directories, then a one-line change and its rebuild."""
    if cache_state == "empty":
        shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    workspace = Workspace(
        project=write_project(root / "project"), output=root / "dist", scratch=root / "scratch", cache=cache
    )
    workspace.output.mkdir()
    workspace.scratch.mkdir()

    started = time.perf_counter()
    source_steps = recipe.build_source(workspace)
    source_seconds = time.perf_counter() - started
    started = time.perf_counter()
    layer_steps = recipe.build_layer(workspace)
    layer_seconds = time.perf_counter() - started
    layer = zip_contents(recipe.layer_zip(workspace))

    one_line_change(workspace.project, marker)
    started = time.perf_counter()
    rebuild_steps = recipe.rebuild(workspace)
    rebuild_seconds = time.perf_counter() - started
    if not source_zip_has(recipe.source_zip(workspace), marker):
        message = f"{recipe.name}: the source zip rebuilt after the change does not contain it"
        raise BenchmarkError(message)

    return Sample(
        recipe=recipe.name,
        cache=cache_state,
        seconds={
            "cold source": source_seconds,
            "cold layer": layer_seconds,
            "cold total": source_seconds + layer_seconds,
            "after change": rebuild_seconds,
        },
        steps={"source": source_steps, "layer": layer_steps, "after change": rebuild_steps},
        layer=layer,
        source=zip_contents(recipe.source_zip(workspace)),
    )


def startup_seconds(environment: dict[str, str], cwd: Path) -> float:
    """What a `python -m hatchling` process pays before building: interpreter and imports."""
    command = [sys.executable, "-c", "import hatchling.cli, hatchling.builders.wheel, hatch_lambda.builder"]
    return statistics.median(run(command, cwd=cwd, environment=environment)[0] for _ in range(5))


# Report ---------------------------------------------------------------------------------------------------


def mib(size: float) -> str:
    return f"{size / 1024 / 1024:.1f} MiB"


def print_report(results: Results, recipes: list[Recipe], startup: float, repeat: int) -> dict[str, Any]:
    names = [recipe.name for recipe in recipes]
    ours, uv, pip = names
    figures: dict[str, Any] = {"medians": {}, "ratios": {}}
    width = len(f"{ours} / {pip}") + 2
    header = f"{'recipe':<{width}}" + "".join(f"{column:>14}" for column in COLUMNS) + f"{'layer zip':>12}"
    for cache in CACHE_STATES:
        title = {
            "empty": "Cold builds, EMPTY package cache (every wheel downloaded from PyPI)",
            "warm": "Cold builds, WARM package cache (empty targets and outputs, "
            "as in a CI job with a restored cache)",
        }[cache]
        print(f"\n{title}; median of {repeat}, seconds")
        print(header)
        print("-" * len(header))
        figures["medians"][cache] = {}
        for name in names:
            medians = {column: results.median(name, cache, column) for column in COLUMNS}
            size = statistics.median(sample.layer.zipped for sample in results.of(name, cache))
            figures["medians"][cache][name] = {**medians, "layer zip bytes": size}
            print(
                f"{name:<{width}}"
                + "".join(f"{medians[column]:>14.2f}" for column in COLUMNS)
                + f"{mib(size):>12}"
            )
        figures["ratios"][cache] = {}
        for other in (uv, pip):
            label = f"{ours} / {other}"
            ratios = {
                column: figures["medians"][cache][ours][column] / figures["medians"][cache][other][column]
                for column in (*COLUMNS, "layer zip bytes")
            }
            figures["ratios"][cache][label] = ratios
            print(
                f"{label:<{width}}"
                + "".join(f"{ratios[column]:>13.2f}x" for column in COLUMNS)
                + f"{ratios['layer zip bytes']:>11.2f}x"
            )

    print("\nLayer contents (last run of each recipe, warm cache)")
    for name in names:
        contents = results.of(name, "warm")[-1].layer
        print(
            f"  {name:<{width}}{contents.files:>6} files, {mib(contents.unzipped):>10} unzipped, "
            f"{mib(contents.zipped):>9} zipped, {len(contents.distributions)} distributions"
        )
    reference = results.of(ours, "warm")[-1].layer.distributions
    for name in names[1:]:
        other = results.of(name, "warm")[-1].layer.distributions
        if other != reference:
            print(f"  ! {name} ships different distributions: {sorted(set(other) ^ set(reference))}")
    print(f"  distributions: {', '.join(reference)}")

    print("\nWhere the cold layer build goes (medians, seconds)")
    for cache in CACHE_STATES:
        print(f"  {cache} cache:")
        ours_layer = figures["medians"][cache][ours]["cold layer"]
        uv_reported = results.median_step(ours, cache, "layer", "uv (as reported)")
        line = f"    {ours:<13} {ours_layer:5.2f} = python start-up + imports ~{startup:.2f}"
        if uv_reported is not None:
            rest = ours_layer - uv_reported - startup
            line += f", uv {uv_reported:.2f}, the rest (checks, zip, sha256, manifest) ~{rest:.2f}"
        print(line)
        for name in (uv, pip):
            steps = {
                step: results.median_step(name, cache, "layer", step) or 0.0
                for step in ("clean", "install", "zip")
            }
            print(
                f"    {name:<13} {figures['medians'][cache][name]['cold layer']:5.2f} = "
                f"install {steps['install']:.2f}, zip -r {steps['zip']:.2f}, rm -rf {steps['clean']:.2f}"
            )
        figures.setdefault("breakdown", {})[cache] = {"startup": startup, "uv (as reported)": uv_reported}

    print()
    for cache in CACHE_STATES:
        ratio = figures["ratios"][cache][f"{ours} / {uv}"]["cold layer"]
        if cache == "warm":
            verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
            figures["target"] = {"ratio": ratio, "limit": TARGET_RATIO, "verdict": verdict}
            print(
                f"{ours} cold layer / {uv} cold layer, warm package cache: {ratio:.2f}x "
                f"(target <= {TARGET_RATIO:.2f}x): {verdict}"
            )
        else:
            print(
                f"{ours} cold layer / {uv} cold layer, empty package cache: {ratio:.2f}x "
                "(informational: includes downloads)"
            )
    return figures


# Main -----------------------------------------------------------------------------------------------------


def tool_versions(environment: dict[str, str], cwd: Path, uv: str) -> dict[str, str]:
    def first_line(command: list[str]) -> str:
        return run(command, cwd=cwd, environment=environment)[1].strip().splitlines()[0]

    from hatchling.__about__ import __version__ as hatchling_version  # noqa: PLC0415

    import hatch_lambda  # noqa: PLC0415
    from hatch_lambda.__about__ import __version__ as hatch_lambda_version  # noqa: PLC0415

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
        "hatch-lambda": f"{hatch_lambda_version} (from {Path(hatch_lambda.__file__).parent})",
        "hatchling": hatchling_version,
        "uv": first_line([uv, "--version"]).split()[1],
        "pip": first_line([sys.executable, "-m", "pip", "--version"]).split()[1],
        "zip": " ".join(
            re.findall(r"This is Zip (\S+)", run(["zip", "-v"], cwd=cwd, environment=environment)[1])
        ),
    }


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; medians are reported")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure to PATH")
    arguments = parser.parse_args(argv)
    if arguments.repeat < 1:
        parser.error("--repeat must be at least 1")
    return arguments


def check_prerequisites() -> None:
    if shutil.which("zip") is None:
        message = "`zip` is not on PATH; the raw recipes need it (e.g. `apt-get install -y zip`)."
        raise BenchmarkError(message)
    try:
        import hatchling  # noqa: F401, PLC0415

        import hatch_lambda  # noqa: F401, PLC0415
    except ImportError as error:
        message = f"Run this with an interpreter where hatchling and hatch-lambda are installed ({error})."
        raise BenchmarkError(message) from error


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        check_prerequisites()
        environment = base_environment()
        recipes: list[Recipe] = [HatchLambda(environment), RawUv(environment), GuidePip(environment)]
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    root = Path(tempfile.mkdtemp(prefix="hatch-lambda-bench-"))
    try:
        versions = tool_versions(environment, root, find_uv())
        print(
            "hatch-lambda build benchmark: " + ", ".join(f"{key} {value}" for key, value in versions.items())
        )
        print(f"project: {PROJECT_NAME} ({', '.join(DEPENDENCIES)}) for {RUNTIME} {ARCHITECTURE}")
        print(f"working directory: {root}")
        startup = startup_seconds(environment, root)
        results = Results()
        for repetition in range(arguments.repeat):
            # Rotate the order, so no recipe always runs first (or after the same one).
            shift = repetition % len(recipes)
            for recipe in recipes[shift:] + recipes[:shift]:
                slug = re.sub(r"[^a-z]+", "-", recipe.name).strip("-")
                cache = root / "caches" / f"{slug}-{repetition}"
                for cache_state in CACHE_STATES:
                    sample = measure(
                        recipe,
                        root / "runs" / f"{slug}-{repetition}-{cache_state}",
                        cache,
                        cache_state,
                        marker=f"edit {repetition}-{cache_state}",
                    )
                    results.samples.append(sample)
                    print(
                        f"  run {repetition + 1}/{arguments.repeat} {recipe.name:<13} {cache_state} cache: "
                        + ", ".join(f"{key} {value:.2f}s" for key, value in sample.seconds.items()),
                        flush=True,
                    )
        figures = print_report(results, recipes, startup, arguments.repeat)
        if arguments.json:
            figures.update(
                versions=versions,
                repeat=arguments.repeat,
                startup_seconds=startup,
                samples=[
                    {
                        "recipe": sample.recipe,
                        "cache": sample.cache,
                        "seconds": sample.seconds,
                        "steps": sample.steps,
                        "layer": vars(sample.layer),
                        "source": vars(sample.source),
                    }
                    for sample in results.samples
                ],
            )
            arguments.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
            print(f"figures written to {arguments.json}")
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if arguments.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
