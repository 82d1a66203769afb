"""Runs inside the runtime's CPython, with nothing but its standard library (3.9 and up).

`local_runtime` copies this file into the temporary Lambda layout and starts it as
`python -I -S -X pycache_prefix=DIR -u bootstrap.py <request.json>` (`-B` in place of the prefix
when hatch-lambda's cache cannot hold bytecode). It mirrors awslambdaric's `_get_handler`, its
error payloads and `LambdaContext`, so that messages read as Lambda's own. It must not import
hatch_lambda: that package is not on the isolated interpreter's path.
"""

# Annotations stay unevaluated strings, so `X | None` and `list[str]` in them work on CPython 3.9.
from __future__ import annotations

import errno
import importlib
import json
import logging
import os
import reprlib
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterable
from typing import Any, Literal, NoReturn, TypedDict

_INIT_STARTED = time.monotonic()
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# Audit events that change the file system, and which of their arguments are the paths changed.
_PATH_EVENTS: dict[str, tuple[int, ...]] = {
    "os.mkdir": (0,),
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.rename": (0, 1),
    "os.link": (1,),
    "os.symlink": (1,),
    "os.truncate": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.utime": (0,),
}
# Objects other than callables that `inspect` can find the source of.
_HAS_SOURCE = (types.ModuleType, types.CodeType, types.FrameType, types.TracebackType)
_HIDDEN_FILES = {os.path.abspath(__file__), importlib.__file__}
_REPORTED = threading.Lock()


class _Request(TypedDict):
    """What `local_runtime._run_bootstrap` writes to `request.json`."""

    mode: Literal["check", "invoke"]
    handler: str
    sys_path: list[str]
    read_only: list[str]
    runtime_sdk: str | None  # the directory of Lambda's own boto3, last on the function's path
    event: str  # the event's JSON file
    result: str  # where the report goes
    request_id: str
    timeout_ms: int
    invoked_function_arn: str
    snap_start: bool  # `invoke --snap-start`: run the SnapStart hooks between init and the handler


class _Outcome(TypedDict):
    ok: bool


class _Report(_Outcome, total=False):
    """What `result.json` holds for `local_runtime`: Lambda's error payload, or the handler's response."""

    # A failure: its `kind` picks the advice `local_runtime` gives.
    kind: str
    errorType: str
    errorMessage: str
    stackTrace: list[str]
    traceback: str
    errno: int
    missing_module: str
    # A check: the top-level modules imported from Lambda's runtime SDK, not from the zips.
    runtime_provided: list[str]
    # An invocation: the response (JSON text, or the hex of the bytes returned) and what it cost.
    response: str
    response_hex: str
    init_ms: float
    duration_ms: float
    max_memory_mb: int | None
    # The SnapStart hooks run after init, per phase: name, seconds, error (see `snap_start`).
    snap_start: dict[str, list[dict[str, object]]]


class _Fault(Exception):
    """A failure Lambda's runtime names with an error type of its own (`Runtime.…`)."""

    def __init__(
        self,
        error_type: str,
        message: str,
        kind: str,
        error: BaseException | None = None,
        *,
        stack: list[str] | None = None,
        missing_module: str | None = None,
    ) -> None:
        super().__init__(message)
        self.report = _report(error_type, message, kind, error, stack=stack, missing_module=missing_module)


def _report(
    error_type: str,
    message: str,
    kind: str,
    error: BaseException | None = None,
    *,
    stack: list[str] | None = None,
    traceback_text: str | None = None,
    missing_module: str | None = None,
) -> _Report:
    """Lambda's error payload; `traceback_text` stands in for the error's when nothing was raised."""
    report: _Report = {"ok": False, "kind": kind, "errorType": error_type, "errorMessage": message}
    report["stackTrace"] = stack if stack is not None else []
    if traceback_text is None:
        traceback_text = _traceback_text(error) if error is not None else ""
    report["traceback"] = traceback_text
    if isinstance(error, OSError) and error.errno is not None:
        report["errno"] = error.errno
    if missing_module is not None:
        report["missing_module"] = missing_module
    return report


def _user_frames(error: BaseException) -> traceback.StackSummary:
    frames = traceback.extract_tb(error.__traceback__)
    kept = [
        frame
        for frame in frames
        if frame.filename not in _HIDDEN_FILES and not frame.filename.startswith("<frozen importlib")
    ]
    return traceback.StackSummary.from_list(kept)


def _traceback_text(error: BaseException) -> str:
    formatted = traceback.TracebackException(type(error), error, error.__traceback__)
    formatted.stack = _user_frames(error)
    return "".join(formatted.format())


