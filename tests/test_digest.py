"""Each version of a file is hashed once per process: across the transaction's renames and the
cache's copies, never past a replacement."""

from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path

import pytest

from hatch_lambda.files import digest
from hatch_lambda.files.digest import file_sha256
from hatch_lambda.layer import cache as cache_module
from hatch_lambda.layer.cache import LayerCache, place


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


def test_a_cache_hit_reads_the_cached_zip_once_as_it_is_placed(tmp_path, reads, monkeypatch):
    """A warm build (a new process: nothing remembered) reads the cached layer once, as it copies it,
    checking a CRC-32 rather than hashing it: the record's sha256 then stands for the bytes placed."""
    built = tmp_path / "built.zip"
    built.write_bytes(b"layer bytes" * 1000)
    cache = LayerCache(tmp_path / "cache")
    cache.store("key", built, {"entry": {}})
    digest._HASHED.clear()
    reads.clear()

    found = cache.lookup("key")
    assert found is not None
    placed = tmp_path / "next-build" / "layer.zip"
    placed.parent.mkdir()

    opened: list[str] = []
    real_open = Path.open

    def counting_open(path, *arguments, **options):
        opened.append(str(path))
        return real_open(path, *arguments, **options)

    monkeypatch.setattr(cache_module, "_clone", lambda source, destination: False)  # ext4, tmpfs
    monkeypatch.setattr(Path, "open", counting_open)
    assert cache.place(found, placed)
    assert file_sha256(placed) == hashlib.sha256(built.read_bytes()).hexdigest()
    monkeypatch.undo()

    assert reads == []  # no sha256 of the layer, for the placement or for the manifest after it
    assert opened.count(str(found.zip_path)) == 1
    assert placed.read_bytes() == built.read_bytes()


def test_a_cache_entry_with_bytes_changed_but_not_its_size_is_caught_when_placed(tmp_path):
    built = tmp_path / "built.zip"
    built.write_bytes(b"layer bytes" * 1000)
    cache = LayerCache(tmp_path / "cache")
    cache.store("key", built, {"entry": {"files": 1}})
    found = cache.lookup("key")
    assert found is not None
    data = bytearray(found.zip_path.read_bytes())
    data[5000] ^= 0x01  # one bit, in place
    found.zip_path.write_bytes(bytes(data))
    placed = tmp_path / "staging" / "layer.zip"
    placed.parent.mkdir()

    assert not cache.place(found, placed)
    assert "does not match its recorded CRC-32" in cache.warnings[0]
    assert list(placed.parent.iterdir()) == []
    assert cache.lookup("key") is None


def test_a_cache_entry_altered_on_disk_is_caught_when_placed(tmp_path):
    built = tmp_path / "built.zip"
    built.write_bytes(b"layer bytes")
    cache = LayerCache(tmp_path / "cache")
    cache.store("key", built, {"entry": {"files": 1}})
    found = cache.lookup("key")
    assert found is not None
    (cache.root / "key.zip").write_bytes(b"layer bytez")  # altered after the lookup, as a race could
    placed = tmp_path / "staging" / "layer.zip"
    placed.parent.mkdir()

    assert not cache.place(found, placed)
    assert "does not match its recorded CRC-32" in cache.warnings[0]
    assert not placed.exists() and list(placed.parent.iterdir()) == []
    assert cache.lookup("key") is None  # discarded: the next build rebuilds it


@pytest.mark.parametrize("checked_by", ["sha256", "CRC-32"])
def test_a_reflink_that_holds_other_bytes_is_caught(tmp_path, monkeypatch, checked_by):
    """Where the file system clones, the clone itself is read: what is checked is what was placed,
    by the sha256 (the shared cache's downloads) or by the record's CRC-32 and size (a local hit)."""
    cached_zip = tmp_path / "cached.zip"
    cached_zip.write_bytes(b"layer bytes" * 1000)
    sha256 = file_sha256(cached_zip)
    by_crc = (
        (zlib.crc32(cached_zip.read_bytes()), cached_zip.stat().st_size) if checked_by == "CRC-32" else ()
    )

    def garbled_clone(source, destination):  # a clone that has the right size, wrong bytes
        destination.write_bytes(b"\0" * source.stat().st_size)
        return True

    monkeypatch.setattr(cache_module, "_clone", garbled_clone)
    placed = tmp_path / "staging" / "layer.zip"
    placed.parent.mkdir()

    assert f"does not match its recorded {checked_by}" in str(place(cached_zip, placed, sha256, *by_crc))
    assert not placed.exists()
    monkeypatch.setattr(cache_module, "_clone", lambda source, destination: False)
    assert place(cached_zip, placed, sha256, *by_crc) is None
    assert placed.read_bytes() == cached_zip.read_bytes()


def test_a_zip_is_hashed_as_it_is_written_never_read_back(tmp_path, reads):
    from hatch_lambda.archive.reproducible_zip import write_reproducible_zip  # noqa: PLC0415
    from hatch_lambda.files.record import FileToPack  # noqa: PLC0415

    files = [
        FileToPack(
            f"pkg/module{index}.py",
            (lambda index=index: b"x = %d\n" % index * 5000),
            False,
            (2020, 1, 1, 0, 0, 0),
        )
        for index in range(40)
    ]
    written = write_reproducible_zip(tmp_path / "layer.zip", files, fixed_date_time=None)

    assert written.sha256 == hashlib.sha256((tmp_path / "layer.zip").read_bytes()).hexdigest()
    assert file_sha256(tmp_path / "layer.zip") == written.sha256
    assert reads == []  # no read of the written zip


def test_a_second_copy_that_cannot_be_written_never_fails_the_zip(tmp_path):
    from hatch_lambda.archive.reproducible_zip import write_reproducible_zip  # noqa: PLC0415
    from hatch_lambda.files.record import FileToPack  # noqa: PLC0415

    files = [FileToPack("pkg/module.py", lambda: b"x = 1\n", False, (2020, 1, 1, 0, 0, 0))]
    both = write_reproducible_zip(
        tmp_path / "a.zip", files, fixed_date_time=None, copy_to=tmp_path / "copy.zip"
    )
    unwritable = tmp_path / "missing-directory" / "copy.zip"
    alone = write_reproducible_zip(tmp_path / "b.zip", files, fixed_date_time=None, copy_to=unwritable)

    assert (tmp_path / "copy.zip").read_bytes() == (tmp_path / "a.zip").read_bytes()
    assert alone.sha256 == both.sha256 == hashlib.sha256((tmp_path / "b.zip").read_bytes()).hexdigest()
    assert not unwritable.exists()
