"""Finds a CPython of an exact minor version on this machine (to build sdists for the runtime).

Order: `HATCH_LAMBDA_PYTHON_3_X` (an explicit interpreter for that version), uv's discovery
(managed Pythons, PATH; no downloads), then pyenv's versions directory. pyenv's shims on PATH exit
127 for versions not selected with `pyenv global`, and `uv python find` can stop at such a shim,
so every candidate is run to confirm it works and has the right version. The answer is
remembered across builds for a native interpreter whose executable and `libpython` have not changed
(`files.file_facts`): a later build starts no interpreter to learn it again.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.platform.runtimes import Runtime

# One probe answers every question asked of an interpreter (is it the runtime's CPython, for which
# machine and C library, which patch release): each interpreter is started once per process for it.
# Only `os` and `sys`, already loaded at start-up: `json` and `platform` (their `re` and `enum`)
# were more than half of the probe's time, and under an emulator every import is translated too.
# NUL-separated: `sys.version` holds a newline on many builds.
_PROBE = """\
import os, sys
try:
    libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
except (AttributeError, ValueError, OSError):
    libc = ""
version = "%d.%d" % sys.version_info[:2]
names = {"cpython": "CPython", "pypy": "PyPy"}
try:
    implementation = names.get(sys.implementation.name, sys.implementation.name)
    machine = os.uname()[4]
except AttributeError:  # Windows has no uname, Python 2 no sys.implementation: ask `platform`
    import platform
    implementation, machine = platform.python_implementation(), platform.machine()
