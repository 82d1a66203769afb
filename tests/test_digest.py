"""Each version of a file is hashed once per process: across the transaction's renames and the
cache's copies, never past a replacement."""

from __future__ import annotations

import hashlib
import os

import pytest

from hatch_lambda.build import layer_version
from hatch_lambda.files import digest
from hatch_lambda.files.digest import file_sha256
from hatch_lambda.layer import cache as cache_module
from hatch_lambda.layer.cache import CachedLayer, LayerCache, place


@pytest.fixture
def reads(monkeypatch) -> list[int]:
    """One item per file `file_sha256` actually reads."""
    counted: list[int] = []
    real = hashlib.sha256

    class Counting:
        @staticmethod
        def sha256():
            counted.append(1)
            return real()

    monkeypatch.setattr(digest, "hashlib", Counting)
    return counted


def test_a_renamed_file_is_not_hashed_again(tmp_path, reads):
    staged = tmp_path / "stage" / "layer.zip"
    staged.parent.mkdir()
    staged.write_bytes(b"layer bytes")
    first = file_sha256(staged)
    committed = tmp_path / "layer.zip"
    staged.rename(committed)

    assert file_sha256(committed) == first == hashlib.sha256(b"layer bytes").hexdigest()
    assert len(reads) == 1


def test_a_file_replaced_by_rename_is_hashed_again(tmp_path, reads):
    artifact = tmp_path / "layer.zip"
    artifact.write_bytes(b"old bytes")
    assert file_sha256(artifact) == hashlib.sha256(b"old bytes").hexdigest()
    replacement = tmp_path / "new.zip"
    replacement.write_bytes(b"new bytes")
    os.replace(replacement, artifact)

    assert file_sha256(artifact) == hashlib.sha256(b"new bytes").hexdigest()
    assert len(reads) == 2


def test_a_layer_stored_found_and_placed_again_is_hashed_once(tmp_path, reads):
    built = tmp_path / "built.zip"
    built.write_bytes(b"layer bytes" * 1000)
    sha256 = file_sha256(built)  # as the zip writer does
    cache = LayerCache(tmp_path / "cache")

    cache.store("key", built, {"entry": {"sha256": sha256}})
    found = cache.lookup("key")
    assert found is not None
    placed = tmp_path / "next-build" / "layer.zip"
    placed.parent.mkdir()
    place(found.zip_path, placed)

    assert file_sha256(placed) == sha256
    assert placed.read_bytes() == built.read_bytes()
    assert len(reads) == 1


def test_a_cache_entry_altered_on_disk_is_still_caught(tmp_path):
    built = tmp_path / "built.zip"
    built.write_bytes(b"layer bytes")
    cache = LayerCache(tmp_path / "cache")
    cache.store("key", built, {"entry": {"files": 1}})
    entry = cache.root / "key.zip"
    entry.write_bytes(b"altered, longer")

    assert cache.lookup("key") is None
    assert "does not match its recorded sha256" in cache.warnings[0]


def test_a_placed_copy_is_read_back_so_a_copy_that_wrote_other_bytes_is_caught(tmp_path, monkeypatch):
    """The copy's remembered digest is its source's: the check that the copy is right reads it."""
    cached_zip = tmp_path / "cached.zip"
    cached_zip.write_bytes(b"layer bytes" * 1000)
    sha256 = file_sha256(cached_zip)

    def garbled_copy(source, destination):  # a file system that writes the right size, wrong bytes
        destination.write_bytes(b"\0" * source.stat().st_size)

    monkeypatch.setattr(cache_module, "_clone", lambda source, destination: False)
    monkeypatch.setattr(cache_module.shutil, "copyfile", garbled_copy)
    placed = tmp_path / "staging" / "layer.zip"
    placed.parent.mkdir()

    assert not layer_version._placed(CachedLayer(cached_zip, {"entry": {"sha256": sha256}}), placed)
