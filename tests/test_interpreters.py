"""Finding a CPython of a runtime's exact version: explicit setting, uv's discovery, pyenv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hatch_lambda.layer.uv import find_uv
from hatch_lambda.platform import interpreters
from hatch_lambda.platform.interpreters import (
    environment_variable_for,
    find_runtime_python,
    full_version,
    probe,
)
from hatch_lambda.platform.runtimes import runtime_named
from hatch_lambda.runtime.target_python import TargetPython, find_target_python, host_machine
from tests.helpers import missing_interpreter
from tests.wheelfactory import elf_shared_object

PYTHON312 = runtime_named("python3.12")
REAL_POPEN = subprocess.Popen


@pytest.fixture(autouse=True)
def own_cache(own_hatch_lambda_cache, monkeypatch):
    """Probes are remembered in this test's own cache (conftest), with no variable set that makes
    every probe ask again."""
    for name in (*interpreters._PRELOAD_VARIABLES, *interpreters._PATH_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    return own_hatch_lambda_cache


def pyenv_python(version: str) -> Path:
    found = sorted(
        Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"), "versions").glob(f"{version}.*")
    )
    if not found:
        missing_interpreter(f"pyenv CPython {version}")
    return found[-1] / "bin" / "python"


def test_the_explicit_variable_wins_when_it_runs_the_right_version(tmp_path, monkeypatch):
    assert PYTHON312 is not None
    real = pyenv_python("3.12")
    link = tmp_path / "my-python3.12"
    link.symlink_to(real)
    monkeypatch.setenv(environment_variable_for(PYTHON312), str(link))

    assert environment_variable_for(PYTHON312) == "HATCH_LAMBDA_PYTHON_3_12"
    assert find_runtime_python(PYTHON312, find_uv()) == str(link)


def test_an_interpreter_of_another_version_or_a_dead_shim_is_passed_over(tmp_path, monkeypatch):
    assert PYTHON312 is not None
    pyenv_python("3.12")
    # Like a pyenv shim for a version that is not selected: it exists and exits 127.
    shim = tmp_path / "python3.12"
    shim.write_text("#!/bin/sh\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv(environment_variable_for(PYTHON312), str(shim))
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")

    found = find_runtime_python(PYTHON312, find_uv())

    assert found is not None and found != str(shim)
    assert Path(found).resolve() != shim.resolve()


def test_nothing_found_for_a_version_this_machine_lacks(monkeypatch):
    runtime = runtime_named("python3.14")
    assert runtime is not None
    if find_runtime_python(runtime, find_uv()) is not None or shutil.which("python3.14"):
        pytest.skip("this machine has a CPython 3.14")
    monkeypatch.setenv(environment_variable_for(runtime), str(pyenv_python("3.12")))

    assert find_runtime_python(runtime, find_uv()) is None


def test_a_missing_interpreter_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true, so this fails rather than skips"):
        missing_interpreter("CPython 3.99")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"no CPython 3\.99 on this machine"):
        missing_interpreter("CPython 3.99")


def test_one_probe_of_the_runtime_cpython_answers_the_key_and_the_check(tmp_path, monkeypatch):
    """The layer cache key names the runtime CPython's `sys.version`; finding it already ran it once."""
    assert PYTHON312 is not None
    link = tmp_path / "python3.12-for-the-key"
    link.symlink_to(pyenv_python("3.12"))
    monkeypatch.setenv(environment_variable_for(PYTHON312), str(link))
    expected = subprocess.run(
        [str(link), "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert find_runtime_python(PYTHON312, find_uv()) == str(link)

    def no_second_start(*args, **kwargs):
        raise AssertionError(f"the interpreter was started again: {args}")

    monkeypatch.setattr(interpreters.subprocess, "Popen", no_second_start)
    assert full_version(str(link)) == expected
    assert expected.startswith("3.12.")
    # The handler check asks the same interpreter its machine and C library: the same probe's answer.
    if host_machine() == "x86_64":
        target = find_target_python(PYTHON312, "x86_64")
        assert isinstance(target, TargetPython), target
        assert target.command == (str(link),)


def counting_runs(monkeypatch, *, pause: float = 0.0) -> list[list[str]]:
    """Each interpreter the module starts from now on; `pause` holds each start open, so that
    threads asking at once really overlap."""
    started: list[list[str]] = []
    real_popen = subprocess.Popen

    def counting_popen(command, **options):
        started.append(command)
        time.sleep(pause)
        return real_popen(command, **options)

    monkeypatch.setattr(interpreters.subprocess, "Popen", counting_popen)
    return started


def test_threads_asking_about_one_interpreter_at_once_start_it_once(tmp_path, monkeypatch):
    link = tmp_path / "python3.12-asked-at-once"
    link.symlink_to(pyenv_python("3.12"))
    started = counting_runs(monkeypatch, pause=0.2)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: probe((str(link),)), range(8)))

    assert len(started) == 1
    assert all(answer == answers[0] for answer in answers)
    assert isinstance(answers[0], interpreters.InterpreterFacts)
    assert answers[0].version == "3.12"


