"""What only an executable's bytes decide (`uv --version`) is asked once per binary, not per build,
and never remembered for a binary that runs whatever is selected today (a shim)."""

from __future__ import annotations

import os
import shutil
import stat
import time

import pytest

from hatch_lambda.files import file_facts
from hatch_lambda.files.file_facts import FOLDER, remembered
from hatch_lambda.layer import uv

REAL_UV = uv.find_uv()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HATCH_LAMBDA_CACHE_DIR", str(tmp_path / "cache"))
    uv.uv_version.cache_clear()
    yield tmp_path / "cache"
    uv.uv_version.cache_clear()


def a_build(binary) -> str:
    """A new build process: nothing remembered in memory, uv named by HATCH_UV."""
    os.environ["HATCH_UV"] = str(binary)
    try:
        uv.uv_version.cache_clear()
        return uv.uv_version()
    finally:
        del os.environ["HATCH_UV"]


def facts(cache) -> list:
    return sorted((cache / FOLDER).glob("*")) if (cache / FOLDER).is_dir() else []


def native_uv(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REAL_UV, path)
    return path


def test_a_second_build_reads_the_remembered_version_and_starts_no_uv(cache, tmp_path):
    binary = native_uv(tmp_path / "bin" / "uv")
    real = a_build(binary)
    assert real.startswith("uv ")
    (fact,) = facts(cache)
    fact.write_text("uv 0.0.0-remembered")  # what the next build says shows it never ran uv

    assert a_build(binary) == "uv 0.0.0-remembered"


def test_an_upgraded_uv_is_asked_again(cache, tmp_path):
    binary = native_uv(tmp_path / "bin" / "uv")
    real = a_build(binary)
    for fact in facts(cache):
        fact.write_text("uv 0.0.0-remembered")
    upgrade = native_uv(tmp_path / "new" / "uv")
    os.replace(upgrade, binary)  # how installers replace a binary: a new file

    assert a_build(binary) == real


def test_a_uv_rewritten_in_place_with_its_old_size_and_mtime_is_asked_again(cache, tmp_path):
    binary = native_uv(tmp_path / "bin" / "uv")
    real = a_build(binary)
    for fact in facts(cache):
        fact.write_text("uv 0.0.0-remembered")
    before = binary.stat()
    binary.write_bytes(binary.read_bytes())  # the status-change time moves and cannot be set back
    os.utime(binary, ns=(before.st_atime_ns, before.st_mtime_ns))

    assert a_build(binary) == real


def test_a_script_shim_is_asked_every_time(cache, tmp_path):
    """asdf's shims and wrappers are scripts: what they run is chosen outside their own file."""
    choice = tmp_path / "selected"
    for version in ("0.5.0", "0.6.0"):
        fake = tmp_path / f"uv-{version}"
        fake.write_text(f"#!/bin/sh\necho 'uv {version}'\n")
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    shim = tmp_path / "shim" / "uv"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{tmp_path}/uv-$(cat {choice})" "$@"\n')
    shim.chmod(0o755)

    choice.write_text("0.5.0")
    assert a_build(shim) == "uv 0.5.0"
    choice.write_text("0.6.0")  # `asdf set uv 0.6.0`
    assert a_build(shim) == "uv 0.6.0"
    assert facts(cache) == []


def test_a_native_binary_under_another_name_is_asked_every_time(cache, tmp_path):
    """mise's shims are links to the `mise` binary, which runs the uv selected today."""
    multiplexer = native_uv(tmp_path / "bin" / "mise")
    link = tmp_path / "shims" / "uv"
    link.parent.mkdir()
    link.symlink_to(multiplexer)

    assert a_build(link).startswith("uv ")
    assert facts(cache) == []


def test_a_uv_that_prints_nothing_is_not_remembered(cache, tmp_path):
    """A native binary named `uv` that answers nothing (coreutils' `test` prints nothing for one
    argument): the key says so, and the next build asks again, never reading a remembered non-answer."""
    silent = tmp_path / "bin" / "uv"
    silent.parent.mkdir()
    shutil.copy2(shutil.which("test") or "/usr/bin/test", silent)

    assert a_build(silent) == a_build(silent) == "unknown (exit 0)"
    assert facts(cache) == []


def test_an_unwritable_cache_still_answers(tmp_path):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache directory would be")
    binary = native_uv(tmp_path / "bin" / "uv")
    asked = []

    def ask() -> str:
        asked.append(1)
        return "answer"

    first = remembered(blocked, "kind", binary, ask, names=frozenset({"uv"}))
    assert first == remembered(blocked, "kind", binary, ask, names=frozenset({"uv"})) == "answer"
    assert len(asked) == 2


def test_facts_are_bounded_the_least_recently_written_going_first(cache, tmp_path, monkeypatch):
    """Every Hatch environment brings a uv of its own, and each leaves a fact: past `KEPT_FACTS`,
    writing one removes the oldest, and a binary whose fact went is asked again, once."""
    monkeypatch.setattr(file_facts, "KEPT_FACTS", 3)
    native = shutil.which("true")
    assert native is not None
    asked: list[str] = []

    def version_of(binary):
        def ask() -> str:
            asked.append(binary.parent.parent.name)
            return f"version of {binary}"

        return remembered(cache, "version", binary, ask, names=frozenset({"true"}))

    now = time.time()
    binaries = []
    for index in range(5):  # five environments' binaries, each asked for the first time, an hour apart
        binary = tmp_path / f"env-{index}" / "bin" / "true"
        binary.parent.mkdir(parents=True)
        shutil.copy2(native, binary)  # a native executable of its own: its own inode and path
        before = set(facts(cache))
        assert version_of(binary) == f"version of {binary}"
        (written,) = set(facts(cache)) - before
        os.utime(written, (now - 3600 * (5 - index),) * 2)
        binaries.append((binary, written))
    assert asked == [f"env-{index}" for index in range(5)]

    assert set(facts(cache)) == {written for _, written in binaries[-3:]}
    assert version_of(binaries[-1][0]) == f"version of {binaries[-1][0]}"
    assert asked[5:] == []  # still remembered: not asked
    assert version_of(binaries[0][0]) == f"version of {binaries[0][0]}"
    assert asked[5:] == ["env-0"]  # its fact went: asked again
    assert version_of(binaries[0][0]) == f"version of {binaries[0][0]}"
    assert asked[5:] == ["env-0"]  # and remembered again
    assert len(facts(cache)) == 3
