"""What a loader checks first in a binary: its format and, for ELF, its type, machine and version needs.

A small reader of our own rather than pyelftools: the plugin runs inside Hatch's build environment,
and proving a layer loads needs only a few things from an ELF file, each reached by seeking, so a
30 MB extension module costs a few kilobytes of I/O:

- the header: class, byte order, machine and type (`e_type`). Relocatable objects (ET_REL), core
  files and files without a PT_LOAD segment are data to the loader: nothing maps them.
- the version needs, read the way glibc's `ld.so` reads them (`_dl_check_map_versions`): the
  PT_DYNAMIC segment's DT_VERNEED, DT_VERNEEDNUM, DT_STRTAB and DT_STRSZ, their virtual addresses
  mapped to file offsets through the PT_LOAD program headers, then the Elf_Verneed chain by
  `vn_next` and each Elf_Vernaux chain by `vna_next`. The loader never reads section headers, so
  they cannot be trusted to tell what it will refuse: a file can strip them (`e_shnum = 0`) or
  retype `.gnu.version_r` and still need GLIBC_2.38. They are read only for a file that has no
  dynamic segment (the stricter view: such a file's needs cannot otherwise be known), and an
  ET_DYN file with neither is refused as unreadable.
- VER_FLG_WEAK: the loader lets a weak version need go unmet, so weak needs are reported apart
  (`ElfFacts.weak_version_needs`) and never count as a requirement.

The loader follows the chains and ignores DT_VERNEEDNUM and `vn_cnt`; a linker always writes them
consistent with the chains. A file whose counts disagree with its chains is refused as
inconsistent, since tools that trust the counts (readelf) and the loader would see different needs.

Every offset and size read from the file is checked against the file's length and every loop is
bounded by a count derived from the file's size (chains must move forward and never revisit an
entry), so a damaged or hostile file raises `UnreadableBinaryError`, never a `struct.error`, an
`IndexError` or a `MemoryError`, and never hangs. Layouts follow the System V gABI and the LSB's
symbol-versioning chapter; `readelf -h -l -d -V` are the oracle the tests compare against.
"""

from __future__ import annotations

import io
import os
import re
import struct
from pathlib import Path
from typing import BinaryIO, Callable, NamedTuple

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
# The ELF header after its 16-byte identification.
_HEADER_FORMATS = {32: "HHIIIIIHHHHHH", 64: "HHIQQQIHHHHHH"}
_SECTION_FORMATS = {32: "IIIIIIIIII", 64: "IIQQQQIIQQ"}
# Program headers: p_flags moved after p_type in ELF64.
_SEGMENT_FORMATS = {32: "IIIIIIII", 64: "IIQQQQQQ"}
_DYNAMIC_FORMATS = {32: "iI", 64: "qQ"}  # d_tag (signed), d_val/d_ptr
_VERNEED_FORMAT = "HHIII"  # vn_version, vn_cnt, vn_file, vn_aux, vn_next: same in both classes
_VERNAUX_FORMAT = "IHHII"  # vna_hash, vna_flags, vna_other, vna_name, vna_next
_VERSION_RECORD_SIZE = 16  # both records, both classes

_ET_REL, _ET_EXEC, _ET_DYN, _ET_CORE = 1, 2, 3, 4
FILE_TYPES = {
    0: "ELF file of no type (ET_NONE)",
    _ET_REL: "relocatable object (ET_REL, a `.o` file)",
    _ET_EXEC: "executable",
    _ET_DYN: "shared object",
    _ET_CORE: "core dump (ET_CORE)",
}
SHARED_OBJECT, EXECUTABLE = FILE_TYPES[_ET_DYN], FILE_TYPES[_ET_EXEC]
_PT_LOAD, _PT_DYNAMIC = 1, 2
_PN_XNUM = 0xFFFF  # e_phnum saying "the real count is in section 0's sh_info"
_DT_NULL, _DT_STRTAB, _DT_STRSZ = 0, 5, 10
_DT_VERNEED, _DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
_SHT_GNU_VERNEED = 0x6FFFFFFE
_VER_NEED_CURRENT = 1
_VER_FLG_WEAK = 0x2

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


