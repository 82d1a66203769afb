"""The sha256 of files on disk, each version of a file hashed once per process."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """The file's sha256, hashed once per version of the file in this process.

    One build asks several times for the same zips (manifest upkeep, the size limit, the handler
    check, the layer cache); a layer is tens of MB. The key is the file's identity and stat, and
    artifacts are only ever replaced by rename (a new inode), so a changed file is hashed again.
    """
    status = path.stat()
    identity = (str(path.resolve()), status.st_ino, status.st_size, status.st_mtime_ns)
    known = _HASHED.get(identity)
    if known is None:
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        known = _HASHED[identity] = digest.hexdigest()
    return known


_HASHED: dict[tuple[str, int, int, int], str] = {}
