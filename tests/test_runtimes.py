from __future__ import annotations

from datetime import date

import pytest
from packaging.markers import Marker
from packaging.version import Version

from hatch_lambda.errors import BlockedRuntimeError
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


# Lifecycle: every date is given, never read from the clock -----------------------------------------

OVERRIDE = "`allow-blocked-runtime` = true"


def notice_on(name: str, day: str):
    runtime = runtimes.runtime_named(name)
    assert runtime is not None
    return runtimes.lifecycle_notice(runtime, date.fromisoformat(day), override=OVERRIDE)


def test_the_table_carries_awss_three_dates_in_order():
    for runtime in runtimes.RUNTIMES:
        assert runtime.deprecation is not None, runtime.name
        assert runtime.deprecation < runtime.block_create < runtime.block_update, runtime.name
    python310 = runtimes.runtime_named("python3.10")
    assert (python310.deprecation, python310.block_create, python310.block_update) == (
        date(2026, 10, 31),
        date(2026, 11, 30),
        date(2027, 1, 15),
    )


def test_a_supported_runtime_has_nothing_to_say():
    assert notice_on("python3.11", "2027-06-29") is None
    assert notice_on("python3.14", "2026-12-01") is None


def test_past_deprecation_it_warns_with_the_block_dates_to_come():
    notice = notice_on("python3.11", "2027-06-30")

    assert notice.stage == runtimes.DEPRECATED
    assert not notice.blocks_deployment
    assert notice.message.startswith("Lambda runtime python3.11 is deprecated since 2027-06-30")
    assert "from 2027-07-31" in notice.message and "from 2027-08-31" in notice.message
    assert "Move to python3.14" in notice.message
    assert OVERRIDE not in notice.message


def test_past_block_create_it_says_new_functions_cannot_be_created_and_when_updates_stop():
    notice = notice_on("python3.10", "2026-11-30")

    assert notice.stage == runtimes.CREATE_BLOCKED
    assert not notice.blocks_deployment
    assert "creating functions on it is blocked since 2026-11-30" in notice.message
    assert "updated until 2027-01-15" in notice.message


def test_past_block_update_it_blocks_and_names_the_date_and_the_override():
    notice = notice_on("python3.10", "2027-01-15")

    assert notice.stage == runtimes.UPDATE_BLOCKED
    assert notice.blocks_deployment
    assert "updating them since 2027-01-15" in notice.message
    assert OVERRIDE in notice.message


def test_enforcing_raises_past_block_update_unless_allowed():
    python310 = runtimes.runtime_named("python3.10")
    blocked_day = date(2027, 2, 1)

    with pytest.raises(BlockedRuntimeError, match="updating them since 2027-01-15"):
        runtimes.enforce_lifecycle(python310, blocked_day, allowed=False, override=OVERRIDE)
    warning = runtimes.enforce_lifecycle(python310, blocked_day, allowed=True, override=OVERRIDE)
    assert warning is not None and "Going ahead" in warning
    assert runtimes.enforce_lifecycle(python310, date(2026, 10, 30), allowed=False, override=OVERRIDE) is None


def test_today_comes_from_hatch_lambda_today_and_a_bad_value_is_named():
    assert runtimes.lifecycle_today({"HATCH_LAMBDA_TODAY": "2027-03-04"}) == date(2027, 3, 4)
    with pytest.raises(runtimes.LifecycleDateError, match="`HATCH_LAMBDA_TODAY` must be a date"):
        runtimes.lifecycle_today({"HATCH_LAMBDA_TODAY": "next tuesday"})


# Complete platforms -------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", runtimes.RUNTIMES, ids=lambda runtime: runtime.name)
@pytest.mark.parametrize("architecture", list(runtimes.ARCHITECTURES))
def test_each_runtime_and_architecture_has_a_complete_platform_consistent_with_the_table(
    runtime, architecture
):
    platform = runtimes.complete_platform(runtime, architecture)
    environment = platform.marker_environment

    assert (platform.runtime, platform.architecture) == (runtime.name, architecture)
    assert environment["python_version"] == runtime.python_version_text
    assert Version(environment["python_full_version"]).release[:2] == runtime.python_version
    assert environment["implementation_version"] == environment["python_full_version"]
    assert environment["platform_machine"] == runtimes.machine_of(architecture)
    assert environment["platform_release"] and environment["platform_version"]
    # The exact list, in priority order, and never a host build's `linux_*` tag.
    assert list(platform.compatible_tags) == runtimes.derived_wheel_tags(runtime, architecture)
    assert not any(
        tag.endswith(f"-linux_{runtimes.machine_of(architecture)}") for tag in platform.compatible_tags
    )
    assert {"python_full_version", "platform_release", "compatible_tags"} <= set(platform.sources)


def test_markers_see_lambdas_patch_release_and_kernel():
    python312 = runtimes.runtime_named("python3.12")
    environment = runtimes.marker_environment(python312, "x86_64")

    assert Marker('python_full_version >= "3.12.1"').evaluate(environment)
    assert not Marker('python_full_version == "3.12.0"').evaluate(environment)
    assert Marker('"amzn2" in platform_release').evaluate(environment)
    assert Marker('platform_release != ""').evaluate(environment)
    assert runtimes.python_full_version(python312, "arm64") == environment["python_full_version"]
