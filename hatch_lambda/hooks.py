"""Registers the `lambda` build target and the `lambda` publisher with Hatch (entry-point group `hatch`)."""

from __future__ import annotations

from hatchling.plugin import hookimpl

from hatch_lambda.build.builder import LambdaBuilder


@hookimpl
def hatch_register_builder() -> type[LambdaBuilder]:
    return LambdaBuilder


@hookimpl
def hatch_register_publisher() -> type:
    # Hatch (not hatchling) calls this; hatchling's plugin manager never does, so a build never
    # imports Hatch or boto3. Deferred import: the class needs Hatch, absent from build environments.
    from hatch_lambda.publish.hatch_publisher import LambdaPublisher  # noqa: PLC0415

    return LambdaPublisher
