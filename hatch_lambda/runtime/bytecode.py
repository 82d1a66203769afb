"""PEP 552 bytecode for a zip's modules, compiled by the runtime's own CPython.

Lambda extracts zips to read-only directories, so CPython cannot cache what it compiles there: every
module without a valid `.pyc` is compiled again on every cold start. Timestamp `.pyc` files would be
stale on arrival (zip dates are normalised), so these are `unchecked-hash` ones, which CPython loads
without looking at the source. They must come from a CPython of exactly the runtime's minor version:
the bytecode format and its magic number change with every minor release.

This is a transform over files to pack: it returns the `.pyc` entries to add, beside their sources
(`pkg/__pycache__/mod.cpython-312.pyc`), and the sources that CPython cannot compile. It knows
nothing of zips or of which artifact it serves.

Reproducible: the same files compile to the same bytes, whatever the checkout path, file dates,
build environment or number of cores. That holds because:
- Sources go in through a pipe, in sorted order, so no temporary path exists to leak into the output.
  A `.pyc` can depend on what its process compiled before it (CPython 3.9 and 3.10 flag marshalled
  objects by reference count: on a numpy, pydantic, cryptography and requests layer, 11 of 706
  modules differ in those flags when pydantic is compiled after numpy rather than first; 3.12
  merges repeated constants depending on which strings are already interned), so what each process
  compiles, and in what order, is part of the input, and it is fixed in advance: one chunk per
  top-level package (or top-level module), each compiled by a fresh process of its own, sources
  sorted within it. On CPython 3.11 and later a package of over `SPLIT_ABOVE` bytes of source is cut
  along its subpackages (`_fixed_chunks`), and each chunk's process is a fork of a compiler started
  once per core that has compiled nothing (`bytecode_forks.py`): the state a fresh process starts
  from, without its start-up. Chunks run on every core at once (largest first); how many at once,
  or which compiler forks for which chunk, never changes what any of them compiles. On CPython
  3.11 and later the bytes also equal those of one process compiling everything, on the tests'
  trees and on a numpy, pydantic, cryptography and requests layer (the tests check both). Even the
  compiler script's own imports and names are part of the input: without its `typing` import, 377
  of those 706 modules differ on 3.10, and 13 with a few more functions in it.
- `PYTHONHASHSEED=0`, UTF-8 mode, no `site` and no `PYTHON*` settings: the interpreter starts in the
  same state everywhere, and string hashes are fixed.
- CPython 3.9 and 3.10 marshal a frozenset constant (`x in {None, "a"}`) in hash-table order, and the
  hash of `None`, `...` and tuples holding them is their address, which differs on every run. Those
  sets are written sorted instead, as CPython 3.11 and later write them.
"""

from __future__ import annotations

import contextlib
import os
import struct
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, NoReturn, Union

from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.files.record import FileToPack
from hatch_lambda.platform.interpreters import environment_variable_for, find_runtime_python
from hatch_lambda.platform.runtimes import Runtime

# Where Lambda extracts each kind of zip; a `.pyc` names its source by the path it has there.
FUNCTION_ROOT = "/var/task/"
LAYER_ROOT = "/opt/"

_STARTED = b"hatch-lambda bytecode compiler\n"
_COMPILED = 0
_RECORD_HEADER = struct.Struct("<BI")
# Bytes of source above which a package is compiled in several chunks (see `_fixed_chunks`). A
# constant, never derived from the cores: what each process compiles decides the bytes.
SPLIT_ABOVE = 1 << 20
# Bytes of source below which the chunks share one forking compiler rather than one per core: the
# runtime's CPython compiles some 8 MB of source a second, so a second compiler's start-up (20-30 ms)
# costs more than it saves on a function zip's few files. It decides how many compilers run, never
# what any chunk compiles (see `_compile_in_forks`).
ONE_COMPILER_BELOW = 256 << 10
_LENGTH = struct.Struct("<I")
_REPLY_HEADER = struct.Struct("<iI")  # a fork's exit status, and how many bytes it wrote

