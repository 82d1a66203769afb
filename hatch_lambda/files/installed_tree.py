"""A `--target` install of the layer's dependencies, read as files to pack and distributions.

This is the second source (the first is the project's wheel). It knows the target directory's
layout and its debris; it knows nothing of zips.
"""

from __future__ import annotations

import csv
import email.parser
import os
import shutil
from dataclasses import dataclass
from email.message import Message
from functools import partial
from pathlib import Path

from packaging.utils import canonicalize_name

from hatch_lambda.errors import LambdaBuildError, UnsafeZipPathError
from hatch_lambda.files.debris import is_target_directory_debris
from hatch_lambda.files.digest import identity_of
from hatch_lambda.files.reading import read_file
from hatch_lambda.files.record import FileToPack, zip_date_time


@dataclass(frozen=True)
class InstalledDistribution:
    name: str
    version: str
    wheel_tag: str  # compressed, as in a wheel file name: `cp312-cp312-manylinux_2_17_x86_64`

    @property
    def wheel_filename(self) -> str:
        """The name of the wheel it was installed from, as far as `.dist-info` tells (no build tag)."""
        return f"{canonicalize_name(self.name).replace('-', '_')}-{self.version}-{self.wheel_tag}.whl"

    def __str__(self) -> str:
        """How messages name it: `numpy 2.2.6 (numpy-2.2.6-cp312-cp312-manylinux_2_17_x86_64.whl)`."""
        return f"{self.name} {self.version} ({self.wheel_filename})"


class InstalledTreeError(LambdaBuildError):
    """The installed tree cannot be packed as it stands: the layer would miss files."""

    def __init__(self, target: Path, message: str) -> None:
        self.target = target
        super().__init__(message)


def files_to_pack(target: Path, prefix: str, *, planned_packages: int = 0) -> list[FileToPack]:
    """Every file of the tree, a symlink read through when it points inside the tree.

    A symlink out of the tree (into an installer's cache, say) is refused: zipping it would ship
    bytes that are not the layer's own, and skipping it would ship a layer without them. A tree
    that yields no file at all while packages were installed is refused too: never an empty layer.
    """
    root = target.resolve()
    files: list[FileToPack] = []
    # os.scandir, not os.walk and Path objects: a layer has over a thousand files, and each entry's
    # type and stat come with the directory listing. Order: a directory's files, then its
    # subdirectories, each sorted by name (the zip writer sorts again; this keeps messages stable).
    pending = [(str(target), "")]
    while pending:
        directory, relative_directory = pending.pop()
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
        subdirectories = []
        for entry in entries:
            relative = relative_directory + entry.name
            if entry.is_dir():  # follows links, as os.walk does: a linked directory is listed here
                if entry.is_symlink():
                    if not is_target_directory_debris(relative):
                        # It is not descended into: refuse it rather than lose its files.
                        _refuse_link(target, Path(entry.path), root, directory=True)
                    continue
                subdirectories.append((entry.path, relative + "/"))
                continue
            if is_target_directory_debris(relative):
                continue
            if entry.is_symlink():
                _refuse_link(target, Path(entry.path), root, directory=False)
            files.append(_file_to_pack(target, prefix, relative, entry))
        pending.extend(reversed(subdirectories))
    if not files and (planned_packages or any(target.glob("*.dist-info"))):
        message = (
            f"The installed layer in {target} holds no file to pack, though "
            f"{planned_packages or 'some'} packages were installed into it: no layer zip was written. "
            "Check that nothing replaces the installer's files with links (UV_LINK_MODE, `link-mode` "
            "in uv.toml), and report it if the tree looks complete."
        )
        raise InstalledTreeError(target, message)
    return files


def _file_to_pack(target: Path, prefix: str, relative: str, entry: os.DirEntry[str]) -> FileToPack:
    status = entry.stat()  # through a link inside the tree, to the file it names
    try:
        return FileToPack(
            archive_path=prefix + relative,
            read=partial(read_file, entry.path),
            executable=bool(status.st_mode & 0o100),
            modified=zip_date_time(status.st_mtime),
            size=status.st_size,
            identity=identity_of(status),
        )
    except UnsafeZipPathError as error:
        owner = owners_by_record(target).get(relative, "a dependency")
        raise UnsafeZipPathError(error.archive_path, error.reason, f"`{owner}`") from None


def _refuse_link(target: Path, link: Path, root: Path, *, directory: bool) -> None:
    """Return if `link` may be read through (a file inside the tree), else raise naming it."""
    relative = link.relative_to(target).as_posix()
    pointed = link.resolve()
    if not directory and root in pointed.parents and pointed.is_file():
        return
    kind = "a directory" if directory else "outside the installed tree"
    message = (
        f"The installed layer holds a symbolic link, {relative} -> {os.readlink(link)}, to {kind}: "
        'a layer zip carries only the tree\'s own files. If `link-mode = "symlink"` or UV_LINK_MODE is '
        "in your uv settings, remove it; otherwise report the package that installs the link."
    )
    raise InstalledTreeError(target, message)


