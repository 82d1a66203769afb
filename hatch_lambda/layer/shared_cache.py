"""The layer cache's second level, in S3, shared by every CI runner: `HATCH_LAMBDA_CACHE_S3` or `cache-s3`.

Behind the local cache (`layer.cache`): on a local miss the build looks the key up here and, on a
hit, downloads the zip, checks its size and sha256 against the record and the record against the
key, and uses it. On a miss the build installs the layer and, after the commit, uploads the zip and
then its record, each with a conditional write (`If-None-Match: *`), so two runners that built the
same layer never overwrite each other: the first write stands, and is the same layer by its key.

Nothing found here is trusted: a record of another shape, key or digest, or a zip whose size or
sha256 differs from its record, is refused with a warning naming the object, deleted (so the
rebuilt layer can take its place) and rebuilt. No credentials, no bucket or no access turns into a
warning and a build without the shared cache, never a failed build. boto3 comes with the
`publish` extra and is imported only when a shared cache is configured.

Objects: `PREFIX/layers-v1/KEY.zip` and `PREFIX/layers-v1/KEY.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.files.digest import file_sha256
from hatch_lambda.layer.cache import details_digest, record_problem

RECORD_FORMAT = 1
LAYERS_FOLDER = "layers-v1/"
ENVIRONMENT_VARIABLE = "HATCH_LAMBDA_CACHE_S3"
_RECORD_KEYS = frozenset({"format", "key", "sha256", "size", "details", "details_sha256"})
# Another writer's object is already there (412), or a conditional write raced one (409).
_ALREADY_WRITTEN = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class SharedCacheNeedsBoto3Error(LambdaBuildError):
    def __init__(self, location: S3Location) -> None:
        self.location = location
        super().__init__(
            f"The shared layer cache ({location.url()}, from `cache-s3` or {ENVIRONMENT_VARIABLE}) "
            "needs boto3, which this build environment lacks: add `hatch-lambda[publish]` to the "
            "target's `dependencies` (`[tool.hatch.build.targets.lambda] dependencies = "
            '["hatch-lambda[publish]"]`), or unset the setting.'
        )


class S3Location(NamedTuple):
    bucket: str
    prefix: str  # "" or ending with "/"

    def url(self, name: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{name}"


def parse_s3_location(text: str, where: str) -> S3Location:
    """`s3://BUCKET/PREFIX/` (the prefix optional); `where` names the setting in the error."""
    if not text.startswith("s3://") or not text[len("s3://") :].split("/", 1)[0]:
        message = f"{where} must be an S3 location, `s3://BUCKET/PREFIX/` (got {text!r})"
        raise ValueError(message)
    bucket, _, prefix = text[len("s3://") :].partition("/")
    prefix = prefix.strip("/")
    return S3Location(bucket, f"{prefix}/" if prefix else "")


class SharedLayerCache:
    def __init__(self, location: S3Location, client: Any = None) -> None:
        self.location = location
        self.warnings: list[str] = []  # for the caller to show; this module prints nothing
        self._client = client if client is not None else _s3_client(location)
        self._usable = True

    def object_url(self, key: str) -> str:
        return self.location.url(f"{LAYERS_FOLDER}{key}.zip")

    def fetch(self, key: str, into: Path) -> dict[str, Any] | None:
        """Download the layer of `key` to `into` and return its recorded details; None on a miss."""
        if not self._usable:
            return None
        zip_key, record_key = self._keys(key)
        try:
            record_bytes = self._client.get_object(Bucket=self.location.bucket, Key=record_key)["Body"].read()
        except Exception as error:  # botocore's errors, whatever their class
            if _code(error) not in _MISSING:
                self._unusable(error)
            return None
        try:
            record = json.loads(record_bytes)
        except ValueError:
            record = None
        problem = _record_problem(key, record)
        if problem is None:
            try:
                self._client.download_file(self.location.bucket, zip_key, str(into))
            except Exception as error:
                if _code(error) not in _MISSING:
                    self._unusable(error)
                    return None
                problem = "its zip is missing"
        if problem is None and (
            into.stat().st_size != record["size"] or file_sha256(into) != record["sha256"]
        ):
            problem = "its zip does not match the size and sha256 its record gives (truncated or altered)"
        if problem is not None:
            self.warnings.append(
                f"Refused the shared layer cache entry {self.object_url(key)}: {problem}. The layer is "
                "built again, and replaces it."
            )
            self._discard(key)
            return None
        details: dict[str, Any] = record["details"]
        return details

    def store(self, key: str, built_zip: Path, details: dict[str, Any]) -> None:
        """Upload `built_zip` and its record under `key`, never over another runner's objects."""
        if not self._usable:
            return
        zip_key, record_key = self._keys(key)
        record = {
            "format": RECORD_FORMAT,
            "key": key,
            "sha256": file_sha256(built_zip),
            "size": built_zip.stat().st_size,
            "details": details,
            "details_sha256": details_digest(details),
        }
        try:
            # The zip first, its record last: a record is only ever written for a zip that is there.
            # Where another runner's zip stands, this record still goes up: a reader checks the zip
            # against it, and a mismatch discards both.
            with built_zip.open("rb") as body:
                self._put(zip_key, body)
            self._put(record_key, json.dumps(record, indent=1, sort_keys=True).encode())
        except Exception as error:
            self._unusable(error)

    def _put(self, object_key: str, body: Any) -> None:
        try:
            self._client.put_object(Bucket=self.location.bucket, Key=object_key, Body=body, IfNoneMatch="*")
        except Exception as error:
            if _code(error) not in _ALREADY_WRITTEN:
                raise

    def _discard(self, key: str) -> None:
        for object_key in self._keys(key):
            try:
                self._client.delete_object(Bucket=self.location.bucket, Key=object_key)
            except Exception as error:
                self._unusable(error)
                return

    def _unusable(self, error: Exception) -> None:
        """No credentials, no bucket, no access, no network: this build goes on without the cache."""
        if self._usable:
            self.warnings.append(
                f"The shared layer cache {self.location.url()} cannot be used ({_described(error)}): "
                "this build neither reads nor fills it. Check the AWS credentials and that the bucket "
                "exists and allows s3:GetObject, s3:PutObject and s3:DeleteObject under the prefix."
            )
        self._usable = False

    def _keys(self, key: str) -> tuple[str, str]:
        base = f"{self.location.prefix}{LAYERS_FOLDER}{key}"
        return f"{base}.zip", f"{base}.json"


def _s3_client(location: S3Location) -> Any:
    try:
        import boto3  # noqa: PLC0415 - the `publish` extra, needed only with a shared cache
    except ImportError:
        raise SharedCacheNeedsBoto3Error(location) from None
    return boto3.client("s3")


def _record_problem(key: str, record: Any) -> str | None:
    problem = record_problem(key, record, keys=_RECORD_KEYS, record_format=RECORD_FORMAT)
    if problem is None and (not isinstance(record["size"], int) or not isinstance(record["sha256"], str)):
        return "its record gives no size and sha256"
    return problem


def _code(error: Exception) -> str:
    """The S3 error code of a botocore `ClientError`, else the exception's class name."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return type(error).__name__


def _described(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
