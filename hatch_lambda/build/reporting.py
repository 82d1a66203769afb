"""What the build tells the user: one line per step, with counts, sizes and times."""

from __future__ import annotations

import sys
from typing import Protocol

from hatch_lambda.archive.reproducible_zip import WrittenZip
from hatch_lambda.platform.limits import DIRECT_UPLOAD_LIMIT, human


class Reporter(Protocol):
    """The part of hatchling's `app` the build uses."""

    def display_info(self, message: str = "", **kwargs: object) -> None: ...

    def display_warning(self, message: str = "", **kwargs: object) -> None: ...

    def display_waiting(self, message: str = "", **kwargs: object) -> None: ...


def counted(count: int, noun: str) -> str:
    """`1 package`, `3 packages`: the count with its noun, singular when it is one."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def waiting(reporter: Reporter, message: str) -> None:
    """Say a long step is under way, on a terminal only: in CI, each step's one line with its counts
    and time, printed when it ends, is the record."""
    if sys.stdout.isatty():
        reporter.display_waiting(message)


def report_zip(reporter: Reporter, written: WrittenZip, largest: list[tuple[str, int]] | None = None) -> None:
    reporter.display_info(
        f"Wrote {written.path.name}: {written.file_count} files, {human(written.zipped_size)} zipped, "
        f"{human(written.unzipped_size)} unzipped"
    )
    if written.zipped_size > DIRECT_UPLOAD_LIMIT:
        reporter.display_info(
            f"Note: {written.path.name} is over 50 MB zipped, so Lambda accepts it only through S3 "
            "(upload it to a bucket and pass S3Bucket/S3Key), not in the API call itself."
        )
    if largest:
        reporter.display_info(
            "Largest packages: " + ", ".join(f"{name} {human(size)}" for name, size in largest)
        )
