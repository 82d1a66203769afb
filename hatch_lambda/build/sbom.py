"""The CycloneDX 1.6 SBOM, `NAME-VER-lambda.cdx.json`: what the two zips hold, and where it came from.

The project is the root component; every distribution of the layer and every first-party package
of the source zip is a component with a `pkg:pypi/NAME@VERSION` purl, the licences its metadata
declares (PEP 639 `License-Expression` first, then `License`, then the licence classifiers) and,
for the layer, the sha256 of the wheel the install used (from the lock the layer was installed
from). The dependency graph follows `Requires-Dist` among the listed components, markers evaluated
for the target. SBOM files a wheel carries (PEP 770, `.dist-info/sboms/`) stay in the layer and are
referenced from their component.

Written by hand with `json` rather than with `cyclonedx-python-lib`: the library brings seven
packages into every build environment (packageurl-python, py-serializable, sortedcontainers,
license-expression, boolean.py, defusedxml, typing-extensions) and costs about 0.2 s to import on
every build, for a document of four fixed shapes; and byte-for-byte reproducibility needs control
of every field (it draws a random serial number and stamps the time unless told otherwise). The
test suite validates each document against the official 1.6 schema, which that library ships.

Same inputs, same bytes: no timestamp unless `SOURCE_DATE_EPOCH` is set, and the serial number is
derived from the document's own content.
"""

from __future__ import annotations

import datetime
import email.parser
import hashlib
import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import parse_tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from hatch_lambda.__about__ import __version__
from hatch_lambda.build.first_party import BuiltPackage

if TYPE_CHECKING:
    from hatch_lambda.files.installed_tree import InstalledDistribution

SPEC_VERSION = "1.6"
LICENSE_CLASSIFIER = "License :: "
ARTIFACT_PROPERTY = "hatch-lambda:artifact"  # which zip a component is in: `layer` or `source`
SBOM_DIRECTORY = "sboms"  # PEP 770: `.dist-info/sboms/`


# What each distribution contributes, as plain JSON: kept in the layer cache's record, so a layer
# taken from the cache describes itself exactly as the build that made it did.


def metadata_facts(metadata: Message) -> dict[str, Any]:
    """Name, version, licences and `Requires-Dist` of one distribution's METADATA."""
    return {
        "name": str(metadata.get("Name", "")),
        "version": str(metadata.get("Version", "")),
        "licenses": declared_licenses(metadata),
        "requires": [str(line) for line in metadata.get_all("Requires-Dist") or []],
    }


def declared_licenses(metadata: Message) -> list[dict[str, Any]]:
    """CycloneDX `licenses`: one SPDX expression (PEP 639), else the free-text names it declares."""
    expression = metadata.get("License-Expression")
    if expression and str(expression).strip():
        return [{"expression": str(expression).strip()}]
    names = []
    license_text = str(metadata.get("License") or "").strip()
    # The `License` field often holds a whole licence text: only a one-line value is a name.
    if license_text and "\n" not in license_text and license_text.upper() != "UNKNOWN":
        names.append(license_text)
    for classifier in metadata.get_all("Classifier") or []:
        if str(classifier).startswith(LICENSE_CLASSIFIER):
            names.append(str(classifier).rsplit(" :: ", 1)[-1].strip())
    return [{"license": {"name": name}} for name in dict.fromkeys(names)]


