"""Facts about an executable that only its bytes decide, remembered across builds.

`uv --version` costs a process start on every build, and the answer changes only when the binary
does. A fact is kept in a small file named by the binary's path and identity: device, inode, size,
modification and status-change times. Replacing or rewriting the binary changes at least one of them
(an upgrade writes a new file; writing in place moves the times, and the status-change time cannot
be set back), so a remembered fact is never one of another binary. Each fact is its own file,
written atomically: concurrent builds at worst compute it twice.

Only a native executable under its own name is remembered: a script (asdf's shims, a wrapper) or a
multiplexer run under another name (mise's shims are links to `mise`) runs whatever is selected
today, which its own file does not show; those are asked every time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from hatch_lambda.archive.atomic import write_text

FOLDER = "file-facts-v1"


def remembered(
    directory: Path, kind: str, executable: Path, compute: Callable[[], str | None], *, names: frozenset[str]
) -> str | None:
    """`compute()`, or what it gave for this very file before; a None answer is not kept.

    `names` are the names the real executable may have (`uv`, `uv.exe`) for its answer to be kept.
    """
    try:
        real = executable.resolve()
        status = real.stat()
        native = real.name in names and _is_native_executable(real)
    except OSError:
        return compute()
    if not native:
        return compute()
    identity = (
        f"{kind}\0{real}\0{status.st_dev}\0{status.st_ino}\0{status.st_size}\0"
        f"{status.st_mtime_ns}\0{status.st_ctime_ns}"
    )
    record = directory / FOLDER / f"{kind}-{hashlib.sha256(identity.encode()).hexdigest()[:32]}"
    with suppress(OSError, UnicodeDecodeError):
        return record.read_text(encoding="utf-8")
    fact = compute()
    if fact is not None:
        with suppress(OSError):  # a cache that cannot be written only costs the next build a process
            record.parent.mkdir(parents=True, exist_ok=True)
            write_text(record, fact)
    return fact


# ELF, PE, and Mach-O (32/64-bit, both byte orders, and universal): what an OS runs without an interpreter.
_NATIVE_MAGIC = (
    b"\x7fELF",
    b"MZ",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)


def _is_native_executable(path: Path) -> bool:
    with path.open("rb") as stream:
        head = stream.read(4)
    return head.startswith(_NATIVE_MAGIC)