sys.stdout.write("\\0".join([implementation, version, machine, libc, sys.version]))
"""
_PROBE_FIELDS = 5


@dataclass(frozen=True)
class InterpreterFacts:
    implementation: str  # "CPython", as `platform.python_implementation()` names it
    version: str  # "3.12"
    machine: str  # platform.machine(): "x86_64", "aarch64"
    libc: str  # "glibc 2.36", or "" where there is none to name
    full_version: str  # sys.version: patch releases can compile other bytecode


_PROBED: dict[tuple[str, ...], InterpreterFacts] = {}
_FOUND: dict[tuple[str, str | None, str | None, str | None], str | None] = {}
# Each question is asked by one thread at a time: a thread that asks what another is already asking
# (a release finds the runtime's CPython in the background, `build.early_python`) waits for its
# answer instead of starting the interpreter again.
_ASKING: dict[object, threading.Lock] = {}
_ASKING_GUARD = threading.Lock()


def _one_at_a_time(question: object) -> threading.Lock:
    with _ASKING_GUARD:
        return _ASKING.setdefault(question, threading.Lock())


def probe(command: Sequence[str], *, timeout: float = 30) -> InterpreterFacts | str:
    """What the interpreter `command` runs is, or why it could not say; asked once per process,
    and remembered across builds for a native interpreter that has not changed since (see
    `_remembered_probe`). A failure is not remembered: the next caller asks again."""
    key = tuple(command)
    with _one_at_a_time(("probe", key)):
        known = _PROBED.get(key)
        if known is not None:
            return known
        failure = "it gave no answer"

        def ask() -> str | None:
            nonlocal failure
            try:
                completed = _run_stoppable([*key, "-c", _PROBE], timeout=timeout)
            except (OSError, ValueError, subprocess.TimeoutExpired) as error:
                failure = str(error)
                return None
            if completed.returncode != 0 or not _is_probe_answer(completed.stdout):
                said = (completed.stderr.strip() or completed.stdout.strip()).splitlines()
                failure = f"it exited with status {completed.returncode}" + (f": {said[-1]}" if said else "")
                return None
            return completed.stdout

        answer = _remembered_probe(key, ask)
        fields = answer.split("\0") if answer is not None else []
        if len(fields) != _PROBE_FIELDS:
            return failure
        facts = InterpreterFacts(*fields)
        _PROBED[key] = facts
        return facts


def _remembered_probe(command: tuple[str, ...], ask: Callable[[], str | None]) -> str | None:
    """`ask()`, or its answer for this very interpreter in an earlier build.

    Starting an interpreter to ask what it is costs 15-30 ms, and a build that compiles bytecode
    waits for the answer (its `sys.version` is in the layer cache key). The answer is decided by
    the executable, the `libpython` it is linked against and this machine's C library: it is kept
    under all three (`files.file_facts`), and only for a native CPython executable named as one:
    never a script such as pyenv's shims, a command run under an emulator, or a virtual
    environment's copy or launcher. A library path (`LD_LIBRARY_PATH`) is part of the key, with the
    `libpython` files in it; under `LD_PRELOAD` (or its macOS form) it is asked every time.
    """
    if len(command) != 1 or any(os.environ.get(name) for name in _PRELOAD_VARIABLES):
        return ask()
    if not _may_remember(Path(command[0])):
        return ask()
    # Loaded here: only a build that needs the runtime's CPython asks.
    from hatch_lambda.files.cache_root import cache_directory  # noqa: PLC0415
    from hatch_lambda.files.file_facts import remembered  # noqa: PLC0415

    # A library path set (`actions/setup-python` sets one) is part of the key, and so is every
    # `libpython` in it (`_libpython`).
    host = "\0".join([_host_c_library(), *(f"{name}={os.environ.get(name, '')}" for name in _PATH_VARIABLES)])
    return remembered(
        cache_directory(),
        "python-probe",
        Path(command[0]),
        ask,
        names=_PYTHON_NAMES,
        loads=_libpython,
        host=host,
        valid=_is_probe_answer,
    )


def _is_probe_answer(text: str) -> bool:
    return len(text.split("\0")) == _PROBE_FIELDS


# Variables that put other libraries into any process: an interpreter started under them is asked.
_PRELOAD_VARIABLES = ("LD_PRELOAD", "DYLD_INSERT_LIBRARIES")
# Variables that say where libraries are looked for first: part of the key, with what they hold.
_PATH_VARIABLES = ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH")
# What a CPython executable is called (`python3.12`, `python3.13t`, `python.exe`): a copy or link
# under another name may be a multiplexer that runs whichever version is selected today.
_PYTHON_NAMES = frozenset(
    f"python{version}{suffix}"
    for version in ("", "3", *(f"3.{minor}{free}" for minor in range(30) for free in ("", "t")))
    for suffix in ("", ".exe")
)


def _libpython(executable: Path) -> list[Path]:
    """The shared libraries of Python an interpreter of this layout loads: `libpython3.X.so` in its
    prefix's `lib` (pyenv, builds configured with `--enable-shared`), the framework's `Python` on
    macOS, `python3X.dll` beside it on Windows."""
    prefix = executable.parent.parent
    searched = [
        *(
            Path(entry)
            for name in _PATH_VARIABLES
            for entry in os.environ.get(name, "").split(os.pathsep)
            if entry
        ),
        prefix / "lib",
        prefix / "lib64",
        *sorted((prefix / "lib").glob("*-linux-gnu*")),  # Debian's multiarch directories
    ]
    found = [
        *(library for directory in searched for library in sorted(directory.glob("libpython*"))),
        *sorted(executable.parent.glob("python3*.dll")),
    ]
    if (prefix / "Python").is_file():
        found.append(prefix / "Python")
    return found


def _may_remember(executable: Path) -> bool:
    """Whether what `executable` says it is may be kept by its own file: never for a virtual
    environment's copy or launcher (a `pyvenv.cfg` beside or above it: it loads its base
    interpreter's `libpython`, which its own directory does not show), nor an ELF file for another
    machine (an arm64 CPython that `binfmt_misc` hands to an emulator, with C libraries of its own),
    nor one that cannot be read."""
    from hatch_lambda.platform.binaries import binary_format, read_elf  # noqa: PLC0415

    try:
        real = executable.resolve()
        if any((directory / "pyvenv.cfg").exists() for directory in (real.parent, real.parent.parent)):
            return False
        with real.open("rb") as stream:
            if binary_format(stream.read(64)) != "elf":
                return True  # Mach-O or PE: `machine` names Linux's machines alone
        return read_elf(real).machine == os.uname().machine
    except (OSError, RuntimeError, LambdaBuildError):  # RuntimeError: a loop of symbolic links
        return False


def _host_c_library() -> str:
    """This machine's C library release ("glibc 2.36"), which the probe reports too."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        return ""


