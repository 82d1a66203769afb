"""Facts about an executable that only its bytes decide, remembered across builds.

`uv --version`, and what a CPython says it is (`platform.interpreters`), cost a process start on
every build, and the answer changes only when the binary does (for an interpreter, also the
`libpython` it loads and the machine's C library, which are part of its key). A fact is kept in
a small file named by the binary's path and identity: device, inode, size, modification and
status-change times. Replacing or rewriting the binary changes at least one of them
(an upgrade writes a new file; writing in place moves the times, and the status-change time cannot
be set back, on the systems where it is the status-change time: nothing is remembered on Windows,
where it is the creation time), so a remembered fact is never one of another binary. Each fact is
its own file, written atomically: concurrent builds at worst compute it twice.

Only a native executable under its own name is remembered: a script (asdf's shims, a wrapper) or a
multiplexer run under another name (mise's shims are links to `mise`) runs whatever is selected
today, which its own file does not show; those are asked every time.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from hatch_lambda.archive.atomic import write_text
from hatch_lambda.files.bounded_folder import keep_newest

FOLDER = "file-facts-v1"
# One fact per binary and kind: every new Hatch environment brings a uv of its own, and every
# upgrade a new binary. Past this many, the least recently written go (`files.bounded_folder`).
KEPT_FACTS = 256


def remembered(
    directory: Path,
    kind: str,
    executable: Path,
    compute: Callable[[], str | None],
    *,
    names: frozenset[str],
    loads: Callable[[Path], list[Path]] | None = None,
    host: str = "",
    valid: Callable[[str], bool] = bool,
) -> str | None:
    """`compute()`, or what it gave for this very file before; a None answer is not kept.

    `names` are the names the real executable may have (`uv`, `uv.exe`) for its answer to be kept.
    `loads(real_executable)` lists other files the answer depends on (the shared library an
    interpreter is linked against): their identities are part of the key too, as is `host`, what
    else the answer depends on (the C library this machine runs). A kept answer that is not
    `valid` (a damaged file) is computed again and replaced.
    """
    if sys.platform == "win32":
        return compute()  # there `st_ctime` is the creation time: a rewrite in place would not show
    try:
        real = executable.resolve()
        native = real.name in names and _is_native_executable(real)
        files = [real, *(loads(real) if loads is not None else [])]
        identity = "\0".join([kind, *(_identity(path) for path in files), *([host] if host else [])])
    except OSError:
        return compute()
    if not native:
        return compute()
    record = directory / FOLDER / f"{kind}-{hashlib.sha256(identity.encode()).hexdigest()[:32]}"
    with suppress(OSError, UnicodeDecodeError):
        kept = record.read_text(encoding="utf-8")
        if valid(kept):
            return kept
    fact = compute()
    if fact is not None:
        with suppress(OSError):  # a cache that cannot be written only costs the next build a process
            record.parent.mkdir(parents=True, exist_ok=True)
            write_text(record, fact)
            keep_newest(record.parent, KEPT_FACTS)
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


def identity_text(status: os.stat_result) -> str:
    """A file's identity as facts about it are remembered by: device, inode, size, modification and
    status-change times (any write moves the last, and it cannot be set back)."""
    fields = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
    return "\0".join(map(str, fields))


def _identity(path: Path) -> str:
    return f"{path}\0{identity_text(path.stat())}"


def _is_native_executable(path: Path) -> bool:
    with path.open("rb") as stream:
        head = stream.read(4)
    return head.startswith(_NATIVE_MAGIC)
