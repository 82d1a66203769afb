"""Layer zips extracted once, read-only, and the bytecode of what the handler check imports from them.

Every handler check (and `hatch-lambda invoke`) runs the handler where Lambda would find the layer,
in `/opt`. Extracting a 75 MB layer for every check costs seconds, and a fresh tree means every
module of it is compiled again. So each layer zip is extracted once per sha256 into
`layer-trees-v1/<sha256>/opt` of hatch-lambda's cache directory, made read-only, and shared by
every check of a zip with those bytes.

A tree is trusted only when it is exactly what was extracted: the entry is built in a `.partial`
directory and renamed into place with its `complete.json` marker, which records the zip's sha256,
a digest of the tree's listing (each path, size, mode and modification time) and whether the zip
ships bytecode. A tree without the marker, with another one, or whose listing no longer matches (a
file added, removed or rewritten, even in place by root, which only a file's own time shows) is
discarded and extracted again; the bytecode compiled from it goes with it. Readers
hold a shared lock on `<sha256>.lock` while they use a tree, the builder of a tree an exclusive one,
and pruning skips any tree it cannot lock exclusively, so no tree disappears under a check.

Bytecode goes to `handler-pycache-v1/cpython-3.X-ARCH/` (the interpreter's `-X pycache_prefix`),
one directory per runtime CPython version and architecture so pycs of different interpreters never
mix. It mirrors the absolute path of each source, so the trees, the runtime SDK and the
interpreter's standard library compile once. What lies in a check's own temporary directory (the
source zip's code) is redirected there by a symbolic link for the time of the check, so nothing of
it stays in the cache; the check's `opt`, a link to the shared tree, compiles into the tree's place.

Anything this cache cannot do (an unwritable directory, a full disk) gives None, and the caller
extracts into a temporary directory and runs without writing bytecode, as it did before: slower,
never different.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from pathlib import Path

from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.files.digest import file_sha256
from hatch_lambda.files.removal import remove_tree

TREES_FOLDER = "layer-trees-v1"
PYCACHE_FOLDER = "handler-pycache-v1"
# An extracted layer is about three times its zip; a handful covers the targets one is working on.
KEEP_TREES = 6
MARKER = "complete.json"
MARKER_FORMAT = 1
# A build takes minutes; a `.partial` or `.discard` directory this old belongs to no live build.
STALE_SECONDS = 6 * 60 * 60
# The layout directories `local_lambda` makes (`tempfile.mkdtemp(prefix=...)`), redirected by links.
TRANSIENT_PREFIX = "hatch-lambda-run-"
_TREE_NAME = re.compile(r"[0-9a-f]{64}")


# Extracting like Lambda -------------------------------------------------------------------------


def extract_zip(archive: Path, directory: Path) -> None:
    """Lambda keeps each entry's Unix mode: a `bin/tool` stored 0755 stays executable."""
    try:
        with zipfile.ZipFile(archive) as opened:
            for entry in opened.infolist():
                written = opened.extract(entry, directory)
                mode = stat.S_IMODE(entry.external_attr >> 16)
                if mode and not entry.is_dir():
                    os.chmod(written, mode | stat.S_IRUSR)
    except (OSError, zipfile.BadZipFile) as error:
        message = f"Cannot extract {archive}: {error}. Build it again with `hatch build -t lambda`."
        raise LambdaBuildError(message) from error


def ships_bytecode(archive: Path | None) -> bool:
    """Whether a zip holds `__pycache__/*.pyc` files (an unreadable one is reported when extracted)."""
    if archive is None:
        return False
    try:
        with zipfile.ZipFile(archive) as opened:
            names = opened.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(name.endswith(".pyc") and f"/{name}".rsplit("/", 2)[-2] == "__pycache__" for name in names)


def set_write_bits(top: Path, *, writable: bool) -> None:
    # Permission bits stop an ordinary user; root ignores them, which is why the bootstrap also
    # refuses writes itself. Directories are walked top-down so a restored one can be emptied.
    # A link is never changed, nor what it points to: `os.walk` would list a linked top's target.
    if os.path.islink(top):
        return
    for directory, _subdirectories, files in os.walk(top):
        for path in (directory, *(os.path.join(directory, name) for name in files)):
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            if not os.path.islink(path):
                os.chmod(path, mode | stat.S_IWUSR if writable else mode & ~0o222)


# The shared trees ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedTree:
    """A layer zip's extracted tree, as its marker vouches for it."""

    opt: Path  # Lambda's `/opt`
    # The zip holds `__pycache__/*.pyc` (`compile-bytecode`): known at extraction, so a check
    # need not read the zip's directory again to learn it.
    ships_bytecode: bool


@contextmanager
def shared_layer_tree(cache_root: Path, layer_zip: Path) -> Iterator[SharedTree | None]:
    """The read-only extracted tree of `layer_zip`, held for the block; None when the cache cannot
    provide one (then the caller extracts it itself)."""
    with ExitStack() as held:
        yield _hold_tree(cache_root / TREES_FOLDER, layer_zip, held)


