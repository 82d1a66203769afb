"""Builds small but real wheels for tests: valid METADATA, WHEEL and RECORD, optional ELF `.so` files.

Wheels are generated, never downloaded, so the suite runs offline. Native wheels carry an ELF
shared object with the machine of their platform tag and a `.gnu.version_r` section needing the
tag's glibc floor, which is what a loader (and hatch-lambda's checks) look at first.
`refused_wheelhouse` holds wheels that lie about or break those facts.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.sdistfactory import write_sdist

ELF_MACHINES = {"x86_64": 62, "aarch64": 183, "i386": 3, "arm": 40, "ppc64": 21, "s390": 22}

_SHT_STRTAB = 3
_SHT_DYNAMIC = 6
_SHT_GNU_VERNEED = 0x6FFFFFFE
_ET_DYN = 3
_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NEEDED, _DT_STRTAB, _DT_STRSZ, _DT_VERNEED, _DT_VERNEEDNUM = 1, 5, 10, 0x6FFFFFFE, 0x6FFFFFFF
_VER_FLG_WEAK = 0x2
_SHN_XINDEX = 0xFFFF


def minimal_elf_shared_object(machine: str) -> bytes:
    """A 64-bit little-endian ELF header of type ET_DYN for `machine` (x86_64 or aarch64)."""
    identity = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = struct.pack("<HHIQQQIHHHHHH", 3, ELF_MACHINES[machine], 1, 0, 0, 0, 0, 64, 0, 0, 64, 0, 0)
    return identity + header


def elf_shared_object(
    machine: str | int,
    glibc_versions: Sequence[str] = ("GLIBC_2.17",),
    *,
    other_needs: Mapping[str, Sequence[str]] | None = None,
    weak_versions: Sequence[str] = (),
    elf_class: int = 64,
    big_endian: bool = False,
    segments: str = "dynamic",
    section_headers: bool = True,
    verneed_section_type: int = _SHT_GNU_VERNEED,
    extended_numbering: bool = False,
    file_type: int = _ET_DYN,
    load_address: int = 0,
    padding: int = 0,
) -> bytes:
    """A structurally valid ELF shared object whose version needs name what it needs from glibc.

    `glibc_versions` are needed from `libc.so.6`; `other_needs` maps further libraries to their
    version names (`{"libstdc++.so.6": ["GLIBCXX_3.4"]}`); names in `weak_versions` carry
    VER_FLG_WEAK. No version at all means no version needs. The layout is the ELF header, the
    program headers, `padding` zero bytes (to make a big file), `.dynstr`, `.gnu.version_r`,
    `.dynamic`, `.shstrtab`, then the section header table; there is no code.

    `segments` chooses the program headers: "dynamic" (a PT_LOAD mapping the file at
    `load_address`, and a PT_DYNAMIC whose DT_VERNEED/DT_STRTAB point into it, as the loader reads
    them), "load" (PT_LOAD only, no dynamic section: only the section headers name the needs) or
    "none" (no program headers: data no loader maps). `section_headers=False` strips the section
    header table (`e_shoff = e_shnum = 0`); `verneed_section_type` retypes `.gnu.version_r`.
    `extended_numbering` stores the section count and string-table index in section 0, the way
    linkers do past 0xff00 sections. `readelf -h -l -d -S -V` accepts every variant.
    """
    order = ">" if big_endian else "<"
    word = "Q" if elf_class == 64 else "I"
    needs = {"libc.so.6": list(glibc_versions), **{name: list(v) for name, v in (other_needs or {}).items()}}
    needs = {library: versions for library, versions in needs.items() if versions}

    dynstr = _StringTable()
    library_names = [dynstr.add(library) for library in needs]
    verneed = _version_needs_section(needs, dynstr, order, frozenset(weak_versions))

    header_size = 64 if elf_class == 64 else 52
    segment_format = order + ("IIQQQQQQ" if elf_class == 64 else "IIIIIIII")
    segment_count = {"dynamic": 2, "load": 1, "none": 0}[segments]
    segment_table_offset = header_size if segment_count else 0
    body = bytearray(bytes(header_size + segment_count * struct.calcsize(segment_format) + padding))
    # name, type, offset, size, link, info, align, entry size
    sections: list[tuple[str, int, int, int, int, int, int, int]] = []

    def place(
        name: str, kind: int, data: bytes, link: int = 0, info: int = 0, align: int = 1, entsize: int = 0
    ) -> int:
        body.extend(bytes(-len(body) % align))
        sections.append((name, kind, len(body), len(data), link, info, align, entsize))
        body.extend(data)
        return len(body) - len(data)

    dynstr_offset = place(".dynstr", _SHT_STRTAB, dynstr.data)
    verneed_offset = 0
    if needs:
        verneed_offset = place(
            ".gnu.version_r", verneed_section_type, verneed, link=1, info=len(needs), align=4
        )
    dynamic_offset = dynamic_size = 0
    if segments == "dynamic":
        tags = [(_DT_NEEDED, offset) for offset in library_names]
        tags += [(_DT_STRTAB, load_address + dynstr_offset), (_DT_STRSZ, len(dynstr.data))]
        if needs:
            tags += [(_DT_VERNEED, load_address + verneed_offset), (_DT_VERNEEDNUM, len(needs))]
        tags.append((0, 0))
        dynamic_format = order + ("qQ" if elf_class == 64 else "iI")
        dynamic = b"".join(struct.pack(dynamic_format, tag, value) for tag, value in tags)
        dynamic_offset = place(
            ".dynamic", _SHT_DYNAMIC, dynamic, link=1, align=8, entsize=len(dynamic) // len(tags)
        )
        dynamic_size = len(dynamic)
    loaded_size = len(body)
    shstrtab = _StringTable()
    names = [shstrtab.add(name) for name, *_ in sections] + [shstrtab.add(".shstrtab")]
    place(".shstrtab", _SHT_STRTAB, shstrtab.data)

    section_count = len(sections) + 1  # with the null section 0
    string_index = section_count - 1
    body.extend(bytes(-len(body) % 8))
    table_offset = len(body)
    entry_format = order + ("IIQQQQIIQQ" if elf_class == 64 else "IIIIIIIIII")
    null_size, null_link = (section_count, string_index) if extended_numbering else (0, 0)
    body += struct.pack(entry_format, 0, 0, 0, 0, 0, null_size, null_link, 0, 0, 0)
    for name_offset, (name, kind, offset, size, link, info, align, entsize) in zip(names, sections):
        address = load_address + offset if segments != "none" and name != ".shstrtab" else 0
        body += struct.pack(
            entry_format, name_offset, kind, 0, address, offset, size, link, info, align, entsize
        )
    entry_size = struct.calcsize(entry_format)

    program_headers = [(_PT_LOAD, 0, load_address, loaded_size, 4, 0x1000)]
    if segments == "dynamic":
        program_headers.append(
            (_PT_DYNAMIC, dynamic_offset, load_address + dynamic_offset, dynamic_size, 6, 8)
        )
    for index, (kind, offset, address, size, flags, align) in enumerate(program_headers[:segment_count]):
        if elf_class == 64:
            row = struct.pack(segment_format, kind, flags, offset, address, address, size, size, align)
        else:
            row = struct.pack(segment_format, kind, offset, address, address, size, size, flags, align)
        at = header_size + index * len(row)
        body[at : at + len(row)] = row

    if not section_headers:
        del body[table_offset:]
        table_offset, entry_size, section_count, string_index = 0, 0, 0, 0
    elif extended_numbering:
        section_count, string_index = 0, _SHN_XINDEX
    machine_number = ELF_MACHINES[machine] if isinstance(machine, str) else machine
    identity = b"\x7fELF" + bytes([elf_class // 32, 2 if big_endian else 1, 1, 0]) + bytes(8)
    # e_type, e_machine, e_version, e_entry, e_phoff, e_shoff, e_flags, e_ehsize, e_phentsize,
    # e_phnum, e_shentsize, e_shnum, e_shstrndx
    fields = (
        file_type,
        machine_number,
        1,
        0,
        segment_table_offset,
        table_offset,
        0,
        header_size,
        struct.calcsize(segment_format),
        segment_count,
        entry_size,
        section_count,
        string_index,
    )
    header = struct.pack(order + f"HHI{word}{word}{word}IHHHHHH", *fields)
    body[:header_size] = identity + header
    return bytes(body)


def _version_needs_section(
    needs: Mapping[str, Sequence[str]], dynstr: _StringTable, order: str, weak: frozenset[str]
) -> bytes:
    """SHT_GNU_verneed: per library a 16-byte Elf_Verneed, followed by one 16-byte Elf_Vernaux per version."""
    section = bytearray()
    version_index = 2  # 0 and 1 are reserved for local and global symbols
    for position, (library, versions) in enumerate(needs.items()):
        next_entry = 0 if position == len(needs) - 1 else 16 + 16 * len(versions)
        section += struct.pack(order + "HHIII", 1, len(versions), dynstr.offset_of(library), 16, next_entry)
        for number, version in enumerate(versions):
            next_version = 0 if number == len(versions) - 1 else 16
            section += struct.pack(
                order + "IHHII",
                _elf_hash(version),
                _VER_FLG_WEAK if version in weak else 0,
                version_index,
                dynstr.add(version),
                next_version,
            )
            version_index += 1
    return bytes(section)


class _StringTable:
    def __init__(self) -> None:
        self.data = b"\0"

    def offset_of(self, text: str) -> int:
        """The offset of `text` added before."""
        return self.data.index(b"\0" + text.encode() + b"\0") + 1

    def add(self, text: str) -> int:
        offset = len(self.data)
        self.data += text.encode() + b"\0"
        return offset


def _elf_hash(name: str) -> int:
    """The System V ELF hash, which `vna_hash` holds so a loader can compare names quickly."""
    value = 0
    for byte in name.encode():
        value = ((value << 4) + byte) & 0xFFFFFFFF
        high = value & 0xF0000000
        if high:
            value ^= high >> 24
        value &= ~high & 0xFFFFFFFF
    return value


def mach_o_binary(file_type: int = 6, cpu: str = "arm64") -> bytes:
    """A 64-bit little-endian Mach-O header (MH_DYLIB = 6, MH_BUNDLE = 8 for extension modules)."""
    cpu_type = {"x86_64": 0x01000007, "arm64": 0x0100000C}[cpu]
    return struct.pack("<IiiIIIII", 0xFEEDFACF, cpu_type, 0, file_type, 0, 0, 0x85, 0)


def pe_dll(machine: int = 0x8664) -> bytes:
    """A DOS stub whose `e_lfanew` points at the PE signature, COFF and PE32+ headers of a DLL (a `.pyd`)."""
    dos = bytearray(0x80)
    dos[:2] = b"MZ"
    dos[0x3C:0x40] = struct.pack("<I", len(dos))
    optional = bytearray(240)
    optional[:2] = struct.pack("<H", 0x20B)  # PE32+
    optional[68:70] = struct.pack("<H", 3)  # Windows console subsystem
    characteristics = 0x2022  # executable image, large address aware, DLL
    coff = struct.pack("<HHIIIHH", machine, 0, 0, 0, 0, len(optional), characteristics)
    return bytes(dos) + b"PE\0\0" + coff + bytes(optional)


@dataclass
class WheelSpec:
    name: str
    version: str
    tags: list[str] = field(default_factory=lambda: ["py3-none-any"])
    files: dict[str, bytes | str] = field(default_factory=dict)
    requires: list[str] = field(default_factory=list)
    entry_points: str = ""
    metadata: list[str] = field(default_factory=list)  # more METADATA headers: `License-Expression: MIT`

    @property
    def distribution(self) -> str:
        return self.name.replace("-", "_")

    @property
    def filename(self) -> str:
        interpreters = ".".join(dict.fromkeys(tag.split("-")[0] for tag in self.tags))
        abis = ".".join(dict.fromkeys(tag.split("-")[1] for tag in self.tags))
        platforms = ".".join(dict.fromkeys(tag.split("-")[2] for tag in self.tags))
        return f"{self.distribution}-{self.version}-{interpreters}-{abis}-{platforms}.whl"


def write_wheel(spec: WheelSpec, directory: Path) -> Path:
    dist_info = f"{spec.distribution}-{spec.version}.dist-info"
    purelib = all(tag.endswith("-any") for tag in spec.tags)
    metadata = ["Metadata-Version: 2.1", f"Name: {spec.name}", f"Version: {spec.version}"]
    metadata += [f"Requires-Dist: {requirement}" for requirement in spec.requires]
    metadata += spec.metadata
    wheel = [
        "Wheel-Version: 1.0",
        "Generator: hatch-lambda-tests",
        f"Root-Is-Purelib: {str(purelib).lower()}",
    ]
    wheel += [f"Tag: {tag}" for tag in spec.tags]
    contents: dict[str, bytes] = {
        path: data.encode() if isinstance(data, str) else data for path, data in spec.files.items()
    }
    contents[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n\n").encode()
    contents[f"{dist_info}/WHEEL"] = ("\n".join(wheel) + "\n").encode()
    if spec.entry_points:
        contents[f"{dist_info}/entry_points.txt"] = spec.entry_points.encode()
    record_lines = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in contents.items()]
    record_lines.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    path = directory / spec.filename
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in contents.items():
            info = zipfile.ZipInfo(member, (2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if "/scripts/" in member else 0o100644) << 16
            archive.writestr(info, data)
    return path


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def native_wheel(name: str, version: str, tags: list[str], shared_object: bytes | None = None) -> WheelSpec:
    """A wheel with one extension module, reporting its version when imported.

    The module is an ELF file for the first tag's machine needing that tag's glibc floor, as a
    manylinux build would be, unless `shared_object` gives other bytes.
    """
    module = name.replace("-", "_")
    machine = "aarch64" if tags[0].endswith("aarch64") else "x86_64"
    python_tag = tags[0].split("-")[0]
    if shared_object is None:
        major, minor = glibc_floor_of(tags[0])
        shared_object = elf_shared_object(machine, (f"GLIBC_{major}.{minor}",))
    return WheelSpec(
        name=name,
        version=version,
        tags=tags,
        files={
            f"{module}/__init__.py": f"VERSION = {version!r}\nPLATFORM_TAGS = {tags!r}\n",
            f"{module}/_speedups.{python_tag}-{machine}-linux-gnu.so": shared_object,
        },
    )


def glibc_floor_of(tag: str) -> tuple[int, int]:
    """The glibc a manylinux wheel tag promises to need at most, e.g. (2, 17) for manylinux2014."""
    platform = tag.split("-")[2]
    legacy = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
    for alias, floor in legacy.items():
        if platform.startswith(alias + "_"):
            return floor
    _manylinux, major, minor, *_machine = platform.split("_")
    return int(major), int(minor)


def standard_wheelhouse(directory: Path) -> Path:
    """The wheels most layer tests resolve against (all names start with `hlfix-`, absent from PyPI)."""
    directory.mkdir(parents=True, exist_ok=True)
    specs = [
        WheelSpec(
            "hlfix-pure",
            "1.0",
            files={"hlfix_pure/__init__.py": "def shout(text):\n    return text.upper() + '!'\n"},
            requires=["hlfix-native"],
        ),
        WheelSpec(
            "hlfix-tool",
            "1.0",
            files={
                "hlfix_tool.py": "def main():\n    return 0\n",
                "hlfix_tool-1.0.data/scripts/hlfix-tool-script": "#!/bin/sh\necho tool\n",
            },
            entry_points="[console_scripts]\nhlfix-tool = hlfix_tool:main\n",
        ),
        WheelSpec("hlfix-extra", "1.0", files={"hlfix_extra.py": "NAME = 'extra'\n"}),
        WheelSpec(
            "hlfix-cycle", "1.0", files={"hlfix_cycle.py": "NAME = 'cycle'\n"}, requires=["cyclic-app"]
        ),
        WheelSpec(
            "hlfix-maconly",
            "1.0",
            tags=["cp312-cp312-macosx_11_0_arm64"],
            files={"hlfix_maconly/__init__.py": ""},
        ),
    ]
    specs += [*_marker_wheels(), *_sdk_like_wheels(), _heavy_wheel(), *fake_runtime_sdk_wheels()]
    # 1.0 loads on glibc 2.17 and up; 2.0 needs glibc 2.28, so it is right for python3.12+ only.
    for python in ("cp39", "cp310", "cp311", "cp312", "cp313", "cp314"):
        for machine in ("x86_64", "aarch64"):
            specs.append(
                native_wheel(
                    "hlfix-native",
                    "1.0",
                    [
                        f"{python}-{python}-manylinux_2_17_{machine}",
                        f"{python}-{python}-manylinux2014_{machine}",
                    ],
                )
            )
            specs.append(native_wheel("hlfix-native", "2.0", [f"{python}-{python}-manylinux_2_28_{machine}"]))
    for spec in specs:
        write_wheel(spec, directory)
    write_sdist("hlfix-fromsource", "1.0", directory)
    write_sdist("hlfix-nativesource", "1.0", directory, native=True)
    return directory


FAKE_BOTO3_VERSION = "0.0.1"

_FAKE_BOTOCORE_SESSION = """\
import os

