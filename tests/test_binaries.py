"""hatch_lambda.platform.binaries: binary formats from first bytes, and ELF machines and glibc needs.

binutils' `readelf -h`, `-d` and `-V` are the oracle: every ELF file read here, generated, compiled
with gcc or taken from a real wheel, is also read by readelf, and the two must agree. readelf -V
reads section headers, which the loader never does, so a file whose section headers are stripped
or retyped is compared with its unstripped twin and with `readelf -d` (which follows PT_DYNAMIC).
The generated files cover the layouts (32/64-bit, both byte orders, no sections, extended
numbering, a load address) and the damage (truncation, bad offsets, loops) offline; the `network`
tests download real manylinux wheels from the index once per pytest cache and check every ELF file
inside them.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zipfile
from functools import partial
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
GCC = shutil.which("gcc")
CI = os.environ.get("CI") == "true"
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


def readelf_version_needs(path: Path) -> list[tuple[str, bool]]:
    """(name, weak) from readelf's "Version needs" section only (not verdef, not the symbol list)."""
    names = []
    in_needs = False
    for line in readelf("-V", path).splitlines():
        if line.startswith("Version needs section"):
            in_needs = True
        elif line.startswith("Version") or not line.strip():
            in_needs = False
        elif in_needs and (found := re.match(r"\s*0x[0-9a-f]+:\s+Name: (\S+)\s+Flags: (\S+)", line)):
            names.append((found[1], "WEAK" in found[2]))
    return names


def readelf_dynamic(path: Path) -> dict[str, str]:
    """`readelf -d` as a mapping of tag name (`VERNEED`, `VERNEEDNUM`, `STRTAB`) to its value."""
    tags = {}
    for line in readelf("-d", path).splitlines():
        if found := re.match(r"\s*0x[0-9a-f]+ \((\w+)\)\s+(.*)$", line):
            tags.setdefault(found[1], found[2].strip())
    return tags


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


def assert_agrees_with_readelf(
    path: Path, facts: ElfFacts, machine: str | None = None, *, sections_of: Path | None = None
) -> None:
    """`machine` is readelf's plain machine name when the reader names a variant (x32, ppc64le...).

    `sections_of` is the unstripped twin whose section headers show what `path` needs.
    """
    if READELF is None:
        return
    header = readelf_header(path)
    assert readelf_machine(path) == (machine or facts.machine)
    assert header["Class"] == f"ELF{facts.elf_class}"
    needs = readelf_version_needs(sections_of or path)
    hard = [name for name, weak in needs if not weak]
    assert facts.version_needs == tuple(dict.fromkeys(hard))
    assert facts.weak_version_needs == tuple(
        dict.fromkeys(name for name, weak in needs if weak and name not in hard)
    )
    assert facts.required_glibc == readelf_required_glibc(hard)
    dynamic = readelf_dynamic(path)
    if facts.loadable and needs and dynamic:
        # The loader's view: readelf follows PT_DYNAMIC to the same version needs.
        libraries = {line for line in readelf("-V", sections_of or path).splitlines() if "File:" in line}
        assert int(dynamic["VERNEEDNUM"]) == len(libraries)
        assert "VERNEED" in dynamic


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


# The loader's view: PT_DYNAMIC, not section headers -----------------------------------------


def test_stripped_section_headers_hide_nothing(tmp_path):
    """`e_shoff = e_shnum = 0`: ld.so still reads GLIBC_2.38 through PT_DYNAMIC, and so must we."""
    twin = write(tmp_path / "twin.so", elf_shared_object("aarch64", ("GLIBC_2.17", "GLIBC_2.38")))
    path = write(
        tmp_path / "stripped.so",
        elf_shared_object("aarch64", ("GLIBC_2.17", "GLIBC_2.38"), section_headers=False),
    )

    facts = read_elf(path)

    assert facts == ElfFacts("aarch64", 64, (2, 38), ("GLIBC_2.17", "GLIBC_2.38"))
    assert readelf_header(path)["Number of section headers"] == "0"
    assert_agrees_with_readelf(path, facts, sections_of=twin)