def test_a_search_begun_in_another_thread_is_joined_not_repeated(tmp_path, monkeypatch):
    assert PYTHON312 is not None
    link = tmp_path / "python3.12-searched-early"
    link.symlink_to(pyenv_python("3.12"))
    monkeypatch.setenv(environment_variable_for(PYTHON312), str(link))
    started = counting_runs(monkeypatch, pause=0.2)

    early = threading.Thread(target=find_runtime_python, args=(PYTHON312, find_uv()))
    early.start()
    time.sleep(0.05)  # the thread is probing the interpreter now
    found = find_runtime_python(PYTHON312, find_uv())
    early.join()

    assert found == str(link)
    assert started == [[str(link), "-c", interpreters._PROBE]]


PLATFORM_PROBE = """\
import json, os, platform, sys
libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
print(json.dumps([platform.python_implementation(), "%d.%d" % sys.version_info[:2], platform.machine(), libc,
                  sys.version]))
"""


@pytest.mark.parametrize("minor", ["3.9", "3.12", "3.13"])
def test_the_probe_says_what_platform_and_json_would_have(minor):
    """It reads `os` and `sys` alone, for speed; the answers (and so the layer cache key) are the same."""
    python = str(pyenv_python(minor))
    expected = json.loads(
        subprocess.run([python, "-c", PLATFORM_PROBE], capture_output=True, text=True, check=True).stdout
    )

    facts = probe((python,))

    assert isinstance(facts, interpreters.InterpreterFacts)
    assert [facts.implementation, facts.version, facts.machine, facts.libc, facts.full_version] == expected


def test_an_interpreter_that_does_not_run_says_how_it_failed(tmp_path):
    shim = tmp_path / "python3.12"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)

    answer = probe((str(shim),))

    assert answer == "it exited with status 127: pyenv: python3.12: command not found"
    assert probe((str(tmp_path / "missing"),)).startswith("[Errno 2]")


# A probe remembered across builds ---------------------------------------------------------------


def a_new_build() -> None:
    """What a new build process starts from: nothing asked in memory yet."""
    interpreters._PROBED.clear()


def copied_interpreter(prefix: Path) -> Path:
    """A copy of pyenv's CPython 3.12 executable in `prefix/bin` (its libpython is found by its
    absolute run path), with a `libpython` file of its own in `prefix/lib`."""
    real = pyenv_python("3.12").resolve()
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib").mkdir()
    shutil.copy2(real, prefix / "bin" / "python3.12")
    (prefix / "lib" / "libpython3.12.so.1.0").write_bytes(b"stand-in")
    return prefix / "bin" / "python3.12"


def test_a_second_build_knows_the_interpreter_without_starting_it(tmp_path, monkeypatch):
    python = copied_interpreter(tmp_path / "py")
    first = probe((str(python),))
    assert isinstance(first, interpreters.InterpreterFacts), first
    a_new_build()
    started = counting_runs(monkeypatch)

    assert probe((str(python),)) == first
    assert started == []


