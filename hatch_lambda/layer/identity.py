"""The identity of each input that decides a layer's bytes, for the cache key.

A layer is the installed distributions, zipped. So its identity is each distribution's own (a
file's sha256; a local directory's tree; a VCS commit; an archive's hash), the uv that installs them
with the settings that change what it installs, and the deflate implementation that compresses
them. What has no identity (a local directory that cannot be read, an archive without a hash) is
reported as such: such a layer is built fresh every time and never cached.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec
from packaging.utils import canonicalize_name

from hatch_lambda.archive import libdeflate
from hatch_lambda.files.digest import file_sha256
from hatch_lambda.layer.uv import uv_version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - hatchling brings tomli on the versions without tomllib
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

# Never part of a directory's build, and rewritten by tools all the time.
_NEVER_BUILT = frozenset(
    {".git", ".hg", ".svn", "__pycache__", ".venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache"}
)
# uv settings that decide where files come from or how fast, never which files: an index is
# identity only through the hashes of what it serves, and the install always gives the files
# themselves (`--link-mode hardlink` or `copy`, never `symlink`). Every other setting (environment
# or config file) is part of the key, so a setting added to uv later makes the key more specific,
# never stale.
_TRANSPORT_SETTINGS = frozenset(
    {
        "allow-insecure-host",
        "cache-dir",
        "color",
        "concurrent-builds",
        "concurrent-downloads",
        "concurrent-installs",
        "config-file",
        "default-index",
        "extra-index-url",
        "find-links",
        "http-retries",
        "http-timeout",
        "index",
        "index-url",
        "insecure-host",
        "keyring-provider",
        "link-mode",
        "native-tls",
        "no-cache",
        "no-config",
        "no-index",
        "no-progress",
        "offline",
        "request-timeout",
    }
)


@dataclass
class Distributions:
    """What a PEP 751 lock installs, as identities, and what it names without one."""

    identities: list[list[Any]] = field(default_factory=list)
    unidentified: list[str] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)  # local directory packages (canonical names)
    # Every package comes as wheels, each with its sha256: nothing to build, nothing to look up.
    only_hashed_wheels: bool = False


def pylock_distributions(data: Mapping[str, Any], lock_directory: Path) -> Distributions:
    """Each package's name, version, marker and source identity, from a parsed PEP 751 lock: the
    same wheels make the same key wherever the index or wheelhouse lives; a local directory is its
    tree's digest (relative paths are read from `lock_directory`)."""
    found = Distributions()
    packages = data.get("packages", [])
    for package in packages:
        name = str(package["name"])
        source = _source_identity(package, lock_directory)
        if source is None:
            found.unidentified.append(name)
        if "directory" in package:
            found.directories.append(canonicalize_name(name))
        found.identities.append(
            [name, str(package.get("version", "")), str(package.get("marker", "")), source]
        )
    found.identities.sort(key=str)
    found.only_hashed_wheels = all(_hashed_wheels_only(package) for package in packages)
    return found


def _hashed_wheels_only(package: Mapping[str, Any]) -> bool:
    wheels = package.get("wheels", [])
    return bool(wheels) and all(wheel.get("hashes", {}).get("sha256") for wheel in wheels)


def pylock_file_hashes(data: Mapping[str, Any]) -> dict[str, str]:
    """File name -> sha256 of every wheel and sdist a parsed PEP 751 lock names with a hash: which
    file an install used, for the SBOM (`build.sbom`)."""
    hashes = {}
    for package in data.get("packages", []):
        for file in [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]:
            name = file.get("name") or _last_segment(str(file.get("url") or file.get("path") or ""))
            digest = file.get("hashes", {}).get("sha256")
            if name and digest:
                hashes[str(name)] = str(digest)
    return dict(sorted(hashes.items()))


