"""Hatchling imports every builder plugin to find any target: registering `lambda` must stay light."""

from __future__ import annotations

import subprocess
import sys


def test_registering_the_target_imports_none_of_the_build_machinery():
    probe = (
        "import sys, hatch_lambda.hooks as hooks; hooks.hatch_register_builder(); "
        "print('\\n'.join(sorted(name for name in sys.modules if name.startswith('hatch_lambda'))))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    loaded = set(completed.stdout.split())
    assert loaded <= {
        "hatch_lambda",
        "hatch_lambda.__about__",
        "hatch_lambda.build",
        "hatch_lambda.build.builder",
        "hatch_lambda.errors",
        "hatch_lambda.hooks",
    }, loaded
