"""The layer cache heals itself: a bad record is discarded and rebuilt, eviction spares what a build
holds, stale lock and `.partial` files go, an unusable directory is a warning, and a placed
artifact is its own copy."""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from hatch_lambda.layer import cache as cache_module
from hatch_lambda.layer.cache import KEEP_ENTRIES, STALE_SECONDS, LayerCache, place
from tests.helpers import output_of, run_hatchling
from tests.test_layer_cache import LAYER, cache_entries, project


def built_zip(tmp_path: Path, data: bytes = b"zip bytes") -> Path:
    path = tmp_path / "built.zip"
    path.write_bytes(data)
    return path


def record_of(cache: LayerCache, key: str) -> Path:
    return cache.root / f"{key}.json"


def test_a_stored_entry_is_found_with_its_details(tmp_path):
    cache = LayerCache(tmp_path / "cache")
    cache.store("key", built_zip(tmp_path), {"entry": {"files": 1}})

    found = cache.lookup("key")

    assert found is not None
    assert found.details == {"entry": {"files": 1}}
    assert found.zip_path.read_bytes() == b"zip bytes"
    assert cache.warnings == []


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(lambda record: record.pop("details"), id="no details"),
        pytest.param(lambda record: record["details"]["entry"].pop("files"), id="a detail missing"),
        pytest.param(lambda record: record["details"]["entry"].update(files=10**12), id="a detail altered"),
        pytest.param(lambda record: record.update(format=1), id="another format"),
    ],
)
def test_a_record_not_exactly_as_written_is_discarded_with_a_warning(tmp_path, alter):
    cache = LayerCache(tmp_path / "cache")
    cache.store("key", built_zip(tmp_path), {"entry": {"files": 1}})
    record = json.loads(record_of(cache, "key").read_text())
    alter(record)
    record_of(cache, "key").write_text(json.dumps(record))

    assert cache.lookup("key") is None
    (warning,) = cache.warnings
    assert "key.zip" in warning and "built again" in warning
    assert not list(cache.root.glob("key.*"))


@pytest.mark.parametrize("field, value", [("sha256", "0" * 64), ("crc32", 12345), ("size", 4)])
def test_a_record_with_another_zip_digest_is_discarded(tmp_path, field, value):
    """The record seals the zip's sha256 (which the manifest reports) with the CRC-32 and size
    (which the bytes placed are checked against): one changed without the others is never trusted."""
    cache = LayerCache(tmp_path / "cache")
    cache.store("key", built_zip(tmp_path), {"entry": {"files": 1}})
    record = json.loads(record_of(cache, "key").read_text())
    record[field] = value
    record_of(cache, "key").write_text(json.dumps(record))

    assert cache.lookup("key") is None
    (warning,) = cache.warnings
    assert "key.zip" in warning and "built again" in warning and "altered" in warning
    assert not list(cache.root.glob("key.*"))


def test_a_record_that_is_not_json_is_discarded(tmp_path):
    cache = LayerCache(tmp_path / "cache")
    cache.store("key", built_zip(tmp_path), {})
    record_of(cache, "key").write_text("{not json")

    assert cache.lookup("key") is None
    assert "cannot be read" in cache.warnings[0]


def test_a_zip_without_a_record_is_a_quiet_miss(tmp_path):
    cache = LayerCache(tmp_path / "cache")
    cache.store("key", built_zip(tmp_path), {})
    record_of(cache, "key").unlink()  # as a build killed between the zip and its record leaves it

    assert cache.lookup("key") is None
    assert cache.warnings == []
    assert not (cache.root / "key.zip").exists()


def test_eviction_never_removes_an_entry_a_build_holds(tmp_path):
    cache = LayerCache(tmp_path / "cache")
    built = built_zip(tmp_path)
    cache.store("held", built, {})
    for path in (record_of(cache, "held"), cache.root / "held.zip"):
        os.utime(path, (0, 0))  # the oldest entry of all

    with cache.locked("held"):
        for index in range(KEEP_ENTRIES + 3):
            cache.store(f"key{index:03}", built, {})
        assert (cache.root / "held.zip").exists() and record_of(cache, "held").exists()

    cache.prune()
    assert not (cache.root / "held.zip").exists()
    assert len(list(cache.root.glob("*.zip"))) == KEEP_ENTRIES