class ElfFacts(NamedTuple):
    """What decides whether the dynamic loader of a given machine and glibc accepts an ELF file."""

    # "x86_64", "aarch64", another name from `_MACHINES`/`_VARIANTS` (e.g. "i386", "x32"), or
    # "EM_<number>" for a machine this module does not name.
    machine: str
    elf_class: int  # 32 or 64
    # The newest glibc release the file needs a version of (GLIBC_2.2.5 counts as (2, 2)), from
    # hard (non-weak) needs only; None when it needs none.
    required_glibc: tuple[int, int] | None
    # Every hard version need, each once, in file order: "GLIBC_2.17", "GLIBCXX_3.4", ...
    version_needs: tuple[str, ...]
    # Needs flagged VER_FLG_WEAK: the loader accepts their absence, so they require nothing.
    weak_version_needs: tuple[str, ...] = ()
    file_type: str = SHARED_OBJECT
    # True for an executable or shared object with a PT_LOAD segment: something the kernel or
    # `ld.so` maps. Relocatable objects, core dumps and segment-less files are data; their needs
    # are not read.
    loadable: bool = True

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
            return read_elf_stream(file, os.fstat(file.fileno()).st_size, path)
    except OSError as error:
        raise UnreadableBinaryError(path, error.strerror or str(error)) from error


def read_elf_bytes(data: bytes, shown_as: Path) -> ElfFacts:
    """`read_elf` for a file held in memory (the source zip's files); errors name `shown_as`."""
    return read_elf_stream(io.BytesIO(data), len(data), shown_as)


def read_elf_stream(stream: BinaryIO, size: int, shown_as: Path) -> ElfFacts:
    """`read_elf` over a seekable stream of `size` bytes; errors name `shown_as`."""
    return _ElfReader(shown_as, stream, size).facts()


class _ElfHeader(NamedTuple):
    elf_class: int
    byte_order: str
    file_type: int
    machine: int
    segment_table_offset: int
    segment_entry_size: int
    segment_count: int
    section_table_offset: int
    section_entry_size: int
    section_count: int


class _Section(NamedTuple):
    type: int
    offset: int
    size: int
    link: int
    info: int


class _Segment(NamedTuple):
    type: int
    offset: int
    address: int
    file_size: int


class _VersionNeed(NamedTuple):
    name: str
    weak: bool


