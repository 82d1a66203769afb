"""Raw deflate and CRC-32 from the pinned libdeflate, with the GIL released.

Why libdeflate (the `deflate` package, pinned exactly in pyproject.toml): on a 75 MiB layer
(requests, pydantic, cryptography, numpy; 1,383 files), one thread, level 6, it took 0.89 s for
22.65 MiB where the host's zlib 1.2.13 took 2.91 s for 22.87 MiB and zlib-ng 1.13 s for 23.31 MiB;
ISA-L (`isal`, level 3, its highest) is faster (0.32 s) but writes 25.38 MiB, a larger upload for
every deploy. A library shipped in a pinned wheel also makes the bytes the same on every host,
where `zlib` is whatever the distribution links (some ship zlib-ng under that name, with other
bytes). `deflate==0.8.1` is the newest release with wheels for CPython 3.9 to 3.13 on manylinux
x86_64 and aarch64 (0.9.0 drops 3.9); it bundles libdeflate 1.24.

The package's own functions hold the GIL while they compress, so threads would take turns. The
wheel's extension exports libdeflate's C API, and `ctypes` releases the GIL around a foreign call:
called that way, each thread compresses on its own core, with one compressor per thread and level
reused across entries. Where those symbols are missing (a build that hides them), the package's
functions are used: the same library, the same bytes, one core. A zip written on one thread (a
project's few files) uses them too, so a warm build never loads `ctypes`.
"""

from __future__ import annotations

import hashlib
import threading
from functools import cache
from typing import TYPE_CHECKING

import deflate
import deflate._deflate

if TYPE_CHECKING:
    import ctypes

LIBRARY = "libdeflate"
WRAPPER_VERSION: str = deflate.__version__
LEVELS = range(1, 13)  # libdeflate's levels: 1-9 as zlib's, 10-12 its slower optimal parser


class DeflateFailed(Exception):
    """libdeflate refused an input it was given room for; not expected to happen."""


def compress(data: bytes, level: int, *, threaded: bool = True) -> bytes:
    """`data` as one raw deflate stream (no zlib or gzip wrapper), as a zip entry holds it.
    `threaded`: called on one of several compressing threads, so through the C API, without the GIL."""
    api = _c_api() if threaded else None
    if api is None:
        return bytes(deflate.deflate_compress(data, level))
    import ctypes  # noqa: PLC0415 - loaded by `_c_api` already

    compressor = _thread_compressor(api, level)
    bound = api.libdeflate_deflate_compress_bound(compressor.handle, len(data))
    out = ctypes.create_string_buffer(bound)
    written = api.libdeflate_deflate_compress(compressor.handle, data, len(data), out, bound)
    if written == 0:
        message = f"libdeflate could not compress {len(data)} bytes into {bound}"
        raise DeflateFailed(message)
    return ctypes.string_at(out, written)


@cache
def fingerprint() -> str:
    """A short digest of what this build of libdeflate makes of a fixed sample: two builds that
    report one wrapper version (a source build of `deflate` linked to another libdeflate) but
    compress differently get different fingerprints, so their outputs are never taken for each other."""
    # 27 KB of literals and repeats at many distances: enough for two libdeflates' match finders and
    # block splitting to differ, and under a millisecond (every build's cache key asks for it).
    sample = b"".join(
        hashlib.sha256(str(index).encode()).digest()[: index % 32] + b"hatch-lambda layer " * (index % 5)
        for index in range(512)
    )
    return hashlib.sha256(compress(sample, 6, threaded=False)).hexdigest()


def crc32(data: bytes, start: int = 0, *, threaded: bool = True) -> int:
    """The CRC-32 of `data`, continuing from `start` (the CRC-32 of what came before it)."""
    api = _c_api() if threaded else None
    if api is None:
        return int(deflate.crc32(data, start))
    return int(api.libdeflate_crc32(start, data, len(data)))


def parallel() -> bool:
    """Whether calls on several threads run at once (the C API was found)."""
    return _c_api() is not None


@cache
def _c_api() -> ctypes.CDLL | None:
    import ctypes  # noqa: PLC0415 - only a zip compressed on several threads needs it

    try:
        api = ctypes.CDLL(deflate._deflate.__file__)
        api.libdeflate_alloc_compressor.restype = ctypes.c_void_p
        api.libdeflate_alloc_compressor.argtypes = [ctypes.c_int]
        api.libdeflate_free_compressor.restype = None
        api.libdeflate_free_compressor.argtypes = [ctypes.c_void_p]
        api.libdeflate_deflate_compress_bound.restype = ctypes.c_size_t
        api.libdeflate_deflate_compress_bound.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        api.libdeflate_deflate_compress.restype = ctypes.c_size_t
        api.libdeflate_deflate_compress.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_size_t,
        ]
        api.libdeflate_crc32.restype = ctypes.c_uint32
        api.libdeflate_crc32.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return api


class _Compressor:
    """One libdeflate compressor, freed when the thread that owns it ends."""

    def __init__(self, api: ctypes.CDLL, level: int) -> None:
        self._api = api
        self.handle: int = api.libdeflate_alloc_compressor(level)
        if not self.handle:
            message = f"libdeflate has no compressor for level {level}"
            raise DeflateFailed(message)

    def __del__(self) -> None:
        if self.handle:
            self._api.libdeflate_free_compressor(self.handle)


_per_thread = threading.local()


def _thread_compressor(api: ctypes.CDLL, level: int) -> _Compressor:
    compressors: dict[int, _Compressor] | None = getattr(_per_thread, "compressors", None)
    if compressors is None:
        compressors = _per_thread.compressors = {}
    if level not in compressors:
        compressors[level] = _Compressor(api, level)
    return compressors[level]
