"""Runs a handler from the built zips on this machine, the way Lambda's Python runtime runs it.

The zips are laid out as Lambda lays them out (the source zip in a task directory like
`/var/task`, the layer in an opt directory like `/opt`) and made read-only. A fresh CPython of the
runtime's version then runs a small bootstrap with `-I -S -B -u`: no environment variables of
Python's, no user site, no site-packages of the host, no bytecode written, unbuffered output. The
bootstrap puts the task directory, the layer's `python/lib/python3.X/site-packages` and the layer's
`python/` before the interpreter's standard library (Lambda's `sys.path` order), refuses writes to
the read-only tree with Lambda's `EROFS` error, and either checks that the handler imports and takes
`(event, context)` (at build time) or calls it with an event (`hatch-lambda invoke`). It reports
through a JSON file in a separate writable directory, so whatever the handler prints reaches the
user untouched.

Only a host that can load the layer's binaries can do this: Linux on the target's machine, a glibc
at least as new as the runtime's, and a CPython of the runtime's exact version. `can_run_here` says
why not otherwise.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hatch_lambda.errors import HandlerCheckError, LambdaBuildError, UvNotFoundError
from hatch_lambda.layer.uv import find_uv
from hatch_lambda.platform.interpreters import environment_variable_for, find_runtime_python
from hatch_lambda.platform.runtimes import Runtime, machine_of
from hatch_lambda.runtime.handler_name import HANDLER_SETTING, HandlerName, parse_handler

# What Lambda's Python runtimes bundle in their own paths, after the function's code and layers:
# the SDK and what it needs. A handler may import these without shipping them, so the build-time
# check stands in a placeholder for any of them that neither zip holds.
RUNTIME_PROVIDED_MODULES = ("boto3", "botocore", "dateutil", "jmespath", "s3transfer", "six", "urllib3")

# Lambda's defaults for a new function, and the ceilings of its configuration.
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_SECONDS = 3.0
MAX_TIMEOUT_SECONDS = 900.0
DEFAULT_REGION = "us-east-1"
# AWS documentation's example account, for an ARN that is plainly not a real one.
EXAMPLE_ACCOUNT = "123456789012"

# Importing the handler's module is Lambda's init phase; locally the first import of a large layer
# can be slow (a cold file cache), so the allowance is generous.
INIT_ALLOWANCE_SECONDS = 120.0

# Where the temporary layout's directories appear in messages: the paths Lambda would print.
LAMBDA_PATHS = {"task": "/var/task", "opt": "/opt", "runtime": "/var/runtime"}

_HOST_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


# Can this machine run the target? --------------------------------------------------------------


def can_run_here(runtime: Runtime, architecture: str) -> str | None:
    """None when this machine can run `runtime` on `architecture`, else the reason it cannot."""
    mismatch = _host_mismatch(runtime, architecture)
    if mismatch is not None:
        return mismatch
    if _find_python(runtime) is None:
        return _no_python(runtime)
    return None


def _no_python(runtime: Runtime) -> str:
    version = runtime.python_version_text
    return (
        f"no CPython {version} was found on this machine (install one with `uv python install {version}` "
        f"or `pyenv install {version}`, or point `{environment_variable_for(runtime)}` at its executable)"
    )


def _host_mismatch(runtime: Runtime, architecture: str) -> str | None:
    system = platform.system()
    if system != "Linux":
        return f"Lambda runs Linux and this machine runs {system}"
    machine = platform.machine()
    machine = _HOST_MACHINE_ALIASES.get(machine, machine)
    wanted = machine_of(architecture)
    if machine != wanted:
        return f"this machine is {machine} and the target is {architecture} ({wanted})"
    glibc = _host_glibc()
    if glibc is None:
        return "this machine's C library is not glibc, so the layer's manylinux binaries cannot load here"
    if glibc < runtime.glibc:
        return (
            f"this machine has glibc {glibc[0]}.{glibc[1]}, older than the {runtime.glibc_text} of "
            f"{runtime.name} ({runtime.operating_system}), so the layer's binaries may not load here"
        )
    return None


def _host_glibc() -> tuple[int, int] | None:
    try:
        # "glibc 2.36"; packaging reads the same value for its manylinux checks.
        name, version = (os.confstr("CS_GNU_LIBC_VERSION") or "").split()
        major, minor = version.split(".")[:2]
        return (int(major), int(minor)) if name == "glibc" else None
    except (AttributeError, OSError, ValueError):
        return None


def _find_python(runtime: Runtime) -> str | None:
    try:
        uv: str | None = find_uv()
    except UvNotFoundError:
        uv = None  # pyenv's versions and HATCH_LAMBDA_PYTHON_3_X still work without it
    return find_runtime_python(runtime, uv)


# The function and the layout --------------------------------------------------------------------


@dataclass(frozen=True)
class LocalFunction:
    """A Lambda function as it would run from the built zips."""

    handler: str
    runtime: Runtime
    source_zip: Path | None
    layer_zip: Path | None
    function_name: str = "local-function"
    memory_mb: int = DEFAULT_MEMORY_MB
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    # Set after Lambda's own variables, so they can be overridden (a region, a table name).
    environment: Mapping[str, str] = field(default_factory=dict)
    # Where `handler` came from, for the message when it is malformed.
    handler_setting: str = HANDLER_SETTING


@dataclass(frozen=True)
class LambdaLayout:
    """A temporary directory laid out like a Lambda execution environment."""

    root: Path

    @property
    def task(self) -> Path:
        return self.root / "task"

    @property
    def opt(self) -> Path:
        return self.root / "opt"

    @property
    def runtime_dir(self) -> Path:
        return self.root / "runtime"

    @property
    def scratch(self) -> Path:
        """Writable, outside the read-only tree: the bootstrap's request, event and result."""
        return self.root / "invocation"

    def sys_path(self, runtime: Runtime) -> list[str]:
        """Lambda's order: function code, the layer's versioned site-packages, the layer's python/."""
        return [str(self.task), str(self.opt / runtime.site_packages), str(self.opt / "python")]

    def as_lambda_paths(self, text: str) -> str:
        """`text` with this layout's directories shown as Lambda's (`/var/task`, `/opt`)."""
        for name, lambda_path in LAMBDA_PATHS.items():
            text = text.replace(str(self.root / name), lambda_path)
        return text