def test_stale_lock_and_partial_files_are_removed_fresh_ones_kept(tmp_path):
    cache = LayerCache(tmp_path / "cache")
    cache.root.mkdir(parents=True)
    old = time.time() - STALE_SECONDS - 60
    stale_partial = cache.root / ".gone.zip.abc.partial"
    stale_lock = cache.root / "gone.lock"
    fresh_partial = cache.root / ".live.zip.def.partial"
    for path in (stale_partial, stale_lock, fresh_partial):
        path.write_bytes(b"")
    for path in (stale_partial, stale_lock):
        os.utime(path, (old, old))

    cache.store("key", built_zip(tmp_path), {})

    assert not stale_partial.exists()
    assert not stale_lock.exists()
    assert fresh_partial.exists()


def test_a_stale_lock_another_build_holds_is_kept(tmp_path):
    cache = LayerCache(tmp_path / "cache")
    with cache.locked("busy"):
        old = time.time() - STALE_SECONDS - 60
        os.utime(cache.root / "busy.lock", (old, old))
        cache.prune()
        assert (cache.root / "busy.lock").exists()


def test_an_unusable_cache_directory_is_a_warning_and_no_cache(tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    cache = LayerCache(not_a_directory)

    with cache.locked("key"):
        assert cache.lookup("key") is None
        cache.store("key", built_zip(tmp_path), {})

    (warning,) = cache.warnings
    assert str(not_a_directory) in warning and "HATCH_LAMBDA_CACHE_DIR" in warning


def test_a_placed_zip_is_its_own_copy_and_leaves_no_partial(tmp_path):
    source = built_zip(tmp_path, b"cached bytes")
    destination = tmp_path / "dist" / "layer.zip"
    destination.parent.mkdir()
    destination.write_bytes(b"old artifact")

    assert place(source, destination, hashlib.sha256(b"cached bytes").hexdigest()) is None
    source.write_bytes(b"the cache changed afterwards")

    assert destination.read_bytes() == b"cached bytes"
    assert destination.stat().st_nlink == 1
    assert sorted(path.name for path in destination.parent.iterdir()) == ["layer.zip"]


def test_placing_a_zip_onto_a_hard_link_of_itself_replaces_it(tmp_path):
    source = built_zip(tmp_path, b"cached bytes")
    destination = tmp_path / "dist" / "layer.zip"
    destination.parent.mkdir()
    os.link(source, destination)  # what earlier versions left in dist/

    assert place(source, destination, hashlib.sha256(b"cached bytes").hexdigest()) is None

    assert not destination.samefile(source)
    assert sorted(path.name for path in destination.parent.iterdir()) == ["layer.zip"]


# Through the real build ---------------------------------------------------------------------------


def _altered_record(layer_cache: Path, alter) -> None:
    (entry,) = cache_entries(layer_cache)
    record_path = entry.with_suffix(".json")
    record = json.loads(record_path.read_text())
    alter(record)
    record_path.write_text(json.dumps(record))


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(lambda record: record.pop("details"), id="no details"),
        pytest.param(lambda record: record["details"]["entry"].pop("packages"), id="a key missing"),
        pytest.param(
            lambda record: record["details"]["entry"].update(unzipped_size=300_000_000),
            id="unzipped_size altered",
        ),
    ],
)
def test_a_build_heals_a_bad_record_and_says_so(tmp_path, offline_environment, layer_cache, alter):
    root = project(tmp_path / "app")
    assert run_hatchling(root, "lambda:layer", environment=offline_environment).returncode == 0
    good = (root / "dist" / LAYER).read_bytes()
    _altered_record(layer_cache, alter)

    healed = run_hatchling(root, "lambda:layer", environment=offline_environment)
    again = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert healed.returncode == 0, output_of(healed)
    assert "Discarded the layer cache entry" in output_of(healed)
    assert "Layer from the cache" not in output_of(healed)
    assert (root / "dist" / LAYER).read_bytes() == good
    assert again.returncode == 0, output_of(again)
    assert "Layer from the cache" in output_of(again)


