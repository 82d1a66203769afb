from __future__ import annotations

import pytest

from hatch_lambda.platform import runtimes


@pytest.mark.parametrize(
    ("requires_python", "expected"),
    [
        (None, "python3.14"),
        (">=3.12", "python3.14"),
        ("<3.12", "python3.11"),
        ("~=3.10.0", "python3.10"),
        (">=3.9,<3.13", "python3.12"),
        ("==3.12.*", "python3.12"),
        (">=3.12.4", "python3.14"),
        ("<=3.13.2", "python3.13"),
    ],
)
def test_default_runtime_is_the_newest_that_requires_python_allows(requires_python, expected):
    runtime = runtimes.newest_runtime_allowed(requires_python)
    assert runtime is not None
    assert runtime.name == expected


def test_no_runtime_when_requires_python_excludes_them_all():
    assert runtimes.newest_runtime_allowed(">=3.15") is None
    assert runtimes.newest_runtime_allowed("<3.9") is None


@pytest.mark.parametrize(
    ("runtime", "architecture", "platform"),
    [
        # uv has no manylinux_2_26 target and its `unknown-linux-gnu` means 2_28: Amazon Linux 2
        # runtimes must use manylinux2014 (glibc 2.17), the newest target at or below 2.26.
        ("python3.9", "x86_64", "x86_64-manylinux2014"),
        ("python3.11", "arm64", "aarch64-manylinux2014"),
        ("python3.12", "x86_64", "x86_64-manylinux_2_34"),
        ("python3.14", "arm64", "aarch64-manylinux_2_34"),
    ],
)
def test_uv_platform_never_exceeds_the_runtime_glibc(runtime, architecture, platform):
    found = runtimes.runtime_named(runtime)
    assert found is not None
    assert runtimes.uv_python_platform(found, architecture) == platform


def test_runtime_table_matches_lambda_facts():
    table = {runtime.name: runtime for runtime in runtimes.RUNTIMES}
    assert list(table) == [f"python3.{minor}" for minor in range(9, 15)]
    assert {table[name].glibc for name in ("python3.9", "python3.10", "python3.11")} == {(2, 26)}
    assert {table[name].glibc for name in ("python3.12", "python3.13", "python3.14")} == {(2, 34)}
    assert table["python3.12"].site_packages == "python/lib/python3.12/site-packages"
    assert runtimes.machine_of("arm64") == "aarch64"