def _forbid_writes_under(roots: Iterable[str]) -> None:
    """Lambda's task and layer directories are on a read-only file system; refuse writes the same way."""
    real_roots = tuple(os.path.realpath(root) for root in roots)

    def refuse(path: object) -> None:
        if not isinstance(path, (str, bytes, os.PathLike)):
            return  # a file descriptor, checked when it was opened; or no path at all
        try:
            shown = os.fsdecode(path)
        except TypeError:  # a `__fspath__` that gives neither str nor bytes
            return
        real = os.path.realpath(shown)
        if any(real == root or real.startswith(root + os.sep) for root in real_roots):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), shown)

    def hook(event: str, arguments: tuple[object, ...]) -> None:
        if event == "open":
            flags = arguments[2]
            if isinstance(flags, int) and flags & _WRITE_FLAGS:
                refuse(arguments[0])
        elif event in _PATH_EVENTS:
            for index in _PATH_EVENTS[event]:
                refuse(arguments[index])

    sys.addaudithook(hook)


def _load(handler: str) -> Callable[[Any, LambdaContext], object]:
    """awslambdaric's `_get_handler`: the same split, checks, error types and messages."""
    module_name, _, function_name = handler.rpartition(".")
    if module_name.split(".")[0] in sys.builtin_module_names:
        message = f"Cannot use built-in module {module_name} as a handler module"
        raise _Fault("Runtime.BuiltInModuleConflict", message, "builtin")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        message = f"Unable to import module '{module_name}': {error}"
        missing = error.name if isinstance(error, ModuleNotFoundError) else None
        raise _Fault("Runtime.ImportModuleError", message, "import", error, missing_module=missing) from error
    except SyntaxError as error:
        message = f"Syntax error in module '{module_name}': {error}"
        trace = [f'  File "{error.filename}" Line {error.lineno}\n    {error.text}']
        raise _Fault("Runtime.UserCodeSyntaxError", message, "syntax", error, stack=trace) from error
    try:
        # Whatever the module holds under that name: Lambda calls it as is, and `_check` says if it can.
        function: Callable[[Any, LambdaContext], object] = getattr(module, function_name)
    except AttributeError as error:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        raise _Fault("Runtime.HandlerNotFound", message, "attribute", error) from error
    return function


def _check(function: object, handler: str) -> _Report | None:
    """None when Lambda could call `function(event, context)`, else why not, as Lambda would say it."""
    import inspect  # noqa: PLC0415 - only once the handler imported: ~8 ms of init on CPython 3.9

    function_name = handler.rpartition(".")[2]
    if not callable(function):
        message = f"'{type(function).__name__}' object is not callable"
        where = _where(function, handler, message)
        return _report("TypeError", message, "not-callable", traceback_text=where)
    if inspect.iscoroutinefunction(function):
        message = f"{handler} is a coroutine function; Lambda would return the coroutine unawaited"
        where = _where(function, handler, message)
        return _report("Runtime.MarshalError", message, "coroutine", traceback_text=where)
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None  # a builtin or extension callable without a signature: nothing more to check
    try:
        signature.bind("event", "context")
    except TypeError as error:
        message = f"{function_name}{signature} cannot be called with (event, context): {error}"
        where = _where(function, handler, message)
        return _report("TypeError", message, "signature", traceback_text=where)
    return None


def _where(function: object, handler: str, message: str) -> str:
    """Where the handler is defined, in a traceback's words, for failures that raise nothing."""
    import inspect  # noqa: PLC0415 - only for a handler that fails the check (see `_check`)

    fallback = f"{handler} = {reprlib.repr(function)}\nTypeError: {message}\n"
    if not (callable(function) or isinstance(function, _HAS_SOURCE)):
        return fallback  # what `inspect` would refuse with a TypeError
    try:
        lines, number = inspect.getsourcelines(function)
        path = inspect.getsourcefile(function)
    except (OSError, TypeError):
        return fallback
    return f'  File "{path}", line {number}\n    {lines[0].strip()}\nTypeError: {message}\n'


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __init__(self) -> None:
        self.cognito_identity_id: str | None = None
        self.cognito_identity_pool_id: str | None = None


class LambdaContext:
    """The attributes of awslambdaric's context; `memory_limit_in_mb` is a string there too."""

    def __init__(self, request: _Request) -> None:
        self.aws_request_id = request["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = request["invoked_function_arn"]
        # Lambda fills these only for multi-tenant functions and mobile SDK calls; never here.
        self.tenant_id: str | None = None
        self.client_context: object | None = None
        self.identity = CognitoIdentity()
        self._deadline_ms = int(time.time() * 1000) + request["timeout_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, message: object) -> None:
        sys.stdout.write(str(message))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name},"
            f"function_version={self.function_version}])"
        )