def test_an_unusable_cache_directory_only_warns(tmp_path, offline_environment):
    root = project(tmp_path / "app")
    not_a_directory = tmp_path / "cache-file"
    not_a_directory.write_text("")
    environment = {**offline_environment, "HATCH_LAMBDA_CACHE_DIR": str(not_a_directory)}

    completed = run_hatchling(root, "lambda:layer", environment=environment)

    assert completed.returncode == 0, output_of(completed)
    assert "cannot be used" in output_of(completed)
    assert "Traceback" not in output_of(completed)
    assert (root / "dist" / LAYER).is_file()


def test_a_fresh_layer_written_to_a_copy_slot_is_stored_by_rename(tmp_path, monkeypatch):
    cache = LayerCache(tmp_path / "cache")
    built = built_zip(tmp_path, b"fresh layer bytes")
    with cache.copy_slot("key") as slot:
        assert slot is not None and slot.parent == cache.root
        slot.write_bytes(built.read_bytes())  # as the zip writer writes both at once
        monkeypatch.setattr(cache_module, "own_copy", _no_copy_expected)
        cache.store("key", built, {"entry": {}}, written=slot)

    assert (cache.root / "key.zip").read_bytes() == b"fresh layer bytes"
    assert not list(cache.root.glob(".*.partial"))
    found = cache.lookup("key")
    assert found is not None and cache.place(found, tmp_path / "placed.zip")


def test_a_copy_slot_with_other_bytes_is_not_stored_and_the_layer_is_copied(tmp_path):
    cache = LayerCache(tmp_path / "cache")
    built = built_zip(tmp_path, b"fresh layer bytes")
    with cache.copy_slot("key") as slot:
        assert slot is not None
        slot.write_bytes(b"fresh layer bytez")  # same size, other bytes: never trusted
        cache.store("key", built, {"entry": {}}, written=slot)

    assert (cache.root / "key.zip").read_bytes() == b"fresh layer bytes"
    assert not list(cache.root.glob(".*.partial"))


def test_a_failed_build_leaves_no_copy_slot_behind(tmp_path):
    cache = LayerCache(tmp_path / "cache")
    with pytest.raises(RuntimeError), cache.copy_slot("key") as slot:
        assert slot is not None
        slot.write_bytes(b"half a layer")
        raise RuntimeError

    assert list(cache.root.iterdir()) == []


def _no_copy_expected(source, destination):
    raise AssertionError("the layer was copied instead of renamed")


def test_a_cache_zip_swapped_with_its_record_sha256_is_not_shipped(
    tmp_path, offline_environment, layer_cache
):
    """The placement checks the record's sha256, the manifest reports the entry's: an entry whose zip
    and top-level sha256 were both changed is discarded, never shipped under another digest."""
    root = project(tmp_path / "app")
    first = run_hatchling(root, "lambda", environment=offline_environment)
    assert first.returncode == 0, output_of(first)
    (entry,) = cache_entries(layer_cache)
    record_path = entry.with_suffix(".json")
    # Another zip in the entry, and the record's own sha256 made to match it (details untouched).
    with zipfile.ZipFile(entry, "a") as opened:
        opened.writestr("python/injected.py", "print('not what was built')\n")
    record = json.loads(record_path.read_text())
    record["sha256"] = _sha256_of(entry)
    record_path.write_text(json.dumps(record))

    second = run_hatchling(root, "lambda", environment=offline_environment)
    assert second.returncode == 0, output_of(second)
    manifest = json.loads((root / "dist" / "cached_app-1.0-lambda.json").read_text())
    shipped = root / "dist" / LAYER
    assert manifest["artifacts"]["layer"]["sha256"] == _sha256_of(shipped)
    assert "python/injected.py" not in zipfile.ZipFile(shipped).namelist()