@pytest.mark.parametrize("change", ["executable replaced", "executable rewritten", "libpython replaced"])
def test_a_changed_interpreter_or_libpython_is_asked_again(tmp_path, monkeypatch, change):
    python = copied_interpreter(tmp_path / "py")
    assert isinstance(probe((str(python),)), interpreters.InterpreterFacts)
    if change == "executable replaced":  # an upgrade writes a new file
        shutil.copy2(python, tmp_path / "new")
        os.replace(tmp_path / "new", python)
    elif change == "executable rewritten":  # in place, size and mtime kept: the ctime moves
        before = python.stat()
        python.write_bytes(python.read_bytes())
        os.utime(python, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        (tmp_path / "new").write_bytes(b"another build")
        os.replace(tmp_path / "new", tmp_path / "py" / "lib" / "libpython3.12.so.1.0")
    a_new_build()
    started = counting_runs(monkeypatch)

    assert isinstance(probe((str(python),)), interpreters.InterpreterFacts)
    assert started == [[str(python), "-c", interpreters._PROBE]]


def test_under_ld_preload_the_interpreter_is_asked_every_time(tmp_path, monkeypatch):
    python = copied_interpreter(tmp_path / "py")
    assert isinstance(probe((str(python),)), interpreters.InterpreterFacts)
    monkeypatch.setenv("LD_PRELOAD", str(tmp_path / "elsewhere.so"))
    started = counting_runs(monkeypatch)
    for _ in range(2):
        a_new_build()
        assert isinstance(probe((str(python),)), interpreters.InterpreterFacts)
    assert len(started) == 2


def test_a_library_path_and_the_libpython_in_it_are_part_of_the_key(tmp_path, monkeypatch):
    """`actions/setup-python` sets LD_LIBRARY_PATH: remembered under it, asked again when it changes."""
    python = copied_interpreter(tmp_path / "py")
    libraries = tmp_path / "libraries"
    libraries.mkdir()
    monkeypatch.setenv("LD_LIBRARY_PATH", str(libraries))
    started = counting_runs(monkeypatch)
    for _ in range(2):
        a_new_build()
        assert isinstance(probe((str(python),)), interpreters.InterpreterFacts)
    assert len(started) == 1  # asked under the new path once, then remembered
    real_library = next((pyenv_python("3.12").resolve().parent.parent / "lib").glob("libpython3.12.so*"))
    (libraries / "libpython3.12.so.1.0").symlink_to(real_library)  # another libpython, found first
    a_new_build()
    assert isinstance(probe((str(python),)), interpreters.InterpreterFacts)
    assert len(started) == 2
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    a_new_build()
    assert isinstance(probe((str(python),)), interpreters.InterpreterFacts)
    assert len(started) == 3


def test_a_virtual_environments_copy_of_an_interpreter_is_asked_every_time(tmp_path, monkeypatch):
    """`python -m venv --copies` (and Windows' launchers) load the base interpreter's libpython,
    which nothing beside the copy shows."""
    python = copied_interpreter(tmp_path / "venv")
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /somewhere\n")
    started = counting_runs(monkeypatch)
    for _ in range(2):
        a_new_build()
        assert isinstance(probe((str(python),)), interpreters.InterpreterFacts)
    assert len(started) == 2


def test_a_script_or_a_command_with_arguments_is_asked_every_time(tmp_path, monkeypatch):
    """pyenv's shims are scripts, and an emulator's command line runs what it is given."""
    real = str(pyenv_python("3.12"))
    script = tmp_path / "python3.12"
    script.write_text(f'#!/bin/sh\nexec "{real}" "$@"\n')
    script.chmod(0o755)
    for command in [(str(script),), (real, "-X", "utf8")]:
        assert isinstance(probe(command), interpreters.InterpreterFacts)
        a_new_build()
        started = counting_runs(monkeypatch)
        assert isinstance(probe(command), interpreters.InterpreterFacts)
        assert len(started) == 1
        monkeypatch.setattr(interpreters.subprocess, "Popen", REAL_POPEN)


def test_an_other_machine_elf_is_never_taken_as_native(tmp_path):
    """An arm64 CPython that binfmt_misc hands to an emulator: its C library is not this machine's."""
    other = "aarch64" if host_machine() == "x86_64" else "x86_64"
    foreign = tmp_path / "python3.12"
    foreign.write_bytes(elf_shared_object(other))
    native = tmp_path / "native" / "python3.12"
    native.parent.mkdir()
    native.write_bytes(elf_shared_object(host_machine()))

    assert not interpreters._may_remember(foreign)
    assert interpreters._may_remember(native)
    assert not interpreters._may_remember(tmp_path / "missing")


def test_a_remembered_answer_that_is_not_a_probe_is_asked_again(tmp_path, monkeypatch, own_cache):
    python = copied_interpreter(tmp_path / "py")
    first = probe((str(python),))
    for record in (own_cache / "file-facts-v1").glob("python-probe-*"):
        record.write_text("garbage")
    a_new_build()
    started = counting_runs(monkeypatch)

    assert probe((str(python),)) == first
    assert len(started) == 1
    a_new_build()  # and the record is whole again
    assert probe((str(python),)) == first
    assert len(started) == 1
