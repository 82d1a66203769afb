"""Sizes against Lambda's limits, and the report of what takes the room."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.files.record import FileToPack

UNZIPPED_LIMIT = 262_144_000  # function code plus all its layers, unzipped (250 MB)
DIRECT_UPLOAD_LIMIT = 52_428_800  # a zip passed in the API call itself (50 MB); larger goes via S3


def check_unzipped_total(parts: Mapping[str, int], *, slim: bool) -> None:
    """Refuse a build whose pieces add up past Lambda's unzipped limit; name each piece's share.

    `slim`: whether `slim = true` is already on, so the advice does not suggest it again.
    """
    total = sum(parts.values())
    if total > UNZIPPED_LIMIT:
        listed = ", ".join(f"{name} {size:,}" for name, size in parts.items())
        smaller = (
            "`exclude-packages`, or `slim-exclude` patterns for what the function never reads"
            if slim
            else "`slim = true`, `exclude-packages`"
        )
        message = (
            f"Unzipped, the function would be {total:,} bytes ({listed}), over Lambda's limit of "
            f"{UNZIPPED_LIMIT:,} bytes (250 MB) for the code and all its layers. Make the layer "
            f"smaller ({smaller}), or ship the function as a container image."
        )
        raise LambdaBuildError(message)


def largest_distributions(
    files: Iterable[FileToPack], owners: Mapping[str, str], prefix: str, count: int = 10
) -> list[tuple[str, int]]:
    sizes: Counter[str] = Counter()
    for file in files:
        relative = file.archive_path.removeprefix(prefix)
        owner = owners.get(relative) or relative.split("/", 1)[0]
        sizes[owner] += file.unzipped_size
    return sizes.most_common(count)


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{size:,} B" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError
