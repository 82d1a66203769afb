"""One build, one transaction: the second build of a project's life, and every way a build can fail.

Each test builds a project the way a user does (a real `hatchling build -t lambda` subprocess),
changes one thing, builds again, and checks what a user would see in `dist/`: the release that the
successful build wrote, or, after a failure, exactly what was there before (hidden files included).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_lambda.errors import PublishError
from hatch_lambda.publish.release import read_release
from tests.helpers import output_of, run_hatchling, write_project


def orders_project(
    root: Path, *, dependencies: list[str], handler_imports: list[str], **options: str
) -> Path:
    """A function shaped like a real one: a handler module that imports its dependencies at init."""
    settings = "\n".join(f"{key.replace('_', '-')} = {value}" for key, value in options.items())
    imports = "".join(f"import {name}\n" for name in handler_imports)
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "orders"
                version = "0.1.0"
                requires-python = ">=3.12"
                dependencies = {json.dumps(dependencies)}

                [tool.hatch.build.targets.wheel]
                packages = ["orders"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                handler = "orders.app.handler"
                {settings}
            """,
            "orders/__init__.py": "",
            "orders/app.py": imports + "\ndef handler(event, context):\n    return {'ok': True}\n",
        },
    )


def dist_snapshot(root: Path) -> dict[str, bytes | None]:
    """Every entry of dist/, hidden ones too: a file's bytes, None for a directory."""
    dist = root / "dist"
    if not dist.exists():
        return {}
    return {
        str(path.relative_to(dist)): (None if path.is_dir() else path.read_bytes())
        for path in sorted(dist.rglob("*"))
    }


def manifest_of(root: Path) -> dict:
    return json.loads((root / "dist" / "orders-0.1.0-lambda.json").read_text())


def build(root: Path, environment: dict[str, str], *targets: str, extra: tuple[str, ...] = ()):
    return run_hatchling(root, *(targets or ("lambda",)), environment=environment, extra=extra)


def assert_no_tool_traceback(output: str) -> None:
    """The handler's own traceback (with Lambda's paths) is the message; the tool's never is."""
    assert not re.search(r'File "[^"]*(hatch_lambda|hatchling)[/\\]', output), output


def assert_failed_cleanly(completed, before: dict[str, bytes | None], root: Path, step: str) -> None:
    output = output_of(completed)
    assert completed.returncode != 0, output
    assert_no_tool_traceback(output)
    assert f"The build failed while {step}" in output, output
    assert "was changed" in output
    assert dist_snapshot(root) == before


def test_adding_a_dependency_and_importing_it_with_a_handler_builds(tmp_path, offline_environment):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    first = build(root, offline_environment)
    assert first.returncode == 0, output_of(first)

    orders_project(
        root, dependencies=["hlfix-pure", "hlfix-extra"], handler_imports=["hlfix_pure", "hlfix_extra"]
    )
    second = build(root, offline_environment)

    assert second.returncode == 0, output_of(second)
    assert "Checked handler orders.app.handler" in second.stderr + second.stdout
    manifest = manifest_of(root)
    assert manifest["deployable"] is True
    assert manifest["handler_check"]["status"] == "passed"
    names = [package["name"] for package in manifest["artifacts"]["layer"]["packages"]]
    assert "hlfix-extra" in names
    release = read_release(root / "dist" / "orders-0.1.0-lambda.json")
    assert release.layer is not None
    with zipfile.ZipFile(release.layer.path) as layer:
        assert "python/hlfix_extra.py" in layer.namelist()


@pytest.mark.parametrize(
    ("change", "step"),
    [
        pytest.param({"dependencies": ["hlfix-pure", "hlfix-does-not-exist"]}, "planning", id="unresolvable"),
        pytest.param({"other_layers_size": "262144000"}, "building the source zip", id="size-limit"),
        pytest.param(
            {"handler_imports": ["hlfix_pure", "json", "hlfix_missing_module"]},
            "checking the handler",
            id="handler",
        ),
    ],
)
def test_a_failed_build_after_a_good_one_leaves_dist_as_it_was(tmp_path, offline_environment, change, step):
    good = {"dependencies": ["hlfix-pure"], "handler_imports": ["hlfix_pure"]}
    root = orders_project(tmp_path / "orders", **good)
    assert build(root, offline_environment).returncode == 0
    before = dist_snapshot(root)
    good_release = read_release(root / "dist" / "orders-0.1.0-lambda.json")

    orders_project(root, **{**good, **change})
    (root / "orders" / "app.py").write_text((root / "orders" / "app.py").read_text() + "\nVERSION = 2\n")
    failed = build(root, offline_environment)

    assert_failed_cleanly(failed, before, root, step)
    # What is left is the good build's release, still publishable as it was.
    assert read_release(root / "dist" / "orders-0.1.0-lambda.json") == good_release


