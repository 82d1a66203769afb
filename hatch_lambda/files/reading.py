"""Reading a file whole, or its first bytes, in a few system calls.

A layer is over a thousand files, each read once for the proof (its first bytes) and once for the
zip (all of it). `Path.read_bytes` and `open()` build a path object, a raw file and a buffered
reader for each: on the benchmark layer, reading every file's first 4 KiB took about 32 ms that
way and about 10 ms with these.
"""

from __future__ import annotations

import os

# Windows opens in text mode unless told otherwise; elsewhere this is 0.
_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)
_BLOCK = 1 << 20


def read_file(path: str) -> bytes:
    """Everything `path` holds, read to its end (a file that grows while it is read is read whole)."""
    descriptor = os.open(path, _FLAGS)
    try:
        first = os.read(descriptor, os.fstat(descriptor).st_size + 1)
        if not first:
            return first
        # Read to the end, not to the size the status gave: the file may have grown meanwhile.
        more = os.read(descriptor, _BLOCK)
        return _rest(descriptor, [first, more]) if more else first
    finally:
        os.close(descriptor)


def read_head(path: str, size: int) -> bytes:
    """At most the first `size` bytes of `path`."""
    descriptor = os.open(path, _FLAGS)
    try:
        return os.read(descriptor, size)
    finally:
        os.close(descriptor)


def _rest(descriptor: int, chunks: list[bytes]) -> bytes:
    while chunk := os.read(descriptor, _BLOCK):
        chunks.append(chunk)
    return b"".join(chunks)
