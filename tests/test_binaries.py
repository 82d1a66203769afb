"""hatch_lambda.platform.binaries: binary formats from first bytes, and ELF machines and glibc needs.

binutils' `readelf -h` and `readelf -V` are the oracle: every ELF file read here, generated or taken
from a real wheel, is also read by readelf, and the two must agree. The generated files cover the
layouts (32/64-bit, both byte orders, no sections, extended numbering) and the damage (truncation,
bad offsets) offline; the `network` tests download real manylinux wheels from the index once per
pytest cache and check every ELF file inside them.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from hatch_lambda.errors import LambdaBuildError, UnreadableBinaryError
from hatch_lambda.platform.binaries import (
    FORMAT_HEAD_SIZE,
    ElfFacts,
    binary_format,
    glibc_release_of,
    read_elf,
)
from hatch_lambda.platform.runtimes import platform_tags, runtime_named
from tests.wheelfactory import (
    elf_shared_object,
    glibc_floor_of,
    mach_o_binary,
    minimal_elf_shared_object,
    pe_dll,
    refused_wheelhouse,
    standard_wheelhouse,
)

READELF = shutil.which("readelf")
FILE = shutil.which("file")
PROC_IO = Path("/proc/self/io")

# readelf's `Machine:` text for the machines the generator writes.
READELF_MACHINES = {
    "Advanced Micro Devices X86-64": "x86_64",
    "AArch64": "aarch64",
    "Intel 80386": "i386",
    "ARM": "arm",
    "PowerPC64": "ppc64",
    "IBM S/390": "s390",
}
# The glibc release that introduced each loader-feature version name (glibc 2.36 NEWS, DT_RELR).
GLIBC_FEATURES = {"GLIBC_ABI_DT_RELR": (2, 36)}


# readelf as the oracle ------------------------------------------------------------------------


def readelf(*arguments: str | Path) -> str:
    completed = subprocess.run(
        ["readelf", "-W", *map(str, arguments)], capture_output=True, text=True, check=True
    )
    return completed.stdout


def readelf_header(path: Path) -> dict[str, str]:
    """`readelf -h` as a mapping: `Machine`, `Class`, `Data`, ... (the first of duplicated keys)."""
    fields: dict[str, str] = {}
    for line in readelf("-h", path).splitlines():
        key, colon, value = line.strip().partition(":")
        if colon:
            fields.setdefault(key, value.strip())
    return fields


def readelf_version_needs(path: Path) -> list[str]:
    """The `Name:` lines of readelf's "Version needs" section only (not verdef, not the symbol list)."""
    names = []
    in_needs = False
    for line in readelf("-V", path).splitlines():
        if line.startswith("Version needs section"):
            in_needs = True
        elif line.startswith("Version") or not line.strip():
            in_needs = False
        elif in_needs and (found := re.match(r"\s*0x[0-9a-f]+:\s+Name: (\S+)\s+Flags:", line)):
            names.append(found[1])
    return names


def readelf_required_glibc(names: list[str]) -> tuple[int, int] | None:
    releases = [GLIBC_FEATURES[name] for name in names if name in GLIBC_FEATURES]
    for name in names:
        if numbered := re.fullmatch(r"GLIBC_(\d+)\.(\d+)(\.\d+)*", name):
            releases.append((int(numbered[1]), int(numbered[2])))
    return max(releases, default=None)


def readelf_machine(path: Path) -> str:
    machine = readelf_header(path)["Machine"]
    if unknown := re.fullmatch(r"<unknown>: 0x([0-9a-f]+)", machine):
        return f"EM_{int(unknown[1], 16)}"
    return READELF_MACHINES[machine]


