"""What `compile-bytecode` costs in size and saves in cold-start import time.

Run from the repository root with an interpreter where hatch-lambda is installed (the dev venv):

    python benchmarks/bench_bytecode.py [--repeat N] [--keep] [--json PATH]

requests, pydantic, cryptography and numpy are installed for python3.12 on x86_64 the way the layer
build installs them (`uv pip install --target --python-version 3.12 --python-platform
x86_64-manylinux_2_34 --only-binary :all:`), packed as a `python/` layer the way the builder packs
it, and compiled by `hatch_lambda.runtime.bytecode.compile_bytecode` with a CPython 3.12 (found as the
builder finds it). Two read-only copies of `/opt` are extracted: without and with the `.pyc` files.

Cold start: `python3.12 -I -S -B -c "import sys; sys.path[:0] = [LAYER]; import requests, pydantic,
numpy, cryptography.fernet"`, a fresh process per sample, with and without bytecode taking turns.
`-B` stops CPython writing bytecode, as the read-only /var/task and /opt stop it on Lambda, so
every sample without bytecode compiles every module it imports. Each figure is the median of
`--repeat` samples after one dropped warm-up sample per tree (which fills the page cache); the
import time is measured inside the process with `time.perf_counter`, the process time around it
(interpreter start-up included, which bytecode does not change).

Size: the bytes of the tree and of its zip, written by `archive.write_reproducible_zip` (deflate
level 6), with and without the `.pyc` files. The target is an import time with bytecode of at most
0.55x the time without it; the script prints PASS or FAIL on its last line and exits 0 either way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hatch_lambda.archive.reproducible_zip import write_reproducible_zip
from hatch_lambda.files.installed_tree import files_to_pack
from hatch_lambda.files.record import ZIP_EPOCH, FileToPack
from hatch_lambda.layer.uv import find_uv
from hatch_lambda.platform import runtimes
from hatch_lambda.runtime.bytecode import LAYER_ROOT, compile_bytecode, runtime_python

REQUIREMENTS = ["requests", "pydantic", "cryptography", "numpy"]
RUNTIME = "python3.12"
ARCHITECTURE = "x86_64"
IMPORTS = "requests, pydantic, numpy, cryptography.fernet"
TARGET_RATIO = 0.55
# Prints (import seconds, process start to end of imports is measured by the caller).
COLD_IMPORT = f"""
import sys, time
sys.path[:0] = [sys.argv[1]]
started = time.perf_counter()
import {IMPORTS}
print(time.perf_counter() - started)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=15, help="samples per figure (default 15)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--json", type=Path, help="write every sample and figure to this file")
    arguments = parser.parse_args()

    runtime = runtimes.runtime_named(RUNTIME)
    assert runtime is not None
    uv = find_uv()
    python = runtime_python(runtime, uv)
    scratch = Path(tempfile.mkdtemp(prefix="hatch-lambda-bench-bytecode-"))
    try:
        results = measure(arguments.repeat, runtime, uv, python, scratch)
    finally:
        if arguments.keep:
            print(f"kept {scratch}")
        else:
            make_writable(scratch)
            shutil.rmtree(scratch)
    report(results)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