class _RequestIdFilter(logging.Filter):
    def __init__(self, request_id: str) -> None:
        super().__init__()
        self.request_id = request_id

    def filter(self, record: logging.LogRecord) -> bool:
        # The format below names it; a LogRecord takes any attribute, but its type declares none.
        record.__dict__["aws_request_id"] = self.request_id
        return True


def _setup_logging(request_id: str) -> None:
    """Lambda's runtime installs this handler on the root logger before importing the function."""
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.terminator = ""
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.addFilter(_RequestIdFilter(request_id))
    logging.getLogger().addHandler(handler)


# awslambdaric 4.2.2 (`lambda_runtime_marshaller.Encoder`) encodes with simplejson: ensure_ascii
# off only for these runtimes, NaN allowed, a Decimal as its exact text (`Decimal("1.10")` → 1.10,
# a NaN one as NaN), a namedtuple as an object (simplejson's `namedtuple_as_object`), and only
# `bytes` passed through unencoded. The standard library's json does the rest identically.
_UNESCAPED_RUNTIMES = {
    "AWS_Lambda_python3.12",
    "AWS_Lambda_python3.13",
    "AWS_Lambda_python3.14",
    "AWS_Lambda_python3.15",
}


def _encode(response: object) -> str:
    import decimal  # noqa: PLC0415 - only once the handler returned: ~10 ms to import on 3.9

    raw_texts: list[str] = []
    marker = "hatch-lambda-raw-json-" + os.urandom(8).hex() + "-"

    def default(value: object) -> object:
        if isinstance(value, decimal.Decimal):
            if value.is_nan():
                return float("nan")
            raw_texts.append(str(value))
            return f"{marker}{len(raw_texts) - 1}"
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    ensure_ascii = os.environ.get("AWS_EXECUTION_ENV") not in _UNESCAPED_RUNTIMES
    text = json.dumps(_as_simplejson_sees(response), default=default, ensure_ascii=ensure_ascii)
    if not raw_texts:
        return text
    import re  # noqa: PLC0415 - only for a response holding a Decimal

    return re.sub(f'"{marker}(\\d+)"', lambda found: raw_texts[int(found[1])], text)


