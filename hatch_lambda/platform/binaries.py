"""What a loader checks first in a binary: its format and, for ELF, its machine and glibc needs.

A small reader of our own rather than pyelftools: the plugin runs inside Hatch's build environment,
and proving a layer loads needs only three things from an ELF file: the header (class, byte order,
machine), the section header table, and the `.gnu.version_r` section (SHT_GNU_verneed) with the
string table it links to. Each is reached by seeking, so a 30 MB extension module costs a few
kilobytes of I/O. Every offset and size read from the file is checked against the file's length,
so a damaged file raises `UnreadableBinaryError`, never a `struct.error` or an `IndexError`.

Layouts follow the System V gABI and the LSB's symbol-versioning chapter; `readelf -h` and
`readelf -V` are the oracle the tests compare against.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

from hatch_lambda.errors import UnreadableBinaryError

# How many leading bytes `binary_format` needs: enough to reach a PE header, which linkers place
# within the first few hundred bytes after the DOS stub.
FORMAT_HEAD_SIZE = 4096

_ELF_MAGIC = b"\x7fELF"
# Thin Mach-O files in either byte order, 32 and 64 bit.
_MACH_O_MAGICS = frozenset(
    {b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe"}
)
# Universal ("fat") Mach-O headers, always big-endian on disk, 32- and 64-bit offsets. Java class
# files share 0xcafebabe; like file(1), tell them apart by the next word: a fat binary's
# architecture count is small, a class file's version number is at least 45.
_FAT_MAGICS = frozenset({b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"})
_MAX_FAT_ARCHITECTURES = 20
_PE_HEADER_OFFSET_FIELD = 0x3C

_CLASSES = {1: 32, 2: 64}
_BYTE_ORDERS = {1: "<", 2: ">"}
# The ELF header after its 16-byte identification; only the fields named in `_ElfHeader` are kept.
_HEADER_FORMATS = {32: "HHIIIIIHHHHHH", 64: "HHIQQQIHHHHHH"}
_SECTION_FORMATS = {32: "IIIIIIIIII", 64: "IIQQQQIIQQ"}
_VERNEED_FORMAT = "HHIII"  # vn_version, vn_cnt, vn_file, vn_aux, vn_next: same in both classes
_VERNAUX_FORMAT = "IHHII"  # vna_hash, vna_flags, vna_other, vna_name, vna_next
_SHT_GNU_VERNEED = 0x6FFFFFFE

# e_machine values a Python wheel might plausibly carry; others are reported as `EM_<number>`.
_MACHINES = {
    3: "i386",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390",
    40: "arm",
    62: "x86_64",
    183: "aarch64",
    243: "riscv",
    258: "loongarch",
}
# Names for the (machine, class, byte order) combinations whose loader differs from the plain
# name's, so that comparing `machine` alone is enough to reject them: x32 and ILP32 objects are
# 32-bit code for a 64-bit machine, and Lambda's CPUs run little-endian only.
_VARIANTS = {
    ("x86_64", 32, "<"): "x32",
    ("aarch64", 32, "<"): "aarch64_ilp32",
    ("aarch64", 64, ">"): "aarch64_be",
    ("aarch64", 32, ">"): "aarch64_be_ilp32",
    ("ppc64", 64, "<"): "ppc64le",
    ("s390", 64, ">"): "s390x",
    ("riscv", 64, "<"): "riscv64",
    ("riscv", 32, "<"): "riscv32",
    ("loongarch", 64, "<"): "loongarch64",
}

_LAMBDA_MACHINES = frozenset({"x86_64", "aarch64"})

_NUMBERED_GLIBC = re.compile(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)*")
# Version names glibc defines not for symbols but to mark a loader feature: an object that uses
# the feature depends on the name, so an older glibc refuses to load it. Others exist (for
# example GLIBC_ABI_GNU2_TLS, GLIBC_ABI_DT_X86_64_PLT); they are left undated until their first
# release is confirmed, and `ElfFacts.undated_glibc_needs` reports them.
GLIBC_FEATURE_VERSIONS: dict[str, tuple[int, int]] = {"GLIBC_ABI_DT_RELR": (2, 36)}


@dataclass(frozen=True)
class ElfFacts:
    """What decides whether the dynamic loader of a given machine and glibc accepts an ELF file."""

    # "x86_64", "aarch64", another name from `_MACHINES`/`_VARIANTS` (e.g. "i386", "x32"), or
    # "EM_<number>" for a machine this module does not name.
    machine: str
    elf_class: int  # 32 or 64
    # The newest glibc release the file names a version of (GLIBC_2.2.5 counts as (2, 2)); None
    # when it names none, which includes files without section headers.
    required_glibc: tuple[int, int] | None
    # Every version name the file needs, each once, in file order: "GLIBC_2.17", "GLIBCXX_3.4", ...
    version_needs: tuple[str, ...]

    @property
    def undated_glibc_needs(self) -> tuple[str, ...]:
        """glibc version names with no known release (GLIBC_PRIVATE, newer feature markers).

        No runtime can be shown to provide them, so a verifier should refuse them outright.
        """
        return tuple(
            name
            for name in self.version_needs
            if name.startswith("GLIBC_") and glibc_release_of(name) is None
        )


def glibc_release_of(version_name: str) -> tuple[int, int] | None:
    """The glibc (major, minor) that first defined `version_name`, or None if it is not a dated glibc name.

    GLIBCXX_ and CXXABI_ names are libstdc++'s, not glibc's, and give None like any other.
    """
    numbered = _NUMBERED_GLIBC.fullmatch(version_name)
    if numbered:
        return int(numbered[1]), int(numbered[2])
    return GLIBC_FEATURE_VERSIONS.get(version_name)


def binary_format(head: bytes) -> str | None:
    """A file's format from its first `FORMAT_HEAD_SIZE` bytes: "elf", "mach-o", "pe", or None.

    64 bytes suffice for ELF and Mach-O, but a PE file is recognised only when its PE header (at
    the offset stored at 0x3c, usually 0x80 to 0x118) lies within `head`.
    """
    magic = head[:4]
    if magic == _ELF_MAGIC:
        return "elf"
    if magic in _MACH_O_MAGICS:
        return "mach-o"
    if magic in _FAT_MAGICS and len(head) >= 8:
        architectures = int.from_bytes(head[4:8], "big")
        return "mach-o" if 0 < architectures < _MAX_FAT_ARCHITECTURES else None
    if head[:2] == b"MZ" and len(head) >= _PE_HEADER_OFFSET_FIELD + 4:
        offset = int.from_bytes(head[_PE_HEADER_OFFSET_FIELD : _PE_HEADER_OFFSET_FIELD + 4], "little")
        return "pe" if head[offset : offset + 4] == b"PE\0\0" else None
    return None


def read_elf(path: Path) -> ElfFacts:
    """Read the facts of the ELF file at `path`; `UnreadableBinaryError` if it is not a sound ELF file."""
    try:
        with path.open("rb") as file:
            return _ElfReader(path, file).facts()
    except OSError as error:
        raise UnreadableBinaryError(path, error.strerror or str(error)) from error


class _ElfHeader(NamedTuple):
    elf_class: int
    byte_order: str
    machine: int
    section_table_offset: int
    section_entry_size: int
    section_count: int


class _Section(NamedTuple):
    type: int
    offset: int
    size: int
    link: int


class _ElfReader:
    def __init__(self, path: Path, file: BinaryIO) -> None:
        self._path = path
        self._file = file
        self._size = os.fstat(file.fileno()).st_size

    def facts(self) -> ElfFacts:
        header = self._header()
        sections = self._sections(header)
        needs: dict[str, None] = {}
        for section in sections:
            if section.type == _SHT_GNU_VERNEED:
                needs.update(dict.fromkeys(self._version_needs(header, section, sections)))
        releases = [release for name in needs if (release := glibc_release_of(name)) is not None]
        return ElfFacts(
            machine=_machine_name(header),
            elf_class=header.elf_class,
            required_glibc=max(releases, default=None),
            version_needs=tuple(needs),
        )

    def _fail(self, reason: str) -> UnreadableBinaryError:
        return UnreadableBinaryError(self._path, reason)

    def _read(self, offset: int, length: int, what: str) -> bytes:
        end = offset + length
        if end > self._size:
            raise self._fail(f"truncated: {what} ends at byte {end} but the file has {self._size} bytes")
        self._file.seek(offset)
        data = self._file.read(length)
        if len(data) != length:
            raise self._fail(f"{what} could not be read in full (the file changed while being read?)")
        return data

    def _header(self) -> _ElfHeader:
        identification = self._read(0, 16, "the ELF identification")
        if identification[:4] != _ELF_MAGIC:
            raise self._fail("it does not start with the ELF magic number")
        elf_class = _CLASSES.get(identification[4])
        byte_order = _BYTE_ORDERS.get(identification[5])
        if elf_class is None or byte_order is None:
            raise self._fail(f"unknown ELF class {identification[4]} or data encoding {identification[5]}")
        layout = struct.Struct(byte_order + _HEADER_FORMATS[elf_class])
        (
            _type,
            machine,
            _version,
            _entry,
            _phoff,
            shoff,
            _flags,
            _ehsize,
            _phentsize,
            _phnum,
            shentsize,
            shnum,
            _shstrndx,
        ) = layout.unpack(self._read(16, layout.size, "the ELF header"))
        return _ElfHeader(elf_class, byte_order, machine, shoff, shentsize, shnum)

    def _sections(self, header: _ElfHeader) -> list[_Section]:
        if header.section_table_offset == 0:
            return []
        layout = struct.Struct(header.byte_order + _SECTION_FORMATS[header.elf_class])
        if header.section_entry_size < layout.size:
            raise self._fail(
                f"section header entries are {header.section_entry_size} bytes, "
                f"too small for ELF{header.elf_class} ({layout.size})"
            )
        count = header.section_count
        if count == 0:
            # Extended numbering (more than 0xff00 sections): the real count is section 0's sh_size.
            count = self._section_at(header, layout, 0).size
        table = self._read(
            header.section_table_offset, count * header.section_entry_size, "the section header table"
        )
        return [_section_from(layout, table, index * header.section_entry_size) for index in range(count)]

    def _section_at(self, header: _ElfHeader, layout: struct.Struct, index: int) -> _Section:
        offset = header.section_table_offset + index * header.section_entry_size
        return _section_from(layout, self._read(offset, layout.size, f"section header {index}"), 0)

    def _version_needs(self, header: _ElfHeader, section: _Section, sections: list[_Section]) -> list[str]:
        """The names in one SHT_GNU_verneed section: a chain of library entries, each a chain of versions."""
        if not 0 < section.link < len(sections):
            raise self._fail(
                f"the version needs section links to section {section.link}, which does not exist"
            )
        strings_section = sections[section.link]
        strings = self._read(strings_section.offset, strings_section.size, "the version names' string table")
        data = self._read(section.offset, section.size, "the version needs section")
        need = struct.Struct(header.byte_order + _VERNEED_FORMAT)
        aux = struct.Struct(header.byte_order + _VERNAUX_FORMAT)
        # Every record takes 16 bytes, so a chain with more records than fit in the section loops.
        records_left = len(data) // need.size
        names: list[str] = []
        entry = 0
        while True:
            _version, version_count, _file, aux_offset, next_entry = self._unpack(need, data, entry)
            records_left -= 1 + version_count
            if records_left < 0:
                raise self._fail("the version needs section holds more records than fit in it")
            version = entry + aux_offset
            for _ in range(version_count):
                _hash, _flags, _other, name, next_version = self._unpack(aux, data, version)
                names.append(self._string(strings, name))
                version += next_version
            if next_entry == 0:
                return names
            entry += next_entry

    def _unpack(self, layout: struct.Struct, data: bytes, offset: int) -> tuple[int, ...]:
        if not 0 <= offset <= len(data) - layout.size:
            raise self._fail(f"a version needs entry at offset {offset} lies outside its section")
        return layout.unpack_from(data, offset)

    def _string(self, strings: bytes, offset: int) -> str:
        end = strings.find(b"\0", offset)
        if offset >= len(strings) or end < 0:
            raise self._fail(f"a version name at string offset {offset} lies outside its string table")
        return strings[offset:end].decode("utf-8", errors="replace")


def _section_from(layout: struct.Struct, data: bytes, offset: int) -> _Section:
    _name, kind, _flags, _address, file_offset, size, link, _info, _align, _entsize = layout.unpack_from(
        data, offset
    )
    return _Section(kind, file_offset, size, link)


def _machine_name(header: _ElfHeader) -> str:
    name = _MACHINES.get(header.machine)
    if name is None:
        return f"EM_{header.machine}"
    variant = _VARIANTS.get((name, header.elf_class, header.byte_order))
    if variant is not None:
        return variant
    if name in _LAMBDA_MACHINES and (header.elf_class, header.byte_order) != (64, "<"):
        # Combinations no mainstream toolchain emits; still never equal to a machine Lambda runs.
        endianness = "big" if header.byte_order == ">" else "little"
        return f"{name}-elf{header.elf_class}-{endianness}-endian"
    return name
