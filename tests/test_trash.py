"""The trash (`files.trash`): a build moves its install tree there, the next build empties it while
its installer runs. What a user would check: nothing a build is done with stays behind in `dist/`,
the cache holds at most the last build's tree, and a build after a bump still ships the bump."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from hatch_lambda.build.transaction import transaction
from hatch_lambda.files import removal, trash
from hatch_lambda.files.trash import TRASH_FOLDER, discard, emptied_meanwhile, set_aside
from hatch_lambda.layer.extracted_layers import set_write_bits
from tests.helpers import output_of, run_hatchling, write_project

NOBODY = 65534  # a user root runs the permission test as: its bits bind it


def _tree(root: Path) -> Path:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("X = 1\n")
    (root / "pkg" / "sub" / "data.bin").write_bytes(b"\0" * 4096)
    return root


def test_a_discarded_tree_is_moved_whole_into_the_trash(tmp_path):
    tree = _tree(tmp_path / "dist" / "target")
    cache = tmp_path / "cache"

    discard(tree, cache)

    assert not tree.exists()
    (moved,) = (cache / TRASH_FOLDER).iterdir()
    assert (moved / "pkg" / "sub" / "data.bin").read_bytes() == b"\0" * 4096
    assert moved.name.startswith(f"{os.getpid()}-")


def test_a_tree_that_cannot_be_moved_is_removed_at_once(tmp_path, monkeypatch):
    tree = _tree(tmp_path / "dist" / "target")
    cache = tmp_path / "cache"

    def cross_device(self: Path, target: Path) -> Path:
        raise OSError(18, "Invalid cross-device link")  # what rename gives across file systems

    monkeypatch.setattr(Path, "rename", cross_device)
    discard(tree, cache)

    assert not tree.exists()
    assert list((cache / TRASH_FOLDER).iterdir()) == []


def test_a_tree_that_was_never_made_is_nothing_to_discard(tmp_path):
    discard(tmp_path / "dist" / "target", tmp_path / "cache")

    assert not (tmp_path / "cache").exists()


def test_the_trash_is_emptied_while_the_block_runs_and_done_when_it_ends(tmp_path):
    cache = tmp_path / "cache"
    for number in range(3):
        discard(_tree(tmp_path / f"build-{number}"), cache)
    assert len(list((cache / TRASH_FOLDER).iterdir())) == 3
    names_in_block: list[str] = []

    with emptied_meanwhile(cache):
        names_in_block.extend(thread.name for thread in threading.enumerate())

    assert "hatch-lambda-trash" in names_in_block
    assert list((cache / TRASH_FOLDER).iterdir()) == []


def test_an_empty_or_missing_trash_starts_no_thread(tmp_path, monkeypatch):
    started: list[object] = []
    monkeypatch.setattr(trash.threading, "Thread", lambda *args, **kwargs: started.append(kwargs))

    with emptied_meanwhile(tmp_path / "no-cache"):
        pass
    (tmp_path / "cache" / TRASH_FOLDER).mkdir(parents=True)
    with emptied_meanwhile(tmp_path / "cache"):
        pass

    assert started == []


def test_a_block_that_fails_still_waits_for_the_trash(tmp_path):
    cache = tmp_path / "cache"
    discard(_tree(tmp_path / "build"), cache)

    with pytest.raises(RuntimeError), emptied_meanwhile(cache):
        raise RuntimeError("the installer failed")

    assert list((cache / TRASH_FOLDER).iterdir()) == []


# A user's workflow: build, bump, build again ------------------------------------------------------


def _configure(root: Path, dependencies: list[str]) -> None:
    write_project(
        root,
        {
            "pyproject.toml": f"[project]\nname = 'trash-app'\nversion = '1.0'\n"
            f"dependencies = {dependencies!r}\n\n"
            "[tool.hatch.build.targets.lambda]\nruntime = 'python3.12'\n",
            "trash_app/__init__.py": "VALUE = 1\n",
        },
    )


def _build(root: Path, environment: dict[str, str]) -> set[str]:
    completed = run_hatchling(root, "lambda:layer", environment=environment)
    assert completed.returncode == 0, output_of(completed)
    (layer,) = (root / "dist").glob("*-lambda-layer-*.zip")
    with zipfile.ZipFile(layer) as archive:
        return set(archive.namelist())


def test_a_build_leaves_one_tree_in_the_trash_and_nothing_in_dist(tmp_path, offline_environment, layer_cache):
    root = tmp_path / "app"
    _configure(root, ["hlfix-pure"])
    _build(root, offline_environment)
    (first,) = (layer_cache / TRASH_FOLDER).iterdir()
    # A stale tree from a build that was killed before it could empty the trash.
    discard(_tree(tmp_path / "killed-build"), layer_cache)

    _configure(root, ["hlfix-pure", "hlfix-heavy"])
    names = _build(root, offline_environment)

    (second,) = (layer_cache / TRASH_FOLDER).iterdir()
    assert second != first
    assert any(name.startswith("python/hlfix_heavy/") for name in names)
    assert sorted(path.name for path in (root / "dist").iterdir() if path.name.startswith(".")) == []


# Large files replaced or removed: a second name in the trash, freed by the next install -----------


def _large(path: Path, fill: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fill * trash.SET_ASIDE_FROM)
    return path


def test_a_large_file_replaced_after_it_is_set_aside_waits_in_the_trash(tmp_path):
    cache = tmp_path / "cache"
    committed = _large(tmp_path / "dist" / "app-lambda-layer.zip", b"o")
    staged = _large(tmp_path / "stage" / "app-lambda-layer.zip", b"n")

    set_aside(committed, cache)
    os.replace(staged, committed)

    assert committed.read_bytes() == b"n" * trash.SET_ASIDE_FROM
    (waiting,) = (cache / TRASH_FOLDER).iterdir()
    assert waiting.name.endswith("-app-lambda-layer.zip")
    assert waiting.read_bytes() == b"o" * trash.SET_ASIDE_FROM
    with emptied_meanwhile(cache):
        pass
    assert list((cache / TRASH_FOLDER).iterdir()) == []


def test_small_files_links_and_missing_files_are_not_set_aside(tmp_path):
    cache = tmp_path / "cache"
    (tmp_path / "small.zip").write_bytes(b"x" * (trash.SET_ASIDE_FROM - 1))
    large = _large(tmp_path / "large.zip", b"l")
    (tmp_path / "link.zip").symlink_to(large)

    for name in ("small.zip", "link.zip", "missing.zip"):
        set_aside(tmp_path / name, cache)

    assert not (cache / TRASH_FOLDER).exists() or list((cache / TRASH_FOLDER).iterdir()) == []


def test_the_trash_holds_at_most_so_many_set_aside_files(tmp_path):
    cache = tmp_path / "cache"
    large = _large(tmp_path / "large.zip", b"l")

    for _ in range(trash.MOST_SET_ASIDE + 3):
        set_aside(large, cache)

    assert len(list((cache / TRASH_FOLDER).iterdir())) == trash.MOST_SET_ASIDE
    assert large.stat().st_nlink == trash.MOST_SET_ASIDE + 1


def test_a_commit_over_a_large_artifact_sets_the_old_one_aside(tmp_path, layer_cache, monkeypatch):
    monkeypatch.setenv("HATCH_LAMBDA_CACHE_DIR", str(layer_cache))
    output = tmp_path / "dist"
    _large(output / "app-1.0-lambda-layer.zip", b"o")
    _large(output / "app-0.9-lambda-layer.zip", b"r")

    with transaction(output, "app") as staging:
        _large(staging.stage("app-1.0-lambda-layer.zip"), b"n")
        staging.stage("app-1.0-lambda.json").write_text("{}")
        staging.commit(["app-1.0-lambda.json"], remove=[output / "app-0.9-lambda-layer.zip"])

    committed = sorted(path.name for path in output.iterdir())
    assert committed == ["app-1.0-lambda-layer.zip", "app-1.0-lambda.json"]
    assert (output / "app-1.0-lambda-layer.zip").read_bytes()[:1] == b"n"
    waiting = sorted(path.read_bytes()[:1] for path in (layer_cache / TRASH_FOLDER).iterdir())
    assert waiting == [b"o", b"r"]


# A trash that is not this user's own directory, and entries that cannot be removed -----------------


def _victim(root: Path) -> Path:
    (root / "keep" / "deep").mkdir(parents=True)
    (root / "keep" / "deep" / "work.txt").write_text("a user's work")
    (root / "notes.txt").write_text("more work")
    return root


def _everything_in(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_a_trash_that_is_a_symbolic_link_is_never_emptied_moved_into_or_linked_into(tmp_path):
    """Pointing `trash-v1` elsewhere (a scratch disk, or another user's planting) must never turn
    the next install into a removal of what it points to."""
    victim = _victim(tmp_path / "scratch")
    before = _everything_in(victim)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / TRASH_FOLDER).symlink_to(victim, target_is_directory=True)

    with emptied_meanwhile(cache):
        pass
    tree = _tree(tmp_path / "dist" / "target")
    discard(tree, cache)
    set_aside(_large(tmp_path / "dist" / "app-lambda-layer.zip", b"o"), cache)

    assert _everything_in(victim) == before
    assert not tree.exists()  # removed at once, as with no trash to move it into


@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_a_trash_others_can_write_is_closed_to_them_and_emptied_without_following_links(tmp_path, mode):
    """What an earlier version made under a permissive umask: closed to other users before it is
    used, and what they may have put there (links to a user's files) removed, never followed."""
    victim = _victim(tmp_path / "home")
    before = _everything_in(victim)
    cache = tmp_path / "cache"
    planted = cache / TRASH_FOLDER / "planted"
    planted.mkdir(parents=True)
    (planted / "to-a-directory").symlink_to(victim / "keep", target_is_directory=True)
    (planted / "to-a-file").symlink_to(victim / "notes.txt")
    (cache / TRASH_FOLDER / "1-link").symlink_to(victim, target_is_directory=True)
    os.chmod(cache / TRASH_FOLDER, mode)

    with emptied_meanwhile(cache):
        pass

    assert stat.S_IMODE((cache / TRASH_FOLDER).stat().st_mode) == 0o700
    assert list((cache / TRASH_FOLDER).iterdir()) == []
    assert _everything_in(victim) == before


def test_an_entry_that_cannot_be_removed_is_left_and_the_rest_still_go(tmp_path, monkeypatch):
    """A set-aside zip another process holds open (Windows), or another user's file: left for a
    later build, without a traceback, and without pinning the entries after it."""
    cache = tmp_path / "cache"
    set_aside(_large(tmp_path / "dist" / "a.zip", b"a"), cache)
    discard(_tree(tmp_path / "build-1"), cache)
    discard(_tree(tmp_path / "build-2"), cache)
    (stuck,) = [path for path in (cache / TRASH_FOLDER).iterdir() if path.is_file()]
    real_unlink = Path.unlink

    def refusing_unlink(self: Path, missing_ok: bool = False) -> None:
        if self == stuck:
            raise PermissionError(13, "Permission denied", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refusing_unlink)
    failures: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda arguments: failures.append(arguments.exc_value))

    with emptied_meanwhile(cache):
        pass

    assert failures == []
    assert list((cache / TRASH_FOLDER).iterdir()) == [stuck]


@pytest.mark.parametrize("way", ["emptying the trash", "removing a layout made read-only"])
def test_a_tree_with_a_read_only_directory_is_removed(tmp_path, way):
    """What an install may leave (a package that ships read-only or unreadable directories), and what
    the handler check makes read-only on purpose (`set_write_bits`): removed whole, by a user the
    permission bits bind (root ignores them, so as root it runs as nobody)."""
    work = Path(tempfile.mkdtemp(prefix="hatch-lambda-trash-test-"))
    try:
        tree = _tree(work / "cache" / TRASH_FOLDER / "1-0")
        (tree / "pkg" / "locked").mkdir()
        (tree / "pkg" / "locked" / "secret.bin").write_bytes(b"\0")
        os.chmod(tree / "pkg" / "locked", 0o000)  # not even readable: opened up by its name
        os.chmod(tree / "pkg" / "sub", 0o555)
        os.chmod(tree / "pkg", 0o555)
        if way != "emptying the trash":
            set_write_bits(tree, writable=False)
        if os.getuid() == 0:
            for path in (work, *work.rglob("*")):
                os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports by its exit status alone
            try:
                if os.getuid() == 0:
                    os.setgid(NOBODY)
                    os.setuid(NOBODY)
                if way == "emptying the trash":
                    with emptied_meanwhile(work / "cache"):
                        pass
                else:
                    removal.remove_tree(tree, read_only=True)
                os._exit(0 if not list((work / "cache" / TRASH_FOLDER).iterdir()) else 1)
            except BaseException:
                os._exit(2)
        deadline = time.monotonic() + 60
        while (ended := os.waitpid(child, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                pytest.fail("the removal did not end within a minute")
            time.sleep(0.01)
        outcome = os.waitstatus_to_exitcode(ended[1])
        assert outcome != 2, "the removal raised"
        assert outcome == 0, "the tree (or part of it) is still there"
    finally:
        for directory, _, _ in os.walk(work):
            os.chmod(directory, 0o755)
        shutil.rmtree(work)


def test_discarding_a_symbolic_link_removes_the_link_and_leaves_what_it_points_to(tmp_path):
    victim = _victim(tmp_path / "home")
    os.chmod(victim / "keep", 0o700)
    before = _everything_in(victim)
    link = tmp_path / "dist" / "target"
    link.parent.mkdir()
    link.symlink_to(victim / "keep", target_is_directory=True)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / TRASH_FOLDER).write_text("not a directory: no trash to move it into")

    discard(link, cache)

    assert not os.path.lexists(link)
    assert _everything_in(victim) == before
    assert stat.S_IMODE((victim / "keep").stat().st_mode) == 0o700


def test_opening_up_a_tree_never_changes_what_a_link_points_to(tmp_path):
    """The removal opens directories up only through descriptors opened without following links:
    a tree swapped for a link meanwhile leaves the link's target as it was."""
    target = tmp_path / "private"
    target.mkdir()
    os.chmod(target, 0o700)
    secret = tmp_path / "secret.txt"
    secret.write_text("mine")
    os.chmod(secret, 0o600)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "to-private").symlink_to(target, target_is_directory=True)
    swapped = tmp_path / "swapped"
    swapped.symlink_to(secret)

    removal._open_up(tree)
    removal._open_up(swapped)

    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
