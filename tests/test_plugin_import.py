"""Hatchling imports every builder plugin to find any target: registering `lambda` must stay light."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import output_of, run_in, write_project


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


# `hatchling build` as the user runs it, reporting which of hatch-lambda's modules it loaded.
_BUILD_AND_LIST_MODULES = """
import runpy, sys
sys.argv = ["hatchling", "build", "-t", "lambda"]
try:
    runpy.run_module("hatchling", run_name="__main__")
finally:
    with open("loaded-modules.txt", "w") as listing:
        listing.write("\\n".join(sorted(sys.modules)))
"""

# What only a layer built fresh, or a target with `handler`, needs.
_COLD_PATH_MODULES = {
    "hatch_lambda.build.layer_zip",
    "hatch_lambda.layer.install",
    "hatch_lambda.files.slim",
    "hatch_lambda.runtime.local_lambda",
    "hatch_lambda.layer.extracted_layers",
}
# What only a failed install needs (its advice): no successful build loads it.
_FAILURE_OR_OPTION_MODULES = {"hatch_lambda.layer.uv_failure"}
# What only an option this project does not set needs (`compile-bytecode`, `handler`,
# `environment`, `dependency-groups`): a warm build loads none of it.
_OPTION_MODULES = {
    "hatch_lambda.runtime.bytecode",
    "hatch_lambda.build.early_python",
    "hatch_lambda.runtime.handler_name",
    "hatch_lambda.runtime.environment",
    "dependency_groups",
}
# What only a fresh layer needs: its install's tree, the entry store, compressing on every core.
_FRESH_LAYER_MODULES = {
    "hatch_lambda.layer.closure",
    "hatch_lambda.archive.entry_cache",
    "hatch_lambda.platform.interpreters",
    "ctypes",
    "concurrent.futures",
}


def test_a_warm_build_loads_none_of_the_machinery_a_fresh_layer_or_the_check_needs(
    tmp_path, offline_environment
):
    root = write_project(
        tmp_path / "app",
        {
            "pyproject.toml": """
                [project]
                name = "warm-app"
                version = "1.0"
                dependencies = ["hlfix-pure"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
            """,
            "warm_app/__init__.py": "VALUE = 1\n",
        },
    )
    command = [sys.executable, "-c", _BUILD_AND_LIST_MODULES]
    cold = run_in(root, command, offline_environment)
    assert cold.returncode == 0, output_of(cold)
    assert _COLD_PATH_MODULES - {
        "hatch_lambda.runtime.local_lambda",
        "hatch_lambda.layer.extracted_layers",
    } <= set((root / "loaded-modules.txt").read_text().split())
    assert not set((root / "loaded-modules.txt").read_text().split()) & _FAILURE_OR_OPTION_MODULES

    (root / "warm_app" / "__init__.py").write_text("VALUE = 2\n")
    warm = run_in(root, command, offline_environment)

    assert warm.returncode == 0, output_of(warm)
    assert "Layer from the cache" in output_of(warm)
    loaded = set((root / "loaded-modules.txt").read_text().split())
    assert "hatch_lambda.build.release" in loaded
    unwanted = _COLD_PATH_MODULES | _FAILURE_OR_OPTION_MODULES | _OPTION_MODULES | _FRESH_LAYER_MODULES
    assert not loaded & unwanted, loaded & unwanted
