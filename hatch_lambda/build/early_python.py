"""The runtime's CPython, found and started in the background from the start of a release.

A build that compiles bytecode or checks a handler needs the runtime's CPython: found (each
candidate is started once to ask what it is; the layer cache key names its `sys.version`), then,
for `compile-bytecode`, started again as the compiler. Each start is an interpreter's start-up
(10-30 ms, more under an emulator) that the build used to wait for in turn. Begun as the build
starts (`LambdaBuilder.build`), in a thread, they run while hatchling prepares, the release's modules
load, the lock is read and the project's wheel is built, and the
first step that needs an answer joins the work in flight: `interpreters` asks each question once
per process, whichever thread asks it.

This only warms caches and leaves a compiler process waiting, idle until its first chunk: an error
met here is left for the build's own call to meet again and report, and every artifact's bytes are
the same with it or without it.
"""

from __future__ import annotations

import atexit
import os
import threading

from hatch_lambda.build.config import LambdaBuilderConfig
from hatch_lambda.errors import LambdaBuildError, UvNotFoundError
from hatch_lambda.layer.uv import find_uv
from hatch_lambda.platform.interpreters import environment_variable_for, find_runtime_python
from hatch_lambda.runtime.bytecode import StartedCompiler, start_compiler

# At most one compiler waits per interpreter, for whichever target compiles with it first: a
# workspace plans every member before it builds any source zip, and a few dozen idle interpreters
# would help none of them. Any compiler of that interpreter compiles the same bytes.
_WAITING: dict[tuple[str, tuple[int, int]], StartedCompiler] = {}
_WAITING_GUARD = threading.Lock()
_EXITING = False  # the process is ending: a search still going starts no compiler


class EarlyRuntimePython:
    """The runtime's CPython for one target, found (and, to compile the source zip, started) in a thread."""

    def __init__(self, config: LambdaBuilderConfig, *, compiles_source: bool) -> None:
        self._config = config
        self._compiles_source = compiles_source and config.compile_bytecode
        # Here, not in the thread: uv's `find_uv_bin` reads `sysconfig`, whose first read is not
        # thread-safe before CPython 3.13 (another thread sees its variables half filled in).
        try:
            self._uv: str | None = find_uv()
        except UvNotFoundError:
            self._uv = None  # `compile-bytecode` will say so; pyenv's versions still serve the check
        self._thread = threading.Thread(target=self._warm_up, name="hatch-lambda-runtime-python", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def take_compiler(self, python: str) -> StartedCompiler | None:
        """A compiler of `python` for the runtime's version, already started, if one waits: once
        this target's search has ended (it may be starting one)."""
        self._thread.join()
        with _WAITING_GUARD:
            return _WAITING.pop((python, self._config.runtime.python_version), None)

    def _warm_up(self) -> None:
        try:
            # The compiler first: it starts while the interpreter is probed, and the check's
            # search then has its answer.
            if self._config.compile_bytecode:
                self._find_and_start()
            if self._config.handlers:
                self._find_for_the_check()
        except (LambdaBuildError, OSError, ValueError):  # ValueError: a path with a NUL in it
            pass  # the build's own search meets it again, and says what to do

    def _find_for_the_check(self) -> None:
        # Loaded only for a target that checks a handler, as `build.checks` loads it.
        from hatch_lambda.runtime.target_python import find_target_python  # noqa: PLC0415

        find_target_python(self._config.runtime, self._config.architecture)

    def _find_and_start(self) -> None:
        """Find the runtime's CPython; leave a compiler of it waiting for the source zip, if it is wanted.

        The interpreter that `HATCH_LAMBDA_PYTHON_3_X` names is nearly always the one found, so
        its compiler starts at once, while it is probed: a wrong guess is stopped.
        """
        runtime = self._config.runtime
        named = os.environ.get(environment_variable_for(runtime)) if self._compiles_source else None
        guessed = _start_waiting(named, runtime.python_version) if named else False
        found = None
        try:
            found = find_runtime_python(runtime, self._uv)
        finally:
            if guessed and named is not None and found != named:
                _stop_waiting(named, runtime.python_version)  # a wrong guess, or no answer at all
        if self._compiles_source and found is not None and found != named:
            _start_waiting(found, runtime.python_version)


def _start_waiting(python: str, python_version: tuple[int, int]) -> bool:
    """Start a compiler of `python` unless one waits already; whether this call started it."""
    key = (python, python_version)
    with _WAITING_GUARD:
        if key in _WAITING or _EXITING:
            return False
        try:
            _WAITING[key] = start_compiler(python, python_version)
        except LambdaBuildError:
            return False  # it does not run: the search passes it over, or the compile says why
        return True


def _stop_waiting(python: str, python_version: tuple[int, int]) -> None:
    with _WAITING_GUARD:
        compiler = _WAITING.pop((python, python_version), None)
    if compiler is not None:
        compiler.discard()


def _stop_every_waiting() -> None:
    """Stop every compiler still waiting: no build took it (it failed first, or built no source zip)."""
    with _WAITING_GUARD:
        waiting = list(_WAITING.values())
        _WAITING.clear()
    for compiler in waiting:
        compiler.discard()


@atexit.register
def _at_exit() -> None:
    """The process ends: what waits is stopped, and a search still going starts nothing more."""
    global _EXITING  # noqa: PLW0603 - one flag for the process's exit
    with _WAITING_GUARD:
        _EXITING = True
    _stop_every_waiting()
