"""The sha256 of files on disk, each version of a file hashed once per process."""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import BinaryIO

from hatch_lambda.files.record import FileIdentity


def file_sha256(path: Path) -> str:
    """The file's sha256, hashed once per version of the file in this process.

    One build asks several times for the same zips (written, checked against the manifest and the
    cache record, stored in the cache, listed in the SBOM); a layer is tens of MB. The key is the
    file's identity (device and inode) and stat, not its path: the transaction commits by renaming,
    which keeps both, and artifacts are only ever replaced by rename (a new inode), so a changed
    file is hashed again.
    """
    known = _HASHED.get(_identity(path))
    return known if known is not None else read_sha256(path)


def read_sha256(path: Path) -> str:
    """The sha256 of what `path` holds now, read whatever is remembered: for the checks that
    exist to catch a copy that did not write what it was given."""
    identity = _identity(path)
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(_BLOCK), b""):
            digest.update(block)
    known = _HASHED[identity] = digest.hexdigest()
    return known


def copy_hashing(source: Path, destination: Path, *, cloned: bool = False) -> str:
    """Write `source`'s bytes to `destination` and return the sha256 of exactly the bytes written.

    One read both hashes and writes, so the digest is of what `destination` holds: no window between
    a check of `source` and its copy, and no second read of either. With `cloned`, `destination`
    already holds a reflink of `source` (blocks shared copy-on-write): it is read and hashed instead.
    """
    digest = hashlib.sha256()
    copy_reading(source, destination, digest.update, cloned=cloned)
    known = _HASHED[_identity(destination)] = digest.hexdigest()
    return known


def copy_reading(
    source: Path, destination: Path, each_block: Callable[[bytes], None], *, cloned: bool = False
) -> int:
    """Write `source`'s bytes to `destination`, handing each block to `each_block` as it is copied
    (with `cloned`, `destination` holds a reflink already: it is read instead); the bytes read.
    An error reading is an `UnreadableSource`; one writing `destination` is raised as it is."""
    with reading_source(destination if cloned else source) as reading, ExitStack() as stack:
        if cloned:
            return read_each(reading, each_block)
        writing = stack.enter_context(destination.open("wb"))

        def write_too(block: bytes) -> None:
            each_block(block)
            writing.write(block)

        return read_each(reading, write_too)


def read_each(stream: BinaryIO, each_block: Callable[[bytes], None]) -> int:
    """Hand every block of `stream`, in order, to `each_block`; the bytes read. An error reading is
    an `UnreadableSource`."""
    read = 0
    for block in iter(lambda: read_block(stream), b""):
        each_block(block)
        read += len(block)
    return read


class UnreadableSource(OSError):
    """What `copy_hashing` was to copy could not be read (an error writing the copy is not this)."""


@contextmanager
def reading_source(path: Path) -> Iterator[BinaryIO]:
    """`path` open for reading; an error opening it is an `UnreadableSource`."""
    try:
        stream = path.open("rb")
    except OSError as error:
        raise UnreadableSource(error.errno, error.strerror, str(path)) from error
    with stream:
        yield stream


def read_block(stream: BinaryIO) -> bytes:
    """The next block of `stream`; an error reading it is an `UnreadableSource`."""
    try:
        return stream.read(_BLOCK)
    except OSError as error:
        raise UnreadableSource(error.errno, error.strerror, stream.name) from error


def remember_digest(path: Path, sha256: str) -> None:
    """`path` was just written whole by this process, hashing what it wrote: its digest is known."""
    _HASHED[_identity(path)] = sha256


def file_crc32(path: Path) -> int:
    """The file's CRC-32, known without a read when this process wrote it (`remember_crc32`)."""
    identity = _identity(path)
    known = _CRC32.get(identity)
    if known is None:
        known = 0
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(_BLOCK), b""):
                known = zlib.crc32(block, known)
        _CRC32[identity] = known
    return known


def remember_crc32(path: Path, crc32: int) -> None:
    """`path` was just written whole by this process, computing the CRC-32 of what it wrote."""
    _CRC32[_identity(path)] = crc32


def remember_copy(source: Path, copy: Path) -> None:
    """`copy` was just written whole from `source` (a reflink or the kernel's copy): when `source`'s
    sha256 is known and `source` is unchanged since, `copy` has the same one, without a second read."""
    known = _HASHED.get(_identity(source))
    if known is not None:
        _HASHED[_identity(copy)] = known
    crc32 = _CRC32.get(_identity(source))
    if crc32 is not None:
        _CRC32[_identity(copy)] = crc32


_BLOCK = 1 << 20


def identity_of(status: os.stat_result) -> FileIdentity:
    """The identity of the file `status` describes: what the digests here are remembered by."""
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def _identity(path: Path) -> FileIdentity:
    return identity_of(os.stat(path))


_HASHED: dict[FileIdentity, str] = {}
_CRC32: dict[FileIdentity, int] = {}
