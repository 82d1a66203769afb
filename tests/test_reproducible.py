"""Same inputs, same bytes: from another checkout path, another umask, other file mtimes."""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

from tests.helpers import output_of, run_hatchling, write_project

PROJECT_FILES = {
    "pyproject.toml": """
        [project]
        name = "repro-app"
        version = "2.0"
        dependencies = ["hlfix-pure", "hlfix-tool"]

        [tool.hatch.build.targets.lambda]
        runtime = "python3.12"
    """,
    "repro_app/__init__.py": "",
    "repro_app/lambda_function.py": "def lambda_handler(event, context):\n    return event\n",
    "repro_app/run.sh": "#!/bin/sh\necho hi\n",
    "repro_app/data/table.csv": "a,b\n1,2\n",
}
ARTIFACTS = ("repro_app-2.0-lambda-source.zip", "repro_app-2.0-lambda-layer-python3.12-x86_64.zip")


def build_copy(root: Path, environment: dict[str, str], *, umask: int, mtime: float) -> Path:
    previous = os.umask(umask)
    try:
        write_project(root, PROJECT_FILES)
        (root / "repro_app" / "run.sh").chmod(0o777 & ~umask | 0o100)
        for path in root.rglob("*"):
            os.utime(path, (mtime, mtime))
        completed = run_hatchling(root, "lambda", environment=environment)
    finally:
        os.umask(previous)
    assert completed.returncode == 0, output_of(completed)
    (root / "build.log").write_text(output_of(completed))
    return root / "dist"


def test_two_builds_in_different_places_give_identical_zips(tmp_path, offline_environment):
    # Each build has its own empty layer cache: otherwise the second layer is the first one's copy,
    # and the comparison could not fail.
    first = build_copy(
        tmp_path / "one" / "checkout",
        {**offline_environment, "HATCH_LAMBDA_CACHE_DIR": str(tmp_path / "cache-one")},
        umask=0o022,
        mtime=1_600_000_000,
    )
    second = build_copy(
        tmp_path / "elsewhere",
        {**offline_environment, "HATCH_LAMBDA_CACHE_DIR": str(tmp_path / "cache-two")},
        umask=0o077,
        mtime=time.time(),
    )

    assert "Layer from the cache" not in (second.parent / "build.log").read_text()
    for name in ARTIFACTS:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_entries_are_sorted_dated_and_normalised(tmp_path, offline_environment):
    dist = build_copy(tmp_path / "app", offline_environment, umask=0o077, mtime=time.time())

    for name in ARTIFACTS:
        with zipfile.ZipFile(dist / name) as opened:
            infos = opened.infolist()
        assert [info.filename for info in infos] == sorted(info.filename for info in infos)
        assert {info.date_time for info in infos} == {(2020, 2, 2, 0, 0, 0)}  # hatchling's default
        assert {info.create_system for info in infos} == {3}
        assert {info.compress_type for info in infos} == {zipfile.ZIP_DEFLATED}
        assert {(info.external_attr >> 16) & 0o7777 for info in infos} <= {0o644, 0o755}
    with zipfile.ZipFile(dist / ARTIFACTS[0]) as opened:
        assert (opened.getinfo("repro_app/run.sh").external_attr >> 16) & 0o777 == 0o755
        assert (opened.getinfo("repro_app/__init__.py").external_attr >> 16) & 0o777 == 0o644


def test_source_date_epoch_sets_the_one_timestamp(tmp_path, offline_environment):
    environment = {**offline_environment, "SOURCE_DATE_EPOCH": "1700000000"}
    dist = build_copy(tmp_path / "app", environment, umask=0o022, mtime=time.time())

    for name in ARTIFACTS:
        with zipfile.ZipFile(dist / name) as opened:
            assert {info.date_time for info in opened.infolist()} == {(2023, 11, 14, 22, 13, 20)}


def test_reproducible_false_keeps_real_mtimes(tmp_path, offline_environment):
    root = tmp_path / "app"
    write_project(root, PROJECT_FILES)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "reproducible = false\n")
    stamp = 1_650_000_000  # 2022-04-15 05:20:00 UTC
    os.utime(root / "repro_app" / "lambda_function.py", (stamp, stamp))

    completed = run_hatchling(root, "lambda:source", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    with zipfile.ZipFile(root / "dist" / ARTIFACTS[0]) as opened:
        dated = opened.getinfo("repro_app/lambda_function.py").date_time
    assert dated == time.gmtime(stamp)[:6]