def assert_agrees_with_readelf(path: Path, facts: ElfFacts, machine: str | None = None) -> None:
    """`machine` is readelf's plain machine name when the reader names a variant (x32, ppc64le...)."""
    if READELF is None:
        return
    header = readelf_header(path)
    assert readelf_machine(path) == (machine or facts.machine)
    assert header["Class"] == f"ELF{facts.elf_class}"
    needs = readelf_version_needs(path)
    assert facts.version_needs == tuple(dict.fromkeys(needs))
    assert facts.required_glibc == readelf_required_glibc(needs)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def bytes_read_by(action) -> int | None:
    """Bytes this process read through read(2) while `action` ran, from Linux's /proc/self/io."""
    if not PROC_IO.exists():
        return None

    def rchar() -> int:
        return int(re.search(r"^rchar: (\d+)$", PROC_IO.read_text(), re.MULTILINE)[1])

    before = rchar()
    action()
    return rchar() - before - len(PROC_IO.read_bytes())


# Generated ELF files: machines and layouts ----------------------------------------------------


@pytest.mark.parametrize(
    ("options", "machine", "elf_class", "readelf_name"),
    [
        ({"machine": "x86_64"}, "x86_64", 64, None),
        ({"machine": "aarch64"}, "aarch64", 64, None),
        ({"machine": "i386", "elf_class": 32}, "i386", 32, None),
        ({"machine": "arm", "elf_class": 32}, "arm", 32, None),
        ({"machine": "x86_64", "elf_class": 32}, "x32", 32, "x86_64"),
        ({"machine": "aarch64", "elf_class": 32}, "aarch64_ilp32", 32, "aarch64"),
        ({"machine": "aarch64", "big_endian": True}, "aarch64_be", 64, "aarch64"),
        ({"machine": "x86_64", "big_endian": True}, "x86_64-elf64-big-endian", 64, "x86_64"),
        ({"machine": "ppc64"}, "ppc64le", 64, "ppc64"),
        ({"machine": "ppc64", "big_endian": True}, "ppc64", 64, None),
        ({"machine": "s390", "big_endian": True}, "s390x", 64, "s390"),
        ({"machine": 999}, "EM_999", 64, None),
    ],
)
def test_machine_and_class_come_from_the_header(tmp_path, options, machine, elf_class, readelf_name):
    path = write(tmp_path / "module.so", elf_shared_object(**options))

    facts = read_elf(path)

    assert (facts.machine, facts.elf_class) == (machine, elf_class)
    assert facts.required_glibc == (2, 17)
    assert_agrees_with_readelf(path, facts, readelf_name)


@pytest.mark.parametrize("elf_class", [32, 64])
@pytest.mark.parametrize("big_endian", [False, True], ids=["little-endian", "big-endian"])
@pytest.mark.parametrize("extended_numbering", [False, True], ids=["plain", "extended-numbering"])
def test_version_needs_read_in_every_layout(tmp_path, elf_class, big_endian, extended_numbering):
    data = elf_shared_object(
        "aarch64",
        ("GLIBC_2.17", "GLIBC_2.28"),
        other_needs={"libm.so.6": ["GLIBC_2.29"], "libstdc++.so.6": ["GLIBCXX_3.4.30"]},
        elf_class=elf_class,
        big_endian=big_endian,
        extended_numbering=extended_numbering,
    )
    path = write(tmp_path / "module.so", data)

    facts = read_elf(path)

    assert facts.required_glibc == (2, 29)
    assert facts.version_needs == ("GLIBC_2.17", "GLIBC_2.28", "GLIBC_2.29", "GLIBCXX_3.4.30")
    assert_agrees_with_readelf(path, facts, "aarch64")