def uv_lock_file_hashes(path: Path) -> dict[str, str]:
    """File name -> sha256 of every wheel and sdist a `uv.lock` names: its `hash` (`sha256:...`), or
    for a local file it locks without one (uv 0.13 hashes no `--find-links` directory's files) the
    sha256 of that file, which the install reads."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    hashes = {}
    for package in data.get("package", []):
        for file in [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]:
            location = str(file.get("url") or file.get("path") or "")
            name = file.get("filename") or _last_segment(location)
            algorithm, _, digest = str(file.get("hash", "")).partition(":")
            if not digest and "path" in file:
                local = path.parent / str(file["path"])
                algorithm, digest = "sha256", (file_sha256(local) if local.is_file() else "")
            if name and algorithm == "sha256" and digest:
                hashes[str(name)] = digest
    return dict(sorted(hashes.items()))


def _last_segment(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[-1]


def _source_identity(package: Mapping[str, Any], lock_directory: Path) -> list[str] | None:
    files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
    if files:
        hashes = [str(file.get("hashes", {}).get("sha256", "")) for file in files]
        return None if "" in hashes else sorted(hashes)
    if "vcs" in package:
        commit = package["vcs"].get("commit-id")
        return ["vcs", str(package["vcs"].get("url", "")), str(commit)] if commit else None
    if "archive" in package:
        digest = package["archive"].get("hashes", {}).get("sha256")
        return ["archive", str(digest)] if digest else None
    if "directory" in package:
        directory = lock_directory / str(package["directory"]["path"])
        digest = tree_digest(directory)
        return ["directory", digest] if digest else None
    return None


def tree_digest(directory: Path) -> str | None:
    """A digest of the files a build of `directory` can read: every file's path, mode and bytes,
    leaving out what its `.gitignore` ignores and tool caches. None when it cannot be read."""
    ignored = _gitignore(directory)
    digest = hashlib.sha256()
    try:
        for current, subdirectories, names in os.walk(directory):
            relative_directory = Path(current).relative_to(directory).as_posix()
            subdirectories[:] = sorted(
                name
                for name in subdirectories
                if name not in _NEVER_BUILT
                and not ignored.match_file(_joined(relative_directory, name) + "/")
            )
            for name in sorted(names):
                relative = _joined(relative_directory, name)
                if name.endswith((".pyc", ".pyo")) or ignored.match_file(relative):
                    continue
                path = Path(current, name)
                digest.update(f"{relative}\0{os.stat(path).st_mode & 0o111:o}\0".encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    except OSError:
        return None
    return digest.hexdigest() if directory.is_dir() else None


def _gitignore(directory: Path) -> pathspec.GitIgnoreSpec:
    try:
        lines = (directory / ".gitignore").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _joined(directory: str, name: str) -> str:
    return name if directory == "." else f"{directory}/{name}"


def tool_identity(project_root: Path) -> dict[str, Any]:
    """uv's version and the settings that change what it installs, and the deflate implementation."""
    return {"uv": uv_version(), "uv-settings": uv_settings(project_root), "deflate": deflate_identity()}


def uv_settings(project_root: Path, environment: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every uv setting from the environment and uv's configuration files but the transport ones."""
    environment = os.environ if environment is None else environment
    variables = {
        name: value
        for name, value in sorted(environment.items())
        if name.startswith("UV_")
        and not name.startswith("UV_INTERNAL_")
        and _setting_name(name.removeprefix("UV_")) not in _TRANSPORT_SETTINGS
    }
    files = {
        str(path): _without_transport(table) for path, table in _uv_configuration(project_root, environment)
    }
    return {"environment": variables, "files": files}


def _uv_configuration(project_root: Path, environment: Mapping[str, str]) -> list[tuple[str, Any]]:
    """The uv configuration tables uv can read for a command run in `project_root` (uv 0.13: the
    nearest `uv.toml` or `[tool.uv]` upwards, the user's and the system's `uv.toml`, and
    `UV_CONFIG_FILE`), by role rather than path, so projects with equal settings share entries.
    Reading one too many only makes the key more specific."""
    found: list[tuple[str, Any]] = []
    for candidate in _project_configuration_files(project_root):
        table = _read_table(candidate)
        if table is not None:
            found.append(("project", table))
            break
    config_home = environment.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    for role, candidate in (
        ("user", Path(config_home, "uv", "uv.toml")),
        ("system", Path("/etc/uv/uv.toml")),
        *(
            [("UV_CONFIG_FILE", Path(environment["UV_CONFIG_FILE"]))]
            if environment.get("UV_CONFIG_FILE")
            else []
        ),
    ):
        table = _read_table(candidate)
        if table is not None:
            found.append((role, table))
    return found


def _project_configuration_files(project_root: Path) -> Iterable[Path]:
    for directory in (project_root.resolve(), *project_root.resolve().parents):
        yield directory / "uv.toml"
        yield directory / "pyproject.toml"


def _read_table(path: Path) -> Any:
    """A uv configuration file's table; `[tool.uv]` of a `pyproject.toml`; None if there is none."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if path.name == "pyproject.toml":
        return data.get("tool", {}).get("uv")
    return data


def _without_transport(table: Any) -> Any:
    if not isinstance(table, dict):
        return table
    return {
        key: _without_transport(value)
        for key, value in sorted(table.items())
        if _setting_name(key) not in _TRANSPORT_SETTINGS
    }


def _setting_name(name: str) -> str:
    return name.lower().replace("_", "-")


def deflate_identity() -> dict[str, str]:
    """The deflate library the zip writer uses and its version: another release may compress the
    same input to other bytes, so each has its own key (the level is a layer option). The sample's
    compressed digest tells apart builds that report the same version (a source build of the
    `deflate` package linked to another libdeflate)."""
    return {
        "library": libdeflate.LIBRARY,
        "deflate": libdeflate.WRAPPER_VERSION,
        "sample": libdeflate.fingerprint(),
    }
