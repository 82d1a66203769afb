"""`hatch-lambda`: the lambda target without Hatch, and commands that work on what it wrote.

`hatch-lambda build` and `hatch-lambda lock` live in `commands/`.

`hatch-lambda invoke` runs the function's handler from the built zips on this machine, the way
Lambda's Python runtime would (see `runtime.local_lambda`), with the function's environment
(`[tool.hatch.build.targets.lambda.environment]`, then `--env-file`, then `--env`), and prints
Lambda's response on standard output; everything the handler prints, and Lambda-style END/REPORT
lines, go to standard error. pyproject.toml is read with tomllib, as hatchling reads it.

`hatch-lambda publish` publishes them with boto3 (see `publisher`): progress on standard error,
the results (ARNs) on standard output, as JSON with `--json`.

Exit codes: 0 the handler returned, or publishing finished; 1 the function failed (Lambda's error
JSON on standard output), or an AWS call failed midway; 2 a usage or configuration problem, or a
function the build does not fit (one line on standard error saying what to do).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from hatch_lambda.__about__ import __version__
from hatch_lambda.commands.build import add_build
from hatch_lambda.commands.lock import add_lock
from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.layer.sources import read_pyproject
from hatch_lambda.platform.runtimes import Runtime, runtime_named
from hatch_lambda.runtime.environment import (
    DEFAULT_REGION,
    caller_credentials,
    caller_region,
    configured_environment,
    read_env_file,
)
from hatch_lambda.runtime.freshness import edited_since
from hatch_lambda.runtime.handler_name import HANDLER_SETTING, parse_handler, parse_handlers
from hatch_lambda.runtime.local_lambda import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_TIMEOUT_SECONDS,
    SNAP_START_MINIMUM,
    Invocation,
    LocalFunction,
    can_run_here,
    invoke_handler,
)
from hatch_lambda.runtime.runtime_sdk import configured_runtime_sdk
from hatch_lambda.runtime.target_python import emulator_variable_for

EXIT_OK = 0
EXIT_FUNCTION_ERROR = 1
EXIT_USAGE = 2

# Lambda's memory setting, in MB.
MEMORY_RANGE = (128, 10_240)


class UsageError(Exception):
    """A problem with the command line or the project; the message says what to do."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help, --version, or argparse's own usage error
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE
    run: Callable[[argparse.Namespace], int] = arguments.run
    try:
        return run(arguments)
    except (UsageError, LambdaBuildError) as error:
        print(f"hatch-lambda {arguments.command}: {error}", file=sys.stderr)
        return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hatch-lambda", description="Work with the artifacts of `hatch build -t lambda`."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # One `_add_<command>(commands)` per sub-command; each sets `run` to its function. `publish`
    # belongs here next to `invoke`.
    add_build(commands)
    add_lock(commands)
    _add_invoke(commands)
    _add_publish(commands)
    return parser


# invoke -----------------------------------------------------------------------------------------


