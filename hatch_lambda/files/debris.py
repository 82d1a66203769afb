"""What an installer leaves behind that has no place in a Lambda zip.

Shared by both sources (the project's wheel and the installed dependency tree), so the two zips
follow one rule. Paths are relative, with `/` separators.
"""

from __future__ import annotations

# Install bookkeeping: RECORD lists files with hashes of a layout we rewrite, the others describe
# how a tool installed the files on this machine (and uv_cache.json holds a timestamp).
INSTALL_RECORDS = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json"})


def is_debris(relative_path: str) -> bool:
    parts = relative_path.split("/")
    if "__pycache__" in parts or parts[-1].endswith((".pyc", ".pyo")):
        return True
    return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in INSTALL_RECORDS


def is_target_directory_debris(relative_path: str) -> bool:
    """Debris of a `--target` install: uv's lock file and the console scripts in `bin/`."""
    parts = relative_path.split("/")
    return parts[0] in {".lock", "bin"} or is_debris(relative_path)
