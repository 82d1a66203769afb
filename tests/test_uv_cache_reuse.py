"""Cold layer builds take wheels from uv's cache: the cache does not grow with every build.

uv keeps a downloaded wheel as long as the server's HTTP caching headers allow. An index or mirror
that sends none (no `Cache-Control`, `ETag` or `Last-Modified`) makes an online `uv pip install`
of a pylock download and unpack every wheel again into new cache entries. The server here is such
a mirror, on localhost.
"""

from __future__ import annotations

import hashlib
import html
import os
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.helpers import clean_environment, output_of, run_hatchling, write_project
from tests.wheelfactory import WheelSpec, write_wheel

BULK_BYTES = 2 * 1024 * 1024  # per wheel: what a second download would add to the cache, unpacked


class _MirrorWithoutCacheHeaders(BaseHTTPRequestHandler):
    """A PEP 503 index at `/simple/`, its files at `/files/` (as PyPI has them on another host),
    with no header that would let uv keep anything fresh."""

    directory: Path

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _answer(self, *, with_body: bool) -> None:
        if self.path.startswith("/simple/"):
            project = canonicalize_name(self.path.removeprefix("/simple/").strip("/"))
            links = "".join(
                f'<a href="/files/{html.escape(path.name)}#sha256={_sha256(path)}">{path.name}</a>\n'
                for path in sorted(self.directory.iterdir())
                if canonicalize_name(path.name.split("-")[0]) == project
            )
            self._send(
                f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode(), "text/html", with_body
            )
            return
        path = self.directory / self.path.removeprefix("/files/")
        if not self.path.startswith("/files/") or not path.is_file():
            self.send_error(404)
            return
        self._send(path.read_bytes(), "application/octet-stream", with_body)

    def _send(self, body: bytes, content_type: str, with_body: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[str]:
    """An index URL serving two generated wheels, one of them a few MiB that do not compress."""
    directory = tmp_path / "mirror"
    directory.mkdir()
    noise = random.Random(16).randbytes(BULK_BYTES)
    write_wheel(
        WheelSpec("hlfix-bulk", "1.0", files={"hlfix_bulk/blob.bin": noise}, requires=["hlfix-leaf"]),
        directory,
    )
    write_wheel(WheelSpec("hlfix-leaf", "1.0", files={"hlfix_leaf.py": "NAME = 'leaf'\n"}), directory)
    handler = type("Handler", (_MirrorWithoutCacheHeaders,), {"directory": directory})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def cache_bytes(directory: Path) -> int:
    return sum(
        os.lstat(Path(current, name)).st_size for current, _, names in os.walk(directory) for name in names
    )


def unpacked_wheels(uv_cache: Path) -> dict[str, tuple[int, bytes]]:
    """Mode and bytes of every file of the wheels uv unpacked into its cache."""
    archives = uv_cache / "archive-v0"
    return {
        path.relative_to(archives).as_posix(): (path.stat().st_mode, path.read_bytes())
        for path in sorted(archives.rglob("*"))
        if path.is_file()
    }


def test_a_second_cold_build_takes_every_wheel_from_uv_s_cache(tmp_path, mirror):
    root = write_project(
        tmp_path / "app",
        {
            "pyproject.toml": """
                [project]
                name = "bulk-app"
                version = "1.0"
                dependencies = ["hlfix-bulk"]

                [tool.hatch.build.targets.wheel]
                packages = ["bulk_app"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
            """,
            "bulk_app/__init__.py": "",
        },
    )
    uv_cache = tmp_path / "uv-cache"
    layers = []
    grown = []
    unpacked = []
    for build in ("first", "second"):
        environment = clean_environment(
            UV_DEFAULT_INDEX=mirror,
            UV_CACHE_DIR=str(uv_cache),
            HATCH_LAMBDA_CACHE_DIR=str(tmp_path / f"layer-cache-{build}"),  # empty: a cold build
        )
        before = cache_bytes(uv_cache) if uv_cache.exists() else 0
        completed = run_hatchling(root, "lambda:layer", environment=environment)
        assert completed.returncode == 0, output_of(completed)
        grown.append(cache_bytes(uv_cache) - before)
        unpacked.append(unpacked_wheels(uv_cache))
        (layer,) = (root / "dist").glob("*-lambda-layer-*.zip")
        layers.append(layer.read_bytes())
        layer.unlink()

    # The first build downloads (the offline attempt finds nothing, then uv goes online) ...
    assert grown[0] > BULK_BYTES
    # ... the second reads what the first left; the index page and the wheels' metadata are
    # fetched again (the resolution is online), a few KiB, never the wheels.
    assert grown[1] < BULK_BYTES // 20, f"uv's cache grew by {grown[1]} bytes on the second cold build"
    assert layers[0] == layers[1]  # from the cache, the same bytes as from the mirror
    # The layer is installed as hard links to these files: the build must leave them as they were.
    assert unpacked[1] == unpacked[0]
    assert any(name.endswith("hlfix_bulk/blob.bin") for name in unpacked[1])
