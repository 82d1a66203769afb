"""Mutated ELF files: the reader raises `UnreadableBinaryError` or reads facts, nothing else, quickly.

The seeds are real shared objects (compiled here with gcc, and CPython's own `lib-dynload`
modules when a pyenv CPython is installed) and generated ones in every layout. Each mutation
flips bytes, writes boundary values (0, -1, huge sizes) into the headers, or truncates; the
random generator is seeded, so a failure reproduces with the printed case number.
"""

from __future__ import annotations

import contextlib
import random
import signal
import struct
import subprocess
import time
from functools import partial
from pathlib import Path

import pytest

from hatch_lambda.errors import UnreadableBinaryError
from hatch_lambda.files.record import ZIP_EPOCH, FileToPack
from hatch_lambda.platform import runtimes
from hatch_lambda.platform.binaries import read_elf, read_elf_bytes
from hatch_lambda.platform.proof import prove_source
from tests.test_binaries import GCC
from tests.wheelfactory import elf_shared_object

MUTATIONS_PER_SEED = 1500
TIME_LIMIT_SECONDS = 20
BOUNDARY_VALUES = [0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**63, 2**64 - 1, 16, 0x1000]
PYENV = Path("/root/.pyenv/versions")


def generated_seeds() -> list[bytes]:
    needs = {"libm.so.6": ["GLIBC_2.29"], "libstdc++.so.6": ["GLIBCXX_3.4.30"]}
    return [
        elf_shared_object("x86_64", ("GLIBC_2.17", "GLIBC_2.38"), other_needs=needs),
        elf_shared_object("aarch64", ("GLIBC_2.28",), elf_class=32, big_endian=True, load_address=0x10000),
        elf_shared_object("x86_64", ("GLIBC_2.17",), section_headers=False, weak_versions=("GLIBC_2.17",)),
        elf_shared_object("x86_64", ("GLIBC_2.34",), segments="load", extended_numbering=True),
    ]


def compiled_seeds(directory: Path) -> list[bytes]:
    if GCC is None:
        return []
    (directory / "m.c").write_text('#include <stdio.h>\nint call(void) { return puts("hi"); }\n')
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", "m.so", "m.c"], check=True, cwd=directory)
    return [(directory / "m.so").read_bytes()]


def interpreter_seeds() -> list[bytes]:
    """Two small extension modules of an installed CPython: real linker and strip output."""
    modules = sorted(PYENV.glob("3.1*/lib/python3.*/lib-dynload/_json*.so"))[:1]
    modules += sorted(PYENV.glob("3.1*/lib/python3.*/lib-dynload/_bisect*.so"))[:1]
    return [module.read_bytes() for module in modules]


def mutate(data: bytes, generator: random.Random) -> bytes:
    mutated = bytearray(data)
    for _ in range(generator.randint(1, 4)):
        if not mutated:
            break
        choice = generator.random()
        # Most of what the reader trusts sits in the first few hundred bytes (ELF header, program
        # headers, often the dynamic strings) and in the last few (section headers).
        hot = generator.choice([min(len(mutated), 512), len(mutated)])
        position = generator.randrange(max(1, hot))
        if choice < 0.45:
            mutated[position] ^= 1 << generator.randrange(8)
        elif choice < 0.85:
            value = generator.choice(BOUNDARY_VALUES)
            width = generator.choice([2, 4, 8])
            packed = (value & ((1 << (8 * width)) - 1)).to_bytes(width, generator.choice(["little", "big"]))
            mutated[position : position + width] = packed
        else:
            del mutated[generator.randrange(len(mutated) + 1) :]
    return bytes(mutated)


class Hang(Exception):
    pass


@pytest.fixture
def time_limit():
    """Raise `Hang` in the test if it runs past the limit: a loop that never ends fails, not stalls."""

    def expire(_signal: int, _frame: object) -> None:
        raise Hang(f"the fuzz run passed {TIME_LIMIT_SECONDS}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TIME_LIMIT_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_thousands_of_mutated_elf_files_raise_only_the_typed_error(tmp_path, time_limit):
    seeds = generated_seeds() + compiled_seeds(tmp_path) + interpreter_seeds()
    generator = random.Random(20261201)
    runtime = runtimes.runtime_named("python3.12")
    assert runtime is not None
    outcomes = {"read": 0, "refused": 0}
    started = time.perf_counter()

    for seed_number, seed in enumerate(seeds):
        for case in range(MUTATIONS_PER_SEED):
            data = mutate(seed, generator)
            try:
                read_elf_bytes(data, Path(f"seed{seed_number}-case{case}.so"))
                outcomes["read"] += 1
            except UnreadableBinaryError:
                outcomes["refused"] += 1
            except Exception as error:  # the assertion names the case that reproduces it
                raise AssertionError(f"seed {seed_number} case {case}: {error!r}") from error

    elapsed = time.perf_counter() - started
    assert sum(outcomes.values()) >= 5000
    # Both outcomes are common, or the mutations are not reaching the parts that matter.
    assert min(outcomes.values()) > sum(outcomes.values()) // 20, outcomes
    assert elapsed < TIME_LIMIT_SECONDS


def test_the_proof_turns_every_mutated_file_into_a_finding_never_an_exception(time_limit):
    generator = random.Random(7)
    runtime = runtimes.runtime_named("python3.11")
    assert runtime is not None
    mutated = [mutate(seed, generator) for seed in generated_seeds() * 250]
    files = [
        FileToPack(f"pkg/_m{index}.so", partial(bytes, data), False, ZIP_EPOCH)
        for index, data in enumerate(mutated)
    ]

    result = prove_source(files, runtime, "x86_64", owner="the project")

    assert result.violations  # python3.11 has glibc 2.26: even the intact ones need 2.38 or are damaged
    assert all(violation.file and violation.file.startswith("pkg/_m") for violation in result.violations)


def test_a_mutated_file_on_disk_reads_like_the_same_bytes_in_memory(tmp_path):
    generator = random.Random(3)
    path = tmp_path / "m.so"
    for seed in generated_seeds():
        for _ in range(50):
            data = mutate(seed, generator)
            path.write_bytes(data)
            outcomes = []
            for read in (lambda: read_elf(path), lambda data=data: read_elf_bytes(data, path)):
                try:
                    outcomes.append(read())
                except UnreadableBinaryError as error:
                    outcomes.append(error.reason)
            assert outcomes[0] == outcomes[1]


def test_a_boundary_value_in_every_header_word_is_handled(time_limit):
    """Exhaustive over the ELF and program headers of one file: each 8-byte word set to each value."""
    seed = elf_shared_object("x86_64", ("GLIBC_2.38",))
    for offset in range(0, 64 + 2 * 56, 2):
        for value in BOUNDARY_VALUES:
            data = bytearray(seed)
            data[offset : offset + 8] = struct.pack("<Q", value)[: len(data[offset : offset + 8])]
            with contextlib.suppress(UnreadableBinaryError):
                read_elf_bytes(bytes(data), Path("boundary.so"))
