"""The source zip is what `pip install <project> --no-deps --target DIR` would install of the project's wheel.

Each test runs the real `hatchling build -t lambda:source` in a copy of a fixture project (none has
third-party dependencies, so no layer and no network are involved), then opens the zip the way a
user would: its names, its bytes, its entry metadata, and whether the handler imports from it.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers import (
    clean_environment,
    copy_fixture,
    extract,
    invoke_like_lambda,
    output_of,
    run_hatchling,
)

# What an installer writes into `.dist-info` about this one installation; not part of the wheel.
INSTALL_RECORDS = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


def build_source_zip(
    project: Path, zip_name: str, environment: dict[str, str]
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    completed = run_hatchling(project, "lambda:source", environment=environment)
    assert completed.returncode == 0, output_of(completed)
    source_zip = project / "dist" / zip_name
    assert source_zip.is_file(), sorted(path.name for path in (project / "dist").iterdir())
    return source_zip, completed


def names_in(source_zip: Path) -> set[str]:
    with zipfile.ZipFile(source_zip) as opened:
        return set(opened.namelist())


def files_under(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file()
    }


def pip_target_install(project: Path, target: Path) -> dict[str, bytes]:
    """What the real `pip install PROJECT --no-deps --target TARGET` leaves, path to bytes."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(project),
        ],
        env=clean_environment(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1"),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return files_under(target)


def is_install_leftover(relative_path: str) -> bool:
    """Console scripts, bytecode caches and install records: what a Lambda zip has no use for."""
    parts = relative_path.split("/")
    if parts[0] == "bin" or "__pycache__" in parts:
        return True
    return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in INSTALL_RECORDS


def test_flat_layout_zip_holds_exactly_what_pip_target_install_leaves(tmp_path, offline_environment):
    installed = pip_target_install(copy_fixture("orders-api", tmp_path / "for-pip"), tmp_path / "target")
    # The fixture's console script and pip's records make the comparison exercise every exclusion.
    assert "bin/orders-report" in installed
    assert "orders_api-1.4.0.dist-info/RECORD" in installed
    expected = {path: data for path, data in installed.items() if not is_install_leftover(path)}
    assert "orders_api/lambda_function.py" in expected
    assert "orders_api-1.4.0.dist-info/entry_points.txt" in expected

    project = copy_fixture("orders-api", tmp_path / "orders-api")
    source_zip, _ = build_source_zip(project, "orders_api-1.4.0-lambda-source.zip", offline_environment)

    with zipfile.ZipFile(source_zip) as opened:
        zipped = {name: opened.read(name) for name in opened.namelist()}
    assert set(zipped) == set(expected)
    assert [path for path in sorted(zipped) if zipped[path] != expected[path]] == []


def test_src_layout_ships_the_package_at_the_zip_root(tmp_path, offline_environment):
    project = copy_fixture("inventory-sync", tmp_path / "inventory-sync")

    source_zip, _ = build_source_zip(project, "inventory_sync-2.0.1-lambda-source.zip", offline_environment)

    names = names_in(source_zip)
    assert not any(name.startswith("src/") for name in names)
    assert {name for name in names if not name.startswith("inventory_sync-2.0.1.dist-info/")} == {
        "inventory_sync/__init__.py",
        "inventory_sync/feed.py",
        "inventory_sync/lambda_function.py",
    }
    task_root = extract(source_zip, tmp_path / "task")
    result = invoke_like_lambda(
        sys.executable,
        task_root,
        tmp_path / "no-layer",
        "inventory_sync.lambda_function.lambda_handler",
        {"feed": "A-1, 3\nB-2, 0\n"},
    )
    assert result == {"statusCode": 200, "stock": {"A-1": 3, "B-2": 0}}


def test_module_generated_by_a_wheel_build_hook_is_in_the_zip(tmp_path, offline_environment):
    project = copy_fixture("weather-station", tmp_path / "weather-station")

    source_zip, _ = build_source_zip(project, "weather_station-0.3.0-lambda-source.zip", offline_environment)

    # The hook writes the module outside the project: only the wheel build can have put it there.
    assert not (project / "weather_station" / "_build_info.py").exists()
    assert "weather_station/_build_info.py" in names_in(source_zip)
    task_root = extract(source_zip, tmp_path / "task")
    result = invoke_like_lambda(
        sys.executable,
        task_root,
        tmp_path / "no-layer",
        "weather_station.lambda_function.lambda_handler",
        {},
    )
    assert result == {"statusCode": 200, "built_by": "wheel", "version": "0.3.0"}


def test_namespace_package_is_shipped_and_importable(tmp_path, offline_environment):
    project = copy_fixture("company-tools", tmp_path / "company-tools")

    source_zip, _ = build_source_zip(project, "company_tools-5.2.0-lambda-source.zip", offline_environment)

    names = names_in(source_zip)
    assert {
        "company/tools/__init__.py",
        "company/tools/slack.py",
        "company/tools/lambda_function.py",
    } <= names
    assert "company/__init__.py" not in names
    task_root = extract(source_zip, tmp_path / "task")
    result = invoke_like_lambda(
        sys.executable,
        task_root,
        tmp_path / "no-layer",
        "company.tools.lambda_function.lambda_handler",
        {"text": "disk full"},
    )
    assert result == {"statusCode": 200, "alert": ":rotating_light: disk full", "company_is_namespace": True}


def test_package_data_and_force_included_file_land_inside_the_package(tmp_path, offline_environment):
    project = copy_fixture("invoice-renderer", tmp_path / "invoice-renderer")

    source_zip, _ = build_source_zip(project, "invoice_renderer-1.0.0-lambda-source.zip", offline_environment)

    with zipfile.ZipFile(source_zip) as opened:
        names = set(opened.namelist())
        assert (
            opened.read("invoice_renderer/templates/invoice.txt")
            == (project / "invoice_renderer" / "templates" / "invoice.txt").read_bytes()
        )
        assert (
            opened.read("invoice_renderer/defaults.json")
            == (project / "config" / "defaults.json").read_bytes()
        )
    assert not any(name.startswith("config/") for name in names)
    task_root = extract(source_zip, tmp_path / "task")
    result = invoke_like_lambda(
        sys.executable,
        task_root,
        tmp_path / "no-layer",
        "invoice_renderer.lambda_function.lambda_handler",
        {"number": "2025-0042", "total": "120.00"},
    )
    assert result == {"statusCode": 200, "body": "Invoice 2025-0042: 120.00 EUR, due in 30 days"}


def test_shared_data_and_scripts_are_left_out_with_a_warning_naming_them(tmp_path, offline_environment):
    project = copy_fixture("log-shipper", tmp_path / "log-shipper")
    # Quiet hides information but not warnings, so whatever still shows is a warning.
    quiet = {**offline_environment, "HATCH_QUIET": "1"}

    source_zip, completed = build_source_zip(project, "log_shipper-0.9.0-lambda-source.zip", quiet)

    names = names_in(source_zip)
    assert not any(".data/" in name for name in names)
    assert not any(name.startswith(("etc/", "bin/", "scripts/")) for name in names)
    assert not any(name.rsplit("/", 1)[-1] in {"log-shipper", "rotate-shipped-logs"} for name in names)
    assert "log_shipper/lambda_function.py" in names
    output = output_of(completed)
    assert "Wrote " not in output, "HATCH_QUIET=1 should hide information messages:\n" + output
    assert "log_shipper-0.9.0.data/data/etc/logrotate.d/log-shipper" in output
    assert "log_shipper-0.9.0.data/scripts/rotate-shipped-logs" in output


def test_platform_specific_project_wheel_fails_the_build_and_leaves_no_zip(tmp_path, offline_environment):
    project = copy_fixture("native-speedups", tmp_path / "native-speedups")

    completed = run_hatchling(project, "lambda:source", environment=offline_environment)

    output = output_of(completed)
    assert completed.returncode != 0, output
    assert "Root-Is-Purelib: false" in output
    assert "compiled code" in output
    dist = project / "dist"
    leftovers = sorted(path.name for path in dist.iterdir()) if dist.exists() else []
    assert [name for name in leftovers if "lambda" in name or name.endswith(".partial")] == []


def test_dist_info_ships_without_install_records_and_metadata_works(tmp_path, offline_environment):
    project = copy_fixture("orders-api", tmp_path / "orders-api")

    source_zip, _ = build_source_zip(project, "orders_api-1.4.0-lambda-source.zip", offline_environment)

    dist_info = {
        name.split("/", 1)[1]
        for name in names_in(source_zip)
        if name.startswith("orders_api-1.4.0.dist-info/")
    }
    assert {"METADATA", "WHEEL"} <= dist_info
    assert dist_info.isdisjoint(INSTALL_RECORDS)
    task_root = extract(source_zip, tmp_path / "task")
    probe = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "from importlib.metadata import version; print(version('orders-api'))",
            str(task_root),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "1.4.0"
    result = invoke_like_lambda(
        sys.executable,
        task_root,
        tmp_path / "no-layer",
        "orders_api.lambda_function.lambda_handler",
        {"lines": [{"quantity": 2, "unit_cents": 450}, {"quantity": 1, "unit_cents": 99}]},
    )
    assert result == {"statusCode": 200, "total_cents": 999, "version": "1.4.0"}


def test_entries_are_plain_unix_files_without_bytecode(tmp_path, offline_environment):
    project = copy_fixture("orders-api", tmp_path / "orders-api")
    # Debris a developer's checkout typically has: a stale cache from another Python, and a stray .pyc.
    stale_cache = project / "orders_api" / "__pycache__"
    stale_cache.mkdir()
    (stale_cache / "pricing.cpython-311.pyc").write_bytes(b"\x00stale bytecode")
    (project / "__pycache__").mkdir()
    (project / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\x00stale bytecode")
    (project / "orders_api" / "legacy.pyc").write_bytes(b"\x00stray bytecode")
    (project / "orders_api" / "tools" / "healthcheck.sh").chmod(0o755)
    (project / "orders_api" / "pricing.py").chmod(0o600)

    source_zip, _ = build_source_zip(project, "orders_api-1.4.0-lambda-source.zip", offline_environment)

    with zipfile.ZipFile(source_zip) as opened:
        infos = opened.infolist()
    assert infos
    assert [info.filename for info in infos if info.is_dir() or info.filename.endswith("/")] == []
    assert [info.filename for info in infos if "__pycache__" in info.filename.split("/")] == []
    assert [info.filename for info in infos if info.filename.endswith((".pyc", ".pyo"))] == []
    assert {info.filename: info.create_system for info in infos if info.create_system != 3} == {}
    modes = {info.filename: info.external_attr >> 16 for info in infos}
    assert {name: oct(mode) for name, mode in modes.items() if not stat.S_ISREG(mode)} == {}
    executable = "orders_api/tools/healthcheck.sh"
    wrong_permissions = {
        name: oct(stat.S_IMODE(mode))
        for name, mode in modes.items()
        if stat.S_IMODE(mode) != (0o755 if name == executable else 0o644)
    }
    assert wrong_permissions == {}
