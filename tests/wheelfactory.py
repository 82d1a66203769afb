"""Builds small but real wheels for tests: valid METADATA, WHEEL and RECORD, optional ELF `.so` files.

Wheels are generated, never downloaded, so the suite runs offline. Native wheels carry a minimal
ELF shared-object header with the machine of their platform tag, which is what a loader (and
hatch-lambda's checks) look at first.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ELF_MACHINES = {"x86_64": 62, "aarch64": 183}


def minimal_elf_shared_object(machine: str) -> bytes:
    """A 64-bit little-endian ELF header of type ET_DYN for `machine` (x86_64 or aarch64)."""
    identity = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = struct.pack("<HHIQQQIHHHHHH", 3, ELF_MACHINES[machine], 1, 0, 0, 0, 0, 64, 0, 0, 64, 0, 0)
    return identity + header


@dataclass
class WheelSpec:
    name: str
    version: str
    tags: list[str] = field(default_factory=lambda: ["py3-none-any"])
    files: dict[str, bytes | str] = field(default_factory=dict)
    requires: list[str] = field(default_factory=list)
    entry_points: str = ""

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


def native_wheel(name: str, version: str, tags: list[str]) -> WheelSpec:
    """A wheel with one extension module per platform, reporting its version when imported."""
    module = name.replace("-", "_")
    machine = "aarch64" if tags[0].endswith("aarch64") else "x86_64"
    python_tag = tags[0].split("-")[0]
    return WheelSpec(
        name=name,
        version=version,
        tags=tags,
        files={
            f"{module}/__init__.py": f"VERSION = {version!r}\nPLATFORM_TAGS = {tags!r}\n",
            f"{module}/_speedups.{python_tag}-{machine}-linux-gnu.so": minimal_elf_shared_object(machine),
        },
    )


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
    # 1.0 loads on glibc 2.17 and up; 2.0 needs glibc 2.28, so it is right for python3.12+ only.
    for python in ("cp39", "cp310", "cp311", "cp312", "cp313"):
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
    return directory
