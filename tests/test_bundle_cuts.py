"""Bundle cuts: a bump of one distribution must not make the others' small files compress again,
whatever the layout puts before them (the site-packages layout, a namespace package)."""

from __future__ import annotations

import random

import pytest

from hatch_lambda.archive.entry_cache import EntryStore
from hatch_lambda.files.record import FileToPack
from tests.test_entry_cache import FIXED, write


def layer(prefix: str, alpha_files: int) -> list[FileToPack]:
    """Two distributions' small modules (1.6 MB in all, so several bundles) under `prefix`."""
    blobs = {
        f"{prefix}alpha/m{index:03}.py": random.Random(index).randbytes(20_000)
        for index in range(alpha_files)
    }
    blobs |= {
        f"{prefix}beta/m{index:03}.py": random.Random(1000 + index).randbytes(20_000) for index in range(40)
    }
    return [
        FileToPack(path, (lambda data=data: data), False, FIXED, size=len(data))
        for path, data in blobs.items()
    ]


@pytest.mark.parametrize(
    "prefix",
    ["python/", "python/lib/python3.12/site-packages/", "python/google/"],
    ids=["python-layout", "site-packages-layout", "namespace-package"],
)
def test_a_bump_of_alpha_reuses_all_of_betas_small_files(tmp_path, prefix):
    write(tmp_path / "before.zip", layer(prefix, 40), EntryStore(tmp_path / "cache"))
    bumped = layer(prefix, 41)  # alpha gained a module: beta is the same files

    store = EntryStore(tmp_path / "cache")
    warm = write(tmp_path / "warm.zip", bumped, store)

    assert warm == write(tmp_path / "plain.zip", bumped, None)
    assert store.counts.bundled_reused >= 40, store.counts
