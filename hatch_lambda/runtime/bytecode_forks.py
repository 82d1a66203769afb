"""Runs inside the runtime's CPython (3.11 and later) as a script: `bytecode_compiler` in one fork per chunk.

`bytecode` starts it as `python -s -S bytecode_forks.py 3.X` with a fixed hash seed, once per core,
instead of one fresh `bytecode_compiler.py` process per chunk (some 30 ms of start-up each; a layer
has a few dozen chunks). It imports `bytecode_compiler` from beside it, says it has started, then
for each chunk on standard input (a length, then what `bytecode_compiler` reads) forks, and the fork
runs `bytecode_compiler.main` on that chunk alone. Each fork starts from this process as it was
before the first chunk, the state a fresh process starts from, so which process compiles which
chunk never changes the bytes. Each reply is the fork's exit status, a length, and what it wrote.

`bytecode_compiler.py` itself is left exactly as it was: on CPython 3.9 and 3.10 even the names in
the compiler's own code show in the bytes (see `bytecode`), so those versions keep fresh processes.
"""

# Annotations stay unevaluated strings. The imports are in the order they must run in.
from __future__ import annotations  # noqa: I001

import sys

# First: it takes this script's directory off `sys.path` before anything else is imported.
import bytecode_compiler  # type: ignore[import-not-found]

import io  # already loaded at start-up, as `posix` is: neither changes the state forks start from
import posix
import struct
from typing import NoReturn

_FAILED = 70


def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(bytecode_compiler.STARTED)
    stdout.flush()
    while True:
        length = stdin.read(4)
        if len(length) < 4:
            return 0
        chunk = stdin.read(struct.unpack("<I", length)[0])
        reading, writing = posix.pipe()
        child = posix.fork()
        if child == 0:
            posix.close(reading)
            compile_in_this_fork(chunk, writing)
        posix.close(writing)
        with open(reading, "rb") as replies:
            written = replies.read()
        exit_status = posix.waitstatus_to_exitcode(posix.waitpid(child, 0)[1])
        stdout.write(struct.pack("<iI", exit_status, len(written)) + written)
        stdout.flush()


def compile_in_this_fork(chunk: bytes, writing: int) -> NoReturn:
    """`bytecode_compiler.main` with `chunk` as its input and `writing` as its output; never
    returns to the loop, whatever happens."""
    try:
        sys.stdin = io.TextIOWrapper(io.BytesIO(chunk))
        sys.stdout = io.TextIOWrapper(open(writing, "wb"))  # noqa: SIM115 - closed by exiting
        exit_status = bytecode_compiler.main()
        sys.stdout.flush()
    except BaseException:  # reported, then this fork ends like a crashed compiler
        sys.excepthook(*sys.exc_info())
        posix._exit(_FAILED)
    posix._exit(exit_status)


if __name__ == "__main__":
    sys.exit(main())
