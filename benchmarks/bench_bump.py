"""A layer rebuilt after bumping one small dependency, against a cold layer build, in one run.

Run from the repository root with an interpreter where hatch-lambda, hatchling and uv are installed:

    python benchmarks/bench_bump.py [--repeat N] [--against REV] [--keep]

The project is `bench_build.py`'s (`bench_app`: requests, pydantic, cryptography, numpy; python3.12
x86_64) with one pin a user bumps, `idna==3.19` in `dependencies`, twice: with
`lock = "pylock.lambda.toml"` (the bump is what a user or Dependabot does: change the pin to
`idna==3.20`, run `hatch-lambda lock`, build; both locks are written once, before timing) and
without a lock (change the pin, build: hatch-lambda resolves). The uv cache is filled once and
kept (warm, as in CI with a restored cache). Recipes take turns, `--repeat` rounds, medians (and
the best run, the figure least disturbed by other work on a shared machine) printed side by side;
each is `python -m hatchling build -t lambda:layer`, its caches prepared untimed. For each of the
two ways:

* cold layer: empty layer cache (so an empty entry cache too), idna 3.20;
* bump, entry cache: the layer cache and `dist/` as an idna 3.19 build left them (its layer zip
  and its compressed entries; the layer zip the build replaces), then 3.20: the layer cache
  misses, uv installs, and the zip copies every stream whose file did not change;
* bump, no entry cache: the same, with the 3.19 build's compressed entries removed (what a bump
  cost before the entry cache).

The layer written by each bump is compared byte for byte with the cold build's, and the zip step is
then timed alone, in this process, on the bumped layer's files: no store, an empty one, a filled
one. The issue's target: the bump at most 0.4x a cold layer build. The "uv install" figure is
hatch-lambda's own report of its uv install, part of each build.

With `--against REV`, REV is checked out into a temporary `git worktree` (as `bench_warm_against.py`
does) and every recipe is also run with it first on `PYTHONPATH`, with its own layer caches: each
revision's run of a recipe follows the other's, so a noisy minute weighs on both. Its cold layer
must be this checkout's byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bench_build import (
    DEPENDENCIES,
    LAYER_ZIP,
    base_environment,
    earlier_checkout,
    run,
    settle,
    write_project,
)

from hatch_lambda.files.record import ZIP_EPOCH
from hatch_lambda.files.trash import TRASH_FOLDER

TARGET_BUMP = 0.4
OLD_IDNA, NEW_IDNA = "3.19", "3.20"
LOCK_OPTION = 'lock = "pylock.lambda.toml"\n'
ENTRY_STORE = "entries-v1"
_INSTALLED = re.compile(r"installed \d+ in ([0-9.]+)s")


@dataclass(frozen=True)
class Recipe:
    prepare: Callable[[], None]  # not timed: the caches and output directory as the recipe needs
    timed: Callable[[], float]


def pinned_project(root: Path, idna: str, *, locked: bool) -> Path:
    if root.exists():
        shutil.rmtree(root)
    write_project(root, LOCK_OPTION if locked else "")
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pinned = json.dumps([*DEPENDENCIES, f"idna=={idna}"])
    pyproject.write_text(text.replace(json.dumps(DEPENDENCIES), pinned, 1), encoding="utf-8")
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--against", help="also time an earlier revision's builds (a commit, a tag, HEAD~3), taking turns"
    )
    parser.add_argument("--keep", action="store_true")
    arguments = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-bump-"))
    try:
        with contextlib.ExitStack() as stack:
            revision = None
            if arguments.against:
                revision = stack.enter_context(earlier_checkout(arguments.against, work / "earlier-checkout"))
            return measure(work, arguments.repeat, revision)
    finally:
        if arguments.keep:
            print(f"Kept {work}")
        else:
            shutil.rmtree(work)


def measure(work: Path, repeat: int, revision: str | None) -> int:
    """Every recipe for this checkout, and with `revision` for the earlier one too (its own layer
    caches, uv's shared), taking turns; 0 when every bump gave its cold build's bytes."""
    common = {**base_environment(), "UV_CACHE_DIR": str(work / "uv-cache")}
    sides = {"": common}
    if revision is not None:
        sides[f" [{revision}]"] = {**common, "PYTHONPATH": str(work / "earlier-checkout")}
    build_command = [sys.executable, "-m", "hatchling", "build", "-t", "lambda:layer"]
    lock_command = [sys.executable, "-m", "hatch_lambda.cli", "lock"]
    installed: dict[str, list[float]] = {}
    recipes: dict[str, Recipe] = {}
    layers: dict[str, Path] = {}  # recipe -> the layer zip it writes, compared after the rounds

    for side, side_environment in sides.items():
        layer_cache = work / f"layer-cache{side.strip(' []')}"
        environment = {**side_environment, "HATCH_LAMBDA_CACHE_DIR": str(layer_cache)}

        def build(name: str, project: Path, environment: dict[str, str] = environment) -> float:
            seconds, output = run(build_command, cwd=project, environment=environment)
            found = _INSTALLED.search(output)
            if found:
                installed.setdefault(name, []).append(float(found.group(1)))
            return seconds

        def cold(name: str, project: Path, layer_cache: Path = layer_cache, build=build) -> Recipe:
            def prepare() -> None:
                shutil.rmtree(layer_cache, ignore_errors=True)
                shutil.rmtree(project / "dist", ignore_errors=True)

            return Recipe(prepare, lambda: build(name, project))

        def bump(
            name: str,
            project: Path,
            before_bump: Path,
            dist_before_bump: Path,
            *,
            entries: bool,
            layer_cache: Path = layer_cache,
            build=build,
        ) -> Recipe:
            def prepare() -> None:
                shutil.rmtree(layer_cache, ignore_errors=True)
                shutil.rmtree(project / "dist", ignore_errors=True)
                copy_layer_cache(before_bump, layer_cache)
                shutil.copytree(dist_before_bump, project / "dist")
                if not entries:
                    shutil.rmtree(layer_cache / ENTRY_STORE, ignore_errors=True)

            return Recipe(prepare, lambda: build(name, project))

        for mode, locked in (("lock", True), ("no lock", False)):
            slug = mode.replace(" ", "-") + side.strip(" []")
            old = pinned_project(work / f"old-{slug}", OLD_IDNA, locked=locked)
            new = pinned_project(work / f"new-{slug}", NEW_IDNA, locked=locked)
            if locked:  # the two locks, written once, as `hatch-lambda lock` after each pin
                for project in (old, new):
                    run(lock_command, cwd=project, environment=environment)
            before_bump = work / f"layer-cache-before-bump-{slug}"
            dist_before_bump = work / f"dist-before-bump-{slug}"
            once(cold(f"warm-up {mode}", new))  # fills the uv cache; not timed
            once(cold(f"warm-up {mode}", old))
            copy_layer_cache(layer_cache, before_bump)
            shutil.copytree(old / "dist", dist_before_bump)
            cold_name, bump_name = f"cold layer, {mode}{side}", f"bump, {mode}, entry cache{side}"
            recipes[cold_name] = cold(cold_name, new)
            recipes[bump_name] = bump(bump_name, new, before_bump, dist_before_bump, entries=True)
            recipes[f"bump, {mode}, no entry cache{side}"] = bump(
                f"bump, {mode}, no entry cache{side}", new, before_bump, dist_before_bump, entries=False
            )
            layers[cold_name] = layers[bump_name] = new / "dist" / LAYER_ZIP
    installed.clear()

    samples: dict[str, list[float]] = {name: [] for name in recipes}
    kept: dict[str, bytes] = {}
    for round_ in range(repeat):
        # Each revision's recipe right after the other's, the first alternating between rounds.
        names = sorted(recipes, key=lambda name: (name.split(" [")[0], (" [" in name) == (round_ % 2 == 0)))
        for name in names:
            samples[name].append(once(recipes[name]))
            if name in layers:
                kept[name] = layers[name].read_bytes()
    report(samples, installed, repeat, sides)
    same = True
    for side in sides:
        for mode in ("lock", "no lock"):
            equal = kept[f"cold layer, {mode}{side}"] == kept[f"bump, {mode}, entry cache{side}"]
            same = same and equal
            verdict = "yes" if equal else "NO"
            print(f"  {mode}{side}: the bump's layer zip == the cold build's, byte for byte: {verdict}")
    if revision is not None:
        for mode in ("lock", "no lock"):
            equal = kept[f"cold layer, {mode}"] == kept[f"cold layer, {mode} [{revision}]"]
            same = same and equal
            verdict = "yes" if equal else "NO"
            print(f"  {mode}: this checkout's layer zip == {revision}'s, byte for byte: {verdict}")
    zip_step(work, kept["cold layer, lock"], repeat)
    return 0 if same else 1


def copy_layer_cache(source: Path, destination: Path) -> None:
    """A copy of a layer cache as a build left it. Its trash (the install tree the build moved
    there, for the next build to remove: hard links to uv's cache) is linked, not copied, so that
    the timed build removes hard links, as it would after a user's build."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(TRASH_FOLDER))
    if (source / TRASH_FOLDER).is_dir():
        shutil.copytree(source / TRASH_FOLDER, destination / TRASH_FOLDER, copy_function=os.link)


def once(recipe: Recipe) -> float:
    recipe.prepare()
    settle()  # the copied cache written back before the clock starts
    return recipe.timed()


def report(
    samples: dict[str, list[float]], installed: dict[str, list[float]], repeat: int, sides: Iterable[str]
) -> None:
    medians = {name: statistics.median(values) for name, values in samples.items()}
    best = {name: min(values) for name, values in samples.items()}
    print(
        f"Layer builds (hatchling build -t lambda:layer), idna {OLD_IDNA} -> {NEW_IDNA}, warm uv cache; "
        f"median and best of {repeat}"
    )
    for name in sorted(medians, key=lambda name: (" [" in name, list(samples).index(name))):
        runs = ", ".join(f"{value:.2f}" for value in samples[name])
        install = f"uv install {statistics.median(installed[name]):.2f} s" if installed.get(name) else ""
        print(f"  {name:44} {medians[name]:6.2f} s  best {best[name]:5.2f} s  ({runs})  {install}")
    # The best of several runs is the figure least disturbed by other work on a shared machine.
    for side in sides:
        for mode in ("lock", "no lock"):
            for figure, values in (("median", medians), ("best", best)):
                ratio = values[f"bump, {mode}, entry cache{side}"] / values[f"cold layer, {mode}{side}"]
                verdict = "PASS" if ratio <= TARGET_BUMP else "FAIL"
                gain = (
                    values[f"bump, {mode}, no entry cache{side}"] - values[f"bump, {mode}, entry cache{side}"]
                )
                print(
                    f"  {mode}{side}, {figure}: bump / cold layer {ratio:.2f}x (target <= {TARGET_BUMP}x) "
                    f"{verdict}; the entry cache saves {gain:.2f} s"
                )


def zip_step(work: Path, layer: bytes, repeat: int) -> None:
    """The step the entry cache changes, alone: the bumped layer's tree zipped in this process."""
    from hatch_lambda.archive.entry_cache import EntryStore  # noqa: PLC0415
    from hatch_lambda.archive.reproducible_zip import write_reproducible_zip  # noqa: PLC0415
    from hatch_lambda.files.installed_tree import files_to_pack  # noqa: PLC0415

    tree, store = work / "tree", work / "zip-step-store"
    (work / "layer.zip").write_bytes(layer)
    with zipfile.ZipFile(work / "layer.zip") as archive:
        archive.extractall(tree)
    files = files_to_pack(tree / "python", "python/")
    ways = {"no store": None, "empty store (fills it)": "empty", "filled store": "filled"}
    times: dict[str, list[float]] = {name: [] for name in ways}
    processor: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}  # user, system
    outputs: dict[str, bytes] = {}
    for _ in range(repeat):
        for name, state in ways.items():
            if state == "empty":
                shutil.rmtree(store, ignore_errors=True)
            settle()
            before, started = os.times(), time.perf_counter()
            written = write_reproducible_zip(
                work / "step.zip",
                files,
                fixed_date_time=ZIP_EPOCH,
                store=None if state is None else EntryStore(store),
            )
            times[name].append(time.perf_counter() - started)
            after = os.times()
            processor[name].append((after.user - before.user, after.system - before.system))
            outputs[name] = written.path.read_bytes()
    print(f"The zip step alone ({len(files)} files), median and best of {repeat}; CPU time, median:")
    for name, values in times.items():
        user = statistics.median(user for user, _ in processor[name])
        system = statistics.median(system for _, system in processor[name])
        print(
            f"  {name:32} {statistics.median(values):6.2f} s  best {min(values):5.2f} s  "
            f"user {user:5.2f} s  system {system:5.2f} s"
        )
    print(f"  the same bytes all three ways: {'yes' if len(set(outputs.values())) == 1 else 'NO'}")


if __name__ == "__main__":
    started = time.perf_counter()
    status = main()
    print(f"({time.perf_counter() - started:.0f} s in all)")
    sys.exit(status)