def _add_invoke(commands: Any) -> None:
    invoke = commands.add_parser(
        "invoke",
        help="run the handler from the built zips, like Lambda, without Docker",
        description=(
            "Run the handler from the zips `hatch build -t lambda` wrote, in a fresh CPython of the "
            "runtime's version laid out like Lambda (read-only /var/task and /opt, Lambda's sys.path "
            "and environment variables), and print its response as JSON."
        ),
    )
    invoke.add_argument(
        "--event", metavar="FILE|-", help="the event: a JSON file, or - for standard input (default: {})"
    )
    invoke.add_argument(
        "--handler",
        help=(
            f"module.function to call (default: {HANDLER_SETTING} in pyproject.toml; required when it "
            "lists several)"
        ),
    )
    invoke.add_argument(
        "--project", default=".", metavar="DIR", help="the project's directory (default: the current one)"
    )
    invoke.add_argument(
        "--dist", metavar="DIR", help="where the build wrote its artifacts (default: the target's, dist)"
    )
    invoke.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"the function's timeout (default: {DEFAULT_TIMEOUT_SECONDS:g}, Lambda's default)",
    )
    invoke.add_argument(
        "--memory",
        type=_memory,
        default=DEFAULT_MEMORY_MB,
        metavar="MB",
        help=(
            f"the function's memory setting, as the context and environment report it; not enforced "
            f"(default: {DEFAULT_MEMORY_MB})"
        ),
    )
    invoke.add_argument(
        "--env",
        type=_variable,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=(
            "an environment variable of the function's configuration (repeatable); wins over "
            "--env-file and [tool.hatch.build.targets.lambda.environment]"
        ),
    )
    invoke.add_argument(
        "--env-file",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a dotenv file of the function's variables (NAME=value lines; repeatable, later files win)",
    )
    invoke.add_argument(
        "--snap-start",
        action="store_true",
        help=(
            "as SnapStart runs a function (Python 3.12+): init with AWS_LAMBDA_INITIALIZATION_TYPE="
            "snap-start, the before-snapshot hooks, the after-restore hooks, then the handler"
        ),
    )
    invoke.add_argument(
        "--aws-credentials",
        action="store_true",
        help=(
            "give the function your own AWS credentials and region (from the environment, or boto3's "
            "profiles), as Lambda gives it its role's; default: a placeholder key pair, so SDK calls "
            "fail fast instead of reaching AWS"
        ),
    )
    invoke.set_defaults(run=_run_invoke)


