"""Has the project changed since its zips were built? `invoke` runs what was built, not what was edited.

A cheap look, not a proof: the project's Python files and pyproject.toml against the source zip's
modification time, skipping what is never source (hidden directories such as .git and .venv, the
build's output, caches, virtual environments, node_modules).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

_NEVER_SOURCE = {"__pycache__", "node_modules", "build", "site-packages", "venv", "env"}
_SOURCE_SUFFIXES = (".py", ".pyi", ".toml", ".json", ".yaml", ".yml", ".txt", ".cfg")
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
        for name in files:
            seen += 1
            if seen > _MOST_FILES:
                return [path for _, path in sorted(edited, reverse=True)]
            if not name.endswith(_SOURCE_SUFFIXES):
                continue
            path = Path(directory, name)
            try:
                modified = path.stat().st_mtime
            except OSError:
                continue
            if modified > built_at:
                edited.append((modified, path))
    return [path for _, path in sorted(edited, reverse=True)]
