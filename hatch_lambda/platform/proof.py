"""Proof, before anything is zipped, that every binary in a zip will load on the chosen runtime.

Two independent checks. Each installed distribution's WHEEL tags must be among the tags the
runtime's CPython accepts on Lambda (`packaging.tags`, via `runtimes.compatible_wheel_tags`). And
every file that is to be zipped is judged by its content and by its name:

- a loadable ELF file (an executable or shared object with a PT_LOAD segment), whatever its name,
  must be for the runtime's machine and need no newer glibc than the runtime has;
- a file named like something Linux loads (an extension module: one of the runtime's
  `EXTENSION_SUFFIXES`, or a versioned shared library, `libfoo.so.1`) must be such an ELF file: a
  Mach-O or PE file, a relocatable object, an unreadable ELF file or plain data under that name
  fails the import or the `dlopen`;
- a Mach-O or PE file, or an ELF file nothing loads (an `.o` object, a core dump), under any other
  name is data to Linux (setuptools' `cli-64.exe` launchers, distlib's `t64.exe`): it cannot break
  the function, so it is a warning, one per package, not a failure.

Tags can lie (a wheel tagged manylinux_2_17 may link against newer symbols), which is why both
checks exist. The proof runs over the files that will be zipped, after `slim`/`slim-exclude`, so a
user can drop files that would fail it; findings name the distribution, its wheel and the path
inside the zip, never a scratch directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from packaging.tags import parse_tag

from hatch_lambda.errors import UnreadableBinaryError
from hatch_lambda.files.reading import read_head
from hatch_lambda.files.record import FileToPack
from hatch_lambda.platform import runtimes
from hatch_lambda.platform.binaries import (
    EXECUTABLE,
    FORMAT_HEAD_SIZE,
    ElfFacts,
    binary_format,
    read_elf,
    read_elf_bytes,
)
from hatch_lambda.platform.runtimes import Runtime

_FOREIGN_FORMATS = {"mach-o": "macOS (Mach-O) binary", "pe": "Windows (PE) binary"}
# Kinds of data file, singular → plural, as the warning counts them.
_DATA_KINDS = {
    "macOS (Mach-O) binary": "macOS (Mach-O) binaries",
    "Windows (PE) binary": "Windows (PE) binaries",
    "ELF file no loader maps": "ELF files no loader maps",
}
_UNLOADABLE_ELF = "ELF file no loader maps"
# `libfoo.so.1`, `libfoo.so.1.2.3`: names `dlopen` and DT_NEEDED use for shared libraries.
_VERSIONED_SHARED_LIBRARY = re.compile(r"\.so(?:\.\d+)+$")
_SHOWN_DATA_FILES = 5
UNRECORDED = "files no RECORD lists"


class Violation(NamedTuple):
    owner: str  # the distribution and its wheel, or the project, the file belongs to
    file: str | None  # the path inside the zip (below the import root); None for the wheel's tags
    problem: str  # starts with a verb: "needs GLIBC_2.38; ...", "is built for aarch64; ..."

    def __str__(self) -> str:
        return f"{self.owner}: {self.file} {self.problem}" if self.file else f"{self.owner}: {self.problem}"


@dataclass(frozen=True)
class ProofResult:
    violations: list[Violation] = field(default_factory=list)
    # One line per distribution that ships binaries nothing on Linux loads, kept as data.
    warnings: list[str] = field(default_factory=list)


def extension_suffixes(runtime: Runtime, architecture: str) -> tuple[str, ...]:
    """`importlib.machinery.EXTENSION_SUFFIXES` of the runtime's CPython (Linux, glibc)."""
    major, minor = runtime.python_version
    triplet = f"{runtimes.machine_of(architecture)}-linux-gnu"
    return (f".cpython-{major}{minor}-{triplet}.so", ".abi3.so", ".so")


def prove_layer(
    target: Path, files: Iterable[FileToPack], import_root: str, runtime: Runtime, architecture: str
) -> ProofResult:
    """Prove the layer's `files` (installed under `target`, zipped below `import_root`) load."""
    # A layer's tree is read only when a layer is built fresh: a warm build proves only its code.
    from hatch_lambda.files.installed_tree import distributions_by_record  # noqa: PLC0415

    owners = distributions_by_record(target)
    judge = _Judge(runtime, architecture, drop_hint="the layer's `slim-exclude`")
    judge.violations += _check_wheel_tags(target, runtime, architecture)
    base = f"{target}{os.sep}"
    for file in files:
        relative = file.archive_path.removeprefix(import_root)
        owner = owners.get(relative)
        # The system's separator throughout: Windows' `\\?\` paths take no `/`.
        head = read_head(
            base + (relative if os.sep == "/" else relative.replace("/", os.sep)), FORMAT_HEAD_SIZE
        )
        shown_owner = str(owner) if owner else UNRECORDED
        judge.file(shown_owner, relative, head, partial(_read_elf_in, target, relative))
    return judge.result()


def _read_elf_in(target: Path, relative: str) -> ElfFacts:
    return read_elf(target / relative)


def prove_source(files: Iterable[FileToPack], runtime: Runtime, architecture: str, owner: str) -> ProofResult:
    """The same proof for the source zip, whose files exist only in memory; `owner` names the project."""
    judge = _Judge(runtime, architecture, drop_hint="Hatch's `exclude` for the project's wheel")
    for file in files:
        data = file.read()
        shown = file.archive_path
        judge.file(
            owner,
            shown,
            data[:FORMAT_HEAD_SIZE],
            partial(read_elf_bytes, data, Path(shown)),
        )
    return judge.result()


