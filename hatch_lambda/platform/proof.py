"""Proof, before anything is zipped, that every binary will load on the chosen runtime.

Two independent checks: each installed distribution's WHEEL tags must be among the tags the
runtime's CPython accepts on Lambda (`packaging.tags`, via `runtimes.compatible_wheel_tags`), and
every file that is a binary, whatever its name, must be an ELF object for the runtime's machine
needing no newer glibc than the runtime has. Mach-O and PE files never load on Linux. Tags can lie
(a wheel tagged manylinux_2_17 may link against newer symbols), which is why both checks exist.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.tags import parse_tag

from hatch_lambda.files.installed_tree import dist_info_headers, owners_by_record
from hatch_lambda.files.record import FileToPack
from hatch_lambda.platform import runtimes
from hatch_lambda.platform.binaries import FORMAT_HEAD_SIZE, binary_format, read_elf
from hatch_lambda.platform.runtimes import Runtime

_FOREIGN_FORMATS = {"mach-o": "a macOS (Mach-O) binary", "pe": "a Windows (PE) binary"}


@dataclass(frozen=True)
class Violation:
    owner: str  # the distribution (or "the project") the file belongs to
    file: str
    problem: str

    def __str__(self) -> str:
        return f"{self.owner}: {self.file}: {self.problem}"


def check_installed_tree(target: Path, runtime: Runtime, architecture: str) -> list[Violation]:
    owners = owners_by_record(target)
    violations = _check_wheel_tags(target, runtime, architecture)
    for path in sorted(target.rglob("*")):
        if path.is_file() and not path.is_symlink():
            relative = path.relative_to(target).as_posix()
            owner = owners.get(relative, "an unrecorded file")
            violations += _check_binary(path, relative, owner, runtime, architecture)
    return violations


def check_files_to_pack(files: Iterable[FileToPack], runtime: Runtime, architecture: str) -> list[Violation]:
    """The same binary proof for the source zip, whose files exist only in memory."""
    violations: list[Violation] = []
    with tempfile.TemporaryDirectory(prefix="hatch-lambda-verify-") as scratch:
        for file in files:
            data = file.read()
            if binary_format(data[:FORMAT_HEAD_SIZE]) is None:
                continue
            copy = Path(scratch, "binary")
            copy.write_bytes(data)
            violations += _check_binary(copy, file.archive_path, "the project", runtime, architecture)
    return violations


def _check_wheel_tags(target: Path, runtime: Runtime, architecture: str) -> list[Violation]:
    accepted = runtimes.compatible_wheel_tags(runtime, architecture)
    violations = []
    for wheel_file in sorted(target.glob("*.dist-info/WHEEL")):
        declared = dist_info_headers(wheel_file.parent, "WHEEL").get_all("Tag") or []
        tags = {tag for text in declared for tag in parse_tag(text.strip())}
        if tags & accepted:
            continue
        distribution = wheel_file.parent.name.removesuffix(".dist-info")
        shown = ", ".join(sorted(str(tag) for tag in tags)) or "no tags"
        if any(tag.platform.startswith("linux_") for tag in tags):
            shown += " (built from source on this machine, so it holds binaries for this host only)"
        violations.append(
            Violation(
                distribution,
                f"{wheel_file.parent.name}/WHEEL",
                f"its wheel is tagged {shown}; {runtime.name} on {architecture} accepts CPython "
                f"{runtime.python_version_text} (cp{runtime.python_version[0]}{runtime.python_version[1]} "
                f"or abi3) or pure-Python wheels, on "
                f"manylinux up to glibc {runtime.glibc_text} for {runtimes.machine_of(architecture)}",
            )
        )
    return violations


def _check_binary(
    path: Path, shown_as: str, owner: str, runtime: Runtime, architecture: str
) -> list[Violation]:
    with path.open("rb") as stream:
        kind = binary_format(stream.read(FORMAT_HEAD_SIZE))
    if kind is None:
        return []
    if kind != "elf":
        return [Violation(owner, shown_as, f"is {_FOREIGN_FORMATS.get(kind, kind)}, which Linux cannot load")]
    facts = read_elf(path)
    machine = runtimes.machine_of(architecture)
    problems = []
    if facts.machine != machine:
        problems.append(f"is built for {facts.machine}; {runtime.name} on {architecture} runs {machine}")
    if facts.required_glibc is not None and facts.required_glibc > runtime.glibc:
        needed = ".".join(map(str, facts.required_glibc))
        problems.append(
            f"needs GLIBC_{needed}; {runtime.name} ({runtime.operating_system}) "
            f"has glibc {runtime.glibc_text}"
        )
    if facts.undated_glibc_needs:
        # Private or feature versions we cannot date: refusing is safer than guessing they load.
        needs = ", ".join(facts.undated_glibc_needs)
        problems.append(f"needs {needs}, which hatch-lambda cannot match to a glibc release")
    return [Violation(owner, shown_as, problem) for problem in problems]
