"""`lock = "<path>"`: install exactly a pinned set into the layer, without resolving again.

Three kinds of lock, told apart by file name as uv tells them apart:

* `pylock.toml` / `pylock.<name>.toml` (PEP 751). `uv pip install -r pylock.toml` installs the
  lock's own entries and resolves nothing: package markers are evaluated for `--python-version` and
  `--python-platform`, wheels are chosen by the target's tags, and every hash is checked (even with
  `UV_NO_VERIFY_HASHES`). PEP 751 extras and dependency groups are selected with `--extra NAME`
  and a bare `--group NAME` (`--group pylock.toml:NAME` is refused: uv wants a `pyproject.toml`
  there); without `--group`, the lock's `default-groups` are installed. uv silently ignores a name
  the lock does not declare, so this module refuses it instead.
  Two uv behaviours force a rewritten copy in `scratch` (uv 0.13): it checks the lock's
  `requires-python` against the interpreter given with `--python` (whatever runs the build), not
  against `--python-version`; and it ignores `--excludes`, so a lock that lists the project itself
  (as `uv export --format pylock.toml` does unless told not to) fails with "can't be installed
  because it is marked as `--no-build`". The copy drops `requires-python` (checked here against the
  runtime instead) and the project's own entries, and makes relative paths absolute, because uv
  reads them relative to the lock's directory.
* `uv.lock`. `uv export --format requirements.txt --locked --no-emit-workspace --no-default-groups
  [--extra E]... [--group G]... --project <lock directory> --package <project>` writes the pins for
  the project (a workspace member or the root) with their markers and hashes; uv refuses an extra
  or group the project does not define. `--no-emit-workspace` keeps the project and its workspace
  siblings out: they are local directories, which an `--only-binary :all:` install cannot build.
  The exported file is then installed like a requirements file.
* Anything else is a requirements file, installed with `--no-deps`, so uv installs the listed pins
  and nothing else: markers are evaluated for the target. uv checks every `--hash` it is given
  (a mismatch fails with "Hash mismatch for `name==version`"); when every pin has one this module
  adds `--require-hashes`, which also wins over `UV_NO_VERIFY_HASHES`, and when only some have one
  it adds `--verify-hashes` and says which pins go unchecked.

uv prints no "Resolved N packages" line for a pylock install; `LockedInstall.pinned` has the count.
Evaluating PEP 751 markers (`'dev' in dependency_groups`) needs packaging 25 or later.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Union

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.platform import runtimes
from hatch_lambda.platform.runtimes import Runtime

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - hatchling brings tomli on the versions without tomllib
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

LockKind = Literal["pylock", "uv.lock", "requirements"]
# PEP 508 values, plus PEP 751's `extras` and `dependency_groups` sets when reading a pylock.
MarkerEnvironment = dict[str, Union[str, frozenset[str]]]

_PYLOCK_NAME = re.compile(r"^pylock\.([^.]+\.)?toml$")
# Other tools' locks, with the command that writes the same pins as a requirements file.
_FOREIGN_LOCKS = {
    "poetry.lock": "poetry export --format requirements.txt --output requirements.txt",
    "pdm.lock": "pdm export --format requirements --output requirements.txt",
    "pipfile.lock": "pipenv requirements > requirements.txt",
    "conda-lock.yml": "",
    "package-lock.json": "",
}
# Formats no requirements file has: read as one, their lines would be skipped or misread.
_STRUCTURED_SUFFIXES = (".toml", ".json", ".yaml", ".yml", ".cfg", ".ini")
# pip's comment rule: `#` at the start of a line or after whitespace.
_COMMENT = re.compile(r"(^|\s+)#.*$")
# Per-requirement options (`--hash`, `--config-settings`) follow the requirement after whitespace.
_OPTION = re.compile(r"\s+(?=--)")
_HASH = re.compile(r"--hash[=\s]+\S+")
_INCLUDE = re.compile(r"^(?:-r|--requirements?)(?:=|\s+|(?=\S))(.+)$")
_CONSTRAINT = re.compile(r"^(?:-c|--constraints?)(?:=|\s+|(?=\S))(.+)$")
_EDITABLE = re.compile(r"^(?:-e|--editable)(?:=|\s+|(?=\S))(.+)$")
# Sources in a pylock package whose `path` is relative to the lock's directory.
_PATH_SOURCES = ("directory", "archive", "sdist", "vcs")


class LockFileError(LambdaBuildError):
    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(message)


def _nothing_to_write() -> None:
    """A requirements file or an exported uv.lock is written already: uv reads it as it is."""


@dataclass(frozen=True)
class LockedInstall:
    """How to install a lock into the layer, and what it will install."""

    # Replaces `--requirements <file>` in `uv pip install --target ...`.
    uv_arguments: list[str]
    # Canonical name -> pinned version, for the entries whose markers hold on the target.
    pinned: dict[str, str]
    warnings: list[str]
    # Every file the install reads, includes (`-r`, `-c`) and exports too: what the cache key digests.
    files_read: list[Path] = field(default_factory=list)
    # Requirements the lock names without one identity (no `==`, a path, a URL, an editable): the
    # install picks what is there at the time, so no cached layer can stand for it.
    unidentified: list[str] = field(default_factory=list)
    # A PEP 751 lock as parsed here, for what else reads it (identities, file hashes): read once.
    pylock: dict[str, Any] | None = None
    # Writes the files `uv_arguments` name that are not written yet: run before installing. A
    # build that takes its layer from the cache never installs, so never writes them.
    write_files: Callable[[], None] = _nothing_to_write


@dataclass
class LockContents:
    """What a lock installs on the target, and how firmly it says so."""

    versions: dict[str, str] = field(default_factory=dict)  # canonical name -> pinned version
    named: set[str] = field(default_factory=set)  # every name installed, pinned or not
    hashed: list[str] = field(default_factory=list)
    unhashed: list[str] = field(default_factory=list)
    unpinned: list[str] = field(default_factory=list)  # requirements with no single `==` version
    files: list[Path] = field(default_factory=list)  # every file read, includes and constraints too

    def forget(self, name: str) -> None:
        """Leave `name` out, as `exclude-packages` asks."""
        self.versions.pop(name, None)
        self.named.discard(name)
        self.hashed = [item for item in self.hashed if item != name]
        self.unhashed = [item for item in self.unhashed if item != name]


class _Lock(NamedTuple):
    path: Path
    shown: str

    def error(self, message: str) -> LockFileError:
        return LockFileError(self.path, message)


def lock_kind(path: Path) -> LockKind | None:
    """The lock's format by its file name, as uv tells them apart; None for a file that is none of
    the three (another tool's lock, or a structured file that is not a requirements list)."""
    if path.name == "uv.lock":
        return "uv.lock"
    if _PYLOCK_NAME.match(path.name):
        return "pylock"
    if path.name.lower() in _FOREIGN_LOCKS or path.suffix.lower() in _STRUCTURED_SUFFIXES:
        return None
    return "requirements"


def unknown_lock_advice(path: Path) -> str:
    """What to do with a lock file of a format hatch-lambda does not read."""
    exporter = _FOREIGN_LOCKS.get(path.name.lower())
    how = f" Export it as one: `{exporter}`." if exporter else ""
    return (
        f"`{path.name}` is not a lock hatch-lambda can read. It reads `pylock.toml` or "
        "`pylock.NAME.toml` (PEP 751, NAME without dots), `uv.lock`, or a requirements file "
        f"(`requirements.txt`, `*.in`, `*.lock` with one requirement a line).{how}"
    )


def prepare_locked_install(
    lock_path: Path,
    *,
    project_name: str,
    project_root: Path,
    requirements: list[str],
    extras: list[str],
    groups: list[str],
    runtime: Runtime,
    architecture: str,
    scratch: Path,
    uv: str,
    excluded: Iterable[str] = (),
    lock_packages: list[str] | None = None,
) -> LockedInstall:
    """Check the lock against the project and say how uv should install it.

    `lock_path` is absolute or relative to `project_root`. `requirements` are the project's direct
    requirements for the layer (dependencies plus chosen extras and groups), as `layer_requirements`
    returns them. `excluded` (`exclude-packages`) are left out of what is installed, since uv ignores
    `--excludes` when it installs a lock. `scratch` must outlive the install: the arguments may name
    files written there.
    """
    path = lock_path if lock_path.is_absolute() else project_root / lock_path
    lock = _Lock(path, _shown(lock_path, project_root))
    if not path.is_file():
        raise lock.error(f"Lock file {lock.shown} does not exist")
    environment: MarkerEnvironment = dict(runtimes.marker_environment(runtime, architecture))
    project = canonicalize_name(project_name)
    left_out = frozenset({project, *(canonicalize_name(name) for name in excluded)})
    kind = lock_kind(path)
    if kind is None:
        raise lock.error(unknown_lock_advice(path))
    warnings: list[str] = []
    pylock: dict[str, Any] | None = None
    write_files = _nothing_to_write
    if kind == "pylock":
        pylock = _read_toml(lock)
        arguments, contents, write_files = _prepare_pylock(
            lock,
            pylock,
            left_out,
            environment,
            runtime=runtime,
            extras=extras,
            groups=groups,
            scratch=scratch,
        )
        contents.files.append(path)
    else:
        file = (
            path
            if kind == "requirements"
            else _export_uv_lock(
                lock,
                lock_packages or [project_name],
                extras,
                groups,
                scratch=scratch,
                uv=uv,
                python=_runtime_python(runtime, uv),
                warnings=warnings,
            )
        )
        contents = requirements_file_contents(file, environment, project, lock_shown=lock.shown)
        if kind == "uv.lock":
            contents.files.insert(0, path)
        for name in left_out - {project}:
            contents.forget(name)
        arguments = ["--requirements", str(file), "--no-deps", *_hash_arguments(contents)]
        if kind == "requirements":
            warnings += _requirements_file_notes(contents, lock.shown)
    _refuse_empty_lock(lock, contents, requirements, environment, left_out)
    warnings += pin_warnings(lock.shown, contents, requirements, environment, left_out)
    return LockedInstall(
        uv_arguments=arguments,
        pinned=dict(sorted(contents.versions.items())),
        warnings=warnings,
        files_read=contents.files,
        unidentified=contents.unpinned,
        pylock=pylock,
        write_files=write_files,
    )


# Checks against the project ---------------------------------------------------------------------


def _applying_requirements(
    requirements: Iterable[str], environment: MarkerEnvironment, left_out: frozenset[str]
) -> list[tuple[str, Requirement]]:
    """The direct requirements the layer must meet on the target: markers hold, not left out."""
    applying = []
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name in left_out or (requirement.marker and not requirement.marker.evaluate(environment)):
            continue
        applying.append((text, requirement))
    return applying


def _refuse_empty_lock(
    lock: _Lock,
    contents: LockContents,
    requirements: Iterable[str],
    environment: MarkerEnvironment,
    left_out: frozenset[str],
) -> None:
    """A lock that installs nothing for a project that needs something is the wrong lock."""
    needed = _applying_requirements(requirements, environment, left_out)
    if contents.named or not needed:
        return
    listed = ", ".join(f"`{text}`" for text, _ in needed[:5])
    message = (
        f"Lock file {lock.shown} installs no package on the target, but the project depends on {listed}. "
        "Lock the project again (`uv lock`, `uv export --format pylock.toml` or `uv pip compile`)."
    )
    raise lock.error(message)


def pin_warnings(
    shown: str,
    contents: LockContents,
    requirements: Iterable[str],
    environment: MarkerEnvironment,
    project: str | frozenset[str],
) -> list[str]:
    """A warning per direct requirement, among those whose marker holds on the target, that the lock
    leaves out or pins outside its specifier. `project` is the name (or names) not to check: the
    project itself, and excluded packages."""
    left_out = frozenset({project}) if isinstance(project, str) else project
    warnings: list[str] = []
    for text, requirement in _applying_requirements(requirements, environment, left_out):
        name = canonicalize_name(requirement.name)
        version = contents.versions.get(name)
        if name not in contents.named:
            warnings.append(f"Lock file {shown} has no pin for `{name}`, a direct dependency of the project")
        elif version is not None and not _allows(requirement.specifier, version):
            warnings.append(
                f"Lock file {shown} pins {name}=={version}, which the project's requirement `{text}` excludes"
            )
    return list(dict.fromkeys(warnings))


def unmet_dependencies(
    target: Path, runtime: Runtime, architecture: str, *, project_name: str, excluded: Iterable[str] = ()
) -> list[str]:
    """What the distributions in a `--target` tree require on the runtime but the tree lacks.

    A lock installed with `--no-deps` is trusted to be complete; a hand-written requirements file
    often is not. Like `pip check`, this reads each distribution's own `Requires-Dist`, no extras.
    A dependency on the project itself is met by the source zip, not the layer; an excluded one
    (`exclude-packages`) by whatever the user provides instead.
    """
    project = canonicalize_name(project_name)
    left_out = {project, *(canonicalize_name(name) for name in excluded)}
    environment: MarkerEnvironment = dict(runtimes.marker_environment(runtime, architecture))
    from hatch_lambda.layer.closure import installed_metadata  # noqa: PLC0415 - after an install only

    installed = {name: (item.version, item.requires) for name, item in installed_metadata(target).items()}
    problems: list[str] = []
    for name, (version, requires) in installed.items():
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            needed = canonicalize_name(requirement.name)
            if needed in left_out:
                continue
            if needed not in installed:
                problems.append(f"`{name}` {version} requires `{line}`, which is not installed")
            elif not _allows(requirement.specifier, installed[needed][0]):
                problems.append(
                    f"`{name}` {version} requires `{line}`, but {needed}=={installed[needed][0]} is installed"
                )
    return problems


def _allows(specifier: SpecifierSet, version: str) -> bool:
    try:
        return specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return True  # not PEP 440: nothing to compare against


def _runtime_python(runtime: Runtime, uv: str) -> str | None:
    """The runtime's CPython, which exporting a uv.lock needs (a pylock or requirements file does not)."""
    from hatch_lambda.platform.interpreters import find_runtime_python  # noqa: PLC0415 - uv.lock only

    return find_runtime_python(runtime, uv)


# pylock.toml --------------------------------------------------------------------------------------


def _prepare_pylock(
    lock: _Lock,
    data: dict[str, Any],
    left_out: frozenset[str],
    environment: MarkerEnvironment,
    *,
    runtime: Runtime,
    extras: list[str],
    groups: list[str],
    scratch: Path,
) -> tuple[list[str], LockContents, Callable[[], None]]:
    _check_pylock_shape(lock, data)
    _check_requires_python(lock, data, runtime)
    chosen_extras, chosen_groups = _pylock_selection(lock, data, extras, groups)
    copy = scratch / "pylock.toml"  # uv recognises a PEP 751 lock by its name

    def write_copy() -> None:
        import tomli_w  # noqa: PLC0415 - only a build that installs writes it

        copy.write_text(tomli_w.dumps(installable_pylock(data, lock.path.parent, left_out)), encoding="utf-8")

    arguments = ["--requirements", str(copy)]
    arguments += [argument for extra in chosen_extras for argument in ("--extra", extra)]
    arguments += [argument for group in chosen_groups for argument in ("--group", group)]
    return arguments, pylock_contents(data, environment, chosen_extras, chosen_groups, left_out), write_copy


def _check_pylock_shape(lock: _Lock, data: Mapping[str, Any]) -> None:
    """What the rest of this module reads from a pylock, checked once: `packages` is an array of
    tables, each with a PEP 508 `name`, a string `version` if any, and a marker that parses."""
    packages = data.get("packages", [])
    if not isinstance(packages, list) or not all(isinstance(package, dict) for package in packages):
        raise lock.error(f"Lock file {lock.shown}: `packages` must be an array of tables (`[[packages]]`)")
    for index, package in enumerate(packages, start=1):
        name = package.get("name")
        where = f"Lock file {lock.shown}: package {index} (`[[packages]]` number {index})"
        if not isinstance(name, str):
            raise lock.error(f"{where} has no `name`")
        try:
            canonicalize_name(name, validate=True)
        except InvalidName:
            raise lock.error(f"{where} is named {name!r}, which is not a PEP 508 package name") from None
        if "version" in package and not isinstance(package["version"], str):
            raise lock.error(f"{where}, `{name}`: `version` must be a string")
        marker = package.get("marker")
        if marker is not None:
            try:
                Marker(str(marker))
            except InvalidMarker as error:
                raise lock.error(f"{where}, `{name}`, has an invalid `marker`: {error}") from None


def _left_out(project: str | frozenset[str]) -> frozenset[str]:
    return frozenset({project}) if isinstance(project, str) else project


def pylock_contents(
    data: Mapping[str, Any],
    environment: MarkerEnvironment,
    extras: Iterable[str],
    groups: Iterable[str],
    project: str | frozenset[str],
) -> LockContents:
    """The entries of a parsed pylock whose markers hold on the target, with these extras and groups,
    but for `project` (the name, or names, left out)."""
    left_out = _left_out(project)
    context: MarkerEnvironment = {
        **environment,
        "extras": frozenset(canonicalize_name(extra) for extra in extras),
        "dependency_groups": frozenset(canonicalize_name(group) for group in groups),
    }
    contents = LockContents()
    for package in data.get("packages", []):
        name = canonicalize_name(str(package["name"]))
        marker = package.get("marker")
        if name in left_out or (marker and not Marker(str(marker)).evaluate(context, context="lock_file")):
            continue
        contents.named.add(name)
        if "version" in package:
            contents.versions[name] = str(package["version"])
    return contents


def installable_pylock(
    data: Mapping[str, Any], lock_directory: Path, project: str | frozenset[str]
) -> dict[str, Any]:
    """The lock as uv should read it from another directory: without `requires-python`, without the
    entries of `project` (the project's own, and excluded packages'), and with no relative path."""
    left_out = _left_out(project)
    copy = {key: value for key, value in data.items() if key != "requires-python"}
    copy["packages"] = [
        _absolute_paths(package, lock_directory)
        for package in data.get("packages", [])
        if canonicalize_name(str(package["name"])) not in left_out
    ]
    return copy


def pylock_subset(source: Path, names: set[str], destination: Path) -> bool:
    """Write to `destination` the PEP 751 lock `source` with only the packages named `names`;
    False, and nothing written, when it has none of them."""
    wanted = {canonicalize_name(name) for name in names}
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    packages = [
        package for package in data.get("packages", []) if canonicalize_name(str(package["name"])) in wanted
    ]
    if not packages:
        return False
    import tomli_w  # noqa: PLC0415 - only a build that writes a lock file needs it

    destination.write_text(tomli_w.dumps({**data, "packages": packages}), encoding="utf-8")
    return True


def split_pylock(source: Path, directory: Path) -> dict[str, Path]:
    """One PEP 751 lock per package name in `source` (a name may have several entries, for other
    markers), each `directory/<n>/pylock.toml`, by canonical name."""
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    by_name: dict[str, list[Any]] = {}
    for package in data.get("packages", []):
        by_name.setdefault(canonicalize_name(str(package["name"])), []).append(package)
    written: dict[str, Path] = {}
    for index, (name, packages) in enumerate(by_name.items()):
        path = directory / str(index) / "pylock.toml"  # uv recognises a PEP 751 lock by its name
        path.parent.mkdir(parents=True)
        import tomli_w  # noqa: PLC0415 - only a build that writes a lock file needs it

        path.write_text(tomli_w.dumps({**data, "packages": packages}), encoding="utf-8")
        written[name] = path
    return written


def _absolute_paths(package: Mapping[str, Any], lock_directory: Path) -> dict[str, Any]:
    def absolute(source: Mapping[str, Any]) -> dict[str, Any]:
        if "path" not in source:
            return dict(source)
        return {**source, "path": str((lock_directory / str(source["path"])).resolve())}

    copy = dict(package)
    for key in _PATH_SOURCES:
        if key in copy:
            copy[key] = absolute(copy[key])
    if "wheels" in copy:
        copy["wheels"] = [absolute(wheel) for wheel in copy["wheels"]]
    return copy


def _pylock_selection(
    lock: _Lock, data: Mapping[str, Any], extras: list[str], groups: list[str]
) -> tuple[list[str], list[str]]:
    """The extras and groups to select in the lock, refusing names it does not declare (uv would
    ignore them). A lock that declares none has them folded in already, as `uv export` and
    `uv pip compile` write locks: there is nothing to select, and `pin_warnings` checks the rest."""
    declared_extras = [str(extra) for extra in data.get("extras", [])]
    declared_groups = [str(group) for group in data.get("dependency-groups", [])]
    for kind, asked, declared in (("extra", extras, declared_extras), ("group", groups, declared_groups)):
        known = {canonicalize_name(name) for name in declared}
        missing = [name for name in asked if known and canonicalize_name(name) not in known]
        if missing:
            message = (
                f"Lock file {lock.shown} declares no dependency {kind} `{missing[0]}` (it declares: "
                f"{', '.join(declared)}). Lock the project with it, or leave it out of the target's "
                "configuration."
            )
            raise lock.error(message)
    chosen_extras = extras if declared_extras else []
    chosen_groups = groups if declared_groups else []
    if declared_groups and not chosen_groups:
        chosen_groups = [str(group) for group in data.get("default-groups", [])]
    return chosen_extras, chosen_groups


def _check_requires_python(lock: _Lock, data: Mapping[str, Any], runtime: Runtime) -> None:
    if "requires-python" not in data:
        return
    requires_python = str(data["requires-python"])
    try:
        allowed = runtimes.runtime_allowed(runtime, requires_python)
    except InvalidSpecifier as error:
        message = f"Lock file {lock.shown} has an invalid `requires-python` ({requires_python!r}): {error}"
        raise lock.error(message) from None
    if not allowed:
        message = (
            f"Lock file {lock.shown} requires Python {requires_python}, but {runtime.name} runs "
            f"CPython {runtime.python_version_text}. Lock for that version, or choose another `runtime`."
        )
        raise lock.error(message)


def _read_toml(lock: _Lock) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(lock.path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise lock.error(f"Lock file {lock.shown} is not valid TOML: {error}") from error
    return data


# uv.lock ----------------------------------------------------------------------------------------


def _export_uv_lock(
    lock: _Lock,
    packages: list[str],
    extras: list[str],
    groups: list[str],
    *,
    scratch: Path,
    uv: str,
    python: str | None,
    warnings: list[str],
) -> Path:
    """Write the project's pins from `uv.lock` as a requirements file in `scratch`.

    Checking that the lock still matches `pyproject.toml` (`--locked`) needs an interpreter that
    satisfies the project's `requires-python`: the runtime's CPython. Without one here the pins are
    exported as they are (`--frozen`), and a warning says the check was not made.
    """
    if not (lock.path.parent / "pyproject.toml").is_file():
        message = (
            f"Lock file {lock.shown} has no `pyproject.toml` beside it: uv reads `uv.lock` at the root "
            "of a project or workspace"
        )
        raise lock.error(message)
    exported = scratch / "uv-lock-export.txt"
    base = [
        uv,
        "export",
        "--format",
        "requirements.txt",
        "--no-emit-workspace",
        "--no-default-groups",
        *(argument for extra in extras for argument in ("--extra", extra)),
        *(argument for group in groups for argument in ("--group", group)),
        # From the lock's own directory, so uv reads this uv.lock; `--package` picks the member.
        "--project",
        str(lock.path.parent),
        *(argument for package in packages for argument in ("--package", package)),
        "--no-header",
        "--no-annotate",
        "--output-file",
        str(exported),
        "--quiet",
        "--color",
        "never",
    ]
    # `--locked`, not `--frozen`: a lock that no longer matches pyproject.toml is refused, where
    # `--frozen` would ship its stale pins. The check needs an interpreter satisfying the project's
    # `requires-python`: the runtime's CPython when there is one, else whichever uv finds.
    said = ""
    for interpreter in ([["--python", python]] if python else []) + [[]]:
        completed = _run_uv(lock, [*base, "--locked", *interpreter])
        if completed.returncode == 0:
            return exported
        said = (completed.stderr or completed.stdout).rstrip()
        if "needs to be updated" in said:
            message = (
                f"Lock file {lock.shown} is out of date with `pyproject.toml`: run `uv lock` in "
                f"{lock.path.parent}, then build again.\n\nuv said:\n{said}"
            )
            raise lock.error(message)
    if _NO_INTERPRETER.search(said):
        completed = _run_uv(lock, [*base, "--frozen"])
        if completed.returncode == 0:
            warnings.append(
                f"Could not check that {lock.shown} is up to date with `pyproject.toml` (uv found no Python "
                "that satisfies its `requires-python` here): its pins are installed as they are; "
                "`uv lock --check` makes the check"
            )
            return exported
        said = (completed.stderr or completed.stdout).rstrip()
    names = "`, `".join(packages)
    raise lock.error(
        f"Could not read the pins for `{names}` from lock file {lock.shown}.\n\nuv said:\n{said}"
    )


def _run_uv(lock: _Lock, command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=lock.path.parent, capture_output=True, text=True, check=False)


# uv's words when no interpreter it may use satisfies the project (a pyenv shim, say).
_NO_INTERPRETER = re.compile(
    r"No interpreter found|Failed to inspect Python interpreter"
    r"|incompatible with the project's Python requirement|pyenv"
)


# Requirements files -------------------------------------------------------------------------------


def requirements_file_contents(
    path: Path, environment: MarkerEnvironment, project: str, *, lock_shown: str | None = None
) -> LockContents:
    """What a requirements file (with the files it includes by `-r` and `-c`) installs on the target.

    `lock_shown` is how messages name the file (default: its path)."""
    contents = LockContents()
    _collect_requirements(
        path, lock_shown or str(path), environment, project, contents, seen=set(), constraints=False
    )
    return contents


def _collect_requirements(
    path: Path,
    shown: str,
    environment: MarkerEnvironment,
    project: str,
    contents: LockContents,
    *,
    seen: set[Path],
    constraints: bool,
) -> None:
    """Read `path` into `contents`; a constraints file (`-c`) is read only for its bytes, as it
    installs nothing by itself."""
    if path.resolve() in seen:
        return
    seen.add(path.resolve())
    text = _read_requirements_text(path, shown)
    contents.files.append(path)
    for line in _logical_lines(text):
        if line.startswith("["):
            message = (
                f"Lock file {shown} is not a requirements file: it has a TOML table line `{line}`. "
                "Give a requirements file, `pylock.toml` or `uv.lock`."
            )
            raise LockFileError(path, message)
        included = _INCLUDE.match(line) or _CONSTRAINT.match(line)
        if included:
            written = included.group(1).strip()
            target = path.parent / written
            if not target.is_file():
                message = f"Lock file {shown} includes `{written}` (`{line}`), which does not exist"
                raise LockFileError(path, message)
            _collect_requirements(
                target,
                f"`{written}` (included by {shown})",
                environment,
                project,
                contents,
                seen=seen,
                constraints=constraints or included.re is _CONSTRAINT,
            )
            continue
        if constraints:
            continue
        editable = _EDITABLE.match(line)
        if editable:
            contents.unpinned.append(editable.group(1).strip())
            continue
        if line.startswith("-"):
            continue  # index and install options: nothing the layer pins
        requirement_text = _OPTION.split(line, 1)[0]
        try:
            requirement = Requirement(requirement_text)
        except InvalidRequirement:
            contents.unpinned.append(requirement_text)  # a bare path or URL: whatever is there now
            continue
        name = canonicalize_name(requirement.name)
        if name == project or (requirement.marker and not requirement.marker.evaluate(environment)):
            continue
        contents.named.add(name)
        version = _pinned_version(requirement)
        if version is None:
            contents.unpinned.append(requirement_text)
        else:
            contents.versions[name] = version
        (contents.hashed if _HASH.search(line) else contents.unhashed).append(name)


def _read_requirements_text(path: Path, shown: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        message = (
            f"Lock file {shown} is not UTF-8 text (byte {error.start}: {error.reason}). Save it as "
            "UTF-8, as pip and uv read requirements files."
        )
        raise LockFileError(path, message) from None
    except OSError as error:
        raise LockFileError(path, f"Lock file {shown} cannot be read: {error.strerror or error}") from error


def _logical_lines(text: str) -> list[str]:
    """Lines without comments and with backslash continuations joined, as pip reads them."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = _COMMENT.sub("", raw).rstrip()
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = (pending + stripped).strip()
        pending = ""
        if line:
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines


def _pinned_version(requirement: Requirement) -> str | None:
    if requirement.url:
        filename = requirement.url.rsplit("/", 1)[-1].split("#", 1)[0]
        try:
            return str(parse_wheel_filename(filename)[1])
        except InvalidWheelFilename:
            return None
    specifiers = list(requirement.specifier)
    if len(specifiers) == 1 and specifiers[0].operator in {"==", "==="} and "*" not in specifiers[0].version:
        return specifiers[0].version
    return None


def _hash_arguments(contents: LockContents) -> list[str]:
    """`--require-hashes` when every pin has a hash; `--verify-hashes` (uv's default, made explicit
    against a `no-verify-hashes` in uv.toml) when some have; nothing when none has. With
    `UV_NO_VERIFY_HASHES` set, uv refuses `--verify-hashes` outright: loud, where skipping is silent."""
    if contents.hashed and not contents.unhashed:
        return ["--require-hashes"]
    return ["--verify-hashes"] if contents.hashed else []


def _requirements_file_notes(contents: LockContents, shown: str) -> list[str]:
    notes: list[str] = []
    if contents.unpinned:
        listed = ", ".join(f"`{text}`" for text in contents.unpinned)
        notes.append(
            f"Lock file {shown} does not pin {listed} to one version (`==`): uv installs the newest match"
        )
    if contents.hashed and contents.unhashed:
        listed = ", ".join(f"`{name}`" for name in contents.unhashed)
        notes.append(f"Lock file {shown} has hashes for some pins but not for {listed}: those go unchecked")
    return notes


def _shown(lock_path: Path, project_root: Path) -> str:
    """The lock's path as the user wrote it, or relative to the project when it is inside."""
    if not lock_path.is_absolute():
        return lock_path.as_posix()
    try:
        return lock_path.relative_to(project_root).as_posix()
    except ValueError:
        return str(lock_path)
