"""Where a project's dependencies come from: `[tool.uv.sources]`, the uv workspace, and its lock.

uv projects name a dependency's origin in `[tool.uv.sources]` (the project's own table, then the
workspace root's): a workspace member, a path, a git repository, a URL or a named index. A name with
a source is never looked up on an index by hatch-lambda:

- `workspace = true`, and `path` to a directory (editable or not), are **first-party code**: the
  package is built with its own build backend and ships in the source zip (`path-dependencies =
  "layer"` puts it into the layer instead); its own third-party dependencies join the layer.
- `git` and `url` sources become direct references (`name @ git+https://...@rev`), which uv resolves
  from that origin only; a `path` to a wheel or sdist file likewise.
- `index` sources can only be honoured through the lock (`uv.lock` records the index and the
  hashes): without one they are an error that says to run `uv lock`.

The lock: `uv.lock` at the project's root, else at its workspace root, is the default lock.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from hatch_lambda.errors import LambdaBuildError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - hatchling brings tomli on the versions without tomllib
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

SOURCES_TABLE = "tool.uv.sources"


class SourcesError(LambdaBuildError):
    def __init__(self, pyproject: Path, message: str) -> None:
        self.pyproject = pyproject
        super().__init__(f"{pyproject}: {message}")


class FirstPartyPackage(NamedTuple):
    """A dependency whose code is the team's own: a workspace member, or a directory by path."""

    name: NormalizedName
    directory: Path
    origin: str  # how it was named, for messages: "workspace member", "path source", "file reference"


@dataclass(frozen=True)
class ProjectSources:
    workspace_root: Path | None
    first_party: dict[NormalizedName, FirstPartyPackage] = field(default_factory=dict)
    # Names whose origin uv must be told directly: the direct reference to resolve instead.
    direct_references: dict[NormalizedName, str] = field(default_factory=dict)
    index_pinned: dict[NormalizedName, str] = field(default_factory=dict)  # name -> index name
    lock: Path | None = None  # the project's or the workspace's uv.lock, when there is one


def read_sources(project_root: Path) -> ProjectSources:
    """The sources that apply to the project at `project_root`, its own table winning over the root's."""
    project_file = project_root / "pyproject.toml"
    project = read_pyproject(project_file)
    workspace_root = find_workspace_root(project_root)
    tables: list[tuple[Path, Mapping[str, Any]]] = []
    if workspace_root is not None and workspace_root != project_root:
        tables.append((workspace_root / "pyproject.toml", _sources_table(workspace_root / "pyproject.toml")))
    tables.append((project_file, _sources_table(project_file, project)))
    merged: dict[NormalizedName, tuple[Path, Mapping[str, Any]]] = {}
    for declared_in, table in tables:
        for name, source in table.items():
            merged[canonicalize_name(name)] = (declared_in, source)
    sources = ProjectSources(workspace_root, lock=_default_lock(project_root, workspace_root))
    members = workspace_members(workspace_root) if workspace_root is not None else {}
    for name, (declared_in, source) in merged.items():
        _classify(sources, name, declared_in, source, members)
    return sources


def first_party_in_requirements(requirement: Requirement, project_root: Path) -> FirstPartyPackage | None:
    """`name @ file:///path/to/dir` (hatchling's `{root:uri}/../lib`): a directory is first-party code too."""
    url = requirement.url
    if not url or not url.startswith("file:"):
        return None
    from urllib.parse import unquote, urlparse  # noqa: PLC0415 - only for direct references

    path = Path(unquote(urlparse(url).path))
    directory = path if path.is_absolute() else (project_root / path)
    if directory.is_dir() and (directory / "pyproject.toml").is_file():
        return FirstPartyPackage(canonicalize_name(requirement.name), directory.resolve(), "file reference")
    return None


def find_workspace_root(project_root: Path) -> Path | None:
    """The nearest directory at or above the project whose `[tool.uv.workspace]` lists it as a member."""
    project_root = project_root.resolve()
    for candidate in (project_root, *project_root.parents):
        pyproject = candidate / "pyproject.toml"
        if not pyproject.is_file():
            continue
        workspace = read_pyproject(pyproject).get("tool", {}).get("uv", {}).get("workspace")
        if not isinstance(workspace, dict):
            continue
        if candidate == project_root or project_root in _member_directories(candidate, workspace):
            return candidate
    return None


