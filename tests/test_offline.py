"""The suite's offline setup, proved piece by piece with uv itself: uv 0.13 reads no `UV_NO_INDEX`
variable, so `no-index` comes from a uv config file (`UV_CONFIG_FILE`), the network is off with
`UV_OFFLINE`, and the wheelhouse is `UV_FIND_LINKS`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hatch_lambda.layer.uv import find_uv

UNREACHABLE_INDEX = "http://127.0.0.1:9/simple"  # port 9 (discard): nothing answers
NO_RETRIES = {"UV_HTTP_RETRIES": "0"}  # fail at once when uv does ask it


def compile_requirement(tmp_path: Path, requirement: str, environment: dict[str, str]) -> str:
    (tmp_path / "requirements.in").write_text(requirement + "\n")
    completed = subprocess.run(
        [find_uv(), "pip", "compile", "requirements.in", "--no-header", "--python-version", "3.12"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return f"exit {completed.returncode}\n{completed.stdout}{completed.stderr}"


def test_the_wheelhouse_is_what_uv_sees(tmp_path, offline_environment):
    assert "hlfix-pure==1.0" in compile_requirement(tmp_path, "hlfix-pure", offline_environment)


def test_the_config_file_turns_the_index_off(tmp_path, offline_environment):
    # Without UV_OFFLINE, and with an index that would fail loudly if uv asked it.
    environment = {**offline_environment, "UV_INDEX_URL": UNREACHABLE_INDEX, **NO_RETRIES}
    environment.pop("UV_OFFLINE")

    said = compile_requirement(tmp_path, "six", environment)

    assert said.startswith("exit 1"), said
    assert "127.0.0.1" not in said, said


def test_uv_reads_no_UV_NO_INDEX_variable(tmp_path, offline_environment):
    environment = {**offline_environment, "UV_NO_INDEX": "1", "UV_INDEX_URL": UNREACHABLE_INDEX, **NO_RETRIES}
    for name in ("UV_OFFLINE", "UV_CONFIG_FILE"):
        environment.pop(name)

    said = compile_requirement(tmp_path, "six", environment)

    assert said.startswith("exit"), said
    assert "127.0.0.1" in said, said  # uv went to the index: the variable did nothing
