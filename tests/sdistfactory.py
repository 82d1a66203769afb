"""Builds small source distributions for tests, each carrying its own in-tree PEP 517 backend.

The backend needs nothing installed (`requires = []`, `backend-path = ["."]`), so uv can build the
sdist offline with build isolation. A "native" sdist builds a wheel tagged for the building
interpreter's platform (`linux_x86_64`), as a C extension built on the host would be.
"""

from __future__ import annotations

import io
import tarfile
import textwrap
from pathlib import Path

BACKEND = """
import base64, hashlib, os, sys, sysconfig, zipfile

NAME, VERSION, NATIVE = {name!r}, {version!r}, {native!r}
DIST = NAME.replace("-", "_")


def _tag():
    if not NATIVE:
        return "py3-none-any"
    python = "cp%d%d" % sys.version_info[:2]
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return "%s-%s-%s" % (python, python, platform)


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    tag = _tag()
    dist_info = "%s-%s.dist-info" % (DIST, VERSION)
    files = {{
        DIST + "/__init__.py": "BUILT_FROM_SOURCE = True\\n",
        dist_info + "/METADATA": "Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n\\n" % (NAME, VERSION),
        dist_info + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: inline\\nRoot-Is-Purelib: %s\\nTag: %s\\n"
        % ("false" if NATIVE else "true", tag),
    }}
    record = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
        record.append("%s,sha256=%s,%d" % (path, digest, len(data)))
    record.append(dist_info + "/RECORD,,")
    files[dist_info + "/RECORD"] = "\\n".join(record) + "\\n"
    name = "%s-%s-%s.whl" % (DIST, VERSION, tag)
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return name
"""


def write_sdist(name: str, version: str, directory: Path, *, native: bool = False) -> Path:
    distribution = name.replace("-", "_")
    root = f"{distribution}-{version}"
    files = {
        "pyproject.toml": textwrap.dedent(
            f"""\
            [build-system]
            requires = []
            build-backend = "inline_backend"
            backend-path = ["."]

            [project]
            name = "{name}"
            version = "{version}"
            """
        ),
        "inline_backend.py": BACKEND.format(name=name, version=version, native=native),
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    }
    path = directory / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for relative, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{root}/{relative}")
            info.size = len(data)
            info.mtime = 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return path
