"""`slim = true`: leave out of the layer what Lambda never uses.

Test suites shipped inside dependencies (`tests`/`test` directories), type stubs (`*.pyi`) and
C/C++/Cython sources and headers are needed to build or check packages, never to import them.
Metadata directories are left alone, and `slim-exclude` adds the user's own glob patterns, matched
against paths relative to the layer's import root (for example `botocore/data/*/2015-*`). The SBOMs
wheels carry (PEP 770, `.dist-info/sboms/`) are kept whatever the patterns say: the layer's SBOM
refers to them, and they describe native code a wheel bundles that no other record names.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from hatch_lambda.files.record import FileToPack

TEST_DIRECTORIES = frozenset({"tests", "test"})
BUILD_ONLY_SUFFIXES = (
    ".pyi",
    ".c",
    ".h",
    ".cc",
    ".cpp",
    ".cxx",
    ".hh",
    ".hpp",
    ".hxx",
    ".pyx",
    ".pxd",
    ".pxi",
)


@dataclass(frozen=True)
class SlimResult:
    kept: list[FileToPack]
    removed_files: int
    removed_bytes: int


def slim_layer(
    files: list[FileToPack], import_root: str, extra_patterns: list[str], *, drop_never_imported: bool
) -> SlimResult:
    """Drop files matching `extra_patterns`, and with `drop_never_imported` the built-in rules too."""
    kept, removed_files, removed_bytes = [], 0, 0
    for file in files:
        relative = file.archive_path.removeprefix(import_root)
        dropped = (drop_never_imported and _never_imported(relative)) or any(
            fnmatchcase(relative, pattern) for pattern in extra_patterns
        )
        if dropped and not _carried_sbom(relative):
            removed_files += 1
            removed_bytes += file.unzipped_size
        else:
            kept.append(file)
    return SlimResult(kept, removed_files, removed_bytes)


def _carried_sbom(relative: str) -> bool:
    parts = relative.split("/")
    return len(parts) > 2 and parts[0].endswith(".dist-info") and parts[1] == "sboms"


def _never_imported(relative: str) -> bool:
    parts = relative.split("/")
    if parts[0].endswith((".dist-info", ".egg-info")):
        return False
    return bool(TEST_DIRECTORIES.intersection(parts[:-1])) or parts[-1].endswith(BUILD_ONLY_SUFFIXES)
