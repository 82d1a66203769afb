"""zlib against libdeflate on a real layer, side by side in one run.

Run from the repository root with an interpreter where hatch-lambda is installed (the dev venv):

    python benchmarks/bench_deflate.py [--repeat N] [--keep] [--json PATH]

requests, pydantic, cryptography and numpy are installed for python3.12 on x86_64 the way the layer
build installs them (`uv pip install --target --python-version 3.12 --python-platform
x86_64-manylinux_2_34 --only-binary :all:`) into a temporary directory. Every file is read into
memory once; then each compressor deflates every file as one raw stream (as a zip entry holds it),
on one thread, and the median of `--repeat` rounds is printed with the compressed size:

* zlib at level 6 (the host's, what hatch-lambda used before libdeflate);
* libdeflate at level 6 through the `deflate` package's own function, and through
  `hatch_lambda.archive.libdeflate` (the C API by ctypes, which the writer uses);
* zlib-ng at 6 and ISA-L at 3 (its highest) when the `zlib-ng` and `isal` packages are installed.

Then the whole layer zip is written by `archive.write_reproducible_zip` with 1 worker and with
every core, so the writer's own overhead and its parallel gain are seen too (the two zips must be
byte-identical; the script says so). Each compressor is checked to round-trip every file.
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
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import deflate

from hatch_lambda.archive import libdeflate
from hatch_lambda.archive.reproducible_zip import write_reproducible_zip
from hatch_lambda.files.installed_tree import files_to_pack
from hatch_lambda.files.record import ZIP_EPOCH
from hatch_lambda.layer.uv import find_uv

REQUIREMENTS = ["requests", "pydantic", "cryptography", "numpy"]
MIB = 1024 * 1024

Compressor = Callable[[bytes], bytes]


def zlib_raw(level: int) -> Compressor:
    def compress(data: bytes) -> bytes:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush()

    return compress


def candidates() -> list[tuple[str, Compressor]]:
    found: list[tuple[str, Compressor]] = [
        (f"zlib {zlib.ZLIB_RUNTIME_VERSION} level 6", zlib_raw(6)),
        (
            f"libdeflate (deflate {deflate.__version__}) level 6",
            lambda data: bytes(deflate.deflate_compress(data, 6)),
        ),
        ("libdeflate level 6, hatch-lambda's ctypes path", lambda data: libdeflate.compress(data, 6)),
        ("libdeflate level 1", lambda data: libdeflate.compress(data, 1)),
        ("libdeflate level 9", lambda data: libdeflate.compress(data, 9)),
    ]
    try:
        from zlib_ng import zlib_ng  # noqa: PLC0415 (optional: compared only where installed)

        def zlib_ng_raw(data: bytes) -> bytes:
            compressor = zlib_ng.compressobj(6, zlib_ng.DEFLATED, -15)
            return bytes(compressor.compress(data) + compressor.flush())

        found.append((f"zlib-ng {zlib_ng.ZLIBNG_VERSION} level 6", zlib_ng_raw))
    except ImportError:
        print("zlib-ng: not installed (pip install zlib-ng to compare)")
    try:
        from isal import isal_zlib  # noqa: PLC0415 (optional: compared only where installed)

        def isal_raw(data: bytes) -> bytes:
            compressor = isal_zlib.compressobj(3, isal_zlib.DEFLATED, -15)
            return bytes(compressor.compress(data) + compressor.flush())

        found.append(("ISA-L level 3", isal_raw))
    except ImportError:
        print("isal: not installed (pip install isal to compare)")
    return found


def install_layer(directory: Path) -> Path:
    target = directory / "python"
    command = [
        find_uv(),
        *("pip", "install", "--quiet", "--target", str(target)),
        *("--python-version", "3.12", "--python-platform", "x86_64-manylinux_2_34", "--only-binary", ":all:"),
        *REQUIREMENTS,
    ]
    subprocess.run(command, check=True)
    return target


def time_compressor(compress: Compressor, datas: list[bytes], repeat: int) -> tuple[float, int]:
    samples = []
    size = 0
    for _ in range(repeat):
        started = time.perf_counter()
        size = sum(len(compress(data)) for data in datas)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), size


def round_trips(compress: Compressor, datas: list[bytes]) -> bool:
    return all(zlib.decompress(compress(data), -15) == data for data in datas)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    arguments = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-deflate-"))
    results: dict[str, Any] = {"cores": os.cpu_count(), "compressors": {}, "writer": {}}
    try:
        layer = install_layer(work)
        files = files_to_pack(layer, "python")
        datas = [file.read() for file in sorted(files, key=lambda item: item.archive_path)]
        total = sum(map(len, datas))
        described = f"{len(datas)} files, {total / MIB:.1f} MiB ({', '.join(REQUIREMENTS)})"
        print(f"Layer: {described}; {os.cpu_count()} cores")
        print(f"{'one thread, every file':50} {'seconds':>8} {'MiB':>8} {'ratio':>6}")
        for name, compress in candidates():
            seconds, size = time_compressor(compress, datas, arguments.repeat)
            checked = "" if round_trips(compress, datas) else "  ROUND TRIP FAILED"
            print(f"{name:50} {seconds:8.2f} {size / MIB:8.2f} {size / total:6.3f}{checked}")
            results["compressors"][name] = {"seconds": seconds, "bytes": size}

        print(f"{'write_reproducible_zip, level 6':50} {'seconds':>8} {'MiB':>8}")
        zips = {}
        for workers in (1, None):
            label = "1 worker" if workers == 1 else f"every core ({os.cpu_count()})"
            samples = []
            for index in range(arguments.repeat):
                started = time.perf_counter()
                written = write_reproducible_zip(
                    work / f"layer-{workers}-{index}.zip", files, fixed_date_time=ZIP_EPOCH, workers=workers
                )
                samples.append(time.perf_counter() - started)
            zips[label] = written.path.read_bytes()
            seconds = statistics.median(samples)
            print(f"{label:50} {seconds:8.2f} {written.zipped_size / MIB:8.2f}")
            results["writer"][label] = {"seconds": seconds, "bytes": written.zipped_size}
        identical = len(set(zips.values())) == 1
        print("1 worker and every core wrote identical bytes" if identical else "ZIPS DIFFER")
        results["identical"] = identical
    finally:
        if arguments.keep:
            print(f"Kept {work}")
        else:
            shutil.rmtree(work)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
