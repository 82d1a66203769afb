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
from pathlib import Path

from hatch_lambda.errors import UnsafeZipPathError
from hatch_lambda.files.debris import is_target_directory_debris
from hatch_lambda.files.record import FileToPack, zip_date_time


@dataclass(frozen=True)
class InstalledDistribution:
    name: str
    version: str
    wheel_tag: str  # compressed, as in a wheel file name: `cp312-cp312-manylinux_2_17_x86_64`


def files_to_pack(target: Path, prefix: str) -> list[FileToPack]:
    files = []
    for directory, subdirectories, names in os.walk(target):
        subdirectories.sort()
        for name in sorted(names):
            path = Path(directory, name)
            relative = path.relative_to(target).as_posix()
            if is_target_directory_debris(relative) or path.is_symlink():
                continue
            status = path.stat()
            try:
                file = FileToPack(
                    archive_path=prefix + relative,
                    read=path.read_bytes,
                    executable=bool(status.st_mode & 0o100),
                    modified=zip_date_time(status.st_mtime),
                    size=status.st_size,
                )
            except UnsafeZipPathError as error:
                owner = owners_by_record(target).get(relative, "a dependency")
                raise UnsafeZipPathError(error.archive_path, error.reason, f"`{owner}`") from None
            files.append(file)
    return files


def dist_info_headers(dist_info: Path, name: str) -> Message:
    """The headers of a `.dist-info` file in email form: `METADATA` or `WHEEL`."""
    return email.parser.Parser().parsestr((dist_info / name).read_text(encoding="utf-8"), headersonly=True)


def installed_distributions(target: Path) -> list[InstalledDistribution]:
    distributions = []
    for dist_info in sorted(target.glob("*.dist-info")):
        metadata = dist_info_headers(dist_info, "METADATA")
        wheel = dist_info_headers(dist_info, "WHEEL")
        distributions.append(
            InstalledDistribution(
                name=str(metadata["Name"]),
                version=str(metadata["Version"]),
                wheel_tag=compress_tags(wheel.get_all("Tag") or []),
            )
        )
    return sorted(distributions, key=lambda distribution: distribution.name.lower())


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
    record = dist_info / "RECORD"
    listed = [row[0] for row in csv.reader(record.read_text(encoding="utf-8").splitlines()) if row]
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
        with record.open(encoding="utf-8", newline="") as stream:
            for row in csv.reader(stream):
                if row:
                    owners[Path(row[0]).as_posix()] = name
    return owners
