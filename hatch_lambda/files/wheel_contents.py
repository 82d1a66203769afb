"""The project's own wheel, laid out the way `pip install --no-deps --target DIR` would lay it out.

Packages and modules stay at the root, `*.data/purelib` and `*.data/platlib` move to the root, the
`.dist-info` directory stays (so `importlib.metadata` works in Lambda) minus install records.
Scripts, data and headers have no place on Lambda's import path: they are left out and reported.
"""

from __future__ import annotations

import email.parser
import zipfile
from functools import partial
from pathlib import Path
from typing import NamedTuple

from hatch_lambda.errors import FirstPartyBinaryError, UnsafeZipPathError
from hatch_lambda.files.debris import is_debris
from hatch_lambda.files.record import FileToPack, ZipDateTime

IMPORTABLE_SCHEMES = frozenset({"purelib", "platlib"})


class WheelInstallPlan(NamedTuple):
    files: list[FileToPack]
    left_out: list[str]  # wheel paths of scripts, data and headers, which Lambda cannot use
    requires: list[str]  # the wheel's own `Requires-Dist`, as its METADATA lists them


def plan_target_install(wheel: Path) -> WheelInstallPlan:
    with zipfile.ZipFile(wheel) as archive:
        dist_info, data_dir = _special_directories(archive)
        _refuse_platform_wheel(archive, dist_info, wheel.name)
        files: list[FileToPack] = []
        left_out: list[str] = []
        for info in archive.infolist():
            if info.is_dir() or is_debris(info.filename):
                continue
            destination = _destination(info.filename, data_dir)
            if destination is None:
                left_out.append(info.filename)
                continue
            try:
                file = FileToPack(
                    archive_path=destination,
                    # A project's own wheel is small: read it now, while the archive is open.
                    read=partial(bytes, archive.read(info.filename)),
                    executable=bool((info.external_attr >> 16) & 0o100),
                    modified=_zip_date_time(info),
                    size=info.file_size,
                )
            except UnsafeZipPathError as error:
                origin = (
                    f"the wheel `{wheel.name}` (check `force-include` and `sources` in its "
                    "`[tool.hatch.build.targets.wheel]`)"
                )
                raise UnsafeZipPathError(error.archive_path, error.reason, origin) from None
            files.append(file)
        metadata = email.parser.BytesHeaderParser().parsebytes(archive.read(f"{dist_info}/METADATA"))
    return WheelInstallPlan(
        files=files, left_out=sorted(left_out), requires=metadata.get_all("Requires-Dist") or []
    )


def _special_directories(archive: zipfile.ZipFile) -> tuple[str, str]:
    top_level = {name.split("/", 1)[0] for name in archive.namelist()}
    dist_infos = [name for name in top_level if name.endswith(".dist-info")]
    if len(dist_infos) != 1:
        message = f"Expected one .dist-info directory in the wheel, found: {sorted(dist_infos)}"
        raise ValueError(message)
    dist_info = dist_infos[0]
    return dist_info, dist_info[: -len(".dist-info")] + ".data"


def _refuse_platform_wheel(archive: zipfile.ZipFile, dist_info: str, wheel_name: str) -> None:
    wheel_metadata = email.parser.Parser().parsestr(archive.read(f"{dist_info}/WHEEL").decode("utf-8"))
    if wheel_metadata.get("Root-Is-Purelib", "true").strip().lower() != "true":
        raise FirstPartyBinaryError(wheel_name)


def _destination(wheel_path: str, data_dir: str) -> str | None:
    """Where a wheel member lands in a `--target` install, or None when Lambda has no use for it."""
    if not wheel_path.startswith(data_dir + "/"):
        return wheel_path
    scheme, _, rest = wheel_path[len(data_dir) + 1 :].partition("/")
    return rest if scheme in IMPORTABLE_SCHEMES and rest else None


def _zip_date_time(info: zipfile.ZipInfo) -> ZipDateTime:
    year, month, day, hour, minute, second = info.date_time
    return (year, month, day, hour, minute, second)
