"""The parts of a warm build the speed issue's later passes changed, each timed both ways in one run.

Run from the repository root with an interpreter where hatch-lambda and hatchling are installed:

    python benchmarks/bench_warm_parts.py [--repeat N]

* placing a cached layer: a 23 MB zip-like file copied into staging and checked by sha256 as it is
  copied (what every cache hit did before) against checked by the record's CRC-32 and size (now);
* libdeflate's output fingerprint, part of every cache key: the 219 KB sample it used to compress
  against the 27 KB one it compresses now;
* creating a five-field record class at import: a frozen dataclass against a `typing.NamedTuple`;
* importing what a warm locked build imports of hatch-lambda (`build.config`, `build.release` and
  what they load), in a fresh interpreter that has imported hatchling's builders already;
* (fifth pass) keeping the layer `dist/` holds: reading its 23 MB for the CRC-32 against trusting
  the record an earlier build left of the same file's identity (`layer.cache.holds`);
* (fifth pass) `EntryStore.prune` on a store of 250 entries within its bound: walking it against
  adding to its tally.

Medians of `--repeat` runs, side by side.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from hatch_lambda.archive import libdeflate
from hatch_lambda.archive.entry_cache import TALLY_FILE, EntryStore
from hatch_lambda.layer.cache import KEPT_FOLDER, CachedLayer, holds, place

LAYER_BYTES = 23_901_949  # the benchmark project's layer zip (bench_build.py's `bench_app`)
_RECORD_CLASS = """
from __future__ import annotations
{decorator}
class Entry{base}:
    name: str
    read: object
    date_time: tuple[int, int, int, int, int, int]
    external_attr: int
    create_system: int
"""
_WARM_IMPORTS = (
    # What `hatchling build -t wheel` loads anyway (its builders, packaging's requirements and tags).
    "import time, hatchling.builders.wheel, hatchling.builders.sdist, packaging.requirements, "
    "packaging.tags, hatchling.metadata.core; start = time.perf_counter(); "
    "import hatch_lambda.build.config, hatch_lambda.build.release; "
    "print(time.perf_counter() - start)"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    repeat = parser.parse_args().repeat
    work = Path(tempfile.mkdtemp(prefix="bench-warm-parts-"))
    try:
        print(f"Parts of a warm build, both ways in one run; medians of {repeat}")
        cached = work / "cached.zip"
        cached.write_bytes(_layer_like_bytes())
        sha256 = hashlib.sha256(cached.read_bytes()).hexdigest()
        crc32, size = zlib.crc32(cached.read_bytes()), cached.stat().st_size
        staged = work / "staging" / "layer.zip"
        fresh = lambda: _fresh_staging(staged)  # noqa: E731
        by_sha256 = _median(repeat, lambda: _placed(place(cached, staged, sha256)), prepare=fresh)
        by_crc32 = _median(repeat, lambda: _placed(place(cached, staged, sha256, crc32, size)), prepare=fresh)
        _row("placing a 23 MB cached layer", "sha256 as copied", by_sha256, "CRC-32 and size", by_crc32)

        old_sample = _sample(4096)
        new_sample = _sample(512)
        old = _median(repeat, lambda: _fingerprint(4096))
        new = _median(repeat, lambda: _fingerprint(512))
        _row(
            "libdeflate's fingerprint",
            f"{len(old_sample) // 1024} KB sample",
            old,
            f"{len(new_sample) // 1024} KB sample",
            new,
        )

        dataclass = _median(repeat, lambda: _define("@__import__('dataclasses').dataclass(frozen=True)", ""))
        named_tuple = _median(repeat, lambda: _define("", "(__import__('typing').NamedTuple)"))
        _row("a five-field record class", "frozen dataclass", dataclass, "NamedTuple", named_tuple)

        imports = _median(repeat, _warm_imports)
        print(f"  {'warm-path imports of hatch-lambda':34} {imports * 1000:8.1f} ms")

        os.environ["HATCH_LAMBDA_CACHE_DIR"] = str(work / "hatch-lambda-cache")
        committed = work / "dist" / "layer.zip"
        committed.parent.mkdir()
        shutil.copyfile(cached, committed)
        time.sleep(2.1)  # settled: `holds` remembers only a file not changed in the last 2 s
        found = CachedLayer(cached, {}, sha256, crc32, size)
        record = work / "hatch-lambda-cache" / KEPT_FOLDER
        forget = lambda: shutil.rmtree(record, ignore_errors=True)  # noqa: E731
        read = _median(repeat, lambda: _kept(holds(committed, found)), prepare=forget)
        _kept(holds(committed, found))
        trusted = _median(repeat, lambda: _kept(holds(committed, found)))
        _row("keeping the 23 MB layer in dist/", "read for CRC-32", read, "identity record", trusted)

        store = EntryStore(work / "store")
        for index in range(250):
            entry = store.root / f"{index % 16:02x}" / f"{index:064x}-6"
            entry.parent.mkdir(parents=True, exist_ok=True)
            entry.write_bytes(b"x" * 1000)
        tally = store.root / TALLY_FILE
        walk = _median(repeat, store.prune, prepare=lambda: tally.unlink(missing_ok=True))
        store.prune()
        tallied = _median(repeat, store.prune)
        _row("pruning a 250-entry store", "walked", walk, "tallied", tallied)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _layer_like_bytes() -> bytes:
    """As much as the benchmark layer: half incompressible (a zip's streams), half repeated text."""
    rng = random.Random(16)
    half = LAYER_BYTES // 2
    return rng.randbytes(half) + (b"def handler(event, context):\n" * (half // 30 + 1))[: LAYER_BYTES - half]


def _fresh_staging(staged: Path) -> None:
    """A new build's staging directory, as every build has: nothing there to replace."""
    shutil.rmtree(staged.parent, ignore_errors=True)
    staged.parent.mkdir()


def _kept(kept: bool) -> None:
    if not kept:
        message = "the layer in dist/ was not kept"
        raise RuntimeError(message)


def _placed(problem: str | None) -> None:
    if problem is not None:
        raise SystemExit(f"the cached layer was not placed: {problem}")


def _sample(count: int) -> bytes:
    """libdeflate.fingerprint's sample, with `count` pieces (4096 before, 512 now)."""
    return b"".join(
        hashlib.sha256(str(index).encode()).digest()[: index % 32] + b"hatch-lambda layer " * (index % 5)
        for index in range(count)
    )


def _fingerprint(count: int) -> str:
    return hashlib.sha256(libdeflate.compress(_sample(count), 6, threaded=False)).hexdigest()


def _define(decorator: str, base: str) -> None:
    exec(
        _RECORD_CLASS.format(decorator=decorator, base=base), {}
    )  # a fixed class body, defined afresh each run


def _warm_imports() -> float:
    completed = subprocess.run(
        [sys.executable, "-c", _WARM_IMPORTS], capture_output=True, text=True, check=True
    )
    return float(completed.stdout)


def _median(repeat: int, run: Callable[[], object], *, prepare: Callable[[], None] | None = None) -> float:
    samples = []
    for _ in range(repeat):
        if prepare is not None:
            prepare()  # not timed
        start = time.perf_counter()
        result = run()
        # A run that times itself (a fresh interpreter) reports its own figure.
        samples.append(result if isinstance(result, float) else time.perf_counter() - start)
    return statistics.median(samples)


def _row(what: str, before_name: str, before: float, after_name: str, after: float) -> None:
    print(f"  {what:34} {before_name:>18} {before * 1000:8.2f} ms   {after_name:>16} {after * 1000:8.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