def test_a_failed_first_build_leaves_nothing_to_deploy(tmp_path, offline_environment):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_nope"])

    failed = build(root, offline_environment)

    assert_failed_cleanly(failed, {}, root, "checking the handler")


def test_three_cache_hit_rebuilds_leave_exactly_the_four_artifacts(tmp_path, offline_environment):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    for round_ in range(4):
        (root / "orders" / "app.py").write_text(
            f"import hlfix_pure\nROUND = {round_}\ndef handler(e, c):\n    return 1\n"
        )
        completed = build(root, offline_environment)
        assert completed.returncode == 0, output_of(completed)
    assert "Layer from the cache" in output_of(completed)
    assert sorted(dist_snapshot(root)) == [
        "orders-0.1.0-lambda-layer-python3.12-x86_64.zip",
        "orders-0.1.0-lambda-source.zip",
        "orders-0.1.0-lambda.cdx.json",
        "orders-0.1.0-lambda.json",
    ]


def test_the_placed_layer_is_a_copy_the_cache_cannot_change(tmp_path, offline_environment, layer_cache):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    assert build(root, offline_environment).returncode == 0
    assert build(root, offline_environment).returncode == 0  # placed from the cache
    layer = root / "dist" / "orders-0.1.0-lambda-layer-python3.12-x86_64.zip"
    placed = layer.read_bytes()

    (entry,) = sorted(layer_cache.rglob("*.zip"))
    assert entry.stat().st_ino != layer.stat().st_ino
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.write_bytes(bytes(data))

    assert layer.read_bytes() == placed
    read_release(root / "dist" / "orders-0.1.0-lambda.json")  # still matches its manifest


