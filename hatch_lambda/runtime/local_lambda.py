"""Runs a handler from the built zips on this machine, the way Lambda's Python runtime runs it.

The zips are laid out as Lambda lays them out (the source zip in a task directory like
`/var/task`, the layer in an opt directory like `/opt`) and made read-only; the layer's tree is
extracted once per sha256 and shared through the cache (`layer.extracted_layers`). A fresh CPython
of the runtime's version then runs a small bootstrap with `-I -S -X pycache_prefix=DIR -u`: no
environment variables of Python's, no user site, no site-packages of the host, bytecode written
only into the cache's directory for that interpreter (never into a zip's tree; `-B` when the cache
cannot be used), unbuffered output. The
bootstrap puts the task directory, the layer's `python/lib/python3.X/site-packages` and the layer's
`python/`, then Lambda's own SDK (boto3, installed for the target and cached, see `runtime_sdk`),
before the interpreter's standard library (Lambda's `sys.path` order), refuses writes to
the read-only tree with Lambda's `EROFS` error, and either checks that the handler imports and takes
`(event, context)` (at build time) or calls it with an event (`hatch-lambda invoke`). It reports
through a JSON file in a separate writable directory, so whatever the handler prints reaches the
user untouched.

Only a host that can load the layer's binaries can do this: Linux, a glibc at least as new as the
runtime's, and a CPython of the runtime's exact version for the target's machine, run natively or
under an emulator named by `HATCH_LAMBDA_PYTHON_3_X_ARM64` (see `target_python`). `can_run_here`
says why not otherwise.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hatch_lambda.errors import HandlerCheckError, LambdaBuildError
from hatch_lambda.files.cache_root import cache_directory
from hatch_lambda.files.removal import remove_tree
from hatch_lambda.layer.extracted_layers import (
    TRANSIENT_PREFIX,
    bytecode_prefix,
    extract_zip,
    set_write_bits,
    shared_layer_tree,
    ships_bytecode,
)
from hatch_lambda.platform.runtimes import Runtime
from hatch_lambda.runtime.environment import DEFAULT_REGION, LambdaPaths, lambda_variables
from hatch_lambda.runtime.handler_name import HANDLER_SETTING, HandlerName, parse_handler
from hatch_lambda.runtime.runtime_sdk import DEFAULT_RUNTIME_SDK, installed_versions, runtime_sdk_directory
from hatch_lambda.runtime.snap_start import (
    INITIALIZATION_ENVIRONMENT,
    PHASES,
    SnapStartVerdict,
    judge,
    read_phase,
    write_stand_in,
)
from hatch_lambda.runtime.target_python import TargetPython, find_target_python

# SnapStart (and the `snapshot_restore_py` Lambda bundles for it) exists from Python 3.12 on.
SNAP_START_MINIMUM = (3, 12)

# Lambda's defaults for a new function, and the ceilings of its configuration.
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_SECONDS = 3.0
MAX_TIMEOUT_SECONDS = 900.0
# AWS documentation's example account, for an ARN that is plainly not a real one.
EXAMPLE_ACCOUNT = "123456789012"

# Importing the handler's module is Lambda's init phase; locally the first import of a large layer
# can be slow (a cold file cache, or an emulated interpreter), so the allowance is generous.
INIT_ALLOWANCE_SECONDS = 120.0

# Where the temporary layout's directories appear in messages: the paths Lambda would print.
LAMBDA_PATHS = {"task": "/var/task", "opt": "/opt", "runtime": "/var/runtime", "tmp": "/tmp"}

# Failures of Lambda's init phase (importing the handler): the runtime reports them before any
# request, so their payload's `requestId` is empty (awslambdaric 4.2.2, `bootstrap.make_error`).
INIT_FAILURE_KINDS = frozenset({"import", "builtin", "syntax", "attribute", "init"})


# Can this machine run the target? --------------------------------------------------------------


def can_run_here(runtime: Runtime, architecture: str) -> str | None:
    """None when this machine can run `runtime` on `architecture` (natively or emulated), else why not."""
    found = find_target_python(runtime, architecture)
    return found if isinstance(found, str) else None


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
    # The function's configured variables, set after Lambda's own (so `--env` can change a region).
    environment: Mapping[str, str] = field(default_factory=dict)
    # Where `handler` came from, for the message when it is malformed.
    handler_setting: str = HANDLER_SETTING
    architecture: str = "x86_64"
    # The boto3 Lambda's runtime carries (`runtime-sdk`); None leaves it off the path.
    # `invoke --snap-start`: init as SnapStart does (its variable set), the hooks, then the handler.
    snap_start: bool = False
    runtime_sdk: str | None = DEFAULT_RUNTIME_SDK
    # Where uv looks for the project's index settings when it installs the runtime SDK.
    project_root: Path | None = None
    region: str = DEFAULT_REGION
    # The execution role's credentials as variables; None: a placeholder key pair.
    credentials: Mapping[str, str] | None = None


@dataclass(frozen=True)
class LambdaLayout:
    """A temporary directory laid out like a Lambda execution environment."""

    root: Path
    # Lambda's own SDK (boto3 ...), after the layers on sys.path like /var/runtime; shared, in the cache.
    runtime_sdk: Path | None = None
    # The layer's read-only tree shared through the cache (`extracted_layers`), which `opt` links
    # to; None: the layer is extracted into `opt` itself.
    shared_opt: Path | None = None
    # How the interpreter treats bytecode: compiled into the cache once (`-X pycache_prefix=...`),
    # or, without a usable cache, never written (`-B`).
    bytecode_options: tuple[str, ...] = ("-B",)

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
    def tmp(self) -> Path:
        """The function's own `/tmp`, empty when the layout is made and removed with it, as Lambda
        gives each execution environment its own: `TMPDIR` points there, so what a handler writes
        through `tempfile` never lands in this machine's temporary directory."""
        return self.root / "tmp"

    @property
    def scratch(self) -> Path:
        """Writable, outside the read-only tree: the bootstrap's request, event and result."""
        return self.root / "invocation"

    @property
    def runtime_hooks(self) -> Path:
        """Where `snapshot_restore_py` stands in for the one Lambda's Python 3.12+ runtimes bundle."""
        return self.root / "runtime-hooks"

    @property
    def read_only(self) -> list[Path]:
        sdk = [self.runtime_sdk] if self.runtime_sdk else []
        return [self.task, self.opt, self.runtime_dir, self.runtime_hooks, *sdk]

    def sys_path(self, runtime: Runtime) -> list[str]:
        """Lambda's order: function code, the layer's versioned site-packages, the layer's python/,
        then the runtime's own SDK."""
        paths = [str(self.task), str(self.opt / runtime.site_packages), str(self.opt / "python")]
        paths += [str(self.runtime_sdk)] if self.runtime_sdk else []
        return paths + ([str(self.runtime_hooks)] if runtime.python_version >= SNAP_START_MINIMUM else [])

    def as_lambda_paths(self, text: str) -> str:
        """`text` with this layout's directories shown as Lambda's (`/var/task`, `/opt`)."""
        if self.runtime_sdk is not None:
            text = text.replace(str(self.runtime_sdk), LAMBDA_PATHS["runtime"])
        if self.shared_opt is not None:
            text = text.replace(str(self.shared_opt), LAMBDA_PATHS["opt"])
        for name, lambda_path in LAMBDA_PATHS.items():
            text = text.replace(str(self.root / name), lambda_path)
        return text