def measure(repeat: int, runtime: runtimes.Runtime, uv: str, python: str, scratch: Path) -> dict[str, Any]:
    target = scratch / "target"
    install = [uv, "pip", "install", "--target", str(target), "--python-version", runtime.python_version_text]
    install += [
        "--python-platform",
        runtimes.uv_python_platform(runtime, ARCHITECTURE),
        "--only-binary",
        ":all:",
    ]
    subprocess.run([*install, *REQUIREMENTS], check=True, capture_output=True)
    sources = files_to_pack(target, "python/")

    started = time.perf_counter()
    compiled = compile_bytecode(
        sources,
        python=python,
        python_version=runtime.python_version,
        import_root="python/",
        extracted_to=LAYER_ROOT,
    )
    compile_seconds = time.perf_counter() - started

    trees = {"without": sources, "with": [*sources, *compiled.pyc_files]}
    sizes = {}
    for name, files in trees.items():
        written = write_reproducible_zip(scratch / f"layer-{name}.zip", files, fixed_date_time=ZIP_EPOCH)
        sizes[name] = {
            "files": written.file_count,
            "unzipped": written.unzipped_size,
            "zipped": written.zipped_size,
        }
        make_read_only(unpack(scratch / name / "opt", files))

    samples: dict[str, dict[str, list[float]]] = {name: {"import": [], "process": []} for name in trees}
    for round_number in range(repeat + 1):
        for name in trees:
            import_seconds, process_seconds = cold_import(python, scratch / name / "opt" / "python")
            if round_number > 0:  # the first round only fills the page cache
                samples[name]["import"].append(import_seconds)
                samples[name]["process"].append(process_seconds)

    return {
        "python": python,
        "requirements": REQUIREMENTS,
        "compiled": len(compiled.pyc_files),
        "uncompilable": [skipped.archive_path for skipped in compiled.uncompilable],
        "compile_seconds": compile_seconds,
        "sizes": sizes,
        "samples": samples,
        "medians": {
            name: {kind: statistics.median(values) for kind, values in kinds.items()}
            for name, kinds in samples.items()
        },
    }


def cold_import(python: str, layer_python: Path) -> tuple[float, float]:
    started = time.perf_counter()
    completed = subprocess.run(
        [python, "-I", "-S", "-B", "-c", COLD_IMPORT, str(layer_python)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(completed.stdout), time.perf_counter() - started


def unpack(destination: Path, files: list[FileToPack]) -> Path:
    for file in files:
        path = destination / file.archive_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.read())
    return destination


def make_read_only(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)


def make_writable(root: Path) -> None:
    for directory, _subdirectories, _names in os.walk(root):
        Path(directory).chmod(0o755)


def report(results: dict[str, Any]) -> None:
    sizes, medians = results["sizes"], results["medians"]
    requirements, uncompilable = ", ".join(results["requirements"]), results["uncompilable"]
    print(f"Layer of {requirements} for {RUNTIME} {ARCHITECTURE}, compiled by {results['python']}")
    print(
        f"  compiled {results['compiled']} modules in {results['compile_seconds']:.2f}s; "
        f"{len(uncompilable)} do not compile for 3.12: {', '.join(uncompilable) or 'none'}"
    )
    print(f"  {'':14}{'files':>8}{'unzipped':>14}{'zipped':>14}")
    for name in ("without", "with"):
        size = sizes[name]
        print(f"  {name + ' .pyc':14}{size['files']:>8,}{mib(size['unzipped']):>14}{mib(size['zipped']):>14}")
    for kind in ("unzipped", "zipped"):
        extra = sizes["with"][kind] - sizes["without"][kind]
        print(f"  .pyc cost, {kind}: +{mib(extra)} (+{extra / sizes['without'][kind]:.0%})")
    samples = len(results["samples"]["with"]["import"])
    print(f"Cold `import {IMPORTS}`, read-only tree, median of {samples} fresh processes:")
    for kind, label in (("import", "imports alone"), ("process", "whole process")):
        without, with_bytecode = medians["without"][kind], medians["with"][kind]
        print(
            f"  {label:14} without .pyc {without * 1000:7.1f} ms   with .pyc {with_bytecode * 1000:7.1f} ms"
            f"   ratio {with_bytecode / without:.2f}x   saved {(without - with_bytecode) * 1000:.1f} ms"
        )
    ratio = medians["with"]["import"] / medians["without"]["import"]
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(f"import time with bytecode / without: {ratio:.2f}x (target <= {TARGET_RATIO:.2f}x): {verdict}")


def mib(size: int) -> str:
    return f"{size / 1024 / 1024:,.2f} MiB"


if __name__ == "__main__":
    sys.exit(main())