def test_a_cache_zip_that_cannot_be_read_only_warns(tmp_path, offline_environment, layer_cache):
    """An entry whose read fails (EIO here, as a bad disk sector gives; EACCES for a non-root user
    with a mode-000 entry) is discarded with a warning and the layer built again."""
    root = project(tmp_path / "app")
    first = run_hatchling(root, "lambda", environment=offline_environment)
    assert first.returncode == 0, output_of(first)
    (entry,) = cache_entries(layer_cache)
    entry.unlink()
    entry.symlink_to("/proc/self/mem")  # a regular file whose read fails with EIO
    (root / "dist" / LAYER).unlink()  # else the committed layer, which holds the bytes, is kept

    second = run_hatchling(root, "lambda", environment=offline_environment)
    assert second.returncode == 0, output_of(second)
    assert (root / "dist" / LAYER).is_file()
    assert "cannot be read" in output_of(second)


def _sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_stored_record_holds_the_zips_crc32_whichever_way_it_was_stored(tmp_path):
    """The CRC-32 a hit is checked against is the entry's own: taken while the zip was written
    (the zip writer's second copy becomes the entry) or read from a zip stored by copy."""
    from hatch_lambda.archive.reproducible_zip import write_reproducible_zip  # noqa: PLC0415
    from hatch_lambda.files.record import FileToPack  # noqa: PLC0415

    files = [
        FileToPack(
            f"python/m{index}.py",
            (lambda index=index: b"v = %d\n" % index * 999),
            False,
            (2020, 1, 1, 0, 0, 0),
        )
        for index in range(40)
    ]
    cache = LayerCache(tmp_path / "cache")
    with cache.copy_slot("written") as slot:
        assert slot is not None
        zip_path = write_reproducible_zip(
            tmp_path / "dist" / "layer.zip", files, fixed_date_time=None, copy_to=slot
        ).path
        cache.store("written", zip_path, {"entry": {}}, written=slot)
    cache.store("copied", built_zip(tmp_path, b"other zip bytes" * 100), {"entry": {}})

    for key in ("written", "copied"):
        record = json.loads(record_of(cache, key).read_text())
        entry = cache.root / f"{key}.zip"
        assert record["crc32"] == zlib.crc32(entry.read_bytes())
        assert record["sha256"] == hashlib.sha256(entry.read_bytes()).hexdigest()
        found = cache.lookup(key)
        assert found is not None and cache.place(found, tmp_path / f"{key}-placed.zip")


def _crc32_keeping_suffix(data: bytes) -> bytes:
    """Four bytes that, appended to `data`, leave its CRC-32 as it was: CRC-32 is affine in the
    bits appended, so they are solved for (what a damaged copy can hit by chance 1 time in 2**32,
    and anyone can compute)."""
    start = zlib.crc32(data)
    base = zlib.crc32(bytes(4), start)
    # One row per bit of the suffix: what setting that bit changes in the CRC.
    rows = [(zlib.crc32((1 << bit).to_bytes(4, "little"), start) ^ base, 1 << bit) for bit in range(32)]
    wanted, chosen = start ^ base, 0
    for position in range(32):
        mask = 1 << position
        pivot = next((row for row in rows if row[0] & mask), None)
        assert pivot is not None
        rows.remove(pivot)
        rows = [(crc ^ pivot[0], bits ^ pivot[1]) if crc & mask else (crc, bits) for crc, bits in rows]
        if wanted & mask:
            wanted, chosen = wanted ^ pivot[0], chosen ^ pivot[1]
    suffix = chosen.to_bytes(4, "little")
    assert zlib.crc32(data + suffix) == start
    return suffix


def test_a_cached_zip_with_bytes_appended_that_keep_its_crc32_is_not_placed(tmp_path):
    """The size a hit is checked against is the recorded one, not the size of the file found."""
    cache = LayerCache(tmp_path / "cache")
    cache.store("key", built_zip(tmp_path, b"layer zip bytes" * 1000), {"entry": {}})
    entry = cache.root / "key.zip"
    entry.write_bytes(entry.read_bytes() + _crc32_keeping_suffix(entry.read_bytes()))

    found = cache.lookup("key")
    placed = tmp_path / "staging" / "layer.zip"

    assert found is None or not cache.place(found, placed)
    assert not placed.exists()
    assert "Discarded the layer cache entry key.zip" in " ".join(cache.warnings)