# Runs in the runtime's CPython, as a script: a real module, linted like the rest (see its docstring).
_COMPILER = Path(__file__).with_name("bytecode_compiler.py")
_FORK_SERVER = Path(__file__).with_name("bytecode_forks.py")  # the compiler, forked for each chunk


@dataclass(frozen=True)
class Uncompilable:
    """A source the runtime's CPython cannot compile: it would not import on Lambda either."""

    archive_path: str
    reason: str  # CPython's own message: `SyntaxError: invalid syntax (legacy.py, line 3)`


@dataclass(frozen=True)
class CompiledBytecode:
    pyc_files: list[FileToPack]  # to pack beside the sources
    uncompilable: list[Uncompilable]  # shipped without bytecode; worth reporting


class NoRuntimePythonError(LambdaBuildError):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        version = runtime.python_version_text
        super().__init__(
            f"`compile-bytecode` needs CPython {version}, the runtime's Python: bytecode only loads in "
            f"the minor version that wrote it. None was found. Install one (`uv python install {version}` "
            f"or `pyenv install {version}`), or point `{environment_variable_for(runtime)}` at its "
            "executable."
        )


class BytecodeCompilerError(LambdaBuildError):
    """The compiling interpreter itself failed: it did not start, is the wrong one, or crashed."""

    def __init__(self, python: str, problem: str, output: str) -> None:
        self.python = python
        self.problem = problem
        self.output = output
        super().__init__(f"Compiling bytecode with `{python}` failed: {problem}\n{output.rstrip()}".rstrip())


def runtime_python(runtime: Runtime, uv: str | None) -> str:
    """The CPython that compiles bytecode for `runtime`, or an error that says how to get one."""
    python = find_runtime_python(runtime, uv)
    if python is None:
        raise NoRuntimePythonError(runtime)
    return python


def compile_bytecode(
    files: Sequence[FileToPack],
    *,
    python: str,
    python_version: tuple[int, int],
    import_root: str,
    extracted_to: str,
    workers: int | None = None,
    started: StartedCompiler | None = None,
) -> CompiledBytecode:
    """Compile every importable module among `files` with `python`, a CPython `python_version`.

    `import_root` is the directory of the zip that Lambda puts on `sys.path`, with a trailing `/`:
    "" for the function zip, `python/` or `python/lib/python3.X/site-packages/` for a layer. Only
    `.py` files importable from there get bytecode (not `*.dist-info/`, not `my-script.py`).
    `extracted_to` is where Lambda extracts the zip (`FUNCTION_ROOT` or `LAYER_ROOT`): each `.pyc`
    names its source by that path, the one tracebacks show on Lambda, never a path of this machine.
    Each `.pyc` entry keeps its source's date. `workers` (all cores when None) is how many
    compiler processes run at once; it changes how fast, never the bytes. `started` (from
    `start_compiler`, for `python`) compiles the first chunk without waiting for an interpreter to
    start; it is this call's to close, used or not.
    """
    version = f"{python_version[0]}.{python_version[1]}"
    if started is not None and (started.python, started.version) != (python, version):
        started.discard()  # another interpreter's: never used, whatever it would compile
        started = None
    try:
        sources = sorted(
            (file for file in files if _is_importable(file.archive_path, import_root)),
            key=lambda file: file.archive_path,
        )
        records = _compile_in_chunks(
            python,
            version,
            [(extracted_to + file.archive_path, file.read()) for file in sources],
            extracted_to + import_root,
            workers or os.cpu_count() or 1,
            started=started,
        )
    finally:
        if started is not None:
            started.discard()  # a no-op once it has compiled: then it was closed with its chunk
    cache_tag = f"cpython-{python_version[0]}{python_version[1]}"
    pyc_files: list[FileToPack] = []
    uncompilable: list[Uncompilable] = []
    for file, (compiled, payload) in zip(sources, records):
        if not compiled:
            uncompilable.append(Uncompilable(file.archive_path, payload.decode("utf-8")))
            continue
        pyc_files.append(
            FileToPack(
                archive_path=_pyc_path(file.archive_path, cache_tag),
                read=partial(bytes, payload),
                executable=False,
                modified=file.modified,
                size=len(payload),
            )
        )
    return CompiledBytecode(pyc_files=pyc_files, uncompilable=uncompilable)


