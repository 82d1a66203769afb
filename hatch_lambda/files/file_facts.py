"""Facts about an executable that only its bytes decide, remembered across builds.

`uv --version` costs a process start on every build, and the answer changes only when the binary
does. A fact is kept in a small file named by the binary's path and identity: device, inode, size,
modification and status-change times. Replacing or rewriting the binary changes at least one of them
(an upgrade writes a new file; writing in place moves the times, and the status-change time cannot
be set back), so a remembered fact is never one of another binary. Each fact is its own file,
written atomically: concurrent builds at worst compute it twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from hatch_lambda.archive.atomic import write_text

FOLDER = "file-facts-v1"


def remembered(directory: Path, kind: str, executable: Path, compute: Callable[[], str | None]) -> str | None:
    """`compute()`, or what it gave for this very file before; a None answer is not kept."""
    try:
        real = executable.resolve()
        status = real.stat()
    except OSError:
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
