"""Typed errors. Each carries the thing it is about, so messages can name it exactly."""

from __future__ import annotations

import re
from pathlib import Path


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
    def __init__(self, summary: str, tool_output: str, advice: str, *, tool: str = "uv") -> None:
        self.summary = summary
        self.tool_output = tool_output
        self.advice = advice
        super().__init__(f"{summary}\n\n{tool} said:\n{tool_output.rstrip()}\n\n{advice}")


class UnsafeZipPathError(LambdaBuildError, ValueError):
    """A zip entry that an unzip would write outside the directory it extracts into."""

    def __init__(self, archive_path: str, reason: str, origin: str = "") -> None:
        self.archive_path = archive_path
        self.reason = reason
        self.origin = origin
        where = f" from {origin}" if origin else ""
        super().__init__(
            f"Refused the zip entry {archive_path!r}{where}: {reason}. Lambda unzips into `/var/task` and "
            "`/opt`; an entry must be a relative path with `/` separators and no `..` part, as "
            "installers require of wheels. Nothing was written."
        )


class BlockedRuntimeError(LambdaBuildError):
    """The runtime is past AWS's block-update date: nothing built for it could be deployed."""

    def __init__(self, runtime: str, message: str) -> None:
        self.runtime = runtime
        super().__init__(message)


class UvNotFoundError(LambdaBuildError):
    def __init__(self) -> None:
        super().__init__(
            "hatch-lambda needs uv to resolve the layer's dependencies and found none: not in "
            "`HATCH_UV`, not as the `uv` package's binary, not on PATH. Install it with "
            "`pip install uv` in the build environment."
        )


class PlatformProofError(LambdaBuildError):
    """Files that would not load on the runtime; `violations` holds one line per problem."""

    SHOWN = 25

    def __init__(self, artifact: str, target: str, violations: list[str]) -> None:
        self.violations = violations
        lines = violations[: self.SHOWN]
        if len(violations) > self.SHOWN:
            lines.append(f"... and {len(violations) - self.SHOWN} more")
        listed = "\n".join(f"  - {line}" for line in lines)
        super().__init__(
            f"The {artifact} would not load on {target}:\n{listed}\n"
            "Nothing was written. Pin versions whose wheels fit the runtime, choose a runtime with a "
            "newer glibc (python3.12+ has 2.34), drop the package with `exclude-packages`, or drop a "
            "layer file nothing imports with `slim-exclude`."
        )


class UnreadableBinaryError(LambdaBuildError):
    """A file read as ELF (it has ELF's magic, or was expected to) whose headers cannot be read."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"Cannot read the binary `{path}`: {reason}. hatch-lambda cannot prove it loads on Lambda; "
            "check the package that ships it (a damaged download or a non-standard build)."
        )


class BadHandlerError(LambdaBuildError, ValueError):
    """A handler string Lambda's runtime would refuse ("Bad handler"); `setting` names where it was set."""

    def __init__(self, handler: str, setting: str, reason: str) -> None:
        self.handler = handler
        self.setting = setting
        self.reason = reason
        super().__init__(
            f"Bad handler {handler!r} in {setting}: {reason}. Write the module's import path inside the "
            "source zip, a dot, then the function, e.g. `my_app.lambda_function.lambda_handler`."
        )


class HandlerCheckError(LambdaBuildError):
    """The handler fails to import or cannot be called as Lambda calls it; `traceback_text` is the
    traceback printed by the runtime's CPython that tried, with Lambda's paths (`/var/task`, `/opt`)."""

    def __init__(self, handler: str, summary: str, traceback_text: str, advice: str) -> None:
        self.handler = handler
        self.summary = summary
        self.traceback_text = traceback_text
        self.advice = advice
        details = f"\n\n{traceback_text.rstrip()}" if traceback_text.strip() else ""
        super().__init__(f"The handler `{handler}` would fail on Lambda: {summary}{details}\n\n{advice}")


class PublishError(LambdaBuildError):
    """Publishing cannot start or continue: a setting, the manifest, or a check of the functions.

    Messages quote botocore, which quotes endpoint URLs (`AWS_ENDPOINT_URL`) whole: any user and
    password in a URL is redacted here, the one place every publishing message passes."""

    def __init__(self, message: str) -> None:
        super().__init__(redact_url_credentials(message))


# `scheme://user:password@` or `scheme://token@`, up to the `@` that ends the authority's userinfo.
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")


def redact_url_credentials(text: str) -> str:
    """`http://user:pass@host/` → `http://***@host/`, anywhere in `text`."""
    return _URL_USERINFO.sub(r"\g<scheme>***@", text)


class AwsCallError(PublishError):
    """An AWS call failed midway; what was published before it stays valid, and a rerun completes."""

    def __init__(self, step: str, code: str, message: str) -> None:
        self.step = step
        self.code = code
        super().__init__(
            f"{step} failed: {code}: {message}\nEverything published before this step is valid; "
            "run the same command again to finish."
        )