def test_a_retyped_version_needs_section_hides_nothing(tmp_path):
    """`.gnu.version_r` retyped to SHT_PROGBITS: readelf -V sees no needs, the loader still does."""
    path = write(
        tmp_path / "retyped.so", elf_shared_object("x86_64", ("GLIBC_2.38",), verneed_section_type=1)
    )

    facts = read_elf(path)

    assert facts.required_glibc == (2, 38)
    if READELF is not None:
        assert readelf_version_needs(path) == []
        assert readelf_dynamic(path)["VERNEEDNUM"] == "1"


@pytest.mark.parametrize("elf_class", [32, 64])
def test_addresses_are_mapped_to_offsets_through_pt_load(tmp_path, elf_class):
    """DT_VERNEED and DT_STRTAB are virtual addresses: here the file is mapped at 0x10000."""
    data = elf_shared_object("x86_64", ("GLIBC_2.28",), elf_class=elf_class, load_address=0x10000)
    path = write(tmp_path / "based.so", data)

    facts = read_elf(path)

    assert facts.required_glibc == (2, 28)
    assert_agrees_with_readelf(path, facts, "x86_64")
    if READELF is not None:
        assert int(readelf_dynamic(path)["VERNEED"], 16) > 0x10000


def test_weak_version_needs_require_nothing(tmp_path):
    """VER_FLG_WEAK: ld.so loads the file when the version is missing, so it sets no glibc floor."""
    path = write(
        tmp_path / "weak.so",
        elf_shared_object(
            "x86_64",
            ("GLIBC_2.17", "GLIBC_2.38", "GLIBC_PRIVATE"),
            other_needs={"libm.so.6": ["GLIBC_2.29"]},
            weak_versions=("GLIBC_2.38", "GLIBC_PRIVATE", "GLIBC_2.29"),
        ),
    )

    facts = read_elf(path)

    assert facts.version_needs == ("GLIBC_2.17",)
    assert facts.weak_version_needs == ("GLIBC_2.38", "GLIBC_PRIVATE", "GLIBC_2.29")
    assert facts.required_glibc == (2, 17)
    assert facts.undated_glibc_needs == ()
    assert_agrees_with_readelf(path, facts)


