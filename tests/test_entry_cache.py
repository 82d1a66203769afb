"""The compressed-entry cache: streams copied from it give the very bytes compressing gives.

Each case compares zips written three ways, never a pinned hash: with no store, with an empty one
(which fills it) and with the filled one. A damaged entry must be compressed again, said, and
replaced; an unusable directory must still give a zip.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
import zipfile
from pathlib import Path

import pytest

from hatch_lambda.archive import atomic, entry_cache, libdeflate
from hatch_lambda.archive.entry_cache import SMALLEST_STORED, EntryStore
from hatch_lambda.archive.reproducible_zip import write_reproducible_zip
from hatch_lambda.files.installed_tree import files_to_pack
from hatch_lambda.files.record import FileToPack
from tests.helpers import output_of, run_hatchling, write_project
from tests.wheelfactory import WheelSpec, write_wheel

FIXED = (2020, 2, 2, 0, 0, 0)


def library_files(seed: int = 7) -> list[FileToPack]:
    """A layer in small: two large libraries (stored), text (stored) and many small modules (not)."""
    rng = random.Random(seed)
    blobs = {
        "numpy/core.so": rng.randbytes(400_000) + b"\0" * 300_000,
        "crypto/rust.so": bytes(rng.choice(b"abcdefgh") for _ in range(200_000)),
        "pkg/data.txt": b"lorem ipsum dolor " * 20_000,
    }
    files = [FileToPack(path, (lambda data=data: data), False, FIXED) for path, data in blobs.items()]
    files += [
        FileToPack(f"pkg/m{index:03}.py", (lambda index=index: f"V = {index}\n".encode()), False, FIXED)
        for index in range(50)
    ]
    return files


def write(path: Path, files: list[FileToPack], store: EntryStore | None, **options: int) -> bytes:
    written = write_reproducible_zip(path, files, fixed_date_time=FIXED, store=store, **options)
    return written.path.read_bytes()


def stored_entries(store: EntryStore) -> list[Path]:
    return sorted(path for path in store.root.rglob("*") if path.is_file() and not path.name.startswith("."))


def test_a_filled_store_gives_the_bytes_of_an_empty_one_and_of_no_store(tmp_path):
    files = library_files()
    plain = write(tmp_path / "plain.zip", files, None)
    cold_store = EntryStore(tmp_path / "cache")
    cold = write(tmp_path / "cold.zip", files, cold_store)
    warm_store = EntryStore(tmp_path / "cache")
    warm = write(tmp_path / "warm.zip", files, warm_store)

    assert plain == cold == warm
    assert cold_store.counts.compressed == 3 and cold_store.counts.reused == 0
    assert warm_store.counts.reused == 3 and warm_store.counts.compressed == 0
    assert not cold_store.warnings and not warm_store.warnings
    with zipfile.ZipFile(tmp_path / "warm.zip") as opened:
        assert opened.testzip() is None


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_bundles_never_make_the_bytes_depend_on_the_worker_count(tmp_path, workers):
    """With sizes listed (as the installed tree lists them), small files go in bundles: filled and
    reused with any number of workers, the zip is a one-thread build's without a store."""
    files = listed_layer(small_modules())
    reference = write(tmp_path / "reference.zip", files, None, workers=1)
    assert write(tmp_path / "fill.zip", files, EntryStore(tmp_path / "cache"), workers=workers) == reference
    assert write(tmp_path / "warm.zip", files, EntryStore(tmp_path / "cache"), workers=workers) == reference
    assert list((tmp_path / "cache").rglob("bundles/*"))  # the small modules went in bundles


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_the_store_never_makes_the_bytes_depend_on_the_worker_count(tmp_path, workers):
    files = library_files()
    reference = write(tmp_path / "reference.zip", files, None, workers=1)
    write(tmp_path / "fill.zip", files, EntryStore(tmp_path / "cache"), workers=workers)

    assert write(tmp_path / "warm.zip", files, EntryStore(tmp_path / "cache"), workers=workers) == reference


