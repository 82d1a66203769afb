"""What only an executable's bytes decide (`uv --version`) is asked once per binary, not per build."""

from __future__ import annotations

import os
import stat

import pytest

from hatch_lambda.files.file_facts import remembered
from hatch_lambda.layer import uv


def fake_uv(path, version: str, calls):
    path.write_text(f'#!/bin/sh\necho run >> "{calls}"\necho "uv {version}"\n', encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def builds(tmp_path, monkeypatch):
    """Each call is a new build process: nothing is remembered in memory."""
    monkeypatch.setenv("HATCH_LAMBDA_CACHE_DIR", str(tmp_path / "cache"))
    calls = tmp_path / "calls"
    binary = fake_uv(tmp_path / "uv", "9.9.9", calls)
    monkeypatch.setenv("HATCH_UV", str(binary))

    def build() -> str:
        uv.uv_version.cache_clear()
        return uv.uv_version()

    build.binary = binary  # type: ignore[attr-defined]
    build.starts = lambda: len(calls.read_text().splitlines()) if calls.exists() else 0  # type: ignore[attr-defined]
    build.calls = calls  # type: ignore[attr-defined]
    yield build
    uv.uv_version.cache_clear()


def test_a_second_build_starts_no_uv(builds):
    assert builds() == builds() == "uv 9.9.9"
    assert builds.starts() == 1


def test_an_upgraded_uv_is_asked_again(builds, tmp_path):
    builds()
    upgrade = fake_uv(tmp_path / "uv.new", "10.0.0", builds.calls)
    os.replace(upgrade, builds.binary)  # how installers replace a binary: a new file

    assert builds() == "uv 10.0.0"
    assert builds.starts() == 2


def test_a_uv_rewritten_in_place_with_its_old_size_and_mtime_is_asked_again(builds):
    builds()
    before = builds.binary.stat()
    text = builds.binary.read_text().replace("9.9.9", "9.9.8")
    builds.binary.write_text(text)  # same size; the status-change time moves and cannot be set back
    os.utime(builds.binary, ns=(before.st_atime_ns, before.st_mtime_ns))

    assert builds() == "uv 9.9.8"


def test_a_uv_that_prints_nothing_is_not_remembered(builds):
    builds.binary.write_text(f'#!/bin/sh\necho run >> "{builds.calls}"\nexit 3\n')

    assert builds() == builds() == "unknown (exit 3)"
    assert builds.starts() == 2


def test_an_unwritable_cache_still_answers(tmp_path):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache directory would be")
    binary = tmp_path / "tool"
    binary.write_text("")
    asked = []

    def ask() -> str:
        asked.append(1)
        return "answer"

    assert remembered(blocked, "kind", binary, ask) == remembered(blocked, "kind", binary, ask) == "answer"
    assert len(asked) == 2