def _timeout(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= MAX_TIMEOUT_SECONDS:
        message = f"must be a number of seconds above 0 and at most {MAX_TIMEOUT_SECONDS:g} (got {text!r})"
        raise argparse.ArgumentTypeError(message)
    return seconds


def _memory(text: str) -> int:
    low, high = MEMORY_RANGE
    if not text.isdigit() or not low <= int(text) <= high:
        raise argparse.ArgumentTypeError(f"must be a whole number of MB from {low} to {high} (got {text!r})")
    return int(text)


def _variable(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"must be NAME=VALUE (got {text!r})")
    return name, value


def _run_invoke(arguments: argparse.Namespace) -> int:
    project = Path(arguments.project)
    settings = read_project_settings(project)
    handler, setting = _handler(arguments.handler, settings)
    environment = _function_environment(settings, arguments)
    dist = Path(arguments.dist) if arguments.dist else project / settings.build_directory
    built = read_built_artifacts(dist, settings.name)
    reason = can_run_here(built.runtime, built.architecture)
    if reason is not None:
        raise UsageError(f"Cannot run {built.runtime.name} {built.architecture} on this machine: {reason}.")
    credentials = caller_credentials(os.environ) if arguments.aws_credentials else None
    function = LocalFunction(
        handler,
        built.runtime,
        built.source_zip,
        built.layer_zip,
        function_name=built.project_name,
        memory_mb=arguments.memory,
        timeout_seconds=arguments.timeout,
        environment=environment,
        handler_setting=setting,
        architecture=built.architecture,
        runtime_sdk=settings.runtime_sdk,
        project_root=project,
        region=caller_region(os.environ) if arguments.aws_credentials else DEFAULT_REGION,
        credentials=credentials,
        snap_start=arguments.snap_start,
    )
    if arguments.snap_start and built.runtime.python_version < SNAP_START_MINIMUM:
        raise UsageError(
            f"SnapStart for Python starts with python3.12; this build is for {built.runtime.name}."
        )
    event = read_event(arguments.event)
    _warn_if_stale(project, built, settings.build_directory)
    sys.stdout.flush()
    sys.stderr.flush()
    # The handler's own output is the function's log: keep it off standard output, which carries
    # only the response, so `hatch-lambda invoke | jq` works.
    invocation = invoke_handler(function, event, handler_stdout=_standard_error_descriptor())
    if invocation.emulated:
        variable = emulator_variable_for(built.runtime, built.architecture)
        print(f"note: the handler ran under emulation, with `{variable}`", file=sys.stderr)
    verdict = invocation.snap_start
    if arguments.snap_start:
        for line in verdict.lines if verdict else ["no hook registered (snapshot_restore_py)"]:
            print(f"SnapStart {line}", file=sys.stderr)
        for problem in verdict.problems if verdict else []:
            print(f"SnapStart: {problem}", file=sys.stderr)
    return _print_outcome(invocation, arguments.memory)


def _handler(option: str | None, settings: ProjectSettings) -> tuple[str, str]:
    """The handler and the setting it came from; validated, so a bad one stops before any work."""
    configured = f"{HANDLER_SETTING} in pyproject.toml"
    if option is not None:
        parse_handler(option, "`--handler`")
        return option, "`--handler`"
    if len(settings.handlers) == 1:
        return settings.handlers[0], configured
    if settings.handlers:
        listed = "\n".join(f"  --handler {handler}" for handler in settings.handlers)
        raise UsageError(f"{configured} lists {len(settings.handlers)} handlers: pick one with\n{listed}")
    raise UsageError(
        "No handler to call: pass `--handler my_app.lambda_function.lambda_handler`, or set "
        f"{HANDLER_SETTING} in pyproject.toml."
    )


def _function_environment(settings: ProjectSettings, arguments: argparse.Namespace) -> dict[str, str]:
    """The function's configured variables: pyproject.toml's, then each --env-file, then each --env."""
    environment = dict(settings.environment)
    for path in arguments.env_file:
        environment.update(read_env_file(path))
    environment.update(dict(arguments.env))
    return environment


def _warn_if_stale(project: Path, built: BuiltArtifacts, build_directory: str) -> None:
    edited = edited_since(project, built.source_zip, skip=[project / build_directory, built.manifest.parent])
    if edited:
        more = f" and {len(edited) - 1} more" if len(edited) > 1 else ""
        print(
            f"note: {edited[0].relative_to(project)}{more} changed after {built.source_zip.name} was built; "
            "this runs what was built: rebuild with `hatch build -t lambda` to run your edits.",
            file=sys.stderr,
        )


def _standard_error_descriptor() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by something without a descriptor
        return None


def _print_outcome(invocation: Invocation, memory_mb: int) -> int:
    error = invocation.error
    if error is not None:
        # What Lambda's runtime logs for a failure, before the END and REPORT lines.
        print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", file=sys.stderr)
        if invocation.traceback_text:
            print(invocation.traceback_text.rstrip(), file=sys.stderr)
    print(f"END RequestId: {invocation.request_id}", file=sys.stderr)
    print(_report_line(invocation, memory_mb), file=sys.stderr)
    if error is not None:
        print(json.dumps(error))
        return EXIT_FUNCTION_ERROR
    _write_response(invocation.response or b"")
    return EXIT_OK


def _report_line(invocation: Invocation, memory_mb: int) -> str:
    parts = [f"REPORT RequestId: {invocation.request_id}"]
    if invocation.duration_ms is not None:
        parts.append(f"Duration: {invocation.duration_ms:.2f} ms")
    parts.append(f"Memory Size: {memory_mb} MB")
    if invocation.max_memory_mb is not None:
        parts.append(f"Max Memory Used: {invocation.max_memory_mb} MB")
    if invocation.init_ms is not None:
        parts.append(f"Init Duration: {invocation.init_ms:.2f} ms")
    return "\t".join(parts)


def _write_response(response: bytes) -> None:
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:
        print(response.decode("utf-8", "replace"))
        return
    sys.stdout.flush()
    stream.write(response + b"\n")
    stream.flush()


# publish ----------------------------------------------------------------------------------------


def _add_publish(commands: Any) -> None:
    publish = commands.add_parser(
        "publish",
        help="publish the layer and function code to AWS Lambda, uploading only what changed",
        description=(
            "Publish what `hatch build -t lambda` wrote: a new layer version only when the layer's "
            "bytes changed, each function's code only when its CodeSha256 differs, the layer list "
            "updated in place, and optionally a version and alias. Settings come from "
            "[tool.hatch.publish.lambda] in pyproject.toml; options given here win. Credentials and "
            "region come from boto3's usual chain (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...)."
        ),
    )
    publish.add_argument(
        "artifacts",
        nargs="*",
        type=Path,
        metavar="DIR|MANIFEST",
        help="the build directory or its *-lambda.json manifest (default: the target's directory)",
    )
    publish.add_argument(
        "--project", default=".", metavar="DIR", help="the project's directory (default: the current one)"
    )
    publish.add_argument("--layer-name", help="the layer to publish the dependencies as")
    publish.add_argument(
        "--function-name",
        action="append",
        metavar="NAME",
        help="a function to update (repeatable; replaces the configured list)",
    )
    publish.add_argument("--s3-bucket", help="upload zips through this bucket (required above 50 MB)")
    publish.add_argument("--s3-prefix", help="key prefix inside the bucket")
    publish.add_argument("--alias", help="publish a version and point this alias at it")
    publish.add_argument(
        "--snap-start",
        action="store_true",
        default=None,
        help="turn on SnapStart and move the alias only once the new version's snapshot is taken",
    )
    publish.add_argument(
        "--signing-profile",
        metavar="NAME",
        help="sign both zips with this AWS Signer profile (needs --s3-bucket)",
    )
    publish.add_argument(
        "--dry-run", action="store_true", default=None, help="print the plan; upload and change nothing"
    )
    publish.add_argument(
        "--json", action="store_true", default=None, help="print the results as JSON on standard output"
    )
    publish.add_argument(
        "--all",
        action="store_true",
        help="at a uv workspace's root: publish what `hatch-lambda build --all` wrote, member by member",
    )
    publish.set_defaults(run=_run_publish)


def _run_publish(arguments: argparse.Namespace) -> int:
    from hatch_lambda.errors import AwsCallError  # noqa: PLC0415
    from hatch_lambda.publish.executor import publish_project  # noqa: PLC0415
    from hatch_lambda.publish.settings import read_project  # noqa: PLC0415

    project = Path(arguments.project)
    given = {
        "layer-name": arguments.layer_name,
        "function-name": arguments.function_name,
        "s3-bucket": arguments.s3_bucket,
        "s3-prefix": arguments.s3_prefix,
        "alias": arguments.alias,
        "snap-start": arguments.snap_start,
        "signing-profile": arguments.signing_profile,
        "dry-run": arguments.dry_run,
        "json": arguments.json,
    }
    options = {key: value for key, value in given.items() if value is not None}
    # `--all`: each member with its own settings, from the root's dist/. The shared layer goes out
    # once: for the next member, the layer's newest version already holds those bytes.
    members = _publish_members(project) if arguments.all else [project]
    locations = list(arguments.artifacts) or ([project / "dist"] if arguments.all else [])
    results = []
    for member in members:
        tables = [read_project(member).publish_table, options]
        try:
            outcome, settings = publish_project(
                member, locations, tables, report=lambda line: print(line, file=sys.stderr)
            )
        except AwsCallError as error:
            print(f"hatch-lambda publish: {error}", file=sys.stderr)
            return EXIT_FUNCTION_ERROR
        results.append(outcome)
        if not settings.json_output:
            print("\n".join(outcome.summary_lines()))
    if settings.json_output:
        documents = [outcome.to_json() for outcome in results]
        print(json.dumps(documents if arguments.all else documents[0], indent=2))
    return EXIT_OK


def _publish_members(root: Path) -> list[Path]:
    from hatch_lambda.build.workspace import lambda_members  # noqa: PLC0415

    return lambda_members(root.resolve())


# Reading the project and the build --------------------------------------------------------------


@dataclass(frozen=True)
class ProjectSettings:
    """What `invoke` needs from pyproject.toml; empty when the directory has none."""

    name: str | None
    target: dict[str, Any]
    build_directory: str
    handlers: list[str]
    environment: dict[str, str]
    runtime_sdk: str


def read_project_settings(project: Path) -> ProjectSettings:
    """The settings, validated as the build validates them; read with tomllib, like hatchling."""
    path = project / "pyproject.toml"
    if not path.is_file():
        return ProjectSettings(None, {}, "dist", [], {}, configured_runtime_sdk(None, ""))
    try:
        document = read_pyproject(path)
    except LambdaBuildError as error:
        raise UsageError(f"{error}. Fix it: `hatch build` cannot read it either.") from error
    name = document.get("project", {}).get("name")
    build = document.get("tool", {}).get("hatch", {}).get("build", {})
    target = build.get("targets", {}).get("lambda", {})
    directory = target.get("directory") or build.get("directory") or "dist"
    field = "`tool.hatch.build.targets.lambda.{}` in pyproject.toml".format
    try:
        handlers = parse_handlers(target.get("handler", []), field("handler"))
        environment = configured_environment(target.get("environment", {}), field("environment"))
        runtime_sdk = configured_runtime_sdk(target.get("runtime-sdk"), field("runtime-sdk"))
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from error
    return ProjectSettings(
        name if isinstance(name, str) else None,
        target,
        str(directory),
        handlers,
        environment,
        runtime_sdk,
    )


@dataclass(frozen=True)
class BuiltArtifacts:
    """One manifest of `hatch build -t lambda` and the zips it lists."""

    manifest: Path
    project_name: str
    runtime: Runtime
    architecture: str
    source_zip: Path
    layer_zip: Path | None


def read_built_artifacts(dist: Path, project_name: str | None) -> BuiltArtifacts:
    manifest = _newest_manifest(dist, project_name)
    rebuild = "rebuild with `hatch build -t lambda`"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        runtime = runtime_named(data["runtime"])
        architecture = str(data["architecture"])
        artifacts = data["artifacts"]
        name = str(data["project"]["name"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{manifest} is not a hatch-lambda manifest ({error}): {rebuild}.") from error
    if runtime is None:
        raise UsageError(f"{manifest} names an unknown runtime {data['runtime']!r}: {rebuild}.")
    source, layer = artifacts.get("source"), artifacts.get("layer")
    if not isinstance(source, dict):
        raise UsageError(f"{manifest} lists no source zip: build it with `hatch build -t lambda`.")
    source_zip = _listed_file(manifest, source)
    layer_zip = _listed_file(manifest, layer) if isinstance(layer, dict) else None
    return BuiltArtifacts(manifest, name, runtime, architecture, source_zip, layer_zip)


def _newest_manifest(dist: Path, project_name: str | None) -> Path:
    manifests = sorted(dist.glob("*-lambda.json")) if dist.is_dir() else []
    if project_name is not None:
        manifests = [path for path in manifests if _manifest_project(path) == canonicalize_name(project_name)]
    if not manifests:
        whose = f" for {project_name}" if project_name else ""
        raise UsageError(
            f"No `*-lambda.json` manifest{whose} in {dist}: run `hatch build -t lambda` first "
            "(or point `--dist` at the build's directory)."
        )
    # Several versions built into one directory: the newest build is the one being worked on.
    return max(manifests, key=lambda path: path.stat().st_mtime)


def _manifest_project(path: Path) -> str | None:
    try:
        return canonicalize_name(json.loads(path.read_text(encoding="utf-8"))["project"]["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _listed_file(manifest: Path, entry: dict[str, Any]) -> Path:
    path = manifest.parent / str(entry.get("file"))
    if not path.is_file():
        message = f"{path.name}, listed in {manifest.name}, is missing: run `hatch build -t lambda` again."
        raise UsageError(message)
    return path


def read_event(source: str | None) -> str:
    """The event's JSON text: from a file, from standard input (`-`), or `{}`."""
    if source is None:
        return "{}"
    if source == "-":
        text, where = sys.stdin.read(), "standard input"
    else:
        try:
            text, where = Path(source).read_text(encoding="utf-8"), source
        except OSError as error:
            raise UsageError(f"Cannot read the event file {source}: {error.strerror}.") from error
    try:
        json.loads(text)
    except ValueError as error:
        message = f"The event in {where} is not JSON ({error}); Lambda passes events as JSON."
        raise UsageError(message) from error
    return text


if __name__ == "__main__":
    sys.exit(main())