def test_a_cached_zip_grown_without_changing_its_crc32_is_not_shipped(
    tmp_path, offline_environment, layer_cache
):
    """The manifest reports the record's sha256 and size: the zip shipped must have them."""
    root = project(tmp_path / "app")
    first = run_hatchling(root, "lambda", environment=offline_environment)
    assert first.returncode == 0, output_of(first)
    (entry,) = cache_entries(layer_cache)
    entry.write_bytes(entry.read_bytes() + _crc32_keeping_suffix(entry.read_bytes()))

    second = run_hatchling(root, "lambda", environment=offline_environment)
    assert second.returncode == 0, output_of(second)
    manifest = json.loads((root / "dist" / "cached_app-1.0-lambda.json").read_text())
    shipped = root / "dist" / LAYER
    assert manifest["artifacts"]["layer"]["sha256"] == _sha256_of(shipped)
    assert manifest["artifacts"]["layer"]["zipped_size"] == shipped.stat().st_size


def test_a_record_whose_size_is_not_its_entrys_zipped_size_is_discarded(tmp_path):
    """The manifest reports the entry's `zipped_size`, the placement checks the record's size."""
    cache = LayerCache(tmp_path / "cache")
    cache.store("key", built_zip(tmp_path), {"entry": {"zipped_size": 4}})

    assert cache.lookup("key") is None
    assert "two different sizes" in cache.warnings[0]


def test_a_file_holds_a_hit_only_with_its_recorded_size_and_crc32(tmp_path):
    data = b"layer bytes " * 1000
    entry = cache_module.CachedLayer(
        tmp_path / "entry.zip", {}, hashlib.sha256(data).hexdigest(), zlib.crc32(data), len(data)
    )
    committed = tmp_path / "committed.zip"
    committed.write_bytes(data)
    assert cache_module.holds(committed, entry)
    assert not cache_module.holds(committed, entry._replace(crc32=None))  # an unsealed hit: placed instead
    assert not cache_module.holds(tmp_path / "missing.zip", entry)
    assert not cache_module.holds(tmp_path, entry)  # a directory
    committed.write_bytes(data[:-1] + b"?")
    assert not cache_module.holds(committed, entry)
    link = tmp_path / "link.zip"
    (tmp_path / "target.zip").write_bytes(data)
    link.symlink_to(tmp_path / "target.zip")
    assert not cache_module.holds(link, entry)
    pipe = tmp_path / "pipe.zip"
    os.mkfifo(pipe)
    assert not cache_module.holds(pipe, entry)  # answered at once, never waiting for a writer


def counted_layer_reads(monkeypatch) -> list[int]:
    """A list that gets one item each time `holds` reads a committed layer through."""
    reads: list[int] = []
    real_read_each = cache_module.read_each

    def counting_read_each(stream, each_block):
        reads.append(1)
        return real_read_each(stream, each_block)

    monkeypatch.setattr(cache_module, "read_each", counting_read_each)
    return reads