def _as_simplejson_sees(value: object) -> object:
    """Namedtuples as objects, everything else unchanged (containers rebuilt only where needed)."""
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {key: _as_simplejson_sees(item) for key, item in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_as_simplejson_sees(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_simplejson_sees(item) for key, item in value.items()}
    return value


def _max_memory_mb() -> int | None:
    try:
        import resource  # noqa: PLC0415 - Unix only, and read after the handler ran, not during init
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # kilobytes on Linux


def _invoke(function: Callable[[Any, LambdaContext], object], request: _Request, init_ms: float) -> _Report:
    context = LambdaContext(request)
    try:
        with open(request["event"], encoding="utf-8") as stream:
            event = json.load(stream)  # any JSON value: the handler decides what it accepts
    except ValueError as error:
        return _report("Runtime.UnmarshalError", f"Unable to unmarshal input: {error}", "event")
    seconds = request["timeout_ms"] / 1000.0
    watchdog = threading.Timer(seconds, _time_out, (request, seconds))
    watchdog.daemon = True
    started = time.monotonic()
    watchdog.start()
    try:
        response = function(event, context)
    except BaseException as error:  # Lambda reports whatever the handler raises, SystemExit included
        report = _handler_error(error, request["request_id"])
    else:
        report = _marshal(response)
    watchdog.cancel()
    report["init_ms"] = init_ms
    report["duration_ms"] = (time.monotonic() - started) * 1000
    report["max_memory_mb"] = _max_memory_mb()
    return report


def _handler_error(error: BaseException, request_id: str) -> _Report:
    if isinstance(error, SystemExit):
        message = f"Runtime exited with error: exit status {error.code}"  # `local_lambda` adds the id
        return _report("Runtime.ExitError", message, "handler", error)
    stack = traceback.format_list(_user_frames(error))
    missing = error.name if isinstance(error, ModuleNotFoundError) else None
    return _report(type(error).__name__, str(error), "handler", error, stack=stack, missing_module=missing)


def _marshal(response: object) -> _Report:
    if isinstance(response, bytes):  # exactly bytes: a bytearray is encoded, and fails, like Lambda's
        return {"ok": True, "response_hex": response.hex()}
    try:
        return {"ok": True, "response": _encode(response)}
    except Exception as error:  # awslambdaric turns any encoding failure into this
        return _report("Runtime.MarshalError", f"Unable to marshal response: {error}", "handler")


def _time_out(request: _Request, seconds: float) -> NoReturn:
    """The watchdog's: Lambda stops a function at its timeout, whatever its threads are doing."""
    report: _Report = {
        "ok": False,
        "kind": "timeout",
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"Task timed out after {seconds:.2f} seconds",
        "traceback": "",
    }
    _write_result(request, report)
    sys.stdout.flush()
    os._exit(0)


def _write_result(request: _Request, report: _Report) -> None:
    # Whichever of the handler's return and the watchdog comes first reports; the other stays silent.
    if not _REPORTED.acquire(blocking=False):
        return
    with open(request["result"], "w", encoding="utf-8") as stream:
        json.dump(report, stream, ensure_ascii=False)


def _enter_lambda_environment(request: _Request) -> None:
    """Lambda's `sys.path` (with the runtime's SDK after the layers), read-only code, and logging."""
    script_directory = os.path.dirname(os.path.abspath(__file__))
    standard_library = [entry for entry in sys.path if entry and os.path.abspath(entry) != script_directory]
    sys.path[:] = request["sys_path"] + standard_library
    _forbid_writes_under(request["read_only"])
    _setup_logging(request["request_id"])


def _from_runtime_sdk(directory: str | None) -> list[str]:
    """The top-level modules now imported from the runtime SDK's directory."""
    if directory is None:
        return []
    prefix = os.path.realpath(directory) + os.sep
    # Hundreds of modules live in a few dozen directories: each directory is resolved once (a
    # `realpath` per module cost some 15 ms after a handler that imports numpy and pydantic).
    resolved: dict[str, str] = {}
    names = set()
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        folder, file_name = os.path.split(path)
        if folder not in resolved:
            resolved[folder] = os.path.realpath(folder)
        if os.path.join(resolved[folder], file_name).startswith(prefix):
            names.add(name.partition(".")[0])
    return sorted(names)


def _run(request: _Request) -> _Report:
    """Lambda's init phase (importing the handler's module), then the check or the invocation."""
    try:
        function = _load(request["handler"])
    except _Fault as fault:
        return fault.report
    except BaseException as error:  # anything the module raised while being imported
        stack = traceback.format_list(_user_frames(error))
        return _report(type(error).__name__, str(error), "init", error, stack=stack)
    init_ms = (time.monotonic() - _INIT_STARTED) * 1000
    if request["mode"] == "check":
        report = _check(function, request["handler"]) or {"ok": True}
        report["runtime_provided"] = [
            name for name in _from_runtime_sdk(request["runtime_sdk"]) if name != _SNAPSHOT_MODULE
        ]
        # A handler that registers SnapStart hooks gets them checked as Lambda runs them.
        hooks = _snap_start_hooks() if report["ok"] else None
        if hooks:
            report["snap_start"] = hooks
            report["init_ms"] = init_ms
        return report
    hooks = _snap_start_hooks() if request.get("snap_start") else None
    report = _invoke(function, request, init_ms)
    if hooks:
        report["snap_start"] = hooks
    return report


_SNAPSHOT_MODULE = "snapshot_restore_py"


def _snap_start_hooks() -> dict[str, list[dict[str, object]]] | None:
    """Run the registered hooks in Lambda's order, before-snapshot then after-restore; None if the
    handler's module registered none (or the runtime has no `snapshot_restore_py`)."""
    module = sys.modules.get(_SNAPSHOT_MODULE)
    run_phase = getattr(module, "_hatch_lambda_run_phase", None)
    if run_phase is None or not (module.get_before_snapshot() or module.get_after_restore()):  # type: ignore[union-attr]
        return None
    phases: dict[str, list[dict[str, object]]] = {}
    for phase in ("before-snapshot", "after-restore"):
        phases[phase] = run_phase(phase)
        if any(run.get("error") for run in phases[phase]):
            break
    return phases


def main() -> NoReturn:
    with open(sys.argv[1], encoding="utf-8") as stream:
        request: _Request = json.load(stream)
    _enter_lambda_environment(request)
    report = _run(request)
    sys.stdout.flush()
    sys.stderr.flush()
    _write_result(request, report)
    # Lambda freezes the process after the response; threads the function started must not keep
    # this one alive, and exit handlers would not run there either.
    os._exit(0)


if __name__ == "__main__":
    main()