class _ElfReader:
    def __init__(self, path: Path, file: BinaryIO, size: int) -> None:
        self._path = path
        self._file = file
        self._size = size
        # Version records are 16 bytes, so no sound file holds more than this many.
        self._record_budget = size // _VERSION_RECORD_SIZE

    def facts(self) -> ElfFacts:
        header = self._header()
        file_type = FILE_TYPES.get(header.file_type, f"ELF file of type {header.file_type:#x}")
        machine = _machine_name(header)
        segments = self._segments(header) if header.file_type in (_ET_EXEC, _ET_DYN) else []
        loads = [segment for segment in segments if segment.type == _PT_LOAD]
        if not loads:
            if header.file_type in (_ET_EXEC, _ET_DYN):
                file_type += " without loadable segments"
            return ElfFacts(machine, header.elf_class, None, (), (), file_type, loadable=False)
        for load in loads:
            if load.offset + load.file_size > self._size:
                raise self._fail(
                    f"truncated: a loadable segment ends at byte {load.offset + load.file_size} "
                    f"but the file has {self._size} bytes"
                )
        needs = self._needs(header, segments, loads)
        hard = tuple(dict.fromkeys(need.name for need in needs if not need.weak))
        weak = tuple(dict.fromkeys(need.name for need in needs if need.weak and need.name not in hard))
        releases = [release for name in hard if (release := glibc_release_of(name)) is not None]
        return ElfFacts(machine, header.elf_class, max(releases, default=None), hard, weak, file_type)

    # Reading -----------------------------------------------------------------------------------

    def _fail(self, reason: str) -> UnreadableBinaryError:
        return UnreadableBinaryError(self._path, reason)

    def _read(self, offset: int, length: int, what: str) -> bytes:
        if offset < 0 or length < 0 or offset + length > self._size:
            raise self._fail(
                f"truncated: {what} (byte {offset}, {length} bytes) lies beyond the file's {self._size} bytes"
            )
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
            file_type,
            machine,
            _version,
            _entry,
            phoff,
            shoff,
            _flags,
            _ehsize,
            phentsize,
            phnum,
            shentsize,
            shnum,
            _shstrndx,
        ) = layout.unpack(self._read(16, layout.size, "the ELF header"))
        return _ElfHeader(
            elf_class, byte_order, file_type, machine, phoff, phentsize, phnum, shoff, shentsize, shnum
        )

    def _table(
        self, offset: int, entry_size: int, count: int, layout: struct.Struct, what: str
    ) -> list[tuple[int, ...]]:
        if entry_size < layout.size:
            raise self._fail(
                f"{what} entries are {entry_size} bytes, too small for their {layout.size}-byte layout"
            )
        table = self._read(offset, count * entry_size, what)
        return [layout.unpack_from(table, index * entry_size) for index in range(count)]

    def _segments(self, header: _ElfHeader) -> list[_Segment]:
        count = header.segment_count
        if count == _PN_XNUM:
            # More program headers than e_phnum holds: the real count is section 0's sh_info.
            count = self._first_section(header).info
        if header.segment_table_offset == 0 or count == 0:
            return []
        layout = struct.Struct(header.byte_order + _SEGMENT_FORMATS[header.elf_class])
        rows = self._table(
            header.segment_table_offset, header.segment_entry_size, count, layout, "the program header table"
        )
        if header.elf_class == 64:
            return [
                _Segment(kind, offset, vaddr, filesz) for kind, _f, offset, vaddr, _p, filesz, _m, _a in rows
            ]
        return [_Segment(kind, offset, vaddr, filesz) for kind, offset, vaddr, _p, filesz, _m, _f, _a in rows]

    def _first_section(self, header: _ElfHeader) -> _Section:
        if header.section_table_offset == 0:
            raise self._fail("its header counts are extended (0xffff) but it has no section 0 to hold them")
        layout = struct.Struct(header.byte_order + _SECTION_FORMATS[header.elf_class])
        (row,) = self._table(
            header.section_table_offset, header.section_entry_size, 1, layout, "section header 0"
        )
        return _section_from(row)

    def _sections(self, header: _ElfHeader) -> list[_Section]:
        if header.section_table_offset == 0:
            return []
        count = header.section_count
        if count == 0:
            # Extended numbering (more than 0xff00 sections): the real count is section 0's sh_size.
            count = self._first_section(header).size
        layout = struct.Struct(header.byte_order + _SECTION_FORMATS[header.elf_class])
        rows = self._table(
            header.section_table_offset, header.section_entry_size, count, layout, "the section header table"
        )
        return [_section_from(row) for row in rows]

    # Version needs ----------------------------------------------------------------------------

    def _needs(
        self, header: _ElfHeader, segments: list[_Segment], loads: list[_Segment]
    ) -> list[_VersionNeed]:
        dynamics = [segment for segment in segments if segment.type == _PT_DYNAMIC]
        if len(dynamics) > 1:
            raise self._fail(f"it has {len(dynamics)} PT_DYNAMIC segments; a loadable file has one")
        if dynamics:
            return self._dynamic_needs(header, dynamics[0], loads)
        sections = self._sections(header)
        if header.file_type == _ET_DYN and not sections:
            raise self._fail(
                "it is a shared object with neither a dynamic segment nor section headers, "
                "so what it needs from glibc cannot be read"
            )
        # No dynamic segment: an executable linked statically, or a shared object the loader would
        # refuse. The section view is all there is; read it so nothing it names goes unchecked.
        needs: list[_VersionNeed] = []
        for section in sections:
            if section.type == _SHT_GNU_VERNEED:
                needs += self._section_needs(header, section, sections)
        return needs

    def _mapped(self, address: int, length: int, loads: list[_Segment], what: str) -> int:
        """The file offset of `length` bytes at virtual `address`, through the PT_LOAD that holds them."""
        for load in loads:
            if load.address <= address and address + length <= load.address + load.file_size:
                return load.offset + (address - load.address)
        raise self._fail(f"{what} at address {address:#x} lies in no loadable segment's file bytes")

    def _extent(self, address: int, loads: list[_Segment], what: str) -> tuple[int, int]:
        """(file offset, bytes to the end of its segment's file image) of virtual `address`."""
        for load in loads:
            if load.address <= address < load.address + load.file_size:
                return load.offset + (address - load.address), load.address + load.file_size - address
        raise self._fail(f"{what} at address {address:#x} lies in no loadable segment's file bytes")

    def _dynamic_needs(
        self, header: _ElfHeader, dynamic: _Segment, loads: list[_Segment]
    ) -> list[_VersionNeed]:
        entry = struct.Struct(header.byte_order + _DYNAMIC_FORMATS[header.elf_class])
        # ld.so reads the dynamic array at its address up to DT_NULL, later tags overriding earlier
        # ones; a linker puts DT_NULL within the segment, so the segment's size bounds the read.
        offset = self._mapped(dynamic.address, dynamic.file_size, loads, "the dynamic segment")
        array = self._read(offset, dynamic.file_size - dynamic.file_size % entry.size, "the dynamic segment")
        values: dict[int, int] = {}
        for tag, value in entry.iter_unpack(array):
            if tag == _DT_NULL:
                break
            values[tag] = value
        else:
            raise self._fail("its dynamic section has no DT_NULL entry within its segment")
        if _DT_VERNEED not in values:
            return []
        if _DT_STRTAB not in values:
            raise self._fail("its dynamic section has DT_VERNEED but no DT_STRTAB to name the versions")
        strings = self._dynamic_strings(values[_DT_STRTAB], values.get(_DT_STRSZ), loads)
        needs, entries = self._walk_version_needs(
            header.byte_order,
            values[_DT_VERNEED],
            lambda address: self._read(
                self._mapped(address, _VERSION_RECORD_SIZE, loads, "a version need record"),
                _VERSION_RECORD_SIZE,
                "a version need record",
            ),
            strings,
            address_bits=header.elf_class,
        )
        count = values.get(_DT_VERNEEDNUM)
        if count is not None and count != entries:
            raise self._fail(
                f"DT_VERNEEDNUM says {count} libraries but its version needs chain holds {entries}: "
                "the counts and the chain disagree"
            )
        return needs

    def _dynamic_strings(self, address: int, size: int | None, loads: list[_Segment]) -> bytes:
        offset, available = self._extent(address, loads, "the dynamic string table")
        if size is not None:
            if size > available:
                raise self._fail(f"DT_STRSZ ({size} bytes) runs past the segment holding the string table")
            available = size
        return self._read(offset, min(available, self._size - offset), "the dynamic string table")

    def _section_needs(
        self, header: _ElfHeader, section: _Section, sections: list[_Section]
    ) -> list[_VersionNeed]:
        """The names in one SHT_GNU_verneed section, whose string table is the section it links to."""
        if not 0 < section.link < len(sections):
            raise self._fail(
                f"the version needs section links to section {section.link}, which does not exist"
            )
        strings_section = sections[section.link]
        strings = self._read(strings_section.offset, strings_section.size, "the version names' string table")
        data = self._read(section.offset, section.size, "the version needs section")

        def record_at(position: int) -> bytes:
            if not 0 <= position <= len(data) - _VERSION_RECORD_SIZE:
                raise self._fail(f"a version needs entry at offset {position} lies outside its section")
            return data[position : position + _VERSION_RECORD_SIZE]

        needs, entries = self._walk_version_needs(header.byte_order, 0, record_at, strings, address_bits=64)
        if section.info and section.info != entries:
            raise self._fail(
                f"the version needs section says {section.info} libraries but its chain holds {entries}"
            )
        return needs

    def _walk_version_needs(
        self,
        byte_order: str,
        first: int,
        record_at: Callable[[int], bytes],
        strings: bytes,
        *,
        address_bits: int,
    ) -> tuple[list[_VersionNeed], int]:
        """Follow the Elf_Verneed chain from `first` as ld.so does; (the needs, how many libraries).

        Offsets are unsigned, so the chain only moves forward modulo the address width; a chain
        that comes back to a record, or holds more records than the file could, is refused.
        """
        need = struct.Struct(byte_order + _VERNEED_FORMAT)
        aux = struct.Struct(byte_order + _VERNAUX_FORMAT)
        wrap = (1 << address_bits) - 1
        visited: set[int] = set()
        needs: list[_VersionNeed] = []
        entries = 0
        entry = first
        while True:
            self._visit(entry, visited)
            version, version_count, _file, aux_offset, next_entry = need.unpack(record_at(entry))
            if version != _VER_NEED_CURRENT:
                # ld.so refuses the whole file ("unsupported version of Verneed record").
                raise self._fail(f"a version need record has version {version}; the loader knows only 1")
            entries += 1
            versions = 0
            position = (entry + aux_offset) & wrap
            while True:
                self._visit(position, visited)
                _hash, flags, _other, name, next_version = aux.unpack(record_at(position))
                needs.append(_VersionNeed(self._string(strings, name), bool(flags & _VER_FLG_WEAK)))
                versions += 1
                if next_version == 0:
                    break
                position = (position + next_version) & wrap
            if versions != version_count:
                raise self._fail(
                    f"a version need record counts {version_count} versions but its chain holds {versions}"
                )
            if next_entry == 0:
                return needs, entries
            entry = (entry + next_entry) & wrap

    def _string(self, strings: bytes, offset: int) -> str:
        end = strings.find(b"\0", offset) if offset < len(strings) else -1
        if end < 0:
            raise self._fail(f"a version name at string offset {offset} lies outside its string table")
        return strings[offset:end].decode("utf-8", errors="replace")

    def _visit(self, position: int, visited: set[int]) -> None:
        if position in visited:
            raise self._fail(f"its version needs chain loops back to the record at {position:#x}")
        if len(visited) >= self._record_budget:
            raise self._fail("its version needs chain holds more records than the file could")
        visited.add(position)


def _section_from(row: tuple[int, ...]) -> _Section:
    _name, kind, _flags, _address, file_offset, size, link, info, _align, _entsize = row
    return _Section(kind, file_offset, size, link, info)


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