@contextmanager
def lambda_layout(
    source_zip: Path | None,
    layer_zip: Path | None,
    runtime_sdk: Path | None = None,
    *,
    interpreter: str | None = None,
) -> Iterator[LambdaLayout]:
    """Lay the zips out like Lambda (source → task, layer → opt), read-only, removed on exit.

    The layer's tree is the cache's, extracted once per sha256 and shared (`extracted_layers`);
    the source zip, small and new with every build, is extracted here. With `interpreter`
    (`cpython-3.12-x86_64`) bytecode is compiled into the cache's directory for it, so the layer's
    modules, the runtime SDK's and the standard library's compile once; without, none is written.
    A release that ships its own bytecode runs with `-B`, on that bytecode, as Lambda runs it.
    """
    root = Path(tempfile.mkdtemp(prefix=TRANSIENT_PREFIX)).resolve()
    cache = cache_directory().absolute()
    try:
        with ExitStack() as held:
            shared = held.enter_context(shared_layer_tree(cache, layer_zip)) if layer_zip else None
            # The layer's modules compile into the shared tree's own bytecode directory.
            redirected = {"opt": shared.opt} if shared else {}
            # A release built with `compile-bytecode` carries the `.pyc` files Lambda loads without
            # reading a source; under `-X pycache_prefix` CPython would ignore them and compile the
            # sources instead, so such a release runs with `-B`: its own bytecode is what is checked.
            layer_bytecode = shared.ships_bytecode if shared else ships_bytecode(layer_zip)
            with_bytecode = layer_bytecode or ships_bytecode(source_zip)
            prefix = (
                held.enter_context(bytecode_prefix(cache, interpreter, root, redirected))
                if interpreter and not with_bytecode
                else None
            )
            options = ("-X", f"pycache_prefix={prefix}") if prefix is not None else ("-B",)
            layout = LambdaLayout(root, runtime_sdk, shared.opt if shared else None, options)
            _fill(layout, source_zip, None if shared else layer_zip)
            yield layout
    finally:
        remove_tree(root, read_only=True)