class _Judge:
    """Collects what each file's content and name say, then groups the data files per owner."""

    def __init__(self, runtime: Runtime, architecture: str, *, drop_hint: str) -> None:
        self._runtime = runtime
        self._architecture = architecture
        self._drop_hint = drop_hint
        self._suffixes = extension_suffixes(runtime, architecture)
        self.violations: list[Violation] = []
        # owner → kind of data ("Windows (PE) binary") → paths
        self._data: dict[str, dict[str, list[str]]] = {}

    def file(self, owner: str, shown: str, head: bytes, read_facts: Callable[[], ElfFacts]) -> None:
        loaded_as = self._loaded_as(shown)
        kind = binary_format(head)
        if kind is None:
            if loaded_as:
                self._refuse(owner, shown, f"is named as {loaded_as} but is not an ELF file")
            return
        if kind != "elf":
            what = _FOREIGN_FORMATS[kind]
            if loaded_as:
                self._refuse(owner, shown, f"is a {what}, named as {loaded_as}; Linux cannot load it")
            else:
                self._data.setdefault(owner, {}).setdefault(what, []).append(shown)
            return
        try:
            facts = read_facts()
        except UnreadableBinaryError as error:
            self._refuse(
                owner,
                shown,
                f"cannot be read as an ELF file ({error.reason}), so it cannot be proven to load",
            )
            return
        if not facts.loadable:
            if loaded_as:
                self._refuse(
                    owner, shown, f"is an ELF {facts.file_type}, named as {loaded_as}; nothing can load it"
                )
            else:
                self._data.setdefault(owner, {}).setdefault(_UNLOADABLE_ELF, []).append(shown)
            return
        if loaded_as and facts.file_type == EXECUTABLE:
            self._refuse(
                owner, shown, f"is an ELF executable, named as {loaded_as}; `dlopen` refuses executables"
            )
        for problem in self._elf_problems(facts):
            self._refuse(owner, shown, problem)

    def result(self) -> ProofResult:
        warnings = [self._data_warning(owner, kinds) for owner, kinds in sorted(self._data.items())]
        return ProofResult(self.violations, warnings)

    def _refuse(self, owner: str, shown: str, problem: str) -> None:
        self.violations.append(Violation(owner, shown, problem))

    def _loaded_as(self, shown: str) -> str | None:
        """What the file's name says loads it, or None for a name nothing on Linux loads by."""
        name = shown.rpartition("/")[2]  # a layer's thousand names: no path object for each
        if ".so" not in name:
            return None
        suffix = next((suffix for suffix in self._suffixes if name.endswith(suffix)), None)
        if suffix is not None:
            return f"an extension module (`{suffix}`)"
        if _VERSIONED_SHARED_LIBRARY.search(name):
            return "a shared library (`.so.N`)"
        return None

    def _elf_problems(self, facts: ElfFacts) -> list[str]:
        runtime, architecture = self._runtime, self._architecture
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
        return problems

    def _data_warning(self, owner: str, kinds: dict[str, list[str]]) -> str:
        paths = sorted(path for listed in kinds.values() for path in listed)
        counted = ", ".join(
            f"{len(listed)} {kind if len(listed) == 1 else _DATA_KINDS[kind]}"
            for kind, listed in sorted(kinds.items())
        )
        shown = ", ".join(paths[:_SHOWN_DATA_FILES])
        if len(paths) > _SHOWN_DATA_FILES:
            shown += f" and {len(paths) - _SHOWN_DATA_FILES} more"
        return (
            f"{owner} ships {counted}, which nothing on Linux loads ({shown}); they are zipped as data. "
            f"If nothing reads them, leave them out with {self._drop_hint}, e.g. `{_pattern_for(paths)}`"
        )


def _pattern_for(paths: list[str]) -> str:
    """A glob matching `paths` (fnmatch's `*` crosses `/`): their common top directory and suffix."""
    tops = {path.split("/", 1)[0] for path in paths}
    suffixes = {PurePosixPath(path).suffix for path in paths}
    if len(tops) == 1 and len(suffixes) == 1 and "" not in suffixes and "/" in paths[0]:
        return f"{tops.pop()}/*{suffixes.pop()}"
    return paths[0]


def _check_wheel_tags(target: Path, runtime: Runtime, architecture: str) -> list[Violation]:
    from hatch_lambda.files.installed_tree import dist_info_headers, installed_distribution  # noqa: PLC0415

    accepted = runtimes.compatible_wheel_tags(runtime, architecture)
    violations = []
    for wheel_file in sorted(target.glob("*.dist-info/WHEEL")):
        declared = dist_info_headers(wheel_file.parent, "WHEEL").get_all("Tag") or []
        tags = {tag for text in declared for tag in parse_tag(text.strip())}
        if tags & accepted:
            continue
        shown = ", ".join(sorted(str(tag) for tag in tags)) or "no tags"
        if any(tag.platform.startswith("linux_") for tag in tags):
            shown += " (built from source on this machine, so it holds binaries for this host only)"
        violations.append(
            Violation(
                str(installed_distribution(wheel_file.parent)),
                None,
                f"its wheel is tagged {shown}; {runtime.name} on {architecture} accepts CPython "
                f"{runtime.python_version_text} (cp{runtime.python_version[0]}{runtime.python_version[1]} "
                f"or abi3) or pure-Python wheels, on "
                f"manylinux up to glibc {runtime.glibc_text} for {runtimes.machine_of(architecture)}",
            )
        )
    return violations