def _run_stoppable(command: list[str], *, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """`subprocess.run`, with the child known to `_stop_running` while it runs.

    Builds search in a background thread (`build.early_python`): a build that fails first exits
    while a probe may still run, and a daemon thread never gets to kill its child on timeout, so a
    hanging interpreter would outlive the build."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        with _RUNNING_GUARD:
            if _EXITING:
                process.kill()  # started by a background search after the build's exit began
            _RUNNING.add(process)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        finally:
            with _RUNNING_GUARD:
                _RUNNING.discard(process)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


_RUNNING: set[subprocess.Popen[str]] = set()
_RUNNING_GUARD = threading.Lock()
_EXITING = False


@atexit.register
def _stop_running() -> None:
    """No probe or search outlives the build that started it, nor starts once its exit has begun."""
    global _EXITING  # noqa: PLW0603 - one flag for the process's exit
    with _RUNNING_GUARD:
        _EXITING = True
        running = list(_RUNNING)
    for process in running:
        with suppress(OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(timeout=5)  # reaped here: the thread that started it will not get to


def environment_variable_for(runtime: Runtime) -> str:
    return "HATCH_LAMBDA_PYTHON_" + runtime.python_version_text.replace(".", "_")


def find_runtime_python(runtime: Runtime, uv: str | None) -> str | None:
    """The first candidate that runs and is CPython `runtime`'s version; found once per process
    for the same settings (a build asks for it for the check, bytecode and the cache key)."""
    version = runtime.python_version_text
    explicit = os.environ.get(environment_variable_for(runtime))
    return _found(version, uv, explicit, os.environ.get("PYENV_ROOT"))


def _found(version: str, uv: str | None, explicit: str | None, pyenv_root: str | None) -> str | None:
    key = (version, uv, explicit, pyenv_root)
    with _one_at_a_time(("find", key)):  # then each candidate's probe: always in this order
        if key not in _FOUND:
            candidates = _candidates(version, uv, explicit, pyenv_root)
            _FOUND[key] = next((found for found in candidates if _is_cpython(found, version)), None)
        return _FOUND[key]


def _candidates(version: str, uv: str | None, explicit: str | None, pyenv_root: str | None) -> Iterator[str]:
    """In order, each computed only if the ones before it did not do: the explicit setting is
    probed before uv's discovery (which takes a while on a machine with pyenv shims) ever runs."""
    if explicit:
        yield explicit
    if uv:
        found = _run_stoppable(
            [uv, "python", "find", "--no-python-downloads", "--no-project", f"cpython@{version}"]
        )
        if found.returncode == 0 and found.stdout.strip():
            yield found.stdout.strip()
    root = Path(pyenv_root or Path.home() / ".pyenv")
    for path in sorted((root / "versions").glob(f"{version}.*"), reverse=True):
        yield str(path / "bin" / "python")


def _is_cpython(candidate: str, version: str) -> bool:
    facts = probe((candidate,))
    return isinstance(facts, InterpreterFacts) and (facts.implementation, facts.version) == (
        "CPython",
        version,
    )


def full_version(python: str) -> str:
    """`sys.version` of `python` (bytecode can differ between patch releases, so the layer cache
    key names it), from the probe that found it: no second interpreter start."""
    facts = probe((python,))
    if isinstance(facts, str):
        message = f"Cannot ask `{python}` which CPython it is: {facts}"
        raise LambdaBuildError(message)
    return facts.full_version