def _fill(layout: LambdaLayout, source_zip: Path | None, layer_zip: Path | None) -> None:
    """Extract what the layout does not share, add the runtime's files, and make them read-only."""
    own = [layout.task, layout.runtime_dir, layout.runtime_hooks]
    extracted = [(source_zip, layout.task)]
    if layout.shared_opt is not None:
        # A link, so the handler sees the layer where it always did (beside the task directory);
        # the bootstrap refuses writes through it like any other (it compares real paths).
        layout.opt.symlink_to(layout.shared_opt, target_is_directory=True)
    else:
        own.append(layout.opt)
        extracted.append((layer_zip, layout.opt))
    for archive, directory in extracted:
        directory.mkdir()
        if archive is not None:
            extract_zip(archive, directory)
    layout.runtime_dir.mkdir()
    shutil.copyfile(_BOOTSTRAP_SOURCE, layout.runtime_dir / "bootstrap.py")
    write_stand_in(layout.runtime_hooks)
    layout.scratch.mkdir()
    layout.tmp.mkdir()
    for directory in own:
        set_write_bits(directory, writable=False)


# Checking and invoking --------------------------------------------------------------------------


@dataclass(frozen=True)
class HandlerCheck:
    """A handler that imported from the zips and takes `(event, context)`."""

    handler: str
    python: str
    seconds: float
    # Top-level modules the handler imported from Lambda's runtime SDK rather than from the zips.
    runtime_provided: tuple[str, ...]
    python_version: str = ""
    emulated: bool = False
    # What the runtime SDK directory held (boto3 → 1.40.4, ...), for the report.
    runtime_sdk_versions: Mapping[str, str] = field(default_factory=dict)
    # SnapStart hooks the handler's module registered, run in Lambda's order, one line each.
    snap_start_lines: tuple[str, ...] = ()

    def report_lines(self) -> list[str]:
        """What the build prints: one `Checked handler NAME: ...` line, and what the runtime provided."""
        how = " under emulation" if self.emulated else ""
        lines = [
            f"Checked handler {self.handler}: it imports from the zips and takes (event, context) on "
            f"CPython {self.python_version}{how} ({self.seconds:.2f}s)"
        ]
        if self.runtime_provided:
            boto3 = self.runtime_sdk_versions.get("boto3")
            which = f" (boto3 {boto3})" if boto3 else ""
            lines.append(
                f"  imported from Lambda's runtime SDK{which}, not from the zips: "
                + ", ".join(self.runtime_provided)
            )
        lines += [f"  SnapStart {line}" for line in self.snap_start_lines]
        return lines


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
    emulated: bool = False
    # `--snap-start`: the hooks that ran between init and the handler, against Lambda's limits.
    snap_start: SnapStartVerdict | None = None


def check_handler(function: LocalFunction, *, python: str | TargetPython | None = None) -> HandlerCheck:
    """Import `function.handler` from the zips like Lambda, and check it takes (event, context)."""
    return check_handlers(function, [function.handler], python=python)[0]


