"""The file record both sources yield and the zip writer consumes: a zip path, and its bytes on demand."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

ZipDateTime = tuple[int, int, int, int, int, int]

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

    @property
    def unzipped_size(self) -> int:
        return self.size if self.size is not None else len(self.read())


def zip_date_time(timestamp: float) -> ZipDateTime:
    date_time: ZipDateTime = time.gmtime(timestamp)[:6]
    return max(date_time, ZIP_EPOCH)