def test_a_bump_compresses_only_the_files_that_changed(tmp_path):
    before = library_files()
    write(tmp_path / "before.zip", before, EntryStore(tmp_path / "cache"))
    changed = FileToPack("pkg/data.txt", lambda: b"new text " * 20_000, False, FIXED)
    bumped = [*before[:2], changed, *before[3:]]

    store = EntryStore(tmp_path / "cache")
    warm = write(tmp_path / "warm.zip", bumped, store)

    assert (store.counts.reused, store.counts.compressed) == (2, 1)
    assert warm == write(tmp_path / "plain.zip", bumped, None)


def test_another_level_or_library_version_is_another_entry(tmp_path, monkeypatch):
    files = library_files()
    write(tmp_path / "six.zip", files, EntryStore(tmp_path / "cache"))

    at_nine = EntryStore(tmp_path / "cache")
    assert write(tmp_path / "nine.zip", files, at_nine, compress_level=9) == write(
        tmp_path / "plain-nine.zip", files, None, compress_level=9
    )
    assert at_nine.counts.reused == 0

    monkeypatch.setattr(libdeflate, "WRAPPER_VERSION", "0.0.0-other")
    other_library = EntryStore(tmp_path / "cache")
    write(tmp_path / "other.zip", files, other_library)
    assert other_library.counts.reused == 0

    # The same wrapper version over another libdeflate (a source build): its own entries too.
    monkeypatch.undo()
    same = EntryStore(tmp_path / "cache")
    write(tmp_path / "same.zip", files, same)
    assert same.counts.reused > 0
    monkeypatch.setattr(libdeflate, "fingerprint", lambda: "f" * 64)
    relinked = EntryStore(tmp_path / "cache")
    write(tmp_path / "relinked.zip", files, relinked)
    assert relinked.counts.reused == 0


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda raw: raw[:-10], "truncated or altered"),
        (lambda raw: raw[:-1] + bytes([raw[-1] ^ 0xFF]), "truncated or altered"),
        (lambda raw: raw[:10], "shorter than its header"),
        (lambda raw: b"JUNK" + raw[4:], "not an entry this version"),
    ],
    ids=["truncated", "flipped-bit", "header-cut", "foreign"],
)
def test_a_damaged_entry_is_compressed_again_said_and_replaced(tmp_path, damage, said):
    files = library_files()
    plain = write(tmp_path / "plain.zip", files, None)
    first = EntryStore(tmp_path / "cache")
    write(tmp_path / "fill.zip", files, first)
    victim = stored_entries(first)[0]
    victim.write_bytes(damage(victim.read_bytes()))

    damaged = EntryStore(tmp_path / "cache")
    assert write(tmp_path / "damaged.zip", files, damaged) == plain
    (warning,) = damaged.warnings
    assert victim.name in warning and said in warning
    assert (damaged.counts.reused, damaged.counts.compressed) == (2, 1)

    healed = EntryStore(tmp_path / "cache")
    assert write(tmp_path / "healed.zip", files, healed) == plain
    assert healed.counts.reused == 3 and not healed.warnings


def test_an_entry_recorded_for_other_data_is_not_used(tmp_path):
    files = library_files()
    plain = write(tmp_path / "plain.zip", files, None)
    store = EntryStore(tmp_path / "cache")
    write(tmp_path / "fill.zip", files, store)
    # Swap two entries' records: each is intact, but stands for the other file's data.
    first, second = stored_entries(store)[:2]
    first_raw, second_raw = first.read_bytes(), second.read_bytes()
    first.write_bytes(second_raw)
    second.write_bytes(first_raw)

    swapped = EntryStore(tmp_path / "cache")
    assert write(tmp_path / "swapped.zip", files, swapped) == plain
    assert len(swapped.warnings) == 2
    assert all("not those of the file being zipped" in warning for warning in swapped.warnings)


