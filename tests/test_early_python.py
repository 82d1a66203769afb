"""The runtime's CPython found, and the source zip's compiler started, in the background of a release."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest

from hatch_lambda.build import early_python
from hatch_lambda.build.early_python import EarlyRuntimePython
from hatch_lambda.build.target import needs_runtime_python
from hatch_lambda.files.file_facts import FOLDER
from hatch_lambda.files.installed_tree import files_to_pack
from hatch_lambda.layer.uv import find_uv
from hatch_lambda.platform import interpreters
from hatch_lambda.platform.interpreters import environment_variable_for, find_runtime_python
from hatch_lambda.platform.runtimes import runtime_named
from hatch_lambda.runtime import bytecode
from hatch_lambda.runtime.bytecode import FUNCTION_ROOT, NoRuntimePythonError, compile_bytecode
from hatch_lambda.runtime.target_python import find_target_python
from tests.helpers import output_of, require_cpython, run_hatchling, write_project

PYTHON312 = runtime_named("python3.12")


def config(*, compile_bytecode: bool = False, handlers: tuple[str, ...] = ()) -> SimpleNamespace:
    """The settings `EarlyRuntimePython` reads, as `LambdaBuilderConfig` gives them."""
    return SimpleNamespace(
        runtime=PYTHON312, architecture="x86_64", compile_bytecode=compile_bytecode, handlers=list(handlers)
    )


@pytest.fixture
def own_python312(tmp_path, monkeypatch) -> str:
    """A path to CPython 3.12 no earlier test has probed, named by `HATCH_LAMBDA_PYTHON_3_12`."""
    assert PYTHON312 is not None
    link = tmp_path / "python3.12-of-this-test"
    link.symlink_to(require_cpython("3.12"))
    monkeypatch.setenv(environment_variable_for(PYTHON312), str(link))
    return str(link)


def counting_starts(monkeypatch) -> list[list[str]]:
    """Every process started from now on (probes, compilers), by its command line."""
    started: list[list[str]] = []
    real_popen = subprocess.Popen

    def counting_popen(command, **options):
        started.append([str(word) for word in command])
        return real_popen(command, **options)

    monkeypatch.setattr(subprocess, "Popen", counting_popen)
    return started


@pytest.fixture(autouse=True)
def _no_compiler_left_waiting():
    yield
    early_python._stop_every_waiting()


def test_a_compile_bytecode_build_starts_the_runtime_python_once_for_its_probe_and_once_to_compile(
    tmp_path, monkeypatch, own_python312, own_hatch_lambda_cache
):
    # The first build on this machine: finding 3.12 above probed it, and remembered the answer.
    shutil.rmtree(own_hatch_lambda_cache / FOLDER, ignore_errors=True)
    started = counting_starts(monkeypatch)
    early = EarlyRuntimePython(config(compile_bytecode=True), compiles_source=True)
    early.start()

    assert PYTHON312 is not None
    found = find_runtime_python(PYTHON312, find_uv())  # the build's own search joins the thread's
    compiler = early.take_compiler(found)
    root = tmp_path / "app"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("VALUE = {None, 'a'}\n")
    compiled = compile_bytecode(
        files_to_pack(root, ""),
        python=found,
        python_version=(3, 12),
        import_root="",
        extracted_to=FUNCTION_ROOT,
        started=compiler,
    )

    assert found == own_python312
    assert compiler is not None and compiler.python == own_python312
    assert [command[0] for command in started] == [own_python312, own_python312]
    assert sorted(command[-2].rsplit("/", 1)[-1] for command in started) == ["-c", "bytecode_forks.py"]
    assert [file.archive_path for file in compiled.pyc_files] == ["app/__pycache__/__init__.cpython-312.pyc"]
    assert early.take_compiler(found) is None  # once


def test_a_later_build_knows_the_runtime_python_and_starts_only_its_compiler(monkeypatch, own_python312):
    """The probe is remembered across builds (`platform.interpreters`): the next build's cache key
    waits for no interpreter start, and only the compiler is started."""
    assert PYTHON312 is not None
    assert find_runtime_python(PYTHON312, find_uv()) == own_python312  # the first build
    interpreters._PROBED.clear()
    interpreters._FOUND.clear()  # a new build process
    started = counting_starts(monkeypatch)
    early = EarlyRuntimePython(config(compile_bytecode=True), compiles_source=True)
    early.start()

    found = find_runtime_python(PYTHON312, find_uv())
    compiler = early.take_compiler(found)

    assert found == own_python312
    assert compiler is not None
    assert [command[-2].rsplit("/", 1)[-1] for command in started] == ["bytecode_forks.py"]
    compiler.discard()


def test_a_guess_of_the_wrong_version_is_stopped_and_the_found_one_started(tmp_path, monkeypatch):
    assert PYTHON312 is not None
    python311 = tmp_path / "python-named-for-3.12-but-3.11"
    python311.symlink_to(require_cpython("3.11"))
    monkeypatch.setenv(environment_variable_for(PYTHON312), str(python311))
    guessed: list[bytecode.StartedCompiler] = []
    real_start = early_python.start_compiler

    def recording_start(python, python_version):
        guessed.append(real_start(python, python_version))
        return guessed[-1]

    monkeypatch.setattr(early_python, "start_compiler", recording_start)
    early = EarlyRuntimePython(config(compile_bytecode=True), compiles_source=True)
    early.start()
    found = find_runtime_python(PYTHON312, find_uv())
    compiler = early.take_compiler(found)

    assert compiler is not None
    assert found != str(python311)
    assert [started.python for started in guessed] == [str(python311), found]
    assert guessed[0]._process.wait(timeout=10) is not None  # stopped, never used
    assert early.take_compiler(str(python311)) is None
    compiler.discard()


def test_a_compiler_nobody_takes_is_stopped_at_exit(own_python312):
    early = EarlyRuntimePython(config(compile_bytecode=True), compiles_source=True)
    early.start()
    early._thread.join()
    compiler = early_python._WAITING[(own_python312, (3, 12))]

    early_python._stop_every_waiting()  # what `atexit` runs

    assert compiler._process.wait(timeout=10) is not None
    assert early.take_compiler(own_python312) is None


def test_one_compiler_waits_per_interpreter_whoever_takes_it(monkeypatch, own_python312):
    starts = counting_starts(monkeypatch)
    members = [EarlyRuntimePython(config(compile_bytecode=True), compiles_source=True) for _ in range(4)]
    for member in members:
        member.start()

    taken = [member.take_compiler(own_python312) for member in members]

    assert sum(1 for command in starts if command[-2].endswith("bytecode_forks.py")) == 1
    assert taken[0] is not None
    assert taken[1:] == [None, None, None]  # a workspace's other members start theirs when they compile
    taken[0].discard()


def test_without_the_source_zip_to_compile_it_only_finds(monkeypatch, own_python312):
    started = counting_starts(monkeypatch)
    early = EarlyRuntimePython(config(compile_bytecode=True), compiles_source=False)
    early.start()

    assert early.take_compiler(own_python312) is None
    assert [command[0] for command in started] == [own_python312]


def test_a_handler_check_finds_its_interpreter_early_and_asks_it_once(monkeypatch, own_python312):
    assert PYTHON312 is not None
    early = EarlyRuntimePython(config(handlers=("app.handler.handle",)), compiles_source=True)
    early.start()
    early._thread.join()

    def no_second_start(*args, **kwargs):
        raise AssertionError(f"the interpreter was started again: {args}")

    monkeypatch.setattr(interpreters.subprocess, "Popen", no_second_start)
    target = find_target_python(PYTHON312, "x86_64")
    assert not isinstance(target, str), target
    assert target.command == (own_python312,)
    assert early.take_compiler(own_python312) is None


def test_a_search_that_fails_is_left_for_the_build_to_report(monkeypatch, own_python312):
    failures: list[object] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)

    def failing_search(runtime, uv):
        raise NoRuntimePythonError(runtime)

    monkeypatch.setattr(early_python, "find_runtime_python", failing_search)
    early = EarlyRuntimePython(config(compile_bytecode=True), compiles_source=True)
    early.start()

    assert early.take_compiler(own_python312) is None  # the guess was stopped with the search
    assert failures == []
    assert early_python._WAITING == {}


def test_nothing_is_started_for_a_build_that_needs_no_runtime_python():
    assert not needs_runtime_python(config())
    assert needs_runtime_python(config(compile_bytecode=True))
    assert needs_runtime_python(config(handlers=("app.handler.handle",)))


def test_a_failed_build_leaves_no_probe_of_a_hanging_interpreter_running(tmp_path, offline_environment):
    """The runtime's CPython is probed in a daemon thread: a build that fails before it needs the
    answer exits while the probe runs, and the probe (and the compiler started on a guess) must not
    outlive it."""
    pids = tmp_path / "pids"
    hanging = tmp_path / "python3.12"
    hanging.write_text(f"#!/bin/sh\necho $$ >> {pids}\nexec sleep 120\n")
    hanging.chmod(0o755)
    root = write_project(
        tmp_path / "app",
        {
            "pyproject.toml": """
                [project]
                name = "early-app"
                version = "1.0"
                dependencies = ["hlfix-does-not-exist"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                compile-bytecode = true
            """,
            "early_app/__init__.py": "VALUE = 1\n",
        },
    )
    environment = {**offline_environment, "HATCH_LAMBDA_PYTHON_3_12": str(hanging)}
    completed = run_hatchling(root, "lambda", environment=environment)
    assert completed.returncode != 0, output_of(completed)
    time.sleep(0.5)
    alive = []
    for pid in {int(line) for line in pids.read_text().split()} if pids.exists() else set():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
        os.kill(pid, signal.SIGKILL)  # started by this test
    assert alive == []
