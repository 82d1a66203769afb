"""The file record both sources yield and the zip writer consumes: a zip path, and its bytes on demand."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

from hatch_lambda.errors import UnsafeZipPathError

ZipDateTime = tuple[int, int, int, int, int, int]
# A file on disk: device, inode, size, modification time (ns). Replacing the file or writing it
# changes one of them; setting the time back by hand is the one way to keep them (see
# `archive.entry_cache` for why that is still caught).
FileIdentity = tuple[int, int, int, int]

# The earliest date a zip entry can hold.
ZIP_EPOCH: ZipDateTime = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class FileToPack:
    """One file as it should appear in a zip; its bytes are read only when the zip is written."""

    archive_path: str
    read: Callable[[], bytes]
    executable: bool
    modified: ZipDateTime
    # Known up front for files on disk or in memory, so limits can be checked before any zipping.
    size: int | None = None
    identity: FileIdentity | None = None  # for files read from disk

    def __post_init__(self) -> None:
        # Both sources build their records here, so this is the one rule for every zip entry.
        reason = unsafe_zip_path_reason(self.archive_path)
        if reason is not None:
            raise UnsafeZipPathError(self.archive_path, reason)

    @property
    def unzipped_size(self) -> int:
        return self.size if self.size is not None else len(self.read())


_DRIVE = re.compile(r"^[A-Za-z]:")
# An empty part: an empty or absolute path, or `//`; then `.` and `..`.
_UNSAFE_PARTS = frozenset({"", ".", ".."})
# Each rule, and what the refusal says. pypa/installer applies the same ones to wheel members.
_UNSAFE_ZIP_PATH_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda path: not path, "it is empty"),
    (lambda path: "\\" in path, "it holds a backslash, which Windows tools read as a separator"),
    (lambda path: "\0" in path, "it holds a NUL character"),
    (lambda path: path.startswith("/"), "it is absolute"),
    (lambda path: bool(_DRIVE.match(path)), "it starts with a drive"),
    (lambda path: ".." in path.split("/"), "it has a `..` part"),
    (lambda path: any(part in {"", "."} for part in path.split("/")), "it has an empty or `.` part"),
)


def unsafe_zip_path_reason(archive_path: str) -> str | None:
    """Why an entry would land outside the extraction directory, or elsewhere on another OS; None
    for a safe one."""
    # Every rule at once for the common case (each of a layer's thousand files passes them all);
    # the rules below, one by one, only to say which one a path breaks.
    if (
        "\\" not in archive_path
        and "\0" not in archive_path
        and not _DRIVE.match(archive_path)
        and _UNSAFE_PARTS.isdisjoint(archive_path.split("/"))
    ):
        return None
    return next((reason for unsafe, reason in _UNSAFE_ZIP_PATH_RULES if unsafe(archive_path)), None)


def zip_date_time(timestamp: float) -> ZipDateTime:
    date_time: ZipDateTime = time.gmtime(timestamp)[:6]
    return max(date_time, ZIP_EPOCH)