def dist_info_headers(dist_info: Path, name: str) -> Message:
    """The headers of a `.dist-info` file in email form: `METADATA` or `WHEEL`; read-only.

    A build asks for each distribution's headers several times (the file list, the proof, the
    closure, the SBOM) and the email parser is slow: each version of a file is parsed once.
    """
    path = dist_info / name
    version = _file_version(path)
    headers = _PARSED_HEADERS.get(version)
    if headers is None:
        text = _header_block(path.read_text(encoding="utf-8"))
        headers = _PARSED_HEADERS[version] = email.parser.Parser().parsestr(text, headersonly=True)
    return headers


def _header_block(text: str) -> str:
    """`text` up to the blank line that ends its headers: the parser stops there, but only after
    splitting every line after it too (pydantic's METADATA holds a 140 KB description)."""
    ends = [found for found in (text.find("\n\n"), text.find("\n\r\n")) if found >= 0]
    return text[: min(ends) + 1] if ends else text


FileVersion = tuple[str, int, int, int]
_PARSED_HEADERS: dict[FileVersion, Message] = {}


def _file_version(path: Path) -> FileVersion:
    """What tells one version of a file from another for the memos here: a rewrite by an installer
    replaces the file (a new inode) or changes its size or time."""
    status = path.stat()
    return (str(path), status.st_ino, status.st_size, status.st_mtime_ns)


def installed_distributions(target: Path) -> list[InstalledDistribution]:
    distributions = [installed_distribution(dist_info) for dist_info in sorted(target.glob("*.dist-info"))]
    return sorted(distributions, key=lambda distribution: distribution.name.lower())


def installed_distribution(dist_info: Path) -> InstalledDistribution:
    """The distribution a `.dist-info` directory describes; its name and version fall back to the
    directory's name when METADATA is missing, so a damaged install can still be named."""
    fallback_name, _, fallback_version = dist_info.name.removesuffix(".dist-info").partition("-")
    metadata = dist_info_headers(dist_info, "METADATA") if (dist_info / "METADATA").is_file() else Message()
    wheel = dist_info_headers(dist_info, "WHEEL") if (dist_info / "WHEEL").is_file() else Message()
    return InstalledDistribution(
        name=str(metadata.get("Name", fallback_name)),
        version=str(metadata.get("Version", fallback_version)),
        wheel_tag=compress_tags(wheel.get_all("Tag") or []),
    )


def compress_tags(tags: list[str]) -> str:
    """`['cp312-cp312-manylinux2014_x86_64', 'cp312-cp312-manylinux_2_17_x86_64']` →
    `cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64`, the form wheel file names use."""
    parts: list[dict[str, None]] = [{}, {}, {}]
    for tag in tags:
        for index, part in enumerate(tag.strip().split("-", 2)):
            parts[index].setdefault(part, None)
    return "-".join(".".join(part) for part in parts)


def remove_distribution(target: Path, dist_info: Path) -> None:
    """Delete an installed distribution's files (as its RECORD lists them) and emptied directories."""
    listed = recorded_paths(dist_info / "RECORD")
    root = target.resolve()
    directories: set[Path] = set()
    for relative in listed:
        path = (target / relative).resolve()
        if root in path.parents and path.is_file():
            path.unlink()
            directories.update(parent for parent in path.parents if root in parent.parents)
    shutil.rmtree(dist_info, ignore_errors=True)
    for directory in sorted(directories, key=lambda item: len(item.parts), reverse=True):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


def owners_by_record(target: Path) -> dict[str, str]:
    """Installed file (relative, `/`-separated) → the name of the distribution whose RECORD lists it."""
    owners = {}
    for record in target.glob("*.dist-info/RECORD"):
        name = record.parent.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        owners.update(dict.fromkeys(recorded_paths(record), name))
    return owners


def distributions_by_record(target: Path) -> dict[str, InstalledDistribution]:
    """Installed file (relative, `/`-separated) → the distribution whose RECORD lists it."""
    owners = {}
    for record in sorted(target.glob("*.dist-info/RECORD")):
        owners.update(dict.fromkeys(recorded_paths(record), installed_distribution(record.parent)))
    return owners


def recorded_paths(record: Path) -> list[str]:
    """The paths a RECORD file lists, `/`-separated; each version of a file read once (the file
    list and the proof both ask, and a layer's RECORDs list over a thousand paths)."""
    version = _file_version(record)
    paths = _RECORDED_PATHS.get(version)
    if paths is None:
        with record.open(encoding="utf-8", newline="") as stream:
            paths = _RECORDED_PATHS[version] = [_posix(row[0]) for row in csv.reader(stream) if row]
    return list(paths)


def _posix(listed: str) -> str:
    """A RECORD path as `Path(listed).as_posix()` gives it; without making a path object for the
    common one that is already in that form (numpy's RECORD lists over 1,000)."""
    if "\\" in listed or ":" in listed or _UNNORMAL_PARTS.intersection(listed.split("/")):
        return Path(listed).as_posix()
    return listed


_UNNORMAL_PARTS = frozenset({"", "."})  # `a//b`, `./a`, `a/`: parts a path object drops


_RECORDED_PATHS: dict[FileVersion, list[str]] = {}
