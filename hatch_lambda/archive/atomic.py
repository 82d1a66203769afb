"""Writing files so that readers only ever see the old file or the complete new one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


@contextmanager
def replacing(destination: Path, *, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside `destination`; on success it replaces `destination`.

    On any failure the temporary file is removed and `destination` is left as it was, so a failed
    build never leaves a half-written artifact and never destroys a good one.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent
    )
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        temporary.chmod(mode)
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes(destination: Path, data: bytes, *, mode: int = 0o644) -> None:
    """`replacing` for bytes already in memory, in a handful of system calls: a cold layer build
    writes a few hundred cache records, and `replacing` (a `mkstemp`, a second open, a `chmod` and a
    `mkdir`) cost it several times the writes themselves. The temporary file is named as
    `replacing` names them, so a sweep of stale `.partial` files finds it too."""
    temporary = f"{destination.parent}{os.sep}.{destination.name}.{os.urandom(6).hex()}.partial"
    try:
        descriptor = os.open(temporary, _NEW_FILE, mode)
    except FileNotFoundError:
        destination.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temporary, _NEW_FILE, mode)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(descriptor, mode)  # as `replacing` leaves it, whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)
        os.replace(temporary, destination)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def make_writable_directory(directory: Path) -> None:
    """Create `directory` if needed and prove a file can be made in it; raise OSError if not (a
    cache that cannot be written is then used by no one, rather than failing half way)."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=directory, prefix=".probe-"):
        pass


def write_text(destination: Path, text: str) -> None:
    with replacing(destination) as temporary:
        temporary.write_text(text, encoding="utf-8")