def _is_importable(archive_path: str, import_root: str) -> bool:
    if not archive_path.startswith(import_root) or not archive_path.endswith(".py"):
        return False
    *packages, module = archive_path[len(import_root) :].split("/")
    names = [*packages, module[: -len(".py")]]
    return all(name.isidentifier() for name in names) and "__pycache__" not in packages


def _pyc_path(archive_path: str, cache_tag: str) -> str:
    """PEP 3147: `pkg/mod.py` → `pkg/__pycache__/mod.cpython-312.pyc`."""
    source = PurePosixPath(archive_path)
    return str(source.parent / "__pycache__" / f"{source.stem}.{cache_tag}.pyc")


def _compile_in_chunks(
    python: str,
    version: str,
    sources: list[tuple[str, bytes]],
    import_dir: str,
    workers: int,
    *,
    started: StartedCompiler | None = None,
) -> list[tuple[bool, bytes]]:
    """`_compile_in_subprocess` for each chunk of `_fixed_chunks`, several at once; the records in
    the order of `sources`. `started` compiles the first chunk (3.9, 3.10) or serves the first
    thread (3.11 and later)."""
    settled = _settled(version)
    chunks = _fixed_chunks(sources, import_dir, split_large=settled)
    # Largest first, so the longest chunk is not the last one started; this order decides only when
    # each chunk runs, never what it holds.
    ordered = sorted(chunks, key=lambda chunk: (-_source_bytes(chunk), chunk[0][0]))
    if _forks(version):
        results = _compile_in_forks(python, version, ordered, workers, started=started)
    else:
        fresh = started if isinstance(started, _FreshCompiler) else None

        def compile_chunk(index: int, chunk: list[tuple[str, bytes]]) -> list[tuple[bool, bytes]]:
            return _compile_in_subprocess(python, version, chunk, started=fresh if index == 0 else None)

        if workers <= 1 or len(ordered) <= 1:
            results = [compile_chunk(index, chunk) for index, chunk in enumerate(ordered)]
        else:
            with ThreadPoolExecutor(
                min(workers, len(ordered)), thread_name_prefix="hatch-lambda-pyc"
            ) as pool:
                results = list(pool.map(compile_chunk, range(len(ordered)), ordered))
    by_path = {
        dfile: record
        for chunk, records in zip(ordered, results)
        for (dfile, _), record in zip(chunk, records)
    }
    return [by_path[dfile] for dfile, _ in sources]


def _settled(version: str) -> bool:
    """Whether a process's history leaves the bytes it compiles alone (CPython 3.11 and later).

    CPython 3.9 and 3.10 flag what `marshal` writes by reference counts, so the bytes show
    whatever else the process holds (a 706-module layer: 13 modules differ when compiled in a fork
    of a compiler rather than a fresh process, 20 when numpy is cut up): there, nothing changes.
    """
    return tuple(int(part) for part in version.split(".")) >= (3, 11)


def _forks(version: str) -> bool:
    """Whether chunks compile in forks of a long-lived compiler (`bytecode_forks.py`)."""
    return _settled(version) and os.name == "posix"


