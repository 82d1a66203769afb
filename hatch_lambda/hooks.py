"""Registers the `lambda` build target with Hatch (entry-point group `hatch`)."""

from __future__ import annotations

from hatchling.plugin import hookimpl

from hatch_lambda.builder import LambdaBuilder


@hookimpl
def hatch_register_builder() -> type[LambdaBuilder]:
    return LambdaBuilder
