"""hatch-lambda: a Hatch build target for AWS Lambda source and layer zips."""

from hatch_lambda.__about__ import __version__

__all__ = ["__version__"]