@pytest.mark.parametrize(
    ("options", "file_type"),
    [
        ({"file_type": 1, "segments": "none"}, "relocatable object (ET_REL, a `.o` file)"),
        ({"file_type": 4}, "core dump (ET_CORE)"),
        ({"file_type": 0}, "ELF file of no type (ET_NONE)"),
        ({"segments": "none"}, "shared object without loadable segments"),
        ({"file_type": 2, "segments": "none"}, "executable without loadable segments"),
    ],
)
def test_elf_files_no_loader_maps_are_data(tmp_path, options, file_type):
    """Relocatable objects, core dumps and segment-less files: reported as such, needs unread."""
    path = write(tmp_path / "thing.o", elf_shared_object("aarch64", ("GLIBC_2.38",), **options))

    facts = read_elf(path)

    assert (facts.loadable, facts.file_type, facts.machine) == (False, file_type, "aarch64")
    assert facts.required_glibc is None
    if READELF is not None:
        assert readelf_header(path)["Type"].startswith(
            {0: "NONE", 1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE"}[options.get("file_type", 3)]
        )


def test_an_executable_is_read_like_a_shared_object(tmp_path):
    path = write(tmp_path / "tool", elf_shared_object("x86_64", ("GLIBC_2.34",), file_type=2))

    facts = read_elf(path)

    assert (facts.loadable, facts.file_type, facts.required_glibc) == (True, "executable", (2, 34))
    assert_agrees_with_readelf(path, facts)


def test_without_a_dynamic_segment_the_section_headers_are_read(tmp_path):
    """PT_LOAD but no PT_DYNAMIC: the sections are the only view of the needs, so they count."""
    path = write(tmp_path / "odd.so", elf_shared_object("x86_64", ("GLIBC_2.38",), segments="load"))

    facts = read_elf(path)

    assert facts.required_glibc == (2, 38)
    assert_agrees_with_readelf(path, facts)


def test_a_shared_object_with_neither_view_is_unreadable(tmp_path):
    path = write(
        tmp_path / "blind.so",
        elf_shared_object("x86_64", ("GLIBC_2.38",), segments="load", section_headers=False),
    )

    with pytest.raises(UnreadableBinaryError, match="neither a dynamic segment nor section headers"):
        read_elf(path)


def test_the_header_only_object_of_older_tests_is_data(tmp_path):
    path = write(tmp_path / "module.so", minimal_elf_shared_object("aarch64"))

    assert read_elf(path) == ElfFacts(
        "aarch64", 64, None, (), (), "shared object without loadable segments", loadable=False
    )


def test_a_big_file_is_read_by_seeking_to_its_headers(tmp_path):
    """8 MB of padding between the header and the sections: read_elf must not read through it."""
    path = write(tmp_path / "big.so", elf_shared_object("x86_64", ("GLIBC_2.28",), padding=8 * 1024 * 1024))
    facts: list[ElfFacts] = []

    read = bytes_read_by(lambda: facts.append(read_elf(path)))

    assert facts[0].required_glibc == (2, 28)
    assert_agrees_with_readelf(path, facts[0])
    if read is not None:
        assert read < 64 * 1024


# A real shared object compiled here: gcc and ld write the layout ------------------------------


@pytest.fixture(scope="module")
def compiled_module(tmp_path_factory) -> Path:
    """A module linked against a stand-in `libc.so.6` whose version script defines GLIBC_2.38 (and
    GLIBC_2.99 for a second need), so the linker writes a need for a glibc this host lacks."""
    if GCC is None:
        if CI:
            pytest.fail("gcc is needed to compile the test's shared objects")
        pytest.skip("gcc is needed to compile the test's shared objects")
    directory = tmp_path_factory.mktemp("gcc")
    (directory / "fakec.c").write_text(
        "int new_in_238(void) { return 238; }\nint new_in_299(void) { return 299; }\n"
    )
    (directory / "fakec.map").write_text(
        "GLIBC_2.38 { global: new_in_238; };\nGLIBC_2.99 { global: new_in_299; };\n"
    )
    (directory / "module.c").write_text(
        "extern int new_in_238(void);\nextern int new_in_299(void);\n"
        "int call(void) { return new_in_238() + new_in_299(); }\n"
    )
    run = partial(subprocess.run, check=True, cwd=directory, capture_output=True)
    run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-o",
            "libfakec.so",
            "fakec.c",
            "-Wl,-soname,libc.so.6",
            "-Wl,--version-script=fakec.map",
        ]
    )
    run(["gcc", "-shared", "-fPIC", "-o", "module.so", "module.c", "-L.", "-l:libfakec.so"])
    return directory / "module.so"


def stripped_of_section_headers(data: bytes) -> bytes:
    """e_shoff, e_shnum and e_shstrndx zeroed, as `sstrip`-like tools leave a 64-bit LE file."""
    return patched(patched(patched(data, 0x28, bytes(8)), 0x3C, bytes(2)), 0x3E, bytes(2))


def retyped_version_needs(data: bytes) -> bytes:
    section_header, _offset = verneed_section(data)
    return patched(data, section_header + 4, struct.pack("<I", 1))  # SHT_PROGBITS


def compiled_needs_patched_weak(data: bytes, name: bytes) -> bytes:
    """Set VER_FLG_WEAK on the Elf_Vernaux naming `name` in a 64-bit LE file with sections."""
    _header, verneed = verneed_section(data)
    strings = dynstr_of(data)
    aux = verneed + struct.unpack_from("<I", data, verneed + 8)[0]
    while True:
        if strings[struct.unpack_from("<I", data, aux + 8)[0] :].startswith(name + b"\0"):
            return patched(data, aux + 4, struct.pack("<H", 2))
        aux += struct.unpack_from("<I", data, aux + 12)[0]


def dynstr_of(data: bytes) -> bytes:
    header, _offset = verneed_section(data)
    shoff, entsize, _count = section_header_table(data)
    link = struct.unpack_from("<I", data, header + 40)[0]
    strings_header = shoff + link * entsize
    offset, size = struct.unpack_from("<QQ", data, strings_header + 24)
    return data[offset : offset + size]