def test_an_unusable_directory_gives_a_plain_zip_and_one_warning(tmp_path):
    files = library_files()
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory should be")

    store = EntryStore(blocked)
    assert write(tmp_path / "blocked.zip", files, store) == write(tmp_path / "plain.zip", files, None)
    (warning,) = store.warnings
    assert "cannot be used" in warning and "HATCH_LAMBDA_CACHE_DIR" in warning
    assert store.counts.reused == store.counts.compressed == 0


def test_a_small_file_of_unknown_size_is_compressed_not_stored(tmp_path):
    store = EntryStore(tmp_path / "cache")
    small = [FileToPack("a.py", lambda: b"x" * (SMALLEST_STORED - 1), False, FIXED)]
    write(tmp_path / "small.zip", small, store)

    assert stored_entries(store) == []


def listed_layer(modules: dict[str, bytes]) -> list[FileToPack]:
    """Files as a layer lists them, each with its size: small modules of two packages, one library."""
    blobs = {"python/big/core.so": random.Random(5).randbytes(200_000), **modules}
    return [
        FileToPack(path, (lambda data=data: data), False, FIXED, size=len(data))
        for path, data in blobs.items()
    ]


def small_modules(version: str = "1") -> dict[str, bytes]:
    modules = {f"python/alpha/m{index:03}.py": f"A = {index}\n".encode() * 50 for index in range(40)}
    modules |= {
        f"python/beta/m{index:03}.py": f"B = {index} {version}\n".encode() * 50 for index in range(40)
    }
    return modules


def bundles(store: EntryStore) -> list[Path]:
    return [path for path in stored_entries(store) if "bundles" in path.parts]


def test_small_files_are_kept_in_bundles_per_package_and_give_the_same_bytes(tmp_path):
    files = listed_layer(small_modules())
    plain = write(tmp_path / "plain.zip", files, None)
    cold_store = EntryStore(tmp_path / "cache")
    cold = write(tmp_path / "cold.zip", files, cold_store)
    warm_store = EntryStore(tmp_path / "cache")
    warm = write(tmp_path / "warm.zip", files, warm_store)

    assert plain == cold == warm
    assert len(bundles(cold_store)) == 2  # alpha's and beta's modules, each under BUNDLE_BYTES
    assert (cold_store.counts.bundled_compressed, cold_store.counts.bundled_reused) == (80, 0)
    assert (warm_store.counts.bundled_compressed, warm_store.counts.bundled_reused) == (0, 80)
    assert warm_store.counts.reused == 1 and not warm_store.warnings


def test_a_bump_of_one_package_compresses_only_its_small_files_again(tmp_path):
    write(tmp_path / "before.zip", listed_layer(small_modules("1")), EntryStore(tmp_path / "cache"))
    bumped = listed_layer(small_modules("2"))

    store = EntryStore(tmp_path / "cache")
    warm = write(tmp_path / "warm.zip", bumped, store)

    assert (store.counts.bundled_reused, store.counts.bundled_compressed) == (40, 40)
    assert warm == write(tmp_path / "plain.zip", bumped, None)