def _fixed_chunks(
    sources: list[tuple[str, bytes]], import_dir: str, *, split_large: bool
) -> list[list[tuple[str, bytes]]]:
    """What each compiler process compiles: decided by the sources alone, never by the cores.

    One chunk per top-level package (or top-level module). With `split_large`, a package of more
    than `SPLIT_ABOVE` bytes of source is cut along its subpackages and modules, in sorted order,
    into runs of at most that much (a larger subpackage is cut the same way in turn): numpy alone
    is 8.5 MB of a typical layer's 13 MB of source, and as one chunk it kept one core busy long
    after the others had finished. Sources stay sorted within each chunk.
    """
    relative = [(source[0][len(import_dir) :].split("/"), source) for source in sources]
    return _split(relative, 0, split_large=split_large)


def _split(
    items: list[tuple[list[str], tuple[str, bytes]]], depth: int, *, split_large: bool
) -> list[list[tuple[str, bytes]]]:
    """`items` (sorted, all inside one directory `depth` levels below the import root) cut into
    chunks by their entry at `depth`; at the top level one chunk per entry."""
    groups: dict[str, list[tuple[list[str], tuple[str, bytes]]]] = {}
    for parts, source in items:
        groups.setdefault(parts[depth], []).append((parts, source))
    chunks: list[list[tuple[str, bytes]]] = []
    run: list[tuple[str, bytes]] = []
    for group in groups.values():
        group_sources = [source for _, source in group]
        size = _source_bytes(group_sources)
        is_package = len(group[0][0]) > depth + 1
        if split_large and size > SPLIT_ABOVE and is_package:
            if run:
                chunks.append(run)
                run = []
            chunks += _split(group, depth + 1, split_large=split_large)
        elif depth == 0:
            chunks.append(group_sources)
        else:
            if run and _source_bytes(run) + size > SPLIT_ABOVE:
                chunks.append(run)
                run = []
            run += group_sources
    if run:
        chunks.append(run)
    return chunks


def _source_bytes(chunk: Sequence[tuple[str, bytes]]) -> int:
    return sum(len(source) for _, source in chunk)


def _compile_in_forks(
    python: str,
    version: str,
    chunks: list[list[tuple[str, bytes]]],
    workers: int,
    *,
    started: StartedCompiler | None = None,
) -> list[list[tuple[bool, bytes]]]:
    """Each chunk compiled in a fork of one of `workers` long-lived compilers, started once each
    (the first thread's is `started`, when one was started ahead).

    A fork starts from its compiler as it was before any chunk, just as a fresh process would, so
    which compiler takes which chunk changes nothing; it only saves each chunk the interpreter's
    start-up (some 30 ms: a layer has a few dozen chunks). For the same reason, fewer compilers
    than cores for a little source (`ONE_COMPILER_BELOW`) change only how long it takes.
    """
    if not chunks:
        return []
    in_use: list[_ForkingCompiler] = []
    ahead = [started] if isinstance(started, _ForkingCompiler) else []
    taking = threading.Lock()
    local = threading.local()

    def compile_chunk(chunk: list[tuple[str, bytes]]) -> list[tuple[bool, bytes]]:
        compiler: _ForkingCompiler | None = getattr(local, "compiler", None)
        if compiler is None:
            with taking:
                compiler = ahead.pop() if ahead else None
            compiler = local.compiler = compiler or _ForkingCompiler(python, version)
            in_use.append(compiler)
        return compiler.compile(chunk)

    if sum(_source_bytes(chunk) for chunk in chunks) < ONE_COMPILER_BELOW:
        workers = 1
    try:
        if workers <= 1 or len(chunks) <= 1:
            return [compile_chunk(chunk) for chunk in chunks]
        with ThreadPoolExecutor(min(workers, len(chunks)), thread_name_prefix="hatch-lambda-pyc") as pool:
            return list(pool.map(compile_chunk, chunks))
    finally:
        for compiler in in_use:
            compiler.close()


