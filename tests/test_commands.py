"""`hatch-lambda build` (the target without Hatch) and `hatch-lambda lock` (a lock for the target)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import output_of, run_hatchling, run_in, write_project

HATCH_LAMBDA = [sys.executable, "-m", "hatch_lambda.cli"]


def project(root: Path, *, dependencies: str = '["hlfix-pure", "hlfix-extra"]', table: str = "") -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "cli-app"
                version = "1.0"
                requires-python = ">=3.12"
                dependencies = {dependencies}

                [tool.hatch.build.targets.wheel]
                packages = ["cli_app"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                {table}
            """,
            "cli_app/__init__.py": "VALUE = 1\n",
        },
    )


def artifacts(root: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((root / "dist").glob("*.zip"))}


def hatch_lambda(
    root: Path, environment: dict[str, str], *arguments: str
) -> subprocess.CompletedProcess[str]:
    return run_in(root, [*HATCH_LAMBDA, *arguments], environment)


def test_build_without_hatch_gives_hatchlings_bytes_and_lines(tmp_path, offline_environment):
    reference = project(tmp_path / "reference")
    ours = project(tmp_path / "ours")
    by_hatchling = run_hatchling(reference, "lambda", environment=offline_environment)
    assert by_hatchling.returncode == 0, output_of(by_hatchling)

    completed = hatch_lambda(ours, offline_environment, "build", "--no-isolation")

    assert completed.returncode == 0, output_of(completed)
    assert artifacts(ours) == artifacts(reference)
    assert "Wrote cli_app-1.0-lambda-source.zip" in output_of(completed)
    assert output_of(completed).count("\n") == output_of(by_hatchling).count("\n")


def test_build_versions_clean_and_directory_in_hatchs_spelling(tmp_path, offline_environment):
    root = project(tmp_path / "app")
    out = tmp_path / "elsewhere"

    source_only = hatch_lambda(root, offline_environment, "build", "--no-isolation", "-t", "source", str(out))

    assert source_only.returncode == 0, output_of(source_only)
    assert sorted(path.name for path in out.iterdir()) == [
        "cli_app-1.0-lambda-source.zip",
        "cli_app-1.0-lambda.cdx.json",
        "cli_app-1.0-lambda.json",
    ]
    both = hatch_lambda(
        root,
        offline_environment,
        "build",
        "--no-isolation",
        "-c",
        "-t",
        "lambda:layer",
        "-t",
        "source",
        str(out),
    )
    assert both.returncode == 0, output_of(both)
    assert "cli_app-1.0-lambda-layer-python3.12-x86_64.zip" in {path.name for path in out.iterdir()}

    wrong = hatch_lambda(root, offline_environment, "build", "-t", "wheel")
    assert wrong.returncode == 2
    assert "Unknown target `wheel`" in wrong.stderr


def test_lock_then_a_locked_offline_build_gives_the_resolved_layer(tmp_path, offline_environment):
    resolved = project(tmp_path / "resolved")
    locked = project(tmp_path / "locked")
    first = run_hatchling(
        resolved,
        "lambda",
        environment={**offline_environment, "HATCH_LAMBDA_CACHE_DIR": str(tmp_path / "c1")},
    )
    assert first.returncode == 0, output_of(first)

    written = hatch_lambda(locked, offline_environment, "lock")
    assert written.returncode == 0, output_of(written)
    assert (
        "Locked 3 packages for python3.12 x86_64 (x86_64-manylinux_2_34) into pylock.lambda.toml"
        in written.stdout
    )
    assert 'Set `lock = "pylock.lambda.toml"`' in written.stdout
    pyproject = locked / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'runtime = "python3.12"', 'runtime = "python3.12"\nlock = "pylock.lambda.toml"'
        )
    )

    second = run_hatchling(
        locked, "lambda", environment={**offline_environment, "HATCH_LAMBDA_CACHE_DIR": str(tmp_path / "c2")}
    )

    assert second.returncode == 0, output_of(second)
    layer = "cli_app-1.0-lambda-layer-python3.12-x86_64.zip"
    assert artifacts(locked)[layer] == artifacts(resolved)[layer]


def test_lock_check_fails_when_the_project_moved_on(tmp_path, offline_environment):
    root = project(tmp_path / "app")
    assert hatch_lambda(root, offline_environment, "lock").returncode == 0

    fits = hatch_lambda(root, offline_environment, "lock", "--check")
    assert fits.returncode == 0, output_of(fits)
    assert "satisfies pyproject.toml (3 packages)" in fits.stdout

    before = (root / "pylock.lambda.toml").read_bytes()
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"hlfix-extra"]', '"hlfix-extra", "hlfix-heavy"]'))
    stale = hatch_lambda(root, offline_environment, "lock", "--check")

    assert stale.returncode == 1, output_of(stale)
    assert "has no pin for `hlfix-heavy`" in stale.stdout
    assert "run `hatch-lambda lock`" in stale.stdout
    assert (root / "pylock.lambda.toml").read_bytes() == before

    relocked = hatch_lambda(root, offline_environment, "lock")
    assert relocked.returncode == 0, output_of(relocked)
    assert hatch_lambda(root, offline_environment, "lock", "--check").returncode == 0


def test_lock_check_without_a_lock_says_what_to_run(tmp_path, offline_environment):
    root = project(tmp_path / "app")

    completed = hatch_lambda(root, offline_environment, "lock", "--check")

    assert completed.returncode == 1
    assert "pylock.lambda.toml does not exist: run `hatch-lambda lock`" in completed.stdout


@pytest.mark.e2e
@pytest.mark.network
def test_uvx_style_build_from_a_wheel_without_hatch_matches_hatch_build(
    tmp_path, hatch_environment, plugin_wheel_directory, wheelhouse
):
    """`uvx --from hatch_lambda-*.whl hatch-lambda build`: isolated, no Hatch anywhere, Hatch's bytes."""
    from hatch_lambda.layer.uv import find_uv  # noqa: PLC0415

    environment = {**hatch_environment, "UV_FIND_LINKS": f"{hatch_environment['UV_FIND_LINKS']},{wheelhouse}"}
    environment["UV_TOOL_DIR"] = str(tmp_path / "uv-tools")
    (wheel,) = plugin_wheel_directory.glob("*.whl")
    for_hatch = 'dependencies = ["hatch-lambda"]'  # Hatch installs the plugin for this target
    by_hatch_root = project(tmp_path / "by-hatch", table=for_hatch)
    by_uvx_root = project(tmp_path / "by-uvx", table=for_hatch)
    by_hatch = run_in(by_hatch_root, [sys.executable, "-m", "hatch", "build", "-t", "lambda"], environment)
    assert by_hatch.returncode == 0, output_of(by_hatch)

    by_uvx = run_in(
        by_uvx_root, [find_uv(), "tool", "run", "--from", str(wheel), "hatch-lambda", "build"], environment
    )

    assert by_uvx.returncode == 0, output_of(by_uvx)
    assert artifacts(by_uvx_root) == artifacts(by_hatch_root)


def test_lock_writes_the_lock_the_target_already_names(tmp_path, offline_environment):
    """A user sets `lock = "pylock.lambda.toml"` first, then runs `hatch-lambda lock`."""
    root = project(tmp_path / "app", table='lock = "pylock.lambda.toml"')

    written = hatch_lambda(root, offline_environment, "lock")

    assert written.returncode == 0, output_of(written)
    assert "Set `lock" not in written.stdout  # it is set already
    built = run_hatchling(root, "lambda", environment=offline_environment)
    assert built.returncode == 0, output_of(built)