def tree_directory(cache_root: Path, layer_sha256: str) -> Path:
    """Where the tree of the layer zip with that sha256 is (or would be): its `/opt`."""
    return cache_root / TREES_FOLDER / layer_sha256 / "opt"


def _hold_tree(root: Path, layer_zip: Path, held: ExitStack) -> SharedTree | None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        sha256 = file_sha256(layer_zip)
    except OSError:
        return None
    tree = _use_if_intact(root, sha256, layer_zip, held)
    if tree is None and _built(root, sha256, layer_zip):
        # One not intact right after it was made is not trusted either.
        tree = _use_if_intact(root, sha256, layer_zip, held)
    return tree


def _use_if_intact(root: Path, sha256: str, layer_zip: Path, held: ExitStack) -> SharedTree | None:
    """The tree, locked (shared) until `held` closes, if it is complete and unaltered."""
    reading = _lock(root / f"{sha256}.lock", shared=True, wait=True)
    if reading is None:
        return None
    marker = _intact_marker(root / sha256, sha256)
    if marker is None:
        _unlock(reading)
        return None
    held.callback(_unlock, reading)
    with suppress(OSError):
        os.utime(root / sha256 / MARKER)  # most recently used: kept longest by `prune`
    # A marker of a version before the field was recorded: asked of the zip, as that version did.
    # The format stays 1, so versions that share the cache directory keep sharing its trees.
    known = marker.get("ships_bytecode")
    shipped = known if isinstance(known, bool) else ships_bytecode(layer_zip)
    return SharedTree(root / sha256 / "opt", shipped)


def _built(root: Path, sha256: str, layer_zip: Path) -> bool:
    """Extract the tree under the exclusive lock, unless another build did while this one waited."""
    writing = _lock(root / f"{sha256}.lock", shared=False, wait=True)
    if writing is None:
        return False
    try:
        if _intact_marker(root / sha256, sha256) is None:
            _make_tree(root, sha256, layer_zip)
    except (OSError, LambdaBuildError):
        return False  # a full disk, or a zip that cannot be read: the caller's own extraction says which
    finally:
        _unlock(writing)
    return True


def _make_tree(root: Path, sha256: str, layer_zip: Path) -> None:
    entry = root / sha256
    staging = Path(tempfile.mkdtemp(prefix=f".{sha256}-", suffix=".partial", dir=root))
    try:
        extract_zip(layer_zip, staging / "opt")
        (staging / "opt").mkdir(exist_ok=True)  # an empty zip: still a directory to point /opt at
        set_write_bits(staging / "opt", writable=False)
        marker = {
            "format": MARKER_FORMAT,
            "layer_sha256": sha256,
            "listing_sha256": _listing_digest(staging / "opt"),
            "ships_bytecode": ships_bytecode(layer_zip),
        }
        (staging / MARKER).write_text(json.dumps(marker), encoding="utf-8")
        if entry.exists() or entry.is_symlink():
            _discard(root, sha256)
        staging.rename(entry)  # the tree and its marker appear at once
    finally:
        if staging.exists():
            remove_tree(staging, read_only=True)
    prune(root.parent)