def test_a_committed_layer_found_whole_is_not_read_again_until_it_changes(tmp_path, monkeypatch):
    """The next warm build trusts a kept layer by its identity: the same inode, size, mtime and
    ctime (which no write can leave as it was); any change reads it again."""
    data = b"layer bytes " * 1000
    entry = cache_module.CachedLayer(
        tmp_path / "entry.zip", {}, hashlib.sha256(data).hexdigest(), zlib.crc32(data), len(data)
    )
    committed = tmp_path / "dist" / "committed.zip"
    committed.parent.mkdir()
    committed.write_bytes(data)
    reads = counted_layer_reads(monkeypatch)
    assert cache_module.holds(committed, entry)
    assert cache_module.holds(committed, entry)
    assert len(reads) == 2, "a file changed this very moment is never remembered"

    monkeypatch.setattr(cache_module, "_SETTLED_NS", 0)  # the file has settled
    assert cache_module.holds(committed, entry)
    assert cache_module.holds(committed, entry)
    assert cache_module.holds(committed, entry)
    assert len(reads) == 3  # read once more, then trusted
    other = entry._replace(sha256=hashlib.sha256(b"another layer").hexdigest())
    assert cache_module.holds(committed, other)  # the same CRC-32 and size, another entry: read
    assert len(reads) == 4

    time.sleep(0.05)  # past the kernel's clock tick: the guard this test turned off stands for this
    before = committed.stat()
    with committed.open("r+b") as stream:  # one byte changed in place, the mtime set back
        stream.seek(5)
        stream.write(b"?")
    os.utime(committed, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert not cache_module.holds(committed, entry)
    assert len(reads) == 5
    (tmp_path / "new.zip").write_bytes(data)
    os.replace(tmp_path / "new.zip", committed)  # the same bytes in a new file
    assert cache_module.holds(committed, entry)
    assert len(reads) == 6
    assert len(list((tmp_path / "hatch-lambda-cache" / cache_module.KEPT_FOLDER).iterdir())) == 1


def test_kept_records_are_bounded_the_least_recently_written_going_first(tmp_path, monkeypatch):
    """Every output path a layer was kept at gets a record (a CI job building twice in a new
    directory adds one): past `KEPT_RECORDS`, writing a record removes the oldest, and a stale
    temporary file; a path whose record went is read once more, then remembered again."""
    data = b"layer bytes " * 1000
    entry = cache_module.CachedLayer(
        tmp_path / "entry.zip", {}, hashlib.sha256(data).hexdigest(), zlib.crc32(data), len(data)
    )
    monkeypatch.setattr(cache_module, "_SETTLED_NS", 0)
    monkeypatch.setattr(cache_module, "KEPT_RECORDS", 5)
    now = time.time()
    committed = []
    for index in range(8):  # eight projects' layers, kept one after the other, an hour apart
        path = tmp_path / f"project-{index}" / "dist" / "layer.zip"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        assert cache_module.holds(path, entry)
        record = cache_module._kept_record(path)
        os.utime(record, (now - 3600 * (8 - index), now - 3600 * (8 - index)))
        committed.append(path)
    folder = tmp_path / "hatch-lambda-cache" / cache_module.KEPT_FOLDER
    stale = folder / ".abandoned.1234.partial"
    stale.write_text("left by a build that died")
    os.utime(stale, (now - cache_module.STALE_SECONDS - 60,) * 2)
    live = folder / ".in-flight.5678.partial"
    live.write_text("another build is writing this")

    newest = tmp_path / "project-new" / "dist" / "layer.zip"
    newest.parent.mkdir(parents=True)
    newest.write_bytes(data)
    assert cache_module.holds(newest, entry)

    records = {path.name for path in folder.iterdir() if not path.name.startswith(".")}
    expected = [cache_module._kept_record(path).name for path in [*committed[-4:], newest]]
    assert records == set(expected)
    assert not stale.exists() and live.exists()

    reads = counted_layer_reads(monkeypatch)
    assert cache_module.holds(committed[-1], entry) and reads == []  # still remembered
    assert cache_module.holds(committed[0], entry) and reads == [1]  # its record went: read again
    assert cache_module.holds(committed[0], entry) and reads == [1]  # and remembered again
    assert len([path for path in folder.iterdir() if not path.name.startswith(".")]) == 5


@pytest.mark.parametrize("record", [b"\xff\xfe not text", None])
def test_an_unreadable_kept_record_is_read_past_and_written_again(tmp_path, monkeypatch, record):
    """A damaged record, or a directory where it should be, never turns keeping off for good."""
    data = b"layer bytes " * 1000
    entry = cache_module.CachedLayer(
        tmp_path / "entry.zip", {}, hashlib.sha256(data).hexdigest(), zlib.crc32(data), len(data)
    )
    committed = tmp_path / "committed.zip"
    committed.write_bytes(data)
    monkeypatch.setattr(cache_module, "_SETTLED_NS", 0)
    path = cache_module._kept_record(committed)
    path.parent.mkdir(parents=True)
    if record is None:
        path.mkdir()
    else:
        path.write_bytes(record)

    assert cache_module.holds(committed, entry)
    if record is not None:
        assert path.read_text(encoding="utf-8").endswith(entry.sha256)
    assert cache_module.holds(committed, entry)