def check_handlers(
    function: LocalFunction, handlers: Sequence[str], *, python: str | TargetPython | None = None
) -> list[HandlerCheck]:
    """Import each handler from the zips like Lambda, in its own fresh interpreter (each is its own
    function on Lambda), and check it is callable with (event, context).

    Raises `HandlerCheckError` for the first that is not, with the child interpreter's traceback.
    `python` is the runtime's CPython (a path, or a `TargetPython` for an emulated one); found like
    `can_run_here` finds it when not given. `function.handler` is ignored; its other fields apply.
    """
    names = [parse_handler(handler, function.handler_setting) for handler in handlers]
    target = _require_python(function, python)
    sdk = _runtime_sdk(function, target)
    checks = []
    with lambda_layout(
        function.source_zip, function.layer_zip, sdk, interpreter=_interpreter_tag(function)
    ) as layout:
        for name in names:
            started = time.monotonic()
            one = _replace_handler(function, name.text)
            run = _run_bootstrap(one, layout, target, "check", "{}", capture=True)
            if run.outcome is None:
                raise HandlerCheckError(name.text, run.failure, run.output, _CRASH_ADVICE)
            if not run.outcome["ok"]:
                raise _check_failure(one, name, run.outcome)
            verdict = snap_start_verdict(run.outcome, timeout_seconds=function.timeout_seconds)
            if verdict is not None and verdict.problems:
                raise HandlerCheckError(
                    name.text,
                    "its SnapStart hooks would fail on Lambda: " + "; ".join(verdict.problems),
                    "\n".join(verdict.lines),
                    "Fix the hook (or its time), or take it out of the handler's module.",
                )
            checks.append(
                HandlerCheck(
                    name.text,
                    " ".join(target.command) if target.emulated else target.executable,
                    time.monotonic() - started,
                    tuple(run.outcome.get("runtime_provided", ())),
                    function.runtime.python_version_text,
                    target.emulated,
                    installed_versions(sdk) if sdk else {},
                    tuple(verdict.lines) if verdict is not None else (),
                )
            )
    return checks


def snap_start_verdict(outcome: Mapping[str, Any], *, timeout_seconds: float) -> SnapStartVerdict | None:
    """The SnapStart hooks a run reported, against Lambda's limits; None when none were registered."""
    phases = outcome.get("snap_start")
    if not phases:
        return None
    runs = [run for phase in PHASES for run in read_phase(phase, phases.get(phase, []))]
    if not runs:
        return None
    return judge(
        runs, init_seconds=float(outcome.get("init_ms", 0.0)) / 1000, timeout_seconds=timeout_seconds
    )


def invoke_handler(
    function: LocalFunction,
    event_json: str,
    *,
    python: str | TargetPython | None = None,
    handler_stdout: int | None = None,
) -> Invocation:
    """Call the handler with `event_json` and a Lambda-like context; return what Lambda would.

    The handler's standard error is this process's; its standard output goes to `handler_stdout` (a
    file descriptor; None: this process's standard output).
    """
    parse_handler(function.handler, function.handler_setting)
    target = _require_python(function, python)
    sdk = _runtime_sdk(function, target)
    with lambda_layout(
        function.source_zip, function.layer_zip, sdk, interpreter=_interpreter_tag(function)
    ) as layout:
        run = _run_bootstrap(function, layout, target, "invoke", event_json, stdout=handler_stdout)
    emulated = target.emulated
    if run.outcome is None:
        error = _error_payload({"errorType": run.failure_type, "errorMessage": run.failure}, run.request_id)
        return Invocation(run.request_id, None, error, run.output, emulated=emulated)
    outcome = run.outcome
    hooks = snap_start_verdict(outcome, timeout_seconds=function.timeout_seconds)
    if outcome["ok"]:
        response = _response_bytes(outcome)
        return Invocation(
            run.request_id, response, None, emulated=emulated, snap_start=hooks, **_timings(outcome)
        )
    traceback_text = str(outcome.get("traceback", ""))
    missing = outcome.get("missing_module")
    error = _error_payload(outcome, run.request_id)
    return Invocation(
        run.request_id, None, error, traceback_text, missing, emulated=emulated, **_timings(outcome)
    )


def _interpreter_tag(function: LocalFunction) -> str:
    """Whose bytecode: pycs of one CPython version and architecture only, never mixed."""
    return f"cpython-{function.runtime.python_version_text}-{function.architecture}"


def _replace_handler(function: LocalFunction, handler: str) -> LocalFunction:
    import dataclasses  # noqa: PLC0415 - one use

    return dataclasses.replace(function, handler=handler)


def _timings(outcome: dict[str, Any]) -> dict[str, Any]:
    return {key: outcome.get(key) for key in ("init_ms", "duration_ms", "max_memory_mb")}


def _require_python(function: LocalFunction, python: str | TargetPython | None) -> TargetPython:
    if isinstance(python, TargetPython):
        return python
    if python is not None:
        return TargetPython((python,), emulated=False)
    found = find_target_python(function.runtime, function.architecture)
    if isinstance(found, str):
        raise LambdaBuildError(f"Cannot run the handler locally: {found}")
    return found