class _ForkingCompiler:
    """One `bytecode_forks.py` process: a chunk in, its records out, one chunk at a time.

    Started when made; its first chunk waits for it to say it has started, so whatever runs in
    between overlaps the interpreter's start-up.
    """

    def __init__(self, python: str, version: str) -> None:
        self.python = python
        self.version = version
        # A file, not a pipe: nothing reads it until something failed, and a full pipe would block.
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - open until `close`
        self._errors_written = ""
        self._ready = False
        try:
            self._process = _start_compiler_process(python, _FORK_SERVER, version, self._errors)
        except BytecodeCompilerError:
            self._errors.close()
            raise

    def compile(self, sources: list[tuple[str, bytes]]) -> list[tuple[bool, bytes]]:
        if not self._ready:
            if self._read(len(_STARTED)) != _STARTED:
                self._fail(f"it is not a working CPython {self.version}")
            self._ready = True
        message = _chunk_input(sources)
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(_LENGTH.pack(len(message)) + message)
            self._process.stdin.flush()
        except OSError:
            self._fail(f"it stopped before compiling {sources[0][0]}")
        reply = self._read(_REPLY_HEADER.size)
        if len(reply) < _REPLY_HEADER.size:
            self._fail(f"it stopped while compiling {sources[0][0]}")
        exit_status, length = _REPLY_HEADER.unpack(reply)
        output = self._read(length)
        if not output.startswith(_STARTED):
            self._fail(f"it is not a working CPython {self.version}")
        return _checked_records(
            self.python,
            version=self.version,
            sources=sources,
            exit_status=exit_status,
            output=output[len(_STARTED) :],
            errors=self._errors_after_exit,
        )

    def close(self) -> None:
        """No more chunks: its input ends, and it exits. Nothing waits for the interpreter's
        teardown (some 5 ms) but a thread of its own: what it wrote matters only after a failure
        (`_finish`)."""
        if self._errors.closed:
            return
        self._end_input()
        self._errors.close()
        threading.Thread(
            target=_reap, args=(self._process,), name="hatch-lambda-pyc-exit", daemon=True
        ).start()

    def discard(self) -> None:
        """Stop it at once if it never compiled (started ahead for a compile that did not come)."""
        if self._ready or self._errors.closed:
            self.close()
            return
        self._process.kill()  # this compiler, started here, with nothing of it still wanted
        self._finish()  # at once, and without a thread: this may run at the interpreter's exit

    def _finish(self) -> None:
        """Close it and wait for it to exit: then what it wrote to its standard error is complete."""
        if self._errors.closed:
            return
        self._end_input()
        _reap(self._process)
        self._errors.seek(0)
        self._errors_written = self._errors.read().decode("utf-8", "replace")
        self._errors.close()

    def _end_input(self) -> None:
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def _errors_after_exit(self) -> str:
        self._finish()
        return self._errors_written

    def _read(self, size: int) -> bytes:
        assert self._process.stdout is not None
        return self._process.stdout.read(size)

    def _fail(self, problem: str) -> NoReturn:
        self._finish()
        raise BytecodeCompilerError(self.python, problem, self._errors_written)


def _start_compiler_process(
    python: str, script: Path, version: str, errors: IO[bytes] | int
) -> subprocess.Popen[bytes]:
    """`python` running one of the compiler scripts, its chunks on standard input, its records out."""
    try:
        return subprocess.Popen(
            [python, "-s", "-S", str(script), version],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=_pinned_environment(),
        )
    except (OSError, ValueError) as error:  # ValueError: a path with a NUL in it
        raise BytecodeCompilerError(python, f"it could not be run ({error})", "") from error


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()  # this compiler, started here, and stuck
        process.wait()


def _compile_in_subprocess(
    python: str,
    version: str,
    sources: list[tuple[str, bytes]],
    *,
    started: _FreshCompiler | None = None,
) -> list[tuple[bool, bytes]]:
    """(compiled, `.pyc` bytes or CPython's error message) for each (Lambda path, source), from a
    fresh process of its own (`started`, when one was started ahead for it)."""
    if not sources:
        return []
    return (started or _FreshCompiler(python, version)).compile(sources)


