"""Typed errors. Each carries the thing it is about, so messages can name it exactly."""

from __future__ import annotations


class LambdaBuildError(Exception):
    """A build failure a user can act on; the builder turns it into `app.abort(message)`."""


class FirstPartyBinaryError(LambdaBuildError):
    def __init__(self, wheel_name: str) -> None:
        self.wheel_name = wheel_name
        super().__init__(
            f"The project's wheel `{wheel_name}` says `Root-Is-Purelib: false`: it holds compiled code "
            "built for this machine, which would not load on Lambda's Amazon Linux. Ship compiled code "
            "as a dependency with manylinux wheels (it will go into the layer), or build the wheel "
            "inside an Amazon Linux image and depend on it."
        )


class DependencyInstallError(LambdaBuildError):
    def __init__(self, summary: str, uv_output: str, advice: str) -> None:
        self.summary = summary
        self.uv_output = uv_output
        self.advice = advice
        super().__init__(f"{summary}\n\nuv said:\n{uv_output.rstrip()}\n\n{advice}")


class UvNotFoundError(LambdaBuildError):
    def __init__(self) -> None:
        super().__init__(
            "hatch-lambda needs uv to resolve the layer's dependencies and found none: not in "
            "`HATCH_UV`, not as the `uv` package's binary, not on PATH. Install it with "
            "`pip install uv` in the build environment."
        )