def _runtime_sdk(function: LocalFunction, target: TargetPython) -> Path | None:
    if function.runtime_sdk is None:
        return None
    return runtime_sdk_directory(
        function.runtime_sdk,
        function.runtime,
        function.architecture,
        project_root=function.project_root or Path.cwd(),
        compile_with=target.command,
    )


def _error_payload(outcome: Mapping[str, Any], request_id: str) -> dict[str, Any]:
    """The error the caller of Invoke gets, in awslambdaric 4.2.2's shape (`bootstrap.make_error`).

    Failures Lambda's service reports itself (a timeout, the runtime exiting) carry only the type
    and a message that starts with the request's id.
    """
    error_type, message = str(outcome["errorType"]), str(outcome["errorMessage"])
    if error_type in ("Sandbox.Timedout", "Runtime.ExitError"):
        return {"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {message}"}
    init_failure = outcome.get("kind") in INIT_FAILURE_KINDS
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": "" if init_failure else request_id,
        "stackTrace": list(outcome.get("stackTrace") or []),
    }


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
    target: TargetPython,
    mode: str,
    event_json: str,
    *,
    capture: bool = False,
    stdout: int | None = None,
) -> _BootstrapRun:
    request_id = str(uuid.uuid4())
    environment = _lambda_environment(function, layout, target)
    request = {
        "mode": mode,
        "handler": function.handler,
        "sys_path": layout.sys_path(function.runtime),
        "read_only": [str(path) for path in layout.read_only],
        "runtime_sdk": str(layout.runtime_sdk) if layout.runtime_sdk else None,
        "event": str(layout.scratch / "event.json"),
        "result": str(layout.scratch / "result.json"),
        "request_id": request_id,
        "timeout_ms": int(function.timeout_seconds * 1000),
        "snap_start": function.snap_start,
        "invoked_function_arn": (
            f"arn:aws:lambda:{environment['AWS_REGION']}:{EXAMPLE_ACCOUNT}:function:{function.function_name}"
        ),
    }
    (layout.scratch / "event.json").write_text(event_json, encoding="utf-8")
    (layout.scratch / "result.json").unlink(missing_ok=True)  # one layout serves several handlers
    request_path = layout.scratch / "request.json"
    request_path.write_text(json.dumps(request), encoding="utf-8")
    bootstrap = str(layout.runtime_dir / "bootstrap.py")
    command = [*target.command, "-I", "-S", *layout.bytecode_options, "-u", bootstrap, str(request_path)]
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
        failure = f"Runtime exited with error: exit status {completed.returncode}"
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


def _lambda_environment(
    function: LocalFunction, layout: LambdaLayout, target: TargetPython
) -> dict[str, str]:
    """Lambda's variables pointing into the layout, then the function's own configuration."""
    paths = LambdaPaths(
        layout.task,
        layout.opt,
        layout.runtime_dir,
        # An emulated interpreter's directory holds binaries this machine cannot run natively.
        None if target.emulated else Path(target.executable).parent,
    )
    environment = lambda_variables(
        handler=function.handler,
        runtime=function.runtime,
        function_name=function.function_name,
        memory_mb=function.memory_mb,
        paths=paths,
        region=function.region,
        credentials=function.credentials,
    )
    # Lambda sets no TMPDIR: its /tmp is the environment's own. Here `tempfile` is pointed at the
    # layout's, unless the function's configuration names one.
    environment["TMPDIR"] = str(layout.tmp)
    if function.snap_start:
        environment.update(INITIALIZATION_ENVIRONMENT)
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
            f"`{missing}` is imported but is in neither the source zip, nor the layer, nor Lambda's "
            "runtime (which carries only boto3 and what it needs): add the distribution that provides "
            "it to `project.dependencies` (or to an extra the target builds), and keep it out of "
            "`exclude-packages`."
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
        "Importing `{module}` raised: every cold start on Lambda would fail the same way, unless the "
        "function's configuration differs. Code that runs at import sees the zips, Lambda's runtime "
        "SDK, a read-only task directory, the variables Lambda itself sets (placeholder credentials) "
        "and those of `tool.hatch.build.targets.lambda.environment`: set there what the function's "
        "configuration on Lambda sets."
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