def _classify(
    sources: ProjectSources,
    name: NormalizedName,
    declared_in: Path,
    source: Any,
    members: Mapping[NormalizedName, Path],
) -> None:
    where = f"`{SOURCES_TABLE}.{name}`"
    if isinstance(source, list):
        # Several sources, told apart by markers: uv picks one per platform; the lock knows which.
        sources.index_pinned[name] = "several, by marker"
        return
    if not isinstance(source, dict):
        raise SourcesError(declared_in, f"{where} must be a table, such as {{ workspace = true }}")
    if source.get("workspace") is True:
        if name not in members:
            raise SourcesError(
                declared_in,
                f"{where} says `workspace = true`, but no member of the workspace is named `{name}`: "
                "add it to `tool.uv.workspace.members`, or fix the name",
            )
        sources.first_party[name] = FirstPartyPackage(name, members[name], "workspace member")
    elif "path" in source:
        path = (declared_in.parent / str(source["path"])).resolve()
        if path.is_dir():
            sources.first_party[name] = FirstPartyPackage(name, path, "path source")
        elif path.is_file():
            sources.direct_references[name] = f"{name} @ {path.as_uri()}"
        else:
            raise SourcesError(declared_in, f"{where} points at `{source['path']}`, which does not exist")
    elif "git" in source:
        sources.direct_references[name] = f"{name} @ {_git_url(source)}"
    elif "url" in source:
        url = str(source["url"])
        subdirectory = source.get("subdirectory")
        sources.direct_references[name] = f"{name} @ {url}" + (
            f"#subdirectory={subdirectory}" if subdirectory else ""
        )
    elif "index" in source:
        sources.index_pinned[name] = str(source["index"])
    else:
        raise SourcesError(
            declared_in, f"{where} names no source hatch-lambda knows (workspace, path, git, url, index)"
        )


def _git_url(source: Mapping[str, Any]) -> str:
    url = str(source["git"])
    reference = source.get("rev") or source.get("tag") or source.get("branch")
    text = f"git+{url}" if not url.startswith("git+") else url
    if reference:
        text += f"@{reference}"
    subdirectory = source.get("subdirectory")
    return text + (f"#subdirectory={subdirectory}" if subdirectory else "")


def _default_lock(project_root: Path, workspace_root: Path | None) -> Path | None:
    for directory in (project_root, workspace_root):
        if directory is not None and (directory / "uv.lock").is_file():
            return directory / "uv.lock"
    return None


def workspace_members(workspace_root: Path) -> dict[NormalizedName, Path]:
    """Every member of the uv workspace at `workspace_root` (the root project too), by name."""
    workspace = (
        read_pyproject(workspace_root / "pyproject.toml").get("tool", {}).get("uv", {}).get("workspace", {})
    )
    members: dict[NormalizedName, Path] = {}
    for directory in sorted(_member_directories(workspace_root, workspace)):
        name = read_pyproject(directory / "pyproject.toml").get("project", {}).get("name")
        if isinstance(name, str):
            members[canonicalize_name(name)] = directory
    root_name = read_pyproject(workspace_root / "pyproject.toml").get("project", {}).get("name")
    if isinstance(root_name, str):
        members.setdefault(canonicalize_name(root_name), workspace_root.resolve())
    return members


def _member_directories(workspace_root: Path, workspace: Mapping[str, Any]) -> set[Path]:
    def matches(key: str) -> set[Path]:
        patterns = workspace.get(key, [])
        found: set[Path] = set()
        for pattern in patterns if isinstance(patterns, list) else []:
            found |= {
                path.resolve()
                for path in workspace_root.glob(str(pattern))
                if (path / "pyproject.toml").is_file()
            }
        return found

    return matches("members") - matches("exclude")


def _sources_table(pyproject: Path, document: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    data = document if document is not None else read_pyproject(pyproject)
    table = data.get("tool", {}).get("uv", {}).get("sources", {})
    if not isinstance(table, dict):
        raise SourcesError(pyproject, f"`{SOURCES_TABLE}` must be a table")
    return table


def read_pyproject(path: Path) -> dict[str, Any]:
    """A `pyproject.toml` read as hatchling reads it (tomllib); {} when there is none."""
    try:
        with path.open("rb") as stream:
            return dict(tomllib.load(stream))
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SourcesError(path, f"cannot be read ({error})") from error


def requirement_names(requirements: list[str]) -> dict[NormalizedName, Requirement]:
    parsed: dict[NormalizedName, Requirement] = {}
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue  # the installer names a malformed requirement itself
        parsed.setdefault(canonicalize_name(requirement.name), requirement)
    return parsed
