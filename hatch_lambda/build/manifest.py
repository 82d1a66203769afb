"""The `*-lambda.json` manifest: a release that can be deployed, or a record of why it cannot.

It is written last, in the same commit as the zips it describes. Each zip's entry records the
digest of the inputs it was built from (`inputs`, see `build.inputs`): a source zip and a layer
built in one build share it, and a zip carried over from an earlier build keeps its own, so a pair
built from different inputs is visible as such. `"layer": null` means the project has no
dependencies; a layer that is needed but not built has no entry at all. Publishing reads this file
and refuses a release that is not deployable, or whose files no longer match it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from hatch_lambda.__about__ import __version__
from hatch_lambda.archive.reproducible_zip import WrittenZip
from hatch_lambda.files.digest import file_sha256
from hatch_lambda.platform.runtimes import Runtime, uv_python_platform

if TYPE_CHECKING:
    from hatch_lambda.files.installed_tree import InstalledDistribution

FORMAT_VERSION = 2
ARTIFACT_KEYS = ("source", "layer")
SUFFIX = "-lambda.json"

# The handler check's outcomes as the manifest records them. A failed check fails the build, so
# no manifest ever says "failed".
CHECK_PASSED = "passed"
CHECK_SKIPPED = "skipped"
CHECK_NOT_ASKED = "not-asked"


class HandlerCheckRecord(NamedTuple):
    status: str  # CHECK_PASSED, CHECK_SKIPPED or CHECK_NOT_ASKED
    handlers: tuple[str, ...] = ()
    reason: str | None = None  # why it was skipped

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"status": self.status, "handlers": list(self.handlers)}
        if self.reason is not None:
            record["reason"] = self.reason
        return record


def zip_entry(written: WrittenZip, inputs: str) -> dict[str, Any]:
    return {
        "file": written.path.name,
        "zipped_size": written.zipped_size,
        "unzipped_size": written.unzipped_size,
        "files": written.file_count,
        "sha256": written.sha256,
        "code_sha256": written.code_sha256,
        "inputs": inputs,
    }


def layer_entry(
    written: WrittenZip, inputs: str, layout: str, distributions: list[InstalledDistribution]
) -> dict[str, Any]:
    entry = zip_entry(written, inputs)
    entry["layout"] = layout
    entry["packages"] = [
        {"name": item.name, "version": item.version, "wheel_tag": item.wheel_tag} for item in distributions
    ]
    return entry


def manifest_text(
    *,
    project_name: str,
    project_version: str,
    runtime: Runtime,
    architecture: str,
    inputs: str,
    artifacts: dict[str, dict[str, Any] | None],
    problems: list[str],
    handler_check: HandlerCheckRecord,
    sbom: dict[str, str] | None = None,
) -> str:
    """The manifest's bytes. `artifacts` omits a zip that is needed but not built; None: no layer needed."""
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "generator": f"hatch-lambda {__version__}",
        "project": {"name": project_name, "version": project_version},
        "runtime": runtime.name,
        "python_version": runtime.python_version_text,
        "architecture": architecture,
        "glibc": runtime.glibc_text,
        "python_platform": uv_python_platform(runtime, architecture),
        "inputs": inputs,
        "artifacts": {key: artifacts[key] for key in ARTIFACT_KEYS if key in artifacts},
        "deployable": not problems,
        "problems": problems,
        "handler_check": handler_check.to_json(),
    }
    if sbom is not None:
        manifest["sbom"] = sbom  # the CycloneDX SBOM written beside it: its file name and sha256
    return json.dumps(manifest, indent=2) + "\n"


def carried_entry(path: Path, artifact: str, runtime: Runtime, architecture: str) -> dict[str, Any] | None:
    """The previous manifest's entry for `artifact`, while its file is still on disk with those bytes.

    Only an entry for the same runtime and architecture, written by this manifest format, is carried.
    """
    previous = _read(path)
    if previous.get("format") != FORMAT_VERSION:
        return None
    if previous.get("runtime") != runtime.name or previous.get("architecture") != architecture:
        return None
    entry = previous.get("artifacts", {}).get(artifact)
    if _still_on_disk(path.parent, entry):
        return dict(entry)
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _still_on_disk(directory: Path, entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        return False
    artifact = directory / entry["file"]
    return artifact.is_file() and file_sha256(artifact) == entry.get("sha256")