@pytest.mark.parametrize(
    ("glibc_versions", "other_needs", "required"),
    [
        (("GLIBC_2.17",), {}, (2, 17)),
        (("GLIBC_2.2.5",), {}, (2, 2)),
        (("GLIBC_2.2.5", "GLIBC_2.3"), {}, (2, 3)),
        # Numeric, not text, order: 2.10 is newer than 2.9.
        (("GLIBC_2.9", "GLIBC_2.10", "GLIBC_2.3.4"), {}, (2, 10)),
        (("GLIBC_2.17", "GLIBC_2.28", "GLIBC_2.34", "GLIBC_2.38"), {}, (2, 38)),
        ((), {}, None),
        # libstdc++ and libgcc versions are not glibc versions.
        ((), {"libstdc++.so.6": ["GLIBCXX_3.4.32", "CXXABI_1.3.15"], "libgcc_s.so.1": ["GCC_3.0"]}, None),
        (("GLIBC_2.17",), {"libstdc++.so.6": ["GLIBCXX_3.4.99"]}, (2, 17)),
        # Versions needed from glibc's other libraries count like libc's.
        (("GLIBC_2.17",), {"libm.so.6": ["GLIBC_2.35"], "libpthread.so.0": ["GLIBC_2.3.2"]}, (2, 35)),
        (("GLIBC_2.17", "GLIBC_ABI_DT_RELR"), {}, (2, 36)),
        (("GLIBC_2.17", "GLIBC_PRIVATE"), {}, (2, 17)),
    ],
)
def test_required_glibc_is_the_newest_glibc_version_needed(tmp_path, glibc_versions, other_needs, required):
    path = write(tmp_path / "module.so", elf_shared_object("x86_64", glibc_versions, other_needs=other_needs))

    facts = read_elf(path)

    assert facts.required_glibc == required
    assert_agrees_with_readelf(path, facts)


def test_glibc_names_without_a_known_release_are_reported_as_undated(tmp_path):
    needs = ("GLIBC_2.17", "GLIBC_PRIVATE", "GLIBC_ABI_GNU2_TLS", "GLIBC_ABI_DT_RELR")
    path = write(
        tmp_path / "module.so",
        elf_shared_object("x86_64", needs, other_needs={"libstdc++.so.6": ["GLIBCXX_3.4"]}),
    )

    facts = read_elf(path)

    assert facts.undated_glibc_needs == ("GLIBC_PRIVATE", "GLIBC_ABI_GNU2_TLS")
    assert facts.required_glibc == (2, 36)


def test_glibc_release_of_version_names():
    assert glibc_release_of("GLIBC_2.34") == (2, 34)
    assert glibc_release_of("GLIBC_2.2.5") == (2, 2)
    assert glibc_release_of("GLIBC_2.2.5.1") == (2, 2)
    assert glibc_release_of("GLIBC_ABI_DT_RELR") == (2, 36)
    for name in (
        "GLIBCXX_3.4",
        "CXXABI_1.3",
        "GCC_3.0",
        "GLIBC_PRIVATE",
        "GLIBC_2",
        "xGLIBC_2.17",
        "GLIBC_2.x",
    ):
        assert glibc_release_of(name) is None, name


def test_a_file_without_section_headers_needs_nothing_it_can_show(tmp_path):
    path = write(
        tmp_path / "stripped.so", elf_shared_object("aarch64", ("GLIBC_2.38",), section_headers=False)
    )

    facts = read_elf(path)

    assert facts == ElfFacts(machine="aarch64", elf_class=64, required_glibc=None, version_needs=())
    assert_agrees_with_readelf(path, facts)


def test_the_header_only_object_of_older_tests_still_reads(tmp_path):
    path = write(tmp_path / "module.so", minimal_elf_shared_object("aarch64"))

    assert read_elf(path) == ElfFacts("aarch64", 64, None, ())


def test_a_big_file_is_read_by_seeking_to_its_headers(tmp_path):
    """8 MB of padding between the header and the sections: read_elf must not read through it."""
    path = write(tmp_path / "big.so", elf_shared_object("x86_64", ("GLIBC_2.28",), padding=8 * 1024 * 1024))
    facts: list[ElfFacts] = []

    read = bytes_read_by(lambda: facts.append(read_elf(path)))

    assert facts[0].required_glibc == (2, 28)
    assert_agrees_with_readelf(path, facts[0])
    if read is not None:
        assert read < 64 * 1024


