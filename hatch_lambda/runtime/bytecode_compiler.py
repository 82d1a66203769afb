"""Runs inside the runtime's CPython (3.9 and later) as a script, with nothing but its standard library.

`bytecode` starts it as `python -s -S bytecode_compiler.py 3.X` with a fixed hash seed. It reads
(Lambda path, source) pairs on standard input and writes one record per source on standard output,
flushed after each, so that a crash names the file it happened on. It must not import hatch_lambda:
that package is not on the interpreter's path, and the script's own directory is taken off it first.
"""

# Annotations stay unevaluated strings, so `X | None` in them works on CPython 3.9.
from __future__ import annotations

import sys

# A script's directory comes first on `sys.path`: never import the build's own files by accident.
del sys.path[0]

import importlib.util  # noqa: E402
import marshal  # noqa: E402
import struct  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402

# `typing` is half of this script's start-up, but it stays: the strings its import interns change
# the reference flags `marshal` writes on CPython 3.10 (377 of a 706-module layer differ without it),
# and the bytes must not change.
from typing import Any  # noqa: E402

# The line `bytecode` waits for before it reads records (it keeps its own copy: no import either way).
STARTED = b"hatch-lambda bytecode compiler\n"
MARKER = "\x00hatch-lambda frozenset %d\x00"
UNCHECKED_HASH_FLAGS = 0b01  # PEP 552: hash-based, never checked against the source

Swapped = dict[int, tuple[Any, Any]]


def main() -> int:
    expected = sys.argv[1]
    found = f"{sys.implementation.name} {sys.version_info[0]}.{sys.version_info[1]}"
    if found != "cpython " + expected:
        sys.stderr.write(f"this is {found}, not cpython {expected}\n")
        return 3
    warnings.simplefilter("ignore")  # SyntaxWarnings: Lambda will never see them either
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    (count,) = struct.unpack("<I", stdin.read(4))
    sources = []
    for _ in range(count):
        dfile = stdin.read(struct.unpack("<I", stdin.read(4))[0]).decode("utf-8")
        sources.append((dfile, stdin.read(struct.unpack("<I", stdin.read(4))[0])))
    stdout.write(STARTED)
    stdout.flush()
    header = importlib.util.MAGIC_NUMBER + struct.pack("<I", UNCHECKED_HASH_FLAGS)
    for dfile, source in sources:
        try:
            code = compile(source, dfile, "exec", dont_inherit=True)
            status, payload = 0, header + importlib.util.source_hash(source) + dumps(code)
        except Exception as error:  # any failure to compile is reported, per file
            status, payload = 1, f"{type(error).__name__}: {error}".encode("utf-8", "replace")
        stdout.write(struct.pack("<BI", status, len(payload)) + payload)
        stdout.flush()
    return 0


def dumps(code: types.CodeType) -> bytes:
    if sys.version_info >= (3, 11):
        return marshal.dumps(code)  # writes set elements sorted
    # CPython 3.9 and 3.10 write a frozenset in hash-table order, and the hash of `None` is its
    # address. Swap each frozenset for a tuple of its elements, sorted and led by a unique marker
    # string, marshal, then turn each such tuple's header back into a frozenset's and drop its marker.
    swapped: Swapped = {}
    data = marshal.dumps(swap_frozensets(code, swapped))  # the same `code` when it holds no frozenset
    for original, replacement in swapped.values():
        if type(original) is frozenset:
            data = tuple_to_frozenset(data, replacement)
    return data


def swap_frozensets(value: Any, swapped: Swapped) -> Any:
    """`value` with its frozensets swapped; what changed is remembered, so shared constants stay shared."""
    if id(value) in swapped:
        return swapped[id(value)][1]
    replacement: Any
    if type(value) is types.CodeType:
        consts = tuple(swap_frozensets(const, swapped) for const in value.co_consts)
        changed = any(new is not old for new, old in zip(consts, value.co_consts))
        replacement = value.replace(co_consts=consts) if changed else value
    elif type(value) is tuple:
        items = tuple(swap_frozensets(item, swapped) for item in value)
        replacement = items if any(new is not old for new, old in zip(items, value)) else value
    elif type(value) is frozenset:
        # Version 2 has no reference flags, so the key does not depend on reference counts.
        members = [swap_frozensets(item, swapped) for item in value]
        members.sort(key=lambda item: marshal.dumps(item, 2))
        replacement = (MARKER % len(swapped), *members)
    else:
        return value
    if replacement is not value:
        swapped[id(value)] = (value, replacement)
    return replacement


def tuple_to_frozenset(data: bytes, replacement: tuple[Any, ...]) -> bytes:
    marker = str(replacement[0]).encode("ascii")
    token = b"z" + bytes([len(marker)]) + marker  # a short, unshared, not interned string
    start = data.find(token)
    if start < 0 or data.find(token, start + 1) >= 0:
        message = "frozenset marker not found exactly once"
        raise RuntimeError(message)
    items = len(replacement)
    if items < 256:
        header_start, kind, length = start - 2, ord(")"), data[start - 1]
    else:
        header_start, kind, length = start - 5, ord("("), struct.unpack("<I", data[start - 4 : start])[0]
    flags = data[header_start] & 0x80
    if data[header_start] & 0x7F != kind or length != items:
        message = "frozenset placeholder not found where expected"
        raise RuntimeError(message)
    frozenset_header = bytes([ord(">") | flags]) + struct.pack("<I", items - 1)
    return data[:header_start] + frozenset_header + data[start + len(token) :]


if __name__ == "__main__":
    sys.exit(main())
