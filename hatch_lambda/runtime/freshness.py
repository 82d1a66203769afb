"""Has the project changed since its zips were built? `invoke` runs what was built, not what was edited.

A cheap look, not a proof: against the source zip's modification time, the project's Python
files, its pyproject.toml, and the data files inside its packages (directories with an
`__init__.py`, and below them), so an event file written beside the project does not count. What
is never source is skipped: hidden directories such as .git and .venv, the build's output, caches,
node_modules.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

_NEVER_SOURCE = {"__pycache__", "node_modules", "build", "site-packages", "venv", "env"}
_CODE_SUFFIXES = (".py", ".pyi")
# Beyond this many files the look stops: it must never slow `invoke` down noticeably.
_MOST_FILES = 20_000


def edited_since(project: Path, built: Path, *, skip: Sequence[Path] = ()) -> list[Path]:
    """The project's source files modified after `built` was written, newest first."""
    try:
        built_at = built.stat().st_mtime
    except OSError:
        return []
    skipped = {os.path.realpath(path) for path in skip}
    edited: list[tuple[float, Path]] = []
    packages: set[str] = set()
    seen = 0
    for directory, subdirectories, files in os.walk(project):
        subdirectories[:] = [
            name
            for name in subdirectories
            if not name.startswith(".")
            and name not in _NEVER_SOURCE
            and not name.endswith(".egg-info")
            and os.path.realpath(os.path.join(directory, name)) not in skipped
        ]
        # Data beside a package's modules, at any depth below it (templates/, data/ ...).
        in_package = "__init__.py" in files or os.path.dirname(directory) in packages
        if in_package:
            packages.add(directory)
        at_root = os.path.samefile(directory, project)
        for name in files:
            seen += 1
            if seen > _MOST_FILES:
                return [path for _, path in sorted(edited, reverse=True)]
            if not (name.endswith(_CODE_SUFFIXES) or in_package or (at_root and name == "pyproject.toml")):
                continue
            path = Path(directory, name)
            try:
                modified = path.stat().st_mtime
            except OSError:
                continue
            if modified > built_at:
                edited.append((modified, path))
    return [path for _, path in sorted(edited, reverse=True)]
