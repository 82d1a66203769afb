"""Builds the project's real wheel with hatchling's own wheel builder.

Going through `WheelBuilder` (not a file listing) means every `[tool.hatch.build.targets.wheel]`
option and every build hook applies: src layouts, namespace packages, package data, generated
files, force-include. The source zip is then exactly what that wheel would install.
"""

from __future__ import annotations

from pathlib import Path

from hatchling.builders.wheel import WheelBuilder

from hatch_lambda.build.config import LambdaBuilderConfig


def build_project_wheel(config: LambdaBuilderConfig, directory: Path) -> Path:
    builder = config.builder
    wheel_builder = WheelBuilder(
        config.root, plugin_manager=builder.plugin_manager, metadata=builder.metadata, app=builder.app
    )
    # `reproducible = false` on this target promises the files' real mtimes in the source zip, which
    # only a non-reproducible wheel still carries. The option is a cached property of the wheel's
    # config, so setting the attribute overrides it for this build alone.
    wheel_builder.config.reproducible = config.reproducible
    artifacts = list(
        wheel_builder.build(directory=str(directory), versions=["standard"], hooks_only=False, clean=False)
    )
    return Path(artifacts[0])
