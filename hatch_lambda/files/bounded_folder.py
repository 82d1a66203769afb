"""A folder of small records, one per thing remembered, kept to its newest few.

The layer cache remembers facts one small file each: a committed layer found whole, per output path
(`layer.cache`); what a binary says it is, per binary (`files.file_facts`). Each new path or binary
adds a record, and nothing else ever removes one: a CI job building in a new directory, or in a new
Hatch environment with its own uv, leaves one behind for good. So a build that writes a record
keeps the folder to its newest records. A record removed this way costs a build one read or one
process start, then it is written again. A build that only reads records lists nothing.
"""

from __future__ import annotations

import os
import time
from contextlib import suppress
from pathlib import Path

# A temporary file this old belongs to no live build (a build takes minutes).
STALE_SECONDS = 6 * 60 * 60


def keep_newest(folder: Path, keep: int) -> None:
    """Remove all but the `keep` most recently written records in `folder`, and the temporary files
    (`archive.atomic` names them with a leading dot) left there more than `STALE_SECONDS` ago:
    those of a live build are newer. A record another build removes meanwhile is passed over;
    failing to remove one is not an error."""
    records: list[tuple[float, str]] = []
    cutoff = time.time() - STALE_SECONDS
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                modified = entry.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
            if entry.name.startswith("."):
                if modified < cutoff:
                    _remove(entry.path)
                continue
            records.append((modified, entry.path))
    records.sort(reverse=True)
    for _, path in records[keep:]:
        _remove(path)


def _remove(path: str) -> None:
    with suppress(OSError):
        os.unlink(path)