# Damaged files: always UnreadableBinaryError, naming the file ---------------------------------


@pytest.mark.parametrize("elf_class", [32, 64])
@pytest.mark.parametrize("big_endian", [False, True], ids=["little-endian", "big-endian"])
def test_every_truncation_is_a_typed_error(tmp_path, elf_class, big_endian):
    whole = elf_shared_object(
        "x86_64",
        ("GLIBC_2.17",),
        other_needs={"libstdc++.so.6": ["GLIBCXX_3.4"]},
        elf_class=elf_class,
        big_endian=big_endian,
    )
    path = tmp_path / "cut.so"
    # The section header table comes last, so every cut removes something the reader needs.
    for length in range(len(whole)):
        path.write_bytes(whole[:length])
        with pytest.raises(UnreadableBinaryError) as raised:
            read_elf(path)
        assert raised.value.path == path
        assert str(path) in str(raised.value)


def section_header_table(data: bytes) -> tuple[int, int, int]:
    """(e_shoff, e_shentsize, e_shnum) of a 64-bit little-endian file."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    entsize, count = struct.unpack_from("<HH", data, 0x3A)
    return shoff, entsize, count


def patched(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def verneed_section(data: bytes) -> tuple[int, int]:
    """(header offset, sh_offset) of the `.gnu.version_r` section of a generated 64-bit LE file."""
    shoff, entsize, count = section_header_table(data)
    for index in range(count):
        header = shoff + index * entsize
        if struct.unpack_from("<I", data, header + 4)[0] == 0x6FFFFFFE:
            return header, struct.unpack_from("<Q", data, header + 24)[0]
    raise AssertionError("no .gnu.version_r")


def damage(data: bytes, how: str) -> bytes:
    section_header, verneed = verneed_section(data)
    shoff, _entsize, _count = section_header_table(data)
    if how == "not ELF":
        return b"\x7fELG" + data[4:]
    if how == "unknown class":
        return patched(data, 4, b"\x03")
    if how == "unknown data encoding":
        return patched(data, 5, b"\x00")
    if how == "section entries too small":
        return patched(data, 0x3A, struct.pack("<H", 16))
    if how == "section table past the end":
        return patched(data, 0x28, struct.pack("<Q", len(data)))
    if how == "section table offset at 2**64-1":
        return patched(data, 0x28, struct.pack("<Q", 2**64 - 1))
    if how == "extended count too big":
        return patched(patched(data, 0x3C, b"\0\0"), shoff + 32, struct.pack("<Q", 2**40))
    if how == "link to no section":
        return patched(data, section_header + 40, struct.pack("<I", 99))
    if how == "link to the null section":
        return patched(data, section_header + 40, struct.pack("<I", 0))
    if how == "section data past the end":
        return patched(data, section_header + 32, struct.pack("<Q", len(data)))
    if how == "more versions than fit":
        return patched(data, verneed + 2, struct.pack("<H", 1000))
    if how == "aux offset out of the section":
        return patched(data, verneed + 8, struct.pack("<I", 4096))
    if how == "next entry out of the section":
        return patched(data, verneed + 12, struct.pack("<I", 2**32 - 16))
    if how == "name outside the string table":
        return patched(data, verneed + 16 + 8, struct.pack("<I", 10_000))
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "not ELF",
        "unknown class",
        "unknown data encoding",
        "section entries too small",
        "section table past the end",
        "section table offset at 2**64-1",
        "extended count too big",
        "link to no section",
        "link to the null section",
        "section data past the end",
        "more versions than fit",
        "aux offset out of the section",
        "next entry out of the section",
        "name outside the string table",
    ],
)
def test_damaged_headers_are_a_typed_error(tmp_path, how):
    whole = elf_shared_object("x86_64", ("GLIBC_2.17", "GLIBC_2.28"))
    path = write(tmp_path / "damaged.so", damage(whole, how))

    with pytest.raises(UnreadableBinaryError) as raised:
        read_elf(path)

    assert isinstance(raised.value, LambdaBuildError)
    assert raised.value.reason
    assert f"`{path}`" in str(raised.value)


def test_a_missing_file_is_a_typed_error(tmp_path):
    with pytest.raises(UnreadableBinaryError, match="No such file"):
        read_elf(tmp_path / "absent.so")


# binary_format --------------------------------------------------------------------------------


def fat_mach_o(architectures: int, magic: int = 0xCAFEBABE) -> bytes:
    header = struct.pack(">II", magic, architectures)
    # fat_arch: cputype, cpusubtype, offset, size, align (all big-endian)
    entries = b"".join(
        struct.pack(">iiIII", 0x01000007, 3, 4096 * (i + 1), 32, 12) for i in range(architectures)
    )
    return header + entries


def java_class(major: int, minor: int = 0) -> bytes:
    return struct.pack(">IHHH", 0xCAFEBABE, minor, major, 20) + bytes(40)


def dos_program(pe_offset: int, at_offset: bytes) -> bytes:
    head = bytearray(max(0x40, pe_offset + len(at_offset)))
    head[:2] = b"MZ"
    head[0x3C:0x40] = struct.pack("<I", pe_offset)
    head[pe_offset : pe_offset + len(at_offset)] = at_offset
    return bytes(head)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(elf_shared_object("x86_64"), "elf", id="ELF shared object"),
        pytest.param(
            elf_shared_object("aarch64", elf_class=32, big_endian=True), "elf", id="ELF32 big-endian"
        ),
        pytest.param(mach_o_binary(6, "arm64"), "mach-o", id="Mach-O 64 dylib"),
        pytest.param(mach_o_binary(8, "x86_64"), "mach-o", id="Mach-O 64 bundle"),
        pytest.param(struct.pack(">IiiI", 0xFEEDFACE, 18, 0, 6), "mach-o", id="Mach-O 32 big-endian"),
        pytest.param(struct.pack("<IiiI", 0xFEEDFACE, 7, 3, 6), "mach-o", id="Mach-O 32 little-endian"),
        pytest.param(struct.pack(">IiiI", 0xFEEDFACF, 0x01000012, 0, 6), "mach-o", id="Mach-O 64 big-endian"),
        pytest.param(fat_mach_o(2), "mach-o", id="universal2 binary"),
        pytest.param(fat_mach_o(1), "mach-o", id="universal binary, one arch"),
        pytest.param(fat_mach_o(2, magic=0xCAFEBABF), "mach-o", id="universal binary, 64-bit offsets"),
        pytest.param(java_class(52), None, id="Java 8 class"),
        pytest.param(java_class(65), None, id="Java 21 class"),
        pytest.param(java_class(45, 3), None, id="Java 1.1 class"),
        pytest.param(struct.pack(">II", 0xCAFEBABE, 0), None, id="cafebabe, zero count"),
        pytest.param(b"\xca\xfe\xba\xbe", None, id="cafebabe alone"),
        pytest.param(pe_dll(), "pe", id="PE32+ DLL (.pyd)"),
        pytest.param(pe_dll(0xAA64), "pe", id="ARM64 DLL"),
        pytest.param(dos_program(0x40, b"PE\0\0"), "pe", id="PE header right after the DOS header"),
        pytest.param(dos_program(0x80, b"NE\0\0"), None, id="16-bit NE executable"),
        pytest.param(dos_program(0x80, b"PE\0\1"), None, id="MZ with a wrong signature"),
        pytest.param(dos_program(0x80, b"PE\0\0")[:0x40], None, id="PE offset past the head"),
        pytest.param(b"MZ" + bytes(30), None, id="MZ, head too short for e_lfanew"),
        pytest.param(b"MZ\x90\x00 some text that starts with MZ", None, id="text starting MZ"),
        pytest.param(b"PK\x03\x04" + bytes(26), None, id="zip"),
        pytest.param(b"#!/bin/sh\necho hi\n", None, id="shell script"),
        pytest.param(b"import os\n", None, id="Python source"),
        pytest.param(b"\x7fEL", None, id="three bytes of ELF magic"),
        pytest.param(b"", None, id="empty"),
        pytest.param(b"\xcf\xfa\xed", None, id="three bytes of Mach-O magic"),
        pytest.param(b"!<arch>\n", None, id="static library archive"),
    ],
)
def test_binary_format_from_the_first_bytes(head, expected):
    assert binary_format(head[:FORMAT_HEAD_SIZE]) == expected


@pytest.mark.skipif(FILE is None, reason="file(1) is not installed")
@pytest.mark.parametrize(
    ("data", "file_says"),
    [
        (mach_o_binary(6, "arm64"), "Mach-O 64-bit arm64 dynamically linked shared library"),
        (mach_o_binary(8, "x86_64"), "Mach-O 64-bit x86_64"),
        (fat_mach_o(2), "Mach-O universal binary with 2 architectures"),
        (pe_dll(), "PE32+ executable (DLL)"),
        (java_class(52), "compiled Java class data"),
        (elf_shared_object("aarch64"), "ELF 64-bit LSB shared object, ARM aarch64"),
    ],
)
def test_hand_built_heads_are_what_file_says_they_are(tmp_path, data, file_says):
    """file(1) is the oracle for the hand-built headers the format tests rely on."""
    path = write(tmp_path / "sample", data)

    described = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True, check=True).stdout

    assert described.startswith(file_says), described


# The generated wheelhouses carry the binaries they claim --------------------------------------


def elf_members(wheel: Path, directory: Path) -> list[tuple[str, Path]]:
    """Every member of `wheel` that starts like a binary, extracted under `directory`."""
    found = []
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            with archive.open(name) as member:
                if binary_format(member.read(FORMAT_HEAD_SIZE)) is not None:
                    found.append((name, Path(archive.extract(name, directory))))
    return found


def test_standard_wheelhouse_modules_need_their_tags_glibc_and_machine(tmp_path):
    wheelhouse = standard_wheelhouse(tmp_path / "wheelhouse")

    for wheel in sorted(wheelhouse.glob("*.whl")):
        first_tag = wheel.stem.split("-", 2)[2].split(".")[0]  # python-abi-platform
        for _name, path in elf_members(wheel, tmp_path / wheel.stem):
            facts = read_elf(path)
            assert facts.machine == ("aarch64" if first_tag.endswith("aarch64") else "x86_64"), wheel.name
            assert facts.required_glibc == glibc_floor_of(first_tag), wheel.name


def test_refused_wheelhouse_holds_what_its_names_say(tmp_path):
    wheelhouse = refused_wheelhouse(tmp_path / "refused")
    read = {
        wheel.name.split("-")[0]: elf_members(wheel, tmp_path / wheel.stem) for wheel in wheelhouse.glob("*")
    }

    assert sorted(wheel.name for wheel in wheelhouse.glob("*.whl")) == [
        "hlfix_macbinary-1.0-py3-none-any.whl",
        "hlfix_newglibc-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "hlfix_wrongabi-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "hlfix_wrongarch-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
    ]
    ((_, newglibc),) = read["hlfix_newglibc"]
    assert read_elf(newglibc).required_glibc == (2, 38)
    ((_, wrongarch),) = read["hlfix_wrongarch"]
    assert read_elf(wrongarch).machine == "aarch64"
    ((_, wrongabi),) = read["hlfix_wrongabi"]
    assert read_elf(wrongabi) == ElfFacts("x86_64", 64, (2, 17), ("GLIBC_2.17",))
    formats = {name: binary_format(path.read_bytes()) for name, path in read["hlfix_macbinary"]}
    assert formats == {
        "hlfix_macbinary/libhelper.dylib": "mach-o",
        "hlfix_macbinary/_native.cpython-312-x86_64-linux-gnu.so": "mach-o",
    }


# Real wheels from the index -------------------------------------------------------------------

# label: (requirement, Lambda runtime, Lambda architecture)
REAL_WHEELS = {
    "numpy-cp312-x86_64": ("numpy", "python3.12", "x86_64"),
    "numpy-cp312-aarch64": ("numpy", "python3.12", "arm64"),
    "cryptography-abi3-x86_64": ("cryptography", "python3.12", "x86_64"),
}


@pytest.fixture(scope="session")
def real_wheels(request: pytest.FixtureRequest) -> dict[str, Path]:
    """One wheel per label, downloaded once into the pytest cache (`pytest --cache-clear` renews them)."""
    cache = Path(request.config.cache.mkdir("real-wheels"))
    wheels = {}
    for label, (requirement, runtime_name, architecture) in REAL_WHEELS.items():
        directory = cache / label
        if not list(directory.glob("*.whl")):
            runtime = runtime_named(runtime_name)
            assert runtime is not None
            platforms = [
                option for tag in platform_tags(runtime, architecture) for option in ("--platform", tag)
            ]
            shutil.rmtree(directory, ignore_errors=True)
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
            command += [*platforms, "--python-version", runtime.python_version_text]
            command += ["--disable-pip-version-check", "-d", str(directory), requirement]
            subprocess.run(command, check=True, capture_output=True)
        (wheel,) = directory.glob("*.whl")
        wheels[label] = wheel
    return wheels


def wheel_platform_floor(wheel: Path) -> tuple[int, int]:
    """The lowest glibc among a wheel's platform tags: what it promises to need at most."""
    platforms = wheel.stem.split("-")[-1].split(".")
    return min(glibc_floor_of(f"py3-none-{platform}") for platform in platforms)


