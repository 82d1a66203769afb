"""`wheel_source` on wheels a hatchling build cannot easily produce: `.data/purelib` and `platlib`."""

from __future__ import annotations

import pytest

from hatch_lambda.errors import FirstPartyBinaryError
from hatch_lambda.files.wheel_contents import plan_target_install
from tests.wheelfactory import WheelSpec, write_wheel


def test_purelib_and_platlib_move_to_the_root_and_other_schemes_are_reported(tmp_path):
    wheel = write_wheel(
        WheelSpec(
            "odd-layout",
            "1.0",
            files={
                "odd_layout/__init__.py": "",
                "odd_layout-1.0.data/purelib/odd_pure.py": "PURE = 1\n",
                "odd_layout-1.0.data/platlib/odd_plat/__init__.py": "PLAT = 1\n",
                "odd_layout-1.0.data/scripts/odd-tool": "#!/bin/sh\n",
                "odd_layout-1.0.data/headers/odd.h": "int odd;\n",
                "odd_layout-1.0.data/data/share/odd.txt": "odd\n",
            },
        ),
        tmp_path,
    )

    plan = plan_target_install(wheel)

    assert sorted(file.archive_path for file in plan.files) == [
        "odd_layout-1.0.dist-info/METADATA",
        "odd_layout-1.0.dist-info/WHEEL",
        "odd_layout/__init__.py",
        "odd_plat/__init__.py",
        "odd_pure.py",
    ]
    assert plan.left_out == [
        "odd_layout-1.0.data/data/share/odd.txt",
        "odd_layout-1.0.data/headers/odd.h",
        "odd_layout-1.0.data/scripts/odd-tool",
    ]
    contents = {file.archive_path: file.read() for file in plan.files}
    assert contents["odd_pure.py"] == b"PURE = 1\n"


def test_a_platform_wheel_is_refused_with_the_reason(tmp_path):
    wheel = write_wheel(
        WheelSpec("fast-app", "1.0", tags=["cp312-cp312-linux_x86_64"], files={"fast_app/__init__.py": ""}),
        tmp_path,
    )

    with pytest.raises(FirstPartyBinaryError, match="Root-Is-Purelib: false") as raised:
        plan_target_install(wheel)
    assert raised.value.wheel_name == "fast_app-1.0-cp312-cp312-linux_x86_64.whl"
