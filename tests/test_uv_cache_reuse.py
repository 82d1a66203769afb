"""Cold layer builds take wheels from uv's cache: the cache does not grow with every build.

uv keeps a downloaded wheel as long as the server's HTTP caching headers allow. An index or mirror
that sends none (no `Cache-Control`, `ETag` or `Last-Modified`) makes an online `uv pip install`
of a pylock download and unpack every wheel again into new cache entries. The server here is such
a mirror, on localhost.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import os
import random
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from hatch_lambda.layer.uv import _uv_setting
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
    write_wheel(WheelSpec("hlfix-later", "1.0", files={"hlfix_later.py": "NAME = 'later'\n"}), directory)
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


class ColdBuilds:
    """Layer builds of one project, each with an empty layer cache, all with one uv cache."""

    def __init__(self, root: Path, mirror: str) -> None:
        self.root = root
        self.mirror = mirror
        self.uv_cache = root.parent / "uv-cache"
        self.count = 0

    def write(self, dependencies: list[str]) -> None:
        write_project(
            self.root,
            {
                "pyproject.toml": f"""
                    [project]
                    name = "bulk-app"
                    version = "1.0"
                    dependencies = {json.dumps(dependencies)}

                    [tool.hatch.build.targets.wheel]
                    packages = ["bulk_app"]

                    [tool.hatch.build.targets.lambda]
                    runtime = "python3.12"
                """,
                "bulk_app/__init__.py": "",
            },
        )

    def run(self) -> subprocess.CompletedProcess[str]:
        self.count += 1
        environment = clean_environment(
            UV_DEFAULT_INDEX=self.mirror,
            UV_CACHE_DIR=str(self.uv_cache),
            HATCH_LAMBDA_CACHE_DIR=str(self.root.parent / f"layer-cache-{self.count}"),
        )
        return run_hatchling(self.root, "lambda:layer", environment=environment)

    def build(self) -> tuple[bytes, int]:
        """The layer zip's bytes, and how many bytes uv's cache grew by."""
        before = cache_bytes(self.uv_cache) if self.uv_cache.exists() else 0
        completed = self.run()
        assert completed.returncode == 0, output_of(completed)
        (layer,) = (self.root / "dist").glob("*-lambda-layer-*.zip")
        built = layer.read_bytes()
        layer.unlink()
        return built, cache_bytes(self.uv_cache) - before


def test_a_second_cold_build_takes_every_wheel_from_uv_s_cache(tmp_path, mirror):
    builds = ColdBuilds(tmp_path / "app", mirror)
    builds.write(["hlfix-bulk"])

    first, first_growth = builds.build()  # the offline attempt finds nothing; uv goes online
    unpacked = unpacked_wheels(builds.uv_cache)
    second, second_growth = builds.build()

    assert first_growth > BULK_BYTES
    # The resolution is online, so the index pages and the wheels' metadata are fetched again (a
    # few KiB), never the wheels.
    assert second_growth < BULK_BYTES // 20, (
        f"uv's cache grew by {second_growth} bytes on the second cold build"
    )
    assert second == first  # from the cache, the same bytes as from the mirror
    # The layer is installed as hard links to these files: the build must leave them as they were.
    assert unpacked_wheels(builds.uv_cache) == unpacked
    assert any(name.endswith("hlfix_bulk/blob.bin") for name in unpacked)


def test_a_new_dependency_is_the_only_wheel_downloaded(tmp_path, mirror):
    builds = ColdBuilds(tmp_path / "app", mirror)
    builds.write(["hlfix-bulk"])
    builds.build()
    builds.write(["hlfix-bulk", "hlfix-later"])

    layer, growth = builds.build()

    assert growth < BULK_BYTES // 20, f"uv's cache grew by {growth} bytes: more than the new wheel"
    with zipfile.ZipFile(io.BytesIO(layer)) as opened:
        names = opened.namelist()
    assert "python/hlfix_later.py" in names and "python/hlfix_bulk/blob.bin" in names


def test_a_wrong_hash_in_the_lock_still_fails_with_uv_s_words(tmp_path, mirror):
    builds = ColdBuilds(tmp_path / "app", mirror)
    builds.write(["hlfix-leaf"])
    wheel = f"{mirror.removesuffix('/simple')}/files/hlfix_leaf-1.0-py3-none-any.whl"
    (builds.root / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "hand"\n\n[[packages]]\nname = "hlfix-leaf"\nversion = "1.0"\n'
        f'wheels = [{{ url = "{wheel}", hashes = {{ sha256 = "{"0" * 64}" }} }}]\n'
    )
    with (builds.root / "pyproject.toml").open("a") as pyproject:
        pyproject.write('lock = "pylock.toml"\n')

    completed = builds.run()

    assert completed.returncode != 0
    assert "Hash mismatch for `hlfix-leaf==1.0`" in output_of(completed)
    assert not list((builds.root / "dist").glob("*.zip"))


@pytest.mark.parametrize("value", ["1", "true", "t", "yes", "y", "on", "TRUE"])
def test_uv_offline_or_no_cache_in_any_spelling_uv_reads_skips_the_cached_first_attempt(monkeypatch, value):
    """uv reads `t` and `y` as on too: then an offline first try is pointless (no cache, or
    offline already) and would only cost extra uv runs."""
    for variable in ("UV_OFFLINE", "UV_NO_CACHE"):
        monkeypatch.setenv(variable, value)
        assert _uv_setting(variable)
        monkeypatch.setenv(variable, "0")
        assert not _uv_setting(variable)