@pytest.mark.network
@pytest.mark.skipif(READELF is None, reason="readelf (binutils) is the oracle for real wheels")
@pytest.mark.parametrize("label", list(REAL_WHEELS))
def test_every_elf_file_in_a_real_wheel_reads_as_readelf_reads_it(real_wheels, tmp_path, label):
    wheel = real_wheels[label]
    _requirement, _runtime, architecture = REAL_WHEELS[label]
    members = elf_members(wheel, tmp_path)

    assert members, f"{wheel.name} holds no binaries"
    assert all(binary_format(path.read_bytes()[:FORMAT_HEAD_SIZE]) == "elf" for _, path in members)
    shared_objects = [name for name, _ in members if re.search(r"\.so(\.|$)", name)]
    assert sorted(shared_objects) == sorted(name for name, _ in members)
    for name, path in members:
        facts = read_elf(path)
        assert_agrees_with_readelf(path, facts)
        assert facts.machine == {"x86_64": "x86_64", "arm64": "aarch64"}[architecture], name
        # auditwheel keeps a manylinux wheel's binaries within its tag; a wheel breaking that would be news.
        assert facts.required_glibc is None or facts.required_glibc <= wheel_platform_floor(wheel), name
        assert facts.undated_glibc_needs == (), name


@pytest.mark.network
def test_the_biggest_real_shared_object_is_read_in_a_few_kilobytes(real_wheels, tmp_path):
    members = [
        member for wheel in real_wheels.values() for member in elf_members(wheel, tmp_path / wheel.stem)
    ]
    name, biggest = max(members, key=lambda member: member[1].stat().st_size)
    facts: list[ElfFacts] = []

    started = time.perf_counter()
    read = bytes_read_by(lambda: facts.append(read_elf(biggest)))
    elapsed = time.perf_counter() - started

    assert biggest.stat().st_size > 5_000_000, name
    assert facts[0].machine in {"x86_64", "aarch64"}
    if read is not None:
        assert read < 1_000_000, f"read {read} bytes of {name} ({biggest.stat().st_size} bytes)"
    assert elapsed < 0.5, f"{elapsed:.3f}s for {name}"