def test_a_run_of_small_files_is_cut_into_bundles_of_bounded_size(tmp_path):
    many = {f"python/alpha/m{index:03}.py": random.Random(index).randbytes(30_000) for index in range(30)}
    files = listed_layer(many)
    store = EntryStore(tmp_path / "cache")
    written = write(tmp_path / "cold.zip", files, store)

    assert len(bundles(store)) == -(-30 * 30_000 // entry_cache.BUNDLE_BYTES)
    assert written == write(tmp_path / "warm.zip", files, EntryStore(tmp_path / "cache"))
    assert written == write(tmp_path / "plain.zip", files, None)


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda raw: raw[:-10], "truncated or altered"),
        (lambda raw: raw[:-1] + bytes([raw[-1] ^ 0xFF]), "truncated or altered"),
        (lambda raw: raw + b"extra", "more than its streams"),
        (lambda raw: raw[:6], "shorter than its header"),
        (lambda raw: b"JUNK" + raw[4:], "not a bundle this version"),
    ],
    ids=["truncated", "flipped-bit", "appended", "header-cut", "foreign"],
)
def test_a_damaged_bundle_is_compressed_again_said_and_replaced(tmp_path, damage, said):
    files = listed_layer(small_modules())
    plain = write(tmp_path / "plain.zip", files, None)
    first = EntryStore(tmp_path / "cache")
    write(tmp_path / "fill.zip", files, first)
    victim = bundles(first)[0]
    victim.write_bytes(damage(victim.read_bytes()))

    damaged = EntryStore(tmp_path / "cache")
    assert write(tmp_path / "damaged.zip", files, damaged) == plain
    (warning,) = damaged.warnings
    assert victim.name in warning and said in warning
    assert (damaged.counts.bundled_reused, damaged.counts.bundled_compressed) == (40, 40)

    healed = EntryStore(tmp_path / "cache")
    assert write(tmp_path / "healed.zip", files, healed) == plain
    assert healed.counts.bundled_reused == 80 and not healed.warnings


def test_a_bundle_recorded_for_other_files_is_not_used(tmp_path):
    files = listed_layer(small_modules())
    plain = write(tmp_path / "plain.zip", files, None)
    write(tmp_path / "fill.zip", files, EntryStore(tmp_path / "cache"))
    first, second = bundles(EntryStore(tmp_path / "cache"))
    first_raw, second_raw = first.read_bytes(), second.read_bytes()
    first.write_bytes(second_raw)  # intact, but alpha's streams where beta's are looked for
    second.write_bytes(first_raw)

    swapped = EntryStore(tmp_path / "cache")
    assert write(tmp_path / "swapped.zip", files, swapped) == plain
    assert len(swapped.warnings) == 2
    assert all("not those of the files being zipped" in warning for warning in swapped.warnings)


def test_prune_keeps_the_store_under_its_bound_dropping_the_least_recently_used(tmp_path):
    files = library_files()
    store = EntryStore(tmp_path / "cache")
    write(tmp_path / "fill.zip", files, store)
    entries = stored_entries(store)
    sizes = {path: path.stat().st_size for path in entries}
    now = time.time()
    for age, path in enumerate(entries):  # entries[0] is the most recently used
        os.utime(path, (now - age * 100, now - age * 100))
    partial = entries[0].parent / f".{entries[0].name}.x.partial"
    partial.write_bytes(b"left by a build that died")
    os.utime(partial, (now - entry_cache.STALE_SECONDS - 1,) * 2)

    bound = sizes[entries[0]] + sizes[entries[1]] + 1
    EntryStore(tmp_path / "cache", max_bytes=bound).prune()

    kept = stored_entries(store)
    assert kept and entries[0] in kept and entries[-1] not in kept
    assert sum(sizes[path] for path in kept) <= bound
    assert not partial.exists()


def test_prune_leaves_a_store_within_its_bound_alone(tmp_path):
    store = EntryStore(tmp_path / "cache")
    write(tmp_path / "fill.zip", library_files(), store)
    before = stored_entries(store)

    store.prune()

    assert stored_entries(store) == before


# A real build: bump one small dependency, the large library's stream comes from the store. -------


def _bump_wheels(directory: Path) -> Path:
    directory.mkdir()
    blob = random.Random(3).randbytes(300_000)
    write_wheel(WheelSpec("hlbump-native", "1.0", files={"hlbump_native/tables.bin": blob}), directory)
    for version in ("1.0", "1.1"):
        notes = f"release {version}\n".encode() * 5_000  # stored too: it changes with the bump
        files = {"hlbump_small/__init__.py": f"VERSION = {version!r}\n", "hlbump_small/notes.txt": notes}
        write_wheel(WheelSpec("hlbump-small", version, files=files), directory)
    return directory


