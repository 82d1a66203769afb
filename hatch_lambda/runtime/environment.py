"""The environment variables a function sees on Lambda, and the function's own configuration.

Lambda sets a fixed set of variables in every execution environment (its "reserved" variables:
`AWS_REGION`, `AWS_LAMBDA_FUNCTION_NAME`, `_HANDLER`, credentials, ...) and then the function's
configured `Environment.Variables`. Locally the same variables are set, credentials included: a
placeholder key pair unless the caller's own are asked for, so an SDK made at import time finds
credentials at once and never falls back to the instance metadata address (which would hang for
seconds off EC2). Configured variables come from `[tool.hatch.build.targets.lambda.environment]`,
then a dotenv file, then `--env` (each overriding the one before).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.platform.runtimes import Runtime

DEFAULT_REGION = "us-east-1"

# The variables Lambda sets itself and refuses in a function's configuration (the developer
# guide's "Reserved environment variables"); AWS_LAMBDA_RUNTIME_API is left unset locally, as no
# Runtime API listens here.
RESERVED_VARIABLES = (
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
)

CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

# AWS documentation's example key pair: plainly not a real one, and accepted by every SDK's parser.
PLACEHOLDER_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "hatch-lambda-local-placeholder",
}


def configured_environment(value: object, field: str) -> dict[str, str]:
    """The `environment` table: names to strings, none of Lambda's reserved ones; TypeError or
    ValueError naming `field`."""
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise TypeError(f'Field {field} must be a table of strings, like `TABLE_NAME = "orders"`')
    reserved = sorted(name for name in value if name in RESERVED_VARIABLES)
    if reserved:
        message = (
            f"Field {field} sets {', '.join(reserved)}, which Lambda reserves and sets itself; remove "
            "it (`hatch-lambda invoke --env NAME=VALUE` can still change it locally)"
        )
        raise ValueError(message)
    return {str(name): str(item) for name, item in value.items()}


@dataclass(frozen=True)
class LambdaPaths:
    """Where the execution environment's directories are on this machine."""

    task: Path
    opt: Path
    runtime_dir: Path
    # Put first on PATH, as Lambda's /var/lang/bin: where the runtime's interpreter lives.
    interpreter_bin: Path | None


def lambda_variables(
    *,
    handler: str,
    runtime: Runtime,
    function_name: str,
    memory_mb: int,
    paths: LambdaPaths,
    region: str = DEFAULT_REGION,
    credentials: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What Lambda sets for an on-demand execution environment of this function."""
    today = datetime.now(timezone.utc).strftime("%Y/%m/%d")
    # Lambda's: /var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib
    library_path = [str(paths.task), str(paths.task / "lib"), str(paths.opt / "lib")]
    if os.environ.get("LD_LIBRARY_PATH"):  # what this machine's interpreter may need to start
        library_path.insert(0, os.environ["LD_LIBRARY_PATH"])
    # Lambda's PATH: /var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin (a layer's bin/ last).
    path = [] if paths.interpreter_bin is None else [str(paths.interpreter_bin)]
    path += ["/usr/local/bin", "/usr/bin", "/bin", str(paths.opt / "bin")]
    variables = {
        "_HANDLER": handler,
        "_X_AMZN_TRACE_ID": _trace_id(),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime.name}",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{today}/[$LATEST]{uuid.uuid4().hex}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "LAMBDA_TASK_ROOT": str(paths.task),
        "LAMBDA_RUNTIME_DIR": str(paths.runtime_dir),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": os.pathsep.join(path),
        "LD_LIBRARY_PATH": os.pathsep.join(library_path),
        # Not Lambda's, but what keeps an SDK off 169.254.169.254 should credentials be refused.
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    variables.update(credentials if credentials is not None else PLACEHOLDER_CREDENTIALS)
    return variables


def _trace_id() -> str:
    """An X-Ray trace header like Lambda's: a root, a parent, not sampled."""
    epoch = int(datetime.now(timezone.utc).timestamp())
    root, parent = uuid.uuid4().hex[:24], uuid.uuid4().hex[:16]
    return f"Root=1-{epoch:08x}-{root};Parent={parent};Sampled=0;Lineage=1:0:0"


class CallerCredentialsError(LambdaBuildError):
    def __init__(self) -> None:
        super().__init__(
            "`--aws-credentials` passes your own AWS credentials to the function, and none were found: "
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or AWS_PROFILE "
            "with boto3 installed beside hatch-lambda (`pip install 'hatch-lambda[publish]'`)."
        )


def caller_credentials(environment: Mapping[str, str]) -> dict[str, str]:
    """The caller's credentials as Lambda passes a role's: the three variables, resolved now.

    Variables already set win; otherwise boto3's usual chain (profiles, SSO, ...) resolves them, if
    boto3 is installed here. A profile is resolved rather than passed on because Lambda's SDK reads
    no config files: the function must see plain variables.
    """
    if environment.get("AWS_ACCESS_KEY_ID") and environment.get("AWS_SECRET_ACCESS_KEY"):
        return {name: environment[name] for name in CREDENTIAL_VARIABLES if environment.get(name)}
    try:
        import boto3  # noqa: PLC0415 - optional (the `publish` extra)

        found = boto3.Session().get_credentials()
    except Exception as error:  # not installed, or a profile that does not resolve
        raise CallerCredentialsError from error
    if found is None:
        raise CallerCredentialsError
    frozen = found.get_frozen_credentials()
    credentials = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
    if frozen.token:
        credentials["AWS_SESSION_TOKEN"] = frozen.token
    return credentials


def caller_region(environment: Mapping[str, str]) -> str:
    return environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


# Dotenv files ----------------------------------------------------------------------------------


class EnvFileError(LambdaBuildError):
    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(
            f"Cannot read the environment file {where}: {reason}. Write one `NAME=value` a line "
            "(`export ` before it, quotes around the value and `#` comments are allowed)."
        )


_ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_DOUBLE_QUOTED_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a dotenv file, in the subset every dotenv reader agrees on.

    `NAME=value`, optional `export `, blank lines and `#` comments; a value in single quotes is
    literal, one in double quotes takes `\\n`-style escapes, an unquoted one ends at ` #`. Variable
    references (`${OTHER}`) are not expanded: Lambda's configuration does not expand them either.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise EnvFileError(path, None, getattr(error, "strerror", None) or str(error)) from error
    variables: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ASSIGNMENT.match(stripped)
        if match is None:
            raise EnvFileError(path, number, f"`{stripped}` is not NAME=value")
        name, raw = match.groups()
        variables[name] = _value(raw, path, number)
    return variables


def _value(raw: str, path: Path, number: int) -> str:
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = _closing_quote(raw, quote)
        if end is None:
            raise EnvFileError(path, number, f"the value's {quote} is never closed")
        rest = raw[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            raise EnvFileError(path, number, f"`{rest}` follows the quoted value")
        inner = raw[1:end]
        if quote == "'":
            return inner
        return re.sub(r"\\(.)", lambda escape: _DOUBLE_QUOTED_ESCAPES.get(escape[1], escape[0]), inner)
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()


def _closing_quote(raw: str, quote: str) -> int | None:
    index = 1
    while index < len(raw):
        if raw[index] == "\\" and quote == '"':
            index += 2
            continue
        if raw[index] == quote:
            return index
        index += 1
    return None
