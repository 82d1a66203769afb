"""The identities the layer cache key is made of, as pure functions over inputs."""

from __future__ import annotations

import sys
from pathlib import Path

import deflate

from hatch_lambda.layer.identity import deflate_identity, pylock_distributions, tree_digest, uv_settings

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def test_a_directory_digest_changes_with_its_code_not_with_what_it_ignores(tmp_path):
    library = tree(tmp_path / "lib", {"lib/__init__.py": "A = 1\n", ".gitignore": "scratch/\n*.log\n"})
    first = tree_digest(library)
    tree(
        library, {"scratch/notes.txt": "x", "build.log": "x", "lib/__pycache__/a.pyc": "x", ".git/HEAD": "x"}
    )

    assert tree_digest(library) == first
    (library / "lib" / "__init__.py").write_text("A = 2\n")
    assert tree_digest(library) != first


def test_a_directory_that_does_not_exist_has_no_digest(tmp_path):
    assert tree_digest(tmp_path / "missing") is None


def test_pylock_sources_are_identified_by_hash_commit_or_tree(tmp_path):
    tree(tmp_path / "lib", {"lib/__init__.py": "A = 1\n"})
    lock = tmp_path / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\n'
        '[[packages]]\nname = "a"\nversion = "1"\n'
        'wheels = [{ url = "https://example.invalid/a.whl", hashes = { sha256 = "ab" } }]\n'
        '[[packages]]\nname = "b"\nversion = "1"\n'
        'vcs = { type = "git", url = "https://example.invalid/b", commit-id = "c0ffee" }\n'
        '[[packages]]\nname = "lib"\ndirectory = { path = "lib" }\n'
        '[[packages]]\nname = "d"\nversion = "1"\narchive = { url = "https://example.invalid/d.tar.gz" }\n'
    )

    found = pylock_distributions(tomllib.loads(lock.read_text()), lock.parent)

    sources = {identity[0]: identity[3] for identity in found.identities}
    assert sources["a"] == ["ab"]
    assert sources["b"] == ["vcs", "https://example.invalid/b", "c0ffee"]
    assert sources["lib"][0] == "directory"
    assert found.unidentified == ["d"]  # an archive without a hash
    assert found.directories == ["lib"]
    assert not found.only_hashed_wheels  # uv's cache cannot stand for a VCS checkout or a directory


def test_only_a_pylock_of_hashed_wheels_can_be_installed_from_uv_s_cache_alone():
    def lock_of_one_wheel(sha256: str) -> dict[str, object]:
        wheel = {"url": "https://example.invalid/a-1-py3-none-any.whl", "hashes": {"sha256": sha256}}
        return {"packages": [{"name": "a", "version": "1", "wheels": [wheel]}]}

    assert pylock_distributions(lock_of_one_wheel("ab"), Path()).only_hashed_wheels
    assert not pylock_distributions(lock_of_one_wheel(""), Path()).only_hashed_wheels


def test_uv_settings_leave_out_where_files_come_from_and_keep_what_changes_them(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.uv]\nindex-url = "https://x.invalid"\nno-binary = ["a"]\n'
    )
    environment = {
        "UV_INDEX_URL": "https://y.invalid",
        "UV_FIND_LINKS": "/wheels",
        "UV_LINK_MODE": "symlink",
        "UV_PRERELEASE": "allow",
        "XDG_CONFIG_HOME": str(tmp_path / "no-user-config"),
    }

    settings = uv_settings(tmp_path, environment)

    assert settings["environment"] == {"UV_PRERELEASE": "allow"}
    assert settings["files"]["project"] == {"no-binary": ["a"]}


def test_the_deflate_identity_names_the_implementation():
    identity = deflate_identity()

    assert identity["library"] == "libdeflate"
    assert identity["deflate"] == deflate.__version__
    assert len(identity["sample"]) == 64
    assert deflate_identity() == identity