def _intact_marker(entry: Path, sha256: str) -> dict[str, object] | None:
    """The marker of the entry if it holds the complete, unaltered tree of the zip with `sha256`."""
    try:
        marker = json.loads((entry / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("format") != MARKER_FORMAT:
        return None
    if marker.get("layer_sha256") != sha256 or not (entry / "opt").is_dir():
        return None
    try:
        intact = marker.get("listing_sha256") == _listing_digest(entry / "opt")
    except OSError:
        return None
    return marker if intact else None


def _listing_digest(tree: Path) -> str:
    """A digest of every path in `tree` with its type, size, mode and modification time: a file
    added, removed or written since changes it.

    Every build with a handler check pays for this walk, so it is one `scandir` per directory and
    one `lstat` per entry, each line formatted directly (some 7 ms for the 1,335 files of a 75 MB
    layer). A directory's own time would show an entry added or removed without a stat of every
    file, but not a file rewritten in place, which root can do to a read-only file.
    """
    lines: list[str] = []
    _list_directory(os.fspath(tree), "", lines)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _list_directory(directory: str, relative: str, lines: list[str]) -> None:
    """Append the lines of `directory`'s entries in name order, then of each subdirectory's in turn.

    The line is the JSON of `[path, mode, size, mtime_ns]`, the path relative to the tree; a
    directory's has no time, which changes only when its entries do, and their own lines show that.
    """
    with os.scandir(directory) as scanned:
        entries = sorted(scanned, key=lambda entry: entry.name)
    subdirectories = []
    for entry in entries:
        facts = entry.stat(follow_symlinks=False)
        path = encode_basestring_ascii(relative + entry.name)
        if stat.S_ISDIR(facts.st_mode):
            lines.append(f"[{path}, {facts.st_mode}, {facts.st_size}]\n")
            subdirectories.append(entry)
        else:
            lines.append(f"[{path}, {facts.st_mode}, {facts.st_size}, {facts.st_mtime_ns}]\n")
    for entry in subdirectories:
        _list_directory(entry.path, f"{relative}{entry.name}/", lines)


def _discard(root: Path, sha256: str) -> None:
    """Move the entry aside and remove it, with the bytecode compiled from it."""
    entry = root / sha256
    retired = root / f".{sha256}-{time.time_ns()}.discard"
    with suppress(OSError):
        entry.rename(retired)
        remove_tree(retired, read_only=True)
    for interpreter in _pycache_directories(root.parent):
        shutil.rmtree(_mirrored(interpreter, entry / "opt"), ignore_errors=True)


def prune(cache_root: Path, keep: int = KEEP_TREES) -> None:
    """Keep the `keep` most recently used trees (never one a check holds); remove leftovers of
    builds that stopped, and links to check directories that are gone."""
    root = cache_root / TREES_FOLDER
    if sys.platform == "win32" or not root.is_dir():
        return  # handler checks run on Linux only: there are no trees here
    names = [path.name for path in root.iterdir() if _TREE_NAME.fullmatch(path.name)]
    newest_first = sorted(names, key=lambda name: _modified(root / name / MARKER), reverse=True)
    for stale in newest_first[keep:]:
        descriptor = _lock(root / f"{stale}.lock", shared=False, wait=False)
        if descriptor is not None:
            try:
                _discard(root, stale)
                with suppress(OSError):
                    (root / f"{stale}.lock").unlink(missing_ok=True)
            finally:
                _unlock(descriptor)
    cutoff = time.time() - STALE_SECONDS
    for leftover in [*root.glob(".*.partial"), *root.glob(".*.discard")]:
        if _modified(leftover) < cutoff:
            remove_tree(leftover, read_only=True)
    for interpreter in _pycache_directories(cache_root):
        _remove_dangling_links(_mirrored(interpreter, Path(tempfile.gettempdir()).resolve()))


# Bytecode ---------------------------------------------------------------------------------------


@contextmanager
def bytecode_prefix(
    cache_root: Path, interpreter: str, transient: Path, shared: Mapping[str, Path]
) -> Iterator[Path | None]:
    """The `-X pycache_prefix` directory for `interpreter` (`cpython-3.12-x86_64`), for the block.

    What lies under `transient` (a check's own directory) is compiled into `transient/pycache`
    instead, and so removed with it; except that each `transient/NAME` of `shared` (a link to a
    shared tree) compiles into that tree's own place under the prefix. None when the cache cannot
    hold bytecode (run with `-B` then).
    """
    prefix = (cache_root / PYCACHE_FOLDER / interpreter).resolve()
    link = _mirrored(prefix, transient)
    try:
        (transient / "pycache").mkdir(exist_ok=True)
        for name, tree in shared.items():
            mirror = _mirrored(prefix, tree)
            mirror.mkdir(parents=True, exist_ok=True)  # a link to a missing directory gets no pycs
            (transient / "pycache" / name).symlink_to(mirror, target_is_directory=True)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(transient / "pycache", target_is_directory=True)
    except OSError:
        yield None
        return
    try:
        yield prefix
    finally:
        with suppress(OSError):
            link.unlink()


def _pycache_directories(cache_root: Path) -> list[Path]:
    try:
        return [path for path in (cache_root / PYCACHE_FOLDER).iterdir() if path.is_dir()]
    except OSError:
        return []


def _mirrored(prefix: Path, source_directory: Path) -> Path:
    """Where CPython puts the bytecode of modules in `source_directory` under `pycache_prefix`:
    the absolute path, without its root, below the prefix (`importlib.util.cache_from_source`)."""
    absolute = os.path.abspath(source_directory)
    return prefix / os.path.splitdrive(absolute)[1].lstrip(os.sep)


def _remove_dangling_links(directory: Path) -> None:
    with suppress(OSError):
        for link in directory.glob(f"{TRANSIENT_PREFIX}*"):
            if link.is_symlink() and not link.exists():
                link.unlink()


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0  # gone already: oldest of all


# Locks: shared for a check that uses a tree, exclusive to build or prune one ---------------------


def _lock(path: Path, *, shared: bool, wait: bool) -> int | None:
    """A descriptor holding `path`'s lock; None when it cannot be taken (held, without `wait`)."""
    import fcntl  # noqa: PLC0415 - Linux only, where handler checks run

    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return None
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(descriptor, mode if wait else mode | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            return None
        # A lock on a file removed and made again in between guards nothing: take the one there now.
        try:
            if os.fstat(descriptor).st_ino == path.stat().st_ino:
                return descriptor
        except OSError:
            pass
        os.close(descriptor)


def _unlock(descriptor: int) -> None:
    os.close(descriptor)  # closing the last descriptor releases an flock