def _bump_project(root: Path, small_version: str) -> Path:
    dependencies = ["hlbump-native==1.0", f"hlbump-small=={small_version}"]
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "bump-app"
                version = "1.0"
                dependencies = {json.dumps(dependencies)}

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
            """,
            "bump_app/__init__.py": "",
        },
    )


def test_a_dependency_bump_reuses_unchanged_streams_and_writes_a_cold_builds_bytes(
    tmp_path, offline_environment
):
    wheels = _bump_wheels(tmp_path / "bump-wheels")
    environment = {
        **offline_environment,
        "UV_FIND_LINKS": f"{offline_environment['UV_FIND_LINKS']},{wheels}",
        "HATCH_LAMBDA_CACHE_DIR": str(tmp_path / "warm-cache"),
    }
    root = _bump_project(tmp_path / "app", "1.0")

    def build(output: str, cache: str) -> tuple[bytes, str]:
        completed = run_hatchling(
            root,
            "lambda:layer",
            environment={**environment, "HATCH_LAMBDA_CACHE_DIR": str(tmp_path / cache)},
            extra=("-d", str(tmp_path / output)),
        )
        assert completed.returncode == 0, output_of(completed)
        (layer,) = (tmp_path / output).glob("*-lambda-layer-*.zip")
        return layer.read_bytes(), output_of(completed)

    build("first", "warm-cache")
    _bump_project(root, "1.1")
    warm, warm_output = build("bumped", "warm-cache")
    cold, cold_output = build("cold", "cold-cache")

    assert warm == cold, f"warm:\n{warm_output}\ncold:\n{cold_output}"
    assert "Reused 1 compressed file" in warm_output and "compressed 1 new ones" in warm_output
    # hlbump-native's dist-info is unchanged; hlbump_small's module and dist-info are new.
    assert "small files: reused" in warm_output and "small files: reused 0," not in warm_output
    assert "Reused" not in cold_output
    layer = tmp_path / "bumped" / "inspected.zip"
    layer.write_bytes(warm)
    with zipfile.ZipFile(layer) as opened:
        assert opened.read("python/hlbump_small/__init__.py") == b"VERSION = '1.1'\n"


def test_a_package_s_small_files_share_bundles_across_its_large_files(tmp_path):
    modules = small_modules()
    modules["python/alpha/m020_native.so"] = random.Random(9).randbytes(100_000)  # sorts mid-alpha
    files = listed_layer(modules)
    store = EntryStore(tmp_path / "cache")
    written = write(tmp_path / "cold.zip", files, store)

    assert len(bundles(store)) == 2  # alpha's 40 modules in one, beta's in the other
    assert written == write(tmp_path / "plain.zip", files, None)
    assert written == write(tmp_path / "warm.zip", files, EntryStore(tmp_path / "cache"))


# Digests remembered by file identity. ------------------------------------------------------------


def on_disk(root: Path, blobs: dict[str, bytes]) -> list[FileToPack]:
    """Files written under `root` and listed as a layer's are, with their identities."""
    for relative, data in blobs.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return files_to_pack(root, "python/")


def large_blobs(seed: int = 11) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {"big/core.so": rng.randbytes(150_000), "big/tables.bin": rng.randbytes(90_000) * 2}