def test_a_compiled_module_reads_as_readelf_reads_it(compiled_module):
    facts = read_elf(compiled_module)

    assert facts.required_glibc == (2, 99)
    assert set(facts.version_needs) == {"GLIBC_2.38", "GLIBC_2.99"}
    assert_agrees_with_readelf(compiled_module, facts)


@pytest.mark.parametrize("change", [stripped_of_section_headers, retyped_version_needs])
def test_a_compiled_module_keeps_its_needs_when_its_sections_lie(tmp_path, compiled_module, change):
    path = write(tmp_path / "module.so", change(compiled_module.read_bytes()))

    facts = read_elf(path)

    assert facts == read_elf(compiled_module)
    assert_agrees_with_readelf(path, facts, sections_of=compiled_module)


def test_a_compiled_modules_weak_need_is_not_required(tmp_path, compiled_module):
    path = write(
        tmp_path / "module.so", compiled_needs_patched_weak(compiled_module.read_bytes(), b"GLIBC_2.99")
    )

    facts = read_elf(path)

    assert (facts.version_needs, facts.weak_version_needs, facts.required_glibc) == (
        ("GLIBC_2.38",),
        ("GLIBC_2.99",),
        (2, 38),
    )
    assert_agrees_with_readelf(path, facts)


def test_a_compiled_object_file_is_data(tmp_path, compiled_module):
    subprocess.run(
        ["gcc", "-c", "-fPIC", "-o", "module.o", "module.c"], check=True, cwd=compiled_module.parent
    )

    facts = read_elf(compiled_module.parent / "module.o")

    assert (facts.loadable, facts.file_type) == (False, "relocatable object (ET_REL, a `.o` file)")
    assert readelf_header(compiled_module.parent / "module.o")["Type"].startswith("REL")


# Damaged files: always UnreadableBinaryError, naming the file ---------------------------------


@pytest.mark.parametrize("elf_class", [32, 64])
@pytest.mark.parametrize("big_endian", [False, True], ids=["little-endian", "big-endian"])
def test_every_truncation_of_the_loaded_image_is_a_typed_error(tmp_path, elf_class, big_endian):
    whole = elf_shared_object(
        "x86_64",
        ("GLIBC_2.17",),
        other_needs={"libstdc++.so.6": ["GLIBCXX_3.4"]},
        elf_class=elf_class,
        big_endian=big_endian,
    )
    path = write(tmp_path / "whole.so", whole)
    facts = read_elf(path)
    loaded = loaded_image_size(whole, elf_class, ">" if big_endian else "<")
    for length in range(len(whole)):
        path.write_bytes(whole[:length])
        if length < loaded:
            with pytest.raises(UnreadableBinaryError) as raised:
                read_elf(path)
            assert raised.value.path == path
            assert str(path) in str(raised.value)
        else:
            # Only the section headers, which the loader never reads, are cut.
            assert read_elf(path) == facts


def loaded_image_size(data: bytes, elf_class: int, order: str) -> int:
    """p_filesz of the first program header, the PT_LOAD the generator maps the file with."""
    if elf_class == 64:
        (phoff,) = struct.unpack_from(order + "Q", data, 0x20)
        return struct.unpack_from(order + "Q", data, phoff + 32)[0]
    (phoff,) = struct.unpack_from(order + "I", data, 0x1C)
    return struct.unpack_from(order + "I", data, phoff + 16)[0]