class _FreshCompiler:
    """One `bytecode_compiler.py` process, for one chunk.

    Started when made, it waits for its chunk on standard input having compiled nothing, so one
    started ahead compiles exactly what one started for the chunk would.
    """

    def __init__(self, python: str, version: str) -> None:
        self.python = python
        self.version = version
        self._process = _start_compiler_process(python, _COMPILER, version, subprocess.PIPE)
        self._used = False

    def compile(self, sources: list[tuple[str, bytes]]) -> list[tuple[bool, bytes]]:
        self._used = True
        stdout, stderr_bytes = self._process.communicate(_chunk_input(sources))
        stderr = stderr_bytes.decode("utf-8", "replace")
        if not stdout.startswith(_STARTED):
            raise BytecodeCompilerError(self.python, f"it is not a working CPython {self.version}", stderr)
        return _checked_records(
            self.python,
            version=self.version,
            sources=sources,
            exit_status=self._process.returncode,
            output=stdout[len(_STARTED) :],
            errors=lambda: stderr,
        )

    def discard(self) -> None:
        """Stop it if it never compiled (started ahead for a compile that did not come)."""
        if self._used:
            return
        self._used = True
        self._process.kill()  # this compiler, started here, with nothing of it still wanted
        self._process.communicate()


# A compiler process started before its first chunk is known (`start_compiler`).
StartedCompiler = Union[_ForkingCompiler, _FreshCompiler]


def start_compiler(python: str, python_version: tuple[int, int]) -> StartedCompiler:
    """A compiler for `compile_bytecode(..., started=)`, started now, so that the interpreter's
    start-up overlaps whatever the build does until its first chunk (reading the lock, building
    the wheel). It is the process that compile would have started for its first chunk, idle until
    then: the bytes are the same. `discard` it if no compile comes.
    """
    version = f"{python_version[0]}.{python_version[1]}"
    return _ForkingCompiler(python, version) if _forks(version) else _FreshCompiler(python, version)


def _chunk_input(sources: list[tuple[str, bytes]]) -> bytes:
    """What `bytecode_compiler.compile_chunk` reads: a count, then each Lambda path and source."""
    parts = [_LENGTH.pack(len(sources))]
    for dfile, source in sources:
        encoded = dfile.encode("utf-8")
        parts += [_LENGTH.pack(len(encoded)), encoded, _LENGTH.pack(len(source)), source]
    return b"".join(parts)


def _checked_records(
    python: str,
    *,
    version: str,
    sources: list[tuple[str, bytes]],
    exit_status: int,
    output: bytes,
    errors: Callable[[], str],
) -> list[tuple[bool, bytes]]:
    records = _read_records(output)
    if exit_status != 0 or len(records) != len(sources):
        at = sources[len(records)][0] if len(records) < len(sources) else "the end"
        problem = f"it exited with status {exit_status} while compiling {at}"
        raise BytecodeCompilerError(python, problem, errors())
    return records


def _read_records(stdout: bytes) -> list[tuple[bool, bytes]]:
    records = []
    offset = 0
    while offset + _RECORD_HEADER.size <= len(stdout):
        status, length = _RECORD_HEADER.unpack_from(stdout, offset)
        offset += _RECORD_HEADER.size
        if offset + length > len(stdout):
            break
        records.append((status == _COMPILED, stdout[offset : offset + length]))
        offset += length
    return records


def _pinned_environment() -> dict[str, str]:
    """This environment minus anything that changes how CPython starts, plus a fixed hash seed.

    Not `-I`/`-E`: they would ignore `PYTHONHASHSEED` too. The rest (PATH, LD_LIBRARY_PATH) stays
    for interpreters that need it to start.
    """
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    environment.update(PYTHONHASHSEED="0", PYTHONUTF8="1")
    return environment