from botocore.exceptions import NoCredentialsError, NoRegionError


class _Meta:
    def __init__(self, service_name, region_name):
        self.service_model = service_name
        self.region_name = region_name


class Client:
    def __init__(self, service_name, region_name, access_key):
        self.meta = _Meta(service_name, region_name)
        self.access_key = access_key


class Session:
    def create_client(self, service_name, region_name=None, **_options):
        region = region_name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise NoRegionError()
        access_key = os.environ.get("AWS_ACCESS_KEY_ID")
        if not access_key:
            raise NoCredentialsError()
        return Client(service_name, region, access_key)
"""


def fake_runtime_sdk_wheels() -> list[WheelSpec]:
    """A tiny boto3 and botocore with the calls the fixtures make (`boto3.client(...).meta.region_name`):
    what the handler check installs as Lambda's runtime SDK when the suite runs offline. The real
    ones come from the package index in the network-marked tests."""
    return [
        WheelSpec(
            "boto3",
            FAKE_BOTO3_VERSION,
            files={
                "boto3/__init__.py": (
                    f"__version__ = {FAKE_BOTO3_VERSION!r}\n\nfrom botocore.session import Session\n\n\n"
                    "def client(service_name, region_name=None, **options):\n"
                    "    return Session().create_client(service_name, region_name, **options)\n"
                ),
            },
            requires=[f"botocore=={FAKE_BOTO3_VERSION}"],
        ),
        WheelSpec(
            "botocore",
            FAKE_BOTO3_VERSION,
            files={
                "botocore/__init__.py": f"__version__ = {FAKE_BOTO3_VERSION!r}\n",
                "botocore/exceptions.py": (
                    "class BotoCoreError(Exception):\n    pass\n\n\n"
                    "class NoRegionError(BotoCoreError):\n    pass\n\n\n"
                    "class NoCredentialsError(BotoCoreError):\n    pass\n\n\n"
                    "class ClientError(Exception):\n    pass\n"
                ),
                "botocore/session.py": _FAKE_BOTOCORE_SESSION,
            },
        ),
    ]


def _pure(name: str, requires: list[str] | None = None) -> WheelSpec:
    module = name.replace("-", "_")
    return WheelSpec(name, "1.0", files={f"{module}.py": f"NAME = {name!r}\n"}, requires=requires or [])


def _heavy_wheel() -> WheelSpec:
    """A package shipping what Lambda never imports: tests, stubs, C and Cython sources, headers."""
    return WheelSpec(
        "hlfix-heavy",
        "1.0",
        files={
            "hlfix_heavy/__init__.py": "from hlfix_heavy.testing import helper\nVALUE = helper()\n",
            "hlfix_heavy/testing.py": "def helper():\n    return 42\n",
            "hlfix_heavy/__init__.pyi": "VALUE: int\n",
            "hlfix_heavy/tests/__init__.py": "",
            "hlfix_heavy/tests/test_value.py": "def test_value():\n    assert True\n",
            "hlfix_heavy/sub/test/test_more.py": "X = 1\n",
            "hlfix_heavy/_speed.c": "int speed(void) { return 1; }\n",
            "hlfix_heavy/_speed.pyx": "def speed(): return 1\n",
            "hlfix_heavy/include/speed.h": "int speed(void);\n",
            "hlfix_heavy/data/blob.bin": bytes(range(256)) * 4096,
        },
    )


def _marker_wheels() -> list[WheelSpec]:
    """`hlfix-markers` needs different packages on different platforms, like real projects do."""
    return [
        _pure(
            "hlfix-markers",
            [
                'hlfix-win; sys_platform == "win32"',
                'hlfix-unix; sys_platform != "win32"',
                'hlfix-x86only; platform_machine == "x86_64"',
                'hlfix-armonly; platform_machine == "aarch64"',
                'hlfix-old; python_version < "3.12"',
                'hlfix-extra; extra == "more"',
            ],
        ),
        *(_pure(name) for name in ("hlfix-win", "hlfix-unix", "hlfix-x86only", "hlfix-armonly", "hlfix-old")),
        # Decided by the runtime's patch release and kernel, which only the complete platform knows.
        _pure(
            "hlfix-patchlevel",
            [
                'hlfix-newpatch; python_full_version >= "3.12.1"',
                'hlfix-oldpatch; python_full_version < "3.12.1"',
            ],
        ),
        _pure("hlfix-kernel", ['hlfix-amzn; "amzn2" in platform_release']),
        *(_pure(name) for name in ("hlfix-newpatch", "hlfix-oldpatch", "hlfix-amzn")),
    ]


def _sdk_like_wheels() -> list[WheelSpec]:
    """Shaped like boto3: excluding `hlfix-sdk` must drop its own dependencies but keep shared ones."""
    return [
        _pure("hlfix-sdk", ["hlfix-sdkcore", "hlfix-transfer"]),
        _pure("hlfix-sdkcore", ["hlfix-http", "hlfix-query"]),
        _pure("hlfix-transfer", ["hlfix-sdkcore"]),
        _pure("hlfix-query"),
        _pure("hlfix-http"),
        _pure("hlfix-client", ["hlfix-http"]),
    ]


def refused_wheelhouse(directory: Path) -> Path:
    """Wheels that test the proof (names `hlfix-`): each but `hlfix-launchers` must never reach a
    python3.12 x86_64 layer, each for one reason; `hlfix-launchers` reaches it with a warning."""
    directory.mkdir(parents=True, exist_ok=True)
    x86_64_cp312 = ["cp312-cp312-manylinux_2_17_x86_64"]
    specs = [
        # The tag promises glibc 2.17 but the module needs 2.38: only reading the ELF file shows it.
        native_wheel(
            "hlfix-newglibc",
            "1.0",
            x86_64_cp312,
            shared_object=elf_shared_object("x86_64", ("GLIBC_2.17", "GLIBC_2.38")),
        ),
        # Tagged x86_64, built for aarch64.
        native_wheel(
            "hlfix-wrongarch",
            "1.0",
            x86_64_cp312,
            shared_object=elf_shared_object("aarch64", ("GLIBC_2.17",)),
        ),
        # Claims to be pure Python but ships macOS binaries, one of them named like a Linux module.
        WheelSpec(
            "hlfix-macbinary",
            "1.0",
            files={
                "hlfix_macbinary/__init__.py": "",
                "hlfix_macbinary/libhelper.dylib": mach_o_binary(file_type=6),
                "hlfix_macbinary/_native.cpython-312-x86_64-linux-gnu.so": mach_o_binary(file_type=8),
            },
        ),
        # A sound manylinux wheel, for CPython 3.11's ABI rather than 3.12's.
        native_wheel("hlfix-wrongabi", "1.0", ["cp311-cp311-manylinux_2_17_x86_64"]),
        # abi3 modules (any runtime) needing GLIBC_2.38 where section headers do not show it:
        # stripped (`e_shoff = e_shnum = 0`), or `.gnu.version_r` retyped to SHT_PROGBITS.
        native_wheel(
            "hlfix-stripped",
            "1.0",
            ["cp39-abi3-manylinux_2_17_x86_64"],
            shared_object=elf_shared_object("x86_64", ("GLIBC_2.17", "GLIBC_2.38"), section_headers=False),
        ),
        native_wheel(
            "hlfix-retyped",
            "1.0",
            ["cp39-abi3-manylinux_2_17_x86_64"],
            shared_object=elf_shared_object("x86_64", ("GLIBC_2.38",), verneed_section_type=1),
        ),
        # Shaped like setuptools: Windows launchers and other binaries no Linux loader maps, as
        # package data. It loads on Lambda; the proof warns, once, and does not refuse it.
        WheelSpec(
            "hlfix-launchers",
            "1.0",
            files={
                "hlfix_launchers/__init__.py": "",
                **{f"hlfix_launchers/{name}.exe": pe_dll() for name in ("cli-32", "cli-64", "gui-arm64")},
                "hlfix_launchers/macos/helper.dylib": mach_o_binary(),
                "hlfix_launchers/objects/helper.o": elf_shared_object(
                    "aarch64", (), file_type=1, segments="none"
                ),
            },
        ),
    ]
    for spec in specs:
        write_wheel(spec, directory)
    return directory