def layer_facts(installed: Path, prefix: str, file_hashes: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every distribution installed in `installed` (a `--target` tree that is zipped under `prefix`)."""
    # Only a fresh layer is described from its tree (a cached one's facts are in its record).
    from hatch_lambda.files.installed_tree import dist_info_headers, installed_distribution  # noqa: PLC0415

    facts = []
    for dist_info in sorted(installed.glob("*.dist-info")):
        metadata = (
            dist_info_headers(dist_info, "METADATA") if (dist_info / "METADATA").is_file() else Message()
        )
        distribution = installed_distribution(dist_info)
        entry = metadata_facts(metadata)
        entry["name"], entry["version"] = distribution.name, distribution.version
        entry["file"], entry["sha256"] = _installed_from(distribution, file_hashes)
        entry["sboms"] = [
            {
                "path": prefix + path.relative_to(installed).as_posix(),
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            }
            for path in sorted((dist_info / SBOM_DIRECTORY).rglob("*"))
            if path.is_file()
        ]
        facts.append(entry)
    return sorted(facts, key=lambda item: canonicalize_name(str(item["name"])))


def _installed_from(distribution: InstalledDistribution, file_hashes: Mapping[str, str]) -> tuple[str, str]:
    """The lock's wheel (or sdist) this distribution was installed from, and its sha256; empty when
    the lock names none with a hash (a requirements file, a directory)."""
    name = canonicalize_name(distribution.name)
    tags = parse_tag(distribution.wheel_tag) if distribution.wheel_tag.count("-") == 2 else frozenset()
    sdists = []
    for file_name, digest in file_hashes.items():
        if file_name.endswith(".whl"):
            try:
                wheel_name, version, _, wheel_tags = parse_wheel_filename(file_name)
            except InvalidWheelFilename:
                continue
            if wheel_name == name and str(version) == distribution.version and wheel_tags == tags:
                return file_name, digest
        elif canonicalize_name(file_name.rsplit("-", 1)[0]) == name and distribution.version in file_name:
            sdists.append((file_name, digest))
    return sdists[0] if len(sdists) == 1 else ("", "")


def first_party_facts(packages: Iterable[BuiltPackage]) -> list[dict[str, Any]]:
    """The first-party packages of the source zip, from the METADATA of the wheels they were built into."""
    facts = []
    for package in packages:
        metadata = next(
            (file for file in package.files if file.archive_path.endswith(".dist-info/METADATA")), None
        )
        if metadata is not None:
            facts.append({**metadata_facts(_headers(metadata.read())), "file": "", "sha256": "", "sboms": []})
    return facts


def zip_layer_facts(layer_zip: Path, prefix: str) -> list[dict[str, Any]]:
    """What a layer zip an earlier build wrote holds, read from its `.dist-info` directories: the
    SBOM of a build that carries the layer over (`-t lambda:source`). The wheels' hashes are not in
    the zip, so these components have none."""
    facts = []
    with zipfile.ZipFile(layer_zip) as archive:
        names = archive.namelist()
        for name in sorted(names):
            relative = name.removeprefix(prefix)
            parts = relative.split("/")
            if len(parts) != 2 or not parts[0].endswith(".dist-info") or parts[1] != "METADATA":
                continue
            sboms = f"{prefix}{parts[0]}/{SBOM_DIRECTORY}/"
            facts.append(
                {
                    **metadata_facts(_headers(archive.read(name))),
                    "file": "",
                    "sha256": "",
                    "sboms": [
                        {"path": item, "sha256": hashlib.sha256(archive.read(item)).hexdigest()}
                        for item in sorted(names)
                        if item.startswith(sboms) and not item.endswith("/")
                    ],
                }
            )
    return sorted(facts, key=lambda item: canonicalize_name(str(item["name"])))


def _headers(data: bytes) -> Message:
    return email.parser.Parser().parsestr(data.decode("utf-8"), headersonly=True)


# The document.


def purl(name: str, version: str) -> str:
    """`pkg:pypi/NAME@VERSION`: the name as the purl spec wants PyPI's (lower case, `-`), the
    version percent-encoded (a local version's `+` is `%2B`)."""
    return f"pkg:pypi/{canonicalize_name(name)}@{quote(version, safe='.-_~!')}"


def sbom_text(
    *,
    project_name: str,
    project_version: str,
    requirements: Iterable[str],
    environment: Mapping[str, str],
    zips: Mapping[str, Mapping[str, Any] | None],
    components: Mapping[str, list[dict[str, Any]]],
    properties: Mapping[str, str],
    timestamp: int | None,
) -> str:
    """The SBOM's bytes.

    `zips`: the manifest entries of the zips (`source`, `layer`; None for no layer). `components`:
    the facts (`layer_facts`, `first_party_facts`) of what each zip holds. `requirements`: the
    project's own, walked with the target's marker `environment` for the dependency graph.
    """
    root_ref = purl(project_name, project_version)
    listed: dict[str, dict[str, Any]] = {}  # canonical name -> facts
    artifact_of: dict[str, str] = {}
    for artifact, facts in sorted(components.items()):
        for fact in facts:
            name = canonicalize_name(str(fact["name"]))
            listed.setdefault(name, fact)
            artifact_of.setdefault(name, artifact)
    edges = _dependency_edges(root_ref, requirements, listed, environment)
    document: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": "",
        "version": 1,
        "metadata": _metadata(project_name, project_version, root_ref, properties, timestamp),
        "components": [
            *(_zip_component(entry) for _, entry in sorted(zips.items()) if entry is not None),
            *(_component(listed[name], artifact_of[name]) for name in sorted(listed)),
        ],
        "dependencies": [
            {"ref": ref, "dependsOn": sorted(edges.get(ref, set()))}
            for ref in [
                root_ref,
                *(purl(listed[name]["name"], listed[name]["version"]) for name in sorted(listed)),
            ]
        ],
    }
    # The serial number names this content: a sha256 of the document without it, as a UUID.
    unnumbered = json.dumps(document, indent=2, ensure_ascii=False)
    digest = hashlib.sha256(unnumbered.encode()).digest()
    document["serialNumber"] = uuid_urn(digest)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def uuid_urn(digest: bytes) -> str:
    """`uuid.UUID(bytes=digest[:16], version=5).urn`, without importing `uuid` (its start-up is a
    millisecond of every build): the RFC 4122 variant and version 5 set in the digest's first bytes."""
    raw = bytearray(digest[:16])
    raw[6] = raw[6] & 0x0F | 0x50
    raw[8] = raw[8] & 0x3F | 0x80
    text = raw.hex()
    return f"urn:uuid:{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def source_date_epoch() -> int | None:
    """`SOURCE_DATE_EPOCH` when it is set (the build's settings have checked it already)."""
    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(text) if text.isdigit() else None


def _metadata(
    project_name: str,
    project_version: str,
    root_ref: str,
    properties: Mapping[str, str],
    timestamp: int | None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if timestamp is not None:
        moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
        metadata["timestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata["tools"] = {
        "components": [
            {
                "type": "application",
                "name": "hatch-lambda",
                "version": __version__,
                "purl": purl("hatch-lambda", __version__),
            }
        ]
    }
    metadata["component"] = {
        "type": "application",
        "bom-ref": root_ref,
        "name": project_name,
        "version": project_version,
        "purl": root_ref,
    }
    metadata["properties"] = [
        {"name": f"hatch-lambda:{key}", "value": value} for key, value in properties.items()
    ]
    return metadata


def _zip_component(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "file",
        "bom-ref": f"file:{entry['file']}",
        "name": str(entry["file"]),
        "hashes": [{"alg": "SHA-256", "content": str(entry["sha256"])}],
    }


def _component(fact: Mapping[str, Any], artifact: str) -> dict[str, Any]:
    reference = purl(fact["name"], fact["version"])
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": reference,
        "name": str(fact["name"]),
        "version": str(fact["version"]),
    }
    if fact.get("sha256"):
        component["hashes"] = [{"alg": "SHA-256", "content": str(fact["sha256"])}]
    if fact.get("licenses"):
        component["licenses"] = list(fact["licenses"])
    component["purl"] = reference
    if fact.get("sboms"):
        component["externalReferences"] = [
            {
                "type": "bom",
                "url": str(sbom["path"]),
                "comment": "An SBOM the wheel carries (PEP 770), kept in the layer zip at this path",
                "hashes": [{"alg": "SHA-256", "content": str(sbom["sha256"])}],
            }
            for sbom in fact["sboms"]
        ]
    properties = [{"name": ARTIFACT_PROPERTY, "value": artifact}]
    if fact.get("file"):
        properties.append({"name": "hatch-lambda:installed-from", "value": str(fact["file"])})
    component["properties"] = properties
    return component


def _dependency_edges(
    root_ref: str,
    requirements: Iterable[str],
    listed: Mapping[str, Mapping[str, Any]],
    environment: Mapping[str, str],
) -> dict[str, set[str]]:
    """`Requires-Dist` edges among the listed components, each extra followed where it is asked for."""
    edges: dict[str, set[str]] = {}
    pending = [(root_ref, text, "") for text in requirements]
    followed: set[tuple[str, str]] = set()
    while pending:
        parent, text, extra = pending.pop()
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker and not requirement.marker.evaluate({**environment, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        fact = listed.get(name)
        if fact is None:  # excluded, provided by the runtime, or the project itself
            continue
        reference = purl(fact["name"], fact["version"])
        if reference != parent:
            edges.setdefault(parent, set()).add(reference)
        for wanted in ("", *sorted(canonicalize_name(item) for item in requirement.extras)):
            if (name, wanted) not in followed:
                followed.add((name, wanted))
                pending += [(reference, child, wanted) for child in fact.get("requires", [])]
    return edges