@contextmanager
def lambda_layout(source_zip: Path | None, layer_zip: Path | None) -> Iterator[LambdaLayout]:
    """Extract the zips like Lambda (source → task, layer → opt), read-only, removed on exit."""
    layout = LambdaLayout(Path(tempfile.mkdtemp(prefix="hatch-lambda-run-")).resolve())
    try:
        for archive, directory in ((source_zip, layout.task), (layer_zip, layout.opt)):
            directory.mkdir()
            if archive is not None:
                _extract(archive, directory)
        layout.runtime_dir.mkdir()
        shutil.copyfile(_BOOTSTRAP_SOURCE, layout.runtime_dir / "bootstrap.py")
        layout.scratch.mkdir()
        for directory in (layout.task, layout.opt, layout.runtime_dir):
            _set_write_bits(directory, writable=False)
        yield layout
    finally:
        _set_write_bits(layout.root, writable=True)
        shutil.rmtree(layout.root, ignore_errors=True)


def _extract(archive: Path, directory: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(directory)
    except (OSError, zipfile.BadZipFile) as error:
        message = f"Cannot extract {archive}: {error}. Build it again with `hatch build -t lambda`."
        raise LambdaBuildError(message) from error


def _set_write_bits(top: Path, *, writable: bool) -> None:
    # Permission bits stop an ordinary user; root ignores them, which is why the bootstrap also
    # refuses writes itself. Directories are walked top-down so a restored one can be emptied.
    for directory, _subdirectories, files in os.walk(top):
        for path in (directory, *(os.path.join(directory, name) for name in files)):
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            if not os.path.islink(path):
                os.chmod(path, mode | stat.S_IWUSR if writable else mode & ~0o222)


# Checking and invoking --------------------------------------------------------------------------


@dataclass(frozen=True)
class HandlerCheck:
    """A handler that imported from the zips and takes `(event, context)`."""

    handler: str
    python: str
    seconds: float
    # Modules of Lambda's runtime (boto3 ...) the handler imports without shipping them: not checked.
    runtime_provided: tuple[str, ...]


@dataclass(frozen=True)
class Invocation:
    """What one local invoke gave: Lambda's response body, or Lambda's error payload."""

    request_id: str
    response: bytes | None
    error: dict[str, Any] | None
    # The full traceback of a failure, as Lambda's runtime logs it; empty on success.
    traceback_text: str = ""
    # The module a failed import could not find, if that is what failed.
    missing_module: str | None = None
    init_ms: float | None = None
    duration_ms: float | None = None
    max_memory_mb: int | None = None


def check_handler(function: LocalFunction, *, python: str | None = None) -> HandlerCheck:
    """Import the handler from the zips like Lambda, and check it is callable with (event, context).

    Raises `HandlerCheckError` with the child interpreter's traceback when it is not. `python` is a
    CPython of the runtime's version; found like `can_run_here` finds it when not given.
    """
    name = parse_handler(function.handler, function.handler_setting)
    python = python or _require_python(function.runtime)
    started = time.monotonic()
    with lambda_layout(function.source_zip, function.layer_zip) as layout:
        run = _run_bootstrap(function, layout, python, "check", "{}", capture=True)
    if run.outcome is None:
        raise HandlerCheckError(function.handler, run.failure, run.output, _CRASH_ADVICE)
    if not run.outcome["ok"]:
        raise _check_failure(function, name, run.outcome)
    provided = tuple(run.outcome.get("runtime_provided", ()))
    return HandlerCheck(function.handler, python, time.monotonic() - started, provided)


def invoke_handler(
    function: LocalFunction, event_json: str, *, python: str | None = None, handler_stdout: int | None = None
) -> Invocation:
    """Call the handler with `event_json` and a Lambda-like context; return what Lambda would.

    The handler's standard error is this process's; its standard output goes to `handler_stdout` (a
    file descriptor; None: this process's standard output).
    """
    parse_handler(function.handler, function.handler_setting)
    python = python or _require_python(function.runtime)
    with lambda_layout(function.source_zip, function.layer_zip) as layout:
        run = _run_bootstrap(function, layout, python, "invoke", event_json, stdout=handler_stdout)
    if run.outcome is None:
        return Invocation(
            run.request_id, None, _error_payload(run.failure_type, run.failure, run.request_id), run.output
        )
    outcome = run.outcome
    if outcome["ok"]:
        return Invocation(run.request_id, _response_bytes(outcome), None, **_timings(outcome))
    error = _error_payload(outcome["errorType"], outcome["errorMessage"], run.request_id)
    error["stackTrace"] = outcome.get("stackTrace", [])
    traceback_text = str(outcome.get("traceback", ""))
    missing = outcome.get("missing_module")
    return Invocation(run.request_id, None, error, traceback_text, missing, **_timings(outcome))


def _timings(outcome: dict[str, Any]) -> dict[str, Any]:
    return {key: outcome.get(key) for key in ("init_ms", "duration_ms", "max_memory_mb")}


def _require_python(runtime: Runtime) -> str:
    python = _find_python(runtime)
    if python is None:
        raise LambdaBuildError(f"Cannot run the handler locally: {_no_python(runtime)}")
    return python


def _error_payload(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    """Lambda's error response, with its keys in the runtime's order."""
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": []}


def _response_bytes(outcome: dict[str, Any]) -> bytes:
    if "response_hex" in outcome:  # the handler returned bytes: Lambda passes them through as is
        return bytes.fromhex(outcome["response_hex"])
    return str(outcome["response"]).encode("utf-8")


@dataclass(frozen=True)
class _BootstrapRun:
    request_id: str
    outcome: dict[str, Any] | None
    output: str = ""
    failure: str = ""
    failure_type: str = ""


def _run_bootstrap(
    function: LocalFunction,
    layout: LambdaLayout,
    python: str,
    mode: str,
    event_json: str,
    *,
    capture: bool = False,
    stdout: int | None = None,
) -> _BootstrapRun:
    request_id = str(uuid.uuid4())
    environment = _lambda_environment(function, layout, python)
    request = {
        "mode": mode,
        "handler": function.handler,
        "sys_path": layout.sys_path(function.runtime),
        "read_only": [str(layout.task), str(layout.opt), str(layout.runtime_dir)],
        "runtime_provided": list(RUNTIME_PROVIDED_MODULES) if mode == "check" else [],
        "event": str(layout.scratch / "event.json"),
        "result": str(layout.scratch / "result.json"),
        "request_id": request_id,
        "timeout_ms": int(function.timeout_seconds * 1000),
        "invoked_function_arn": (
            f"arn:aws:lambda:{environment['AWS_REGION']}:{EXAMPLE_ACCOUNT}:function:{function.function_name}"
        ),
    }
    (layout.scratch / "event.json").write_text(event_json, encoding="utf-8")
    request_path = layout.scratch / "request.json"
    request_path.write_text(json.dumps(request), encoding="utf-8")
    command = [python, "-I", "-S", "-B", "-u", str(layout.runtime_dir / "bootstrap.py"), str(request_path)]
    limit = INIT_ALLOWANCE_SECONDS + (function.timeout_seconds + 5 if mode == "invoke" else 0)
    try:
        completed = subprocess.run(
            command,
            cwd=layout.task,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else stdout,
            stderr=subprocess.STDOUT if capture else None,
            encoding="utf-8",
            errors="replace",
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        output = layout.as_lambda_paths(_decoded(expired.stdout))
        doing = "importing the module" + (" and running the handler" if mode == "invoke" else "")
        failure = f"Task timed out after {limit:.2f} seconds ({doing})"
        return _BootstrapRun(request_id, None, output, failure, "Sandbox.Timedout")
    output = layout.as_lambda_paths(completed.stdout or "")
    outcome = _read_outcome(layout)
    if outcome is None:
        failure = f"Runtime exited with error: exit status {completed.returncode}, before reporting"
        return _BootstrapRun(request_id, None, output, failure, "Runtime.ExitError")
    return _BootstrapRun(request_id, outcome, output)


def _decoded(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return output or ""


def _read_outcome(layout: LambdaLayout) -> dict[str, Any] | None:
    try:
        outcome = json.loads((layout.scratch / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(outcome, dict):
        return None
    # Error texts name Lambda's paths; the handler's own response is left exactly as it returned it.
    for key in ("errorMessage", "traceback"):
        if isinstance(outcome.get(key), str):
            outcome[key] = layout.as_lambda_paths(outcome[key])
    if isinstance(outcome.get("stackTrace"), list):
        outcome["stackTrace"] = [layout.as_lambda_paths(str(line)) for line in outcome["stackTrace"]]
    return outcome


def _lambda_environment(function: LocalFunction, layout: LambdaLayout, python: str) -> dict[str, str]:
    """The variables Lambda's Python runtimes set, pointing into the layout."""
    today = datetime.now(timezone.utc).strftime("%Y/%m/%d")
    library_path = [str(layout.task), str(layout.task / "lib"), str(layout.opt / "lib")]
    if os.environ.get("LD_LIBRARY_PATH"):  # what this machine's interpreter may need to start
        library_path.insert(0, os.environ["LD_LIBRARY_PATH"])
    environment = {
        "_HANDLER": function.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime.name}",
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{today}/[$LATEST]{uuid.uuid4().hex}",
        "AWS_REGION": DEFAULT_REGION,
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
        "LAMBDA_TASK_ROOT": str(layout.task),
        "LAMBDA_RUNTIME_DIR": str(layout.runtime_dir),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": os.pathsep.join(
            [str(Path(python).parent), "/usr/local/bin", "/usr/bin", "/bin", str(layout.opt / "bin")]
        ),
        "LD_LIBRARY_PATH": os.pathsep.join(library_path),
    }
    environment.update(function.environment)
    return environment


# Messages for a failed check ---------------------------------------------------------------------

_CRASH_ADVICE = (
    "The interpreter stopped without reporting: a native extension may have crashed, or the module "
    "ended the process (`os._exit`). Its output is above; `hatch-lambda invoke` runs it the same way."
)


def _check_failure(function: LocalFunction, name: HandlerName, outcome: dict[str, Any]) -> HandlerCheckError:
    summary = f"{outcome['errorType']}: {outcome['errorMessage']}"
    advice = _advice(function, name, outcome)
    return HandlerCheckError(function.handler, summary, outcome.get("traceback", ""), advice)


def _advice(function: LocalFunction, name: HandlerName, outcome: dict[str, Any]) -> str:
    kind = outcome.get("kind")
    missing = outcome.get("missing_module")
    shipped = _top_level_names(function.source_zip)
    if kind == "import" and missing and (name.module == missing or name.module.startswith(missing + ".")):
        listed = ", ".join(f"`{top}`" for top in shipped) or "nothing"
        return (
            f"The source zip has no module `{missing}` (at its root: {listed}). The handler setting is "
            "the module's import path inside the source zip, then the function's name."
        )
    if kind == "import" and missing and missing.partition(".")[0] in shipped:
        return (
            f"`{missing}` is imported but the source zip has no such module: the project's wheel leaves "
            "it out (see `tool.hatch.build.targets.wheel`), or the import names it wrongly."
        )
    if kind == "import" and missing:
        return (
            f"`{missing}` is imported but is in neither the source zip nor the layer: add the "
            "distribution that provides it to `project.dependencies` (or to an extra the target builds)."
        )
    if outcome.get("errno") == 30:  # EROFS
        return (
            "Lambda's task and layer directories are read-only; only /tmp is writable. Write to "
            "`tempfile.gettempdir()` instead."
        )
    return _ADVICE_BY_KIND.get(str(kind), _ADVICE_BY_KIND["init"]).format(
        module=name.module, function=name.function, version=function.runtime.python_version_text
    )


_ADVICE_BY_KIND = {
    "import": "The module, or something it imports, could not be imported with CPython {version}.",
    "builtin": "`{module}` starts with a module built into CPython, which Lambda refuses: rename yours.",
    "syntax": "CPython {version}, the runtime's Python, cannot compile the module.",
    "attribute": "Module `{module}` has no `{function}`: check the function's name in the handler setting.",
    "not-callable": "Lambda calls `{function}(event, context)`: `{function}` must be a function.",
    "signature": "Lambda calls the handler with two positional arguments: `def {function}(event, context):`.",
    "coroutine": (
        "Lambda's Python runtime calls the handler without awaiting it: make `{function}` a plain "
        "function and run the coroutine inside it with `asyncio.run(...)`."
    ),
    "init": (
        "Importing `{module}` raised: every cold start on Lambda would fail the same way. Code that runs "
        "at import sees only the zips, the variables Lambda itself sets (not the function's own "
        "configuration) and a read-only task directory."
    ),
}


def _top_level_names(source_zip: Path | None) -> list[str]:
    if source_zip is None:
        return []
    with zipfile.ZipFile(source_zip) as opened:
        roots = {entry.split("/")[0] for entry in opened.namelist()}
    # Packages (directories) and modules; the .dist-info and data files are not importable names.
    return sorted(root.removesuffix(".py") for root in roots if root.endswith(".py") or "." not in root)


# The bootstrap ----------------------------------------------------------------------------------
# Runs inside the runtime's CPython (3.9 and up) with nothing but the standard library, as
# `<layout>/runtime/bootstrap.py <request.json>`. It mirrors awslambdaric's `_get_handler`, error
# payloads and `LambdaContext`, so messages read as Lambda's own.

# Read from its own file: a real module, linted like the rest, run by the isolated interpreter.
_BOOTSTRAP_SOURCE = Path(__file__).with_name("bootstrap.py")