def counting_sha256(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Patches the store's sha256 to count the large files it hashes (bundles hash many small ones)."""
    sizes: list[int] = []
    real = hashlib.sha256

    def sha256(data: bytes = b"") -> hashlib._Hash:
        if len(data) >= SMALLEST_STORED:
            sizes.append(len(data))
        return real(data)

    monkeypatch.setattr(entry_cache.hashlib, "sha256", sha256)
    return sizes


def test_an_unchanged_file_is_not_hashed_again(tmp_path, monkeypatch):
    files = on_disk(tmp_path / "tree", large_blobs())
    plain = write(tmp_path / "plain.zip", files, None)
    write(tmp_path / "fill.zip", files, EntryStore(tmp_path / "cache"))
    hashed = counting_sha256(monkeypatch)

    store = EntryStore(tmp_path / "cache")
    assert write(tmp_path / "warm.zip", files, store) == plain
    assert hashed == [] and store.counts.reused == 2 and not store.warnings


def test_a_file_rewritten_with_its_time_set_back_is_hashed_and_zipped_as_it_is_now(tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    files = on_disk(tree, large_blobs())
    write(tmp_path / "fill.zip", files, EntryStore(tmp_path / "cache"))
    library = tree / "big" / "core.so"
    before = library.stat()
    rewritten = random.Random(12).randbytes(before.st_size)
    with library.open("r+b") as stream:  # in place: the same inode and size
        stream.write(rewritten)
    os.utime(library, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (library.stat().st_ino, library.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    hashed = counting_sha256(monkeypatch)

    store = EntryStore(tmp_path / "cache")
    warm = write(tmp_path / "warm.zip", files, store)

    assert warm == write(tmp_path / "plain.zip", files, None)
    assert hashed == [len(rewritten)] and (store.counts.reused, store.counts.compressed) == (1, 1)
    assert not store.warnings  # a stale memo is no damage to report
    new_entry = store._path(hashlib.sha256(rewritten).hexdigest(), 6)
    assert new_entry.is_file()  # stored under the digest of what was read, not the remembered one
    with zipfile.ZipFile(tmp_path / "warm.zip") as opened:
        assert opened.read("python/big/core.so") == rewritten


def swapped_digests(raw: bytes) -> bytes:
    """The memo with its two records' digests swapped: each intact, each naming the other's entry."""
    record = 64  # device, inode, size, mtime: 8 bytes each; the sha256: 32
    head, first, second = raw[:4], raw[4 : 4 + record], raw[4 + record : 4 + 2 * record]
    return head + first[:32] + second[32:] + second[:32] + first[32:]


@pytest.mark.parametrize(
    "damage",
    [lambda raw: raw[:-7], lambda raw: b"JUNK" + raw[4:], swapped_digests],
    ids=["truncated", "foreign", "digests-swapped"],
)
def test_a_damaged_digest_memo_only_costs_hashing(tmp_path, monkeypatch, damage):
    files = on_disk(tmp_path / "tree", large_blobs())
    write(tmp_path / "fill.zip", files, EntryStore(tmp_path / "cache"))
    memo = tmp_path / "cache" / entry_cache.STORE_DIRECTORY / entry_cache.DIGESTS_FILE
    assert len(memo.read_bytes()) == 4 + 2 * 64
    memo.write_bytes(damage(memo.read_bytes()))
    hashed = counting_sha256(monkeypatch)

    store = EntryStore(tmp_path / "cache")
    assert write(tmp_path / "warm.zip", files, store) == write(tmp_path / "plain.zip", files, None)
    assert store.counts.reused == 2 and not store.warnings
    assert len(hashed) == 2  # each file hashed, as with no memo


def walks(monkeypatch) -> list[int]:
    """Each walk of a store `prune` makes from now on."""
    counted: list[int] = []
    real_walk = entry_cache.os.walk

    def counting_walk(*arguments, **options):
        counted.append(1)
        return real_walk(*arguments, **options)

    monkeypatch.setattr(entry_cache.os, "walk", counting_walk)
    return counted


def test_prune_walks_the_store_only_once_its_tally_nears_the_bound(tmp_path, monkeypatch):
    """A bump writes a few entries into a store far within its bound: its size is tallied, not walked."""
    walked = walks(monkeypatch)
    files = library_files()
    first = EntryStore(tmp_path / "cache")
    write(tmp_path / "fill.zip", files, first)
    first.prune()
    assert walked == [1]  # no tally yet: walked, and the total kept
    size = sum(path.stat().st_size for path in stored_entries(first))

    again = EntryStore(tmp_path / "cache")
    write(tmp_path / "again.zip", files, again)
    again.prune()
    assert walked == [1]  # within the bound: tallied

    near = EntryStore(tmp_path / "cache", max_bytes=size + 64)
    other = random.Random(9).randbytes(SMALLEST_STORED * 2)
    write(
        tmp_path / "near.zip",
        [FileToPack("python/other.so", lambda: other, False, FIXED, size=len(other))],
        near,
    )
    near.prune()
    assert walked == [1, 1]  # the tally reached the bound: walked, and pruned to it
    assert sum(path.stat().st_size for path in stored_entries(near)) <= size + 64


def test_a_whole_tally_is_rewritten_where_it_stands_and_a_damaged_one_replaced(tmp_path):
    """Renaming a new tally over the old one stalled a bump on the journal: a whole tally is
    rewritten in place, with the bytes written since added; one that is not whole is written anew."""
    files = library_files()
    first = EntryStore(tmp_path / "cache")
    write(tmp_path / "fill.zip", files, first)
    first.prune()
    path = first.root / entry_cache.TALLY_FILE
    total, walked_at = entry_cache._read_tally(path)
    inode = path.stat().st_ino

    other = random.Random(11).randbytes(SMALLEST_STORED * 2)
    more = EntryStore(tmp_path / "cache")
    write(
        tmp_path / "more.zip",
        [FileToPack("python/more.so", lambda: other, False, FIXED, size=len(other))],
        more,
    )
    added = sum(path.stat().st_size for path in stored_entries(more)) - total
    more.prune()

    assert path.stat().st_ino == inode  # the same file
    assert entry_cache._read_tally(path) == (total + added, walked_at)
    assert added > len(other) // 2  # the new entry is counted
    assert [name for name in os.listdir(first.root) if name.endswith(".partial")] == []

    path.write_bytes(path.read_bytes()[:-1])  # damaged: shorter than a tally
    EntryStore(tmp_path / "cache").prune()
    assert entry_cache._read_tally(path) is not None  # walked, and written whole again


@pytest.mark.parametrize("tally", ["a day old", "damaged", "from the future"])
def test_prune_walks_when_its_tally_cannot_be_trusted(tmp_path, monkeypatch, tally):
    store = EntryStore(tmp_path / "cache")
    write(tmp_path / "fill.zip", library_files(), store)
    store.prune()
    path = store.root / entry_cache.TALLY_FILE
    total, walked_at = entry_cache._read_tally(path)
    if tally == "damaged":
        path.write_bytes(path.read_bytes()[:-1])
    else:
        moved = -entry_cache.TALLY_SECONDS - 1 if tally == "a day old" else 3600
        path.write_bytes(entry_cache._TALLY.pack(entry_cache._TALLY_MAGIC, total, walked_at + moved))
    partial = store.root / ".left.x.partial"
    partial.write_bytes(b"left by a build that died")
    os.utime(partial, (time.time() - entry_cache.STALE_SECONDS - 1,) * 2)
    walked = walks(monkeypatch)

    EntryStore(tmp_path / "cache").prune()

    assert walked == [1]
    assert not partial.exists()


def test_records_are_written_whole_readable_by_others_and_leave_no_temporary_file(tmp_path):
    """The store's one write: a new directory made on the way, the mode the cache's other files
    get whatever the umask, an existing record replaced, and nothing but the record left."""
    destination = tmp_path / "store" / "ab" / "record"
    previous = os.umask(0o077)
    try:
        atomic.write_bytes(destination, b"first")
        atomic.write_bytes(destination, b"second" * 100_000)
    finally:
        os.umask(previous)

    assert destination.read_bytes() == b"second" * 100_000
    assert destination.stat().st_mode & 0o777 == 0o644
    assert os.listdir(destination.parent) == ["record"]


def test_a_record_that_cannot_be_written_leaves_the_one_before(tmp_path, monkeypatch):
    destination = tmp_path / "record"
    atomic.write_bytes(destination, b"kept")

    def full_disk(descriptor, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic.write_bytes(destination, b"lost")
    monkeypatch.undo()

    assert destination.read_bytes() == b"kept"
    assert os.listdir(tmp_path) == ["record"]