LAYER_NAME = "orders-0.1.0-lambda-layer-python3.12-x86_64.zip"


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def test_a_code_change_keeps_the_committed_layer_untouched(tmp_path, offline_environment, layer_cache):
    """The everyday rebuild: the layer in dist/ already holds the cached bytes, so it is left as it
    is (same file, same mtime), and the release still matches its manifest."""
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    assert build(root, offline_environment).returncode == 0
    layer = root / "dist" / LAYER_NAME
    first = layer.stat()
    cold = layer.read_bytes()

    (root / "orders" / "app.py").write_text(
        "import hlfix_pure\nVALUE = 2\ndef handler(e, c):\n    return 2\n"
    )
    completed = build(root, offline_environment)

    assert completed.returncode == 0, output_of(completed)
    assert f"{LAYER_NAME} already holds it and is kept as it is" in output_of(completed)
    kept = layer.stat()
    assert (kept.st_ino, kept.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert layer.read_bytes() == cold
    release = read_release(root / "dist" / "orders-0.1.0-lambda.json")  # hashes every file again
    assert release.layer is not None and release.source is not None
    assert release.layer.path == layer
    with zipfile.ZipFile(release.source.path) as source:
        assert b"VALUE = 2" in source.read("orders/app.py")


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(lambda data: flipped(data, len(data) // 2), id="one byte"),
        pytest.param(lambda data: data + b"\0\0\0\0", id="grown"),
        pytest.param(lambda data: data[:-1], id="truncated"),
    ],
)
def test_a_committed_layer_altered_since_is_replaced_by_the_cached_bytes(
    tmp_path, offline_environment, layer_cache, alter
):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    assert build(root, offline_environment).returncode == 0
    layer = root / "dist" / LAYER_NAME
    cold = layer.read_bytes()
    layer.write_bytes(alter(cold))

    completed = build(root, offline_environment)

    assert completed.returncode == 0, output_of(completed)
    assert "Layer from the cache" in output_of(completed)
    assert "kept as it is" not in output_of(completed)
    assert layer.read_bytes() == cold
    read_release(root / "dist" / "orders-0.1.0-lambda.json")


def test_a_committed_layer_that_is_a_symbolic_link_is_replaced_by_a_file(
    tmp_path, offline_environment, layer_cache
):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    assert build(root, offline_environment).returncode == 0
    layer = root / "dist" / LAYER_NAME
    elsewhere = tmp_path / "elsewhere.zip"
    elsewhere.write_bytes(layer.read_bytes())
    layer.unlink()
    layer.symlink_to(elsewhere)

    completed = build(root, offline_environment)

    assert completed.returncode == 0, output_of(completed)
    assert "kept as it is" not in output_of(completed)
    assert not layer.is_symlink()
    assert layer.read_bytes() == elsewhere.read_bytes()


def test_clean_never_removes_the_layer_it_kept(tmp_path, offline_environment, layer_cache):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    assert build(root, offline_environment).returncode == 0
    stale_layer = root / "dist" / "orders-0.1.0-lambda-layer-python3.11-x86_64.zip"
    stale_layer.write_bytes(b"an older runtime's layer")

    cleaned = build(root, offline_environment, extra=("-c",))

    assert cleaned.returncode == 0, output_of(cleaned)
    output = output_of(cleaned)
    assert "kept as it is" in output
    assert f"Removed {stale_layer.name}" in output
    assert f"Removed {LAYER_NAME}" not in output
    assert not stale_layer.exists()
    read_release(root / "dist" / "orders-0.1.0-lambda.json")


def test_a_failed_build_after_a_kept_layer_leaves_dist_as_it_was(tmp_path, offline_environment, layer_cache):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    assert build(root, offline_environment).returncode == 0
    before = dist_snapshot(root)
    orders_project(root, dependencies=["hlfix-pure"], handler_imports=["hlfix_nope"])

    assert_failed_cleanly(build(root, offline_environment), before, root, "checking the handler")


@contextlib.contextmanager
def tiny_file_system(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `path` (a full disk, for real); needs root, as CI and these machines have."""
    path.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_cache_that_cannot_store_only_warns(tmp_path, offline_environment):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    with tiny_file_system(tmp_path / "full-cache", "4k") as cache:
        environment = {**offline_environment, "HATCH_LAMBDA_CACHE_DIR": str(cache)}
        completed = build(root, environment)

        assert completed.returncode == 0, output_of(completed)
        assert "Could not keep the layer in the cache" in output_of(completed)
        assert_no_tool_traceback(output_of(completed))
        read_release(root / "dist" / "orders-0.1.0-lambda.json")


def test_a_full_disk_leaves_dist_as_it_was(tmp_path, offline_environment):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    with tiny_file_system(tmp_path / "out", "16m") as out:
        environment = {**offline_environment, "HATCH_BUILD_LOCATION": str(out)}
        assert build(root, environment).returncode == 0
        # Fill the disk, leaving less room than any new zip needs.
        free = os.statvfs(out).f_bavail * os.statvfs(out).f_frsize
        (out / "ballast.bin").write_bytes(b"\0" * (free - 2048))
        before = {path.name: path.read_bytes() for path in sorted(out.iterdir())}
        (root / "orders" / "app.py").write_text(
            "import hlfix_pure\nX = 2\ndef handler(e, c):\n    return 1\n"
        )

        failed = build(root, environment)

        output = output_of(failed)
        assert failed.returncode != 0, output
        assert "No space left on device" in output
        assert_no_tool_traceback(output)
        assert {path.name: path.read_bytes() for path in sorted(out.iterdir())} == before


def test_clean_in_a_shared_directory_removes_only_this_projects_artifacts(tmp_path, offline_environment):
    shared = tmp_path / "shared-dist"
    environment = {**offline_environment, "HATCH_BUILD_LOCATION": str(shared)}
    orders = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    other = write_project(
        tmp_path / "billing",
        {
            "pyproject.toml": """
                [project]
                name = "billing"
                version = "2.0"
                dependencies = ["hlfix-extra"]

                [tool.hatch.build.targets.wheel]
                packages = ["billing"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
            """,
            "billing/__init__.py": "",
        },
    )
    assert build(other, environment).returncode == 0
    assert build(orders, environment).returncode == 0
    (shared / "team-notes-lambda.json").write_text("{}")
    theirs = sorted(path.name for path in shared.iterdir() if not path.name.startswith("orders-"))

    cleaned = build(orders, environment, extra=("-c",))

    assert cleaned.returncode == 0, output_of(cleaned)
    assert sorted(path.name for path in shared.iterdir() if not path.name.startswith("orders-")) == theirs
    assert "billing-2.0-lambda.json" in theirs
    assert "team-notes-lambda.json" in theirs


def test_clean_removes_only_after_a_successful_build_and_says_what(tmp_path, offline_environment):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    assert build(root, offline_environment).returncode == 0
    stale_layer = root / "dist" / "orders-0.1.0-lambda-layer-python3.11-x86_64.zip"
    stale_layer.write_bytes(b"an older runtime's layer")
    before = dist_snapshot(root)

    orders_project(root, dependencies=["hlfix-pure"], handler_imports=["hlfix_nope"])
    assert_failed_cleanly(
        build(root, offline_environment, extra=("-c",)), before, root, "checking the handler"
    )

    orders_project(root, dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    cleaned = build(root, offline_environment, extra=("-c",))
    assert cleaned.returncode == 0, output_of(cleaned)
    assert f"Removed {stale_layer.name}" in output_of(cleaned)
    assert not stale_layer.exists()


def test_a_killed_build_leaves_nothing_the_next_build_keeps(tmp_path, offline_environment):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    dist = root / "dist"
    dist.mkdir()
    old_partial = dist / ".orders-0.1.0-lambda-source.zip.x1y2z3.partial"
    old_partial.write_bytes(b"left by an older hatch-lambda")
    # What kill -9 leaves in the temporary directory (uv's scratch files) stays in this test's own.
    killed_tmp = tmp_path / "tmp"
    killed_tmp.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "hatchling", "build", "-t", "lambda"],
        cwd=root,
        env={**offline_environment, "TMPDIR": str(killed_tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(dist.glob(".orders-0.1.0-lambda-build-*/scratch")):
            assert process.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert list(dist.glob(".orders-0.1.0-lambda-build-*"))  # what kill -9 left

    completed = build(root, offline_environment)

    assert completed.returncode == 0, output_of(completed)
    assert sorted(dist_snapshot(root)) == [
        "orders-0.1.0-lambda-layer-python3.12-x86_64.zip",
        "orders-0.1.0-lambda-source.zip",
        "orders-0.1.0-lambda.cdx.json",
        "orders-0.1.0-lambda.json",
    ]


def test_a_running_build_is_never_swept_by_another(tmp_path):
    from hatch_lambda.build.transaction import remove_abandoned_work, transaction  # noqa: PLC0415

    output = tmp_path / "dist"
    with transaction(output, "orders-0.1.0") as staging:
        staging.stage("orders-0.1.0-lambda-source.zip").write_bytes(b"zip")
        assert remove_abandoned_work(output, "orders-0.1.0") == []
        assert staging.work.exists()
    assert list(output.iterdir()) == []


def test_one_version_alone_pairs_only_with_a_zip_built_from_the_same_inputs(tmp_path, offline_environment):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    assert build(root, offline_environment).returncode == 0

    (root / "orders" / "app.py").write_text("import hlfix_pure\nX = 2\ndef handler(e, c):\n    return 1\n")
    same = build(root, offline_environment, "lambda:source")
    assert same.returncode == 0, output_of(same)
    assert "Checked handler orders.app.handler" in output_of(same)
    assert manifest_of(root)["deployable"] is True

    orders_project(
        root, dependencies=["hlfix-pure", "hlfix-extra"], handler_imports=["hlfix_pure", "hlfix_extra"]
    )
    stale = build(root, offline_environment, "lambda:source")

    assert stale.returncode == 0, output_of(stale)
    assert "stale pair" in output_of(stale)
    assert "run `hatch build -t lambda`" in output_of(stale)
    manifest = manifest_of(root)
    assert manifest["deployable"] is False
    assert manifest["handler_check"]["status"] == "skipped"
    with pytest.raises(PublishError, match="stale pair"):
        read_release(root / "dist" / "orders-0.1.0-lambda.json")

    rebuilt = build(root, offline_environment)
    assert rebuilt.returncode == 0, output_of(rebuilt)
    assert manifest_of(root)["deployable"] is True


def test_a_source_zip_alone_on_a_first_build_is_not_a_release(tmp_path, offline_environment):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])

    completed = build(root, offline_environment, "lambda:source")

    assert completed.returncode == 0, output_of(completed)
    manifest = manifest_of(root)
    assert "layer" not in manifest["artifacts"]
    assert manifest["deployable"] is False
    with pytest.raises(PublishError, match="no layer"):
        read_release(root / "dist" / "orders-0.1.0-lambda.json")


def test_publishing_refuses_a_manifest_its_files_do_not_match(tmp_path, offline_environment):
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    assert build(root, offline_environment).returncode == 0
    source = root / "dist" / "orders-0.1.0-lambda-source.zip"
    source.write_bytes(source.read_bytes() + b"\0")

    with pytest.raises(PublishError, match="changed after"):
        read_release(root / "dist" / "orders-0.1.0-lambda.json")


def test_no_dependencies_means_a_null_layer_and_a_release(tmp_path, offline_environment):
    root = orders_project(tmp_path / "orders", dependencies=[], handler_imports=["json"])

    completed = build(root, offline_environment)

    assert completed.returncode == 0, output_of(completed)
    manifest = manifest_of(root)
    assert manifest["artifacts"]["layer"] is None
    assert manifest["deployable"] is True
    assert read_release(root / "dist" / "orders-0.1.0-lambda.json").layer is None


def test_hooks_only_builds_nothing_and_reads_no_lambda_setting(tmp_path, offline_environment):
    """`--hooks-only` runs the build hooks alone: the target is never made, so even a setting that
    would stop a build (an unknown runtime) is not read, and dist/ stays as it was."""
    root = orders_project(tmp_path / "orders", dependencies=["hlfix-pure"], handler_imports=["hlfix_pure"])
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('runtime = "python3.12"', 'runtime = "python2.7"'))
    assert build(root, offline_environment).returncode != 0  # the setting stops a real build

    completed = build(root, offline_environment, extra=("--hooks-only",))

    assert completed.returncode == 0, output_of(completed)
    assert "python2.7" not in output_of(completed)
    assert dist_snapshot(root) == {}
