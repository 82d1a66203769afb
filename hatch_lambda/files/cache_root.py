"""Where hatch-lambda keeps what it remembers between builds: one directory for every kind of cache.

`HATCH_LAMBDA_CACHE_DIR`, else `hatch-lambda` in the user cache directory (`$XDG_CACHE_HOME` or
`~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cache_directory() -> Path:
    configured = os.environ.get("HATCH_LAMBDA_CACHE_DIR")
    if configured:
        return Path(configured)
    if sys.platform == "win32":
        return Path(
            os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local", "hatch-lambda", "Cache"
        )
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "hatch-lambda"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "hatch-lambda")
