"""Print a runtime's marker environment, to refresh hatch_lambda/platform/data/*.json.

Run it with the runtime's own CPython inside AWS's image (standard library only), for example:

    docker run --rm --platform linux/amd64 --entrypoint /var/lang/bin/python3 \
        public.ecr.aws/lambda/python:3.12 - < scripts/capture_complete_platform.py

or as a Lambda function's handler (`capture_complete_platform.handler`) to read the kernel values
Lambda itself reports. Paste `marker_environment` into the runtime's two data files and say in their
`sources` where and when it was captured; the compatible tags are derived from the runtime table.
"""

from __future__ import annotations

import json
import os
import platform
import sys


def marker_environment() -> dict[str, str]:
    # The same keys and values as `packaging.markers.default_environment()`.
    info = sys.implementation.version
    version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def handler(event: object, context: object) -> dict[str, dict[str, str]]:
    return {"marker_environment": marker_environment()}


if __name__ == "__main__":
    print(json.dumps({"path": sys.executable, "marker_environment": marker_environment()}, indent=2))