def section_header_table(data: bytes) -> tuple[int, int, int]:
    """(e_shoff, e_shentsize, e_shnum) of a 64-bit little-endian file."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    entsize, count = struct.unpack_from("<HH", data, 0x3A)
    return shoff, entsize, count


def patched(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def verneed_section(data: bytes) -> tuple[int, int]:
    """(header offset, sh_offset) of the `.gnu.version_r` section of a 64-bit LE file."""
    shoff, entsize, count = section_header_table(data)
    for index in range(count):
        header = shoff + index * entsize
        if struct.unpack_from("<I", data, header + 4)[0] == 0x6FFFFFFE:
            return header, struct.unpack_from("<Q", data, header + 24)[0]
    raise AssertionError("no .gnu.version_r")


def program_header(data: bytes, kind: int) -> int:
    """The offset of the first program header of type `kind` in a 64-bit LE file."""
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    entsize, count = struct.unpack_from("<HH", data, 0x36)
    for index in range(count):
        if struct.unpack_from("<I", data, phoff + index * entsize)[0] == kind:
            return phoff + index * entsize
    raise AssertionError(f"no program header of type {kind}")


def dynamic_entry(data: bytes, tag: int) -> int:
    """The offset of the dynamic entry with `tag` in a generated 64-bit LE file (mapped at 0)."""
    offset = struct.unpack_from("<Q", data, program_header(data, 2) + 8)[0]
    while True:
        if struct.unpack_from("<q", data, offset)[0] == tag:
            return offset
        offset += 16


DT_STRTAB, DT_STRSZ, DT_VERNEED, DT_VERNEEDNUM = 5, 10, 0x6FFFFFFE, 0x6FFFFFFF


def damage_loader_view(data: bytes, how: str) -> bytes:
    _section_header, verneed = verneed_section(data)
    load, dynamic = program_header(data, 1), program_header(data, 2)
    if how == "not ELF":
        return b"\x7fELG" + data[4:]
    if how == "unknown class":
        return patched(data, 4, b"\x03")
    if how == "unknown data encoding":
        return patched(data, 5, b"\x00")
    if how == "program header entries too small":
        return patched(data, 0x36, struct.pack("<H", 16))
    if how == "program header table past the end":
        return patched(data, 0x20, struct.pack("<Q", len(data)))
    if how == "program header offset at 2**64-1":
        return patched(data, 0x20, struct.pack("<Q", 2**64 - 1))
    if how == "extended program header count without sections":
        return patched(patched(data, 0x38, struct.pack("<H", 0xFFFF)), 0x28, bytes(8))
    if how == "loaded segment past the end":
        return patched(data, load + 32, struct.pack("<Q", len(data) + 1))
    if how == "dynamic segment outside the loaded image":
        return patched(data, dynamic + 16, struct.pack("<Q", 0x900000))
    if how == "no DT_NULL":
        return patched(data, dynamic + 32, struct.pack("<Q", 16))
    if how == "DT_VERNEED outside the loaded image":
        return patched(data, dynamic_entry(data, DT_VERNEED) + 8, struct.pack("<Q", 2**63))
    if how == "no DT_STRTAB":
        return patched(data, dynamic_entry(data, DT_STRTAB), struct.pack("<q", 0x7FFF0000))
    if how == "DT_STRSZ past the segment":
        return patched(data, dynamic_entry(data, DT_STRSZ) + 8, struct.pack("<Q", 2**40))
    if how == "DT_VERNEEDNUM disagrees with the chain":
        return patched(data, dynamic_entry(data, DT_VERNEEDNUM) + 8, struct.pack("<Q", 5))
    if how == "vn_cnt disagrees with the chain":
        return patched(data, verneed + 2, struct.pack("<H", 1000))
    if how == "unknown Verneed version":
        return patched(data, verneed, struct.pack("<H", 2))
    if how == "aux offset out of the image":
        return patched(data, verneed + 8, struct.pack("<I", 4096))
    if how == "next entry out of the image":
        return patched(data, verneed + 12, struct.pack("<I", 2**32 - 16))
    if how == "name outside the string table":
        return patched(data, verneed + 16 + 8, struct.pack("<I", 10_000))
    raise AssertionError(how)


LOADER_VIEW_DAMAGE = [
    "not ELF",
    "unknown class",
    "unknown data encoding",
    "program header entries too small",
    "program header table past the end",
    "program header offset at 2**64-1",
    "extended program header count without sections",
    "loaded segment past the end",
    "dynamic segment outside the loaded image",
    "no DT_NULL",
    "DT_VERNEED outside the loaded image",
    "no DT_STRTAB",
    "DT_STRSZ past the segment",
    "DT_VERNEEDNUM disagrees with the chain",
    "vn_cnt disagrees with the chain",
    "unknown Verneed version",
    "aux offset out of the image",
    "next entry out of the image",
    "name outside the string table",
]


@pytest.mark.parametrize("how", LOADER_VIEW_DAMAGE)
def test_damage_to_what_the_loader_reads_is_a_typed_error(tmp_path, how):
    whole = elf_shared_object(
        "x86_64", ("GLIBC_2.17", "GLIBC_2.28"), other_needs={"libm.so.6": ["GLIBC_2.29"]}
    )
    path = write(tmp_path / "damaged.so", damage_loader_view(whole, how))

    with pytest.raises(UnreadableBinaryError) as raised:
        read_elf(path)

    assert isinstance(raised.value, LambdaBuildError)
    assert raised.value.reason
    assert f"`{path}`" in str(raised.value)


def test_a_chain_that_loops_is_a_typed_error(tmp_path):
    """ELF32 offsets wrap at 2**32: a vna_next of 2**32-16 steps back to the previous record."""
    whole = bytearray(elf_shared_object("i386", ("GLIBC_2.17", "GLIBC_2.28"), elf_class=32))
    verneed = None
    (shoff,) = struct.unpack_from("<I", whole, 0x20)
    entsize, count = struct.unpack_from("<HH", whole, 0x2E)
    for index in range(count):
        header = shoff + index * entsize
        if struct.unpack_from("<I", whole, header + 4)[0] == 0x6FFFFFFE:
            verneed = struct.unpack_from("<I", whole, header + 16)[0]
    assert verneed is not None
    second_aux = verneed + 32
    whole[second_aux + 12 : second_aux + 16] = struct.pack("<I", 2**32 - 16)
    path = write(tmp_path / "loop.so", bytes(whole))

    with pytest.raises(UnreadableBinaryError, match="loops back"):
        read_elf(path)


def damage_sections(data: bytes, how: str) -> bytes:
    section_header, _verneed = verneed_section(data)
    shoff, _entsize, _count = section_header_table(data)
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
    raise AssertionError(how)


SECTION_DAMAGE = [
    "section entries too small",
    "section table past the end",
    "section table offset at 2**64-1",
    "extended count too big",
    "link to no section",
    "link to the null section",
    "section data past the end",
]


@pytest.mark.parametrize("how", SECTION_DAMAGE)
def test_damaged_section_headers_are_ignored_beside_a_dynamic_segment(tmp_path, how):
    """The loader never reads section headers, so their damage changes nothing it needs."""
    whole = elf_shared_object("x86_64", ("GLIBC_2.17", "GLIBC_2.28"))
    path = write(tmp_path / "damaged.so", damage_sections(whole, how))

    assert read_elf(path) == ElfFacts("x86_64", 64, (2, 28), ("GLIBC_2.17", "GLIBC_2.28"))


@pytest.mark.parametrize("how", SECTION_DAMAGE)
def test_damaged_section_headers_are_a_typed_error_when_they_are_the_only_view(tmp_path, how):
    whole = elf_shared_object("x86_64", ("GLIBC_2.17", "GLIBC_2.28"), segments="load")
    path = write(tmp_path / "damaged.so", damage_sections(whole, how))

    with pytest.raises(UnreadableBinaryError) as raised:
        read_elf(path)

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
        "hlfix_launchers-1.0-py3-none-any.whl",
        "hlfix_macbinary-1.0-py3-none-any.whl",
        "hlfix_newglibc-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "hlfix_retyped-1.0-cp39-abi3-manylinux_2_17_x86_64.whl",
        "hlfix_stripped-1.0-cp39-abi3-manylinux_2_17_x86_64.whl",
        "hlfix_wrongabi-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "hlfix_wrongarch-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
    ]
    for hidden in ("hlfix_stripped", "hlfix_retyped"):
        ((_, module),) = read[hidden]
        assert read_elf(module).required_glibc == (2, 38)
        assert READELF is None or readelf_version_needs(module) == []
    launchers = {name: binary_format(path.read_bytes()) for name, path in read["hlfix_launchers"]}
    assert sorted(launchers.values()) == ["elf", "mach-o", "pe", "pe", "pe"]
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
