"""The handler check and `invoke` share one read-only extracted tree per layer zip, and its bytecode.

Each test builds a small project with `hatchling build -t lambda` (the check runs inside it) and
then looks where a user would: the cache directory, the zips, what the handler returns.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from hatch_lambda.files.digest import file_sha256
from hatch_lambda.layer.extracted_layers import (
    KEEP_TREES,
    MARKER,
    PYCACHE_FOLDER,
    TREES_FOLDER,
    prune,
    set_write_bits,
    shared_layer_tree,
    tree_directory,
)
from hatch_lambda.platform.runtimes import runtime_named
from hatch_lambda.runtime.local_lambda import LocalFunction, can_run_here, invoke_handler, lambda_layout
from tests.helpers import output_of, require_cpython, run_hatchling, run_invoke, write_project

PYTHON312 = runtime_named("python3.12")
HANDLER = """\
import os

import hlfix_pure


def lambda_handler(event, context):
    package = os.path.dirname(hlfix_pure.__file__)
    return {"said": hlfix_pure.shout(event.get("text", "x")), "layer": sorted(os.listdir(package))}
"""


@pytest.fixture(autouse=True)
def _runs_here(offline_runtime_sdk: None) -> None:
    require_cpython("3.12")
    assert PYTHON312 is not None
    reason = can_run_here(PYTHON312, "x86_64")
    if reason is not None:  # not Linux x86_64, or a glibc older than Amazon Linux 2023's
        pytest.skip(reason)


def build(
    root: Path,
    environment: dict[str, str],
    handler: str = HANDLER,
    dependencies: str = '"hlfix-pure"',
    table: str = "",
) -> Path:
    """Build `shouter` with the handler check on; the layer zip it wrote."""
    write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "shouter"
                version = "1.0"
                dependencies = [{dependencies}]

                [tool.hatch.build.targets.wheel]
                packages = ["shouter"]

                [tool.hatch.build.targets.lambda]
                runtime = "python3.12"
                handler = "shouter.app.lambda_handler"
                {table}
            """,
            "shouter/__init__.py": "",
            "shouter/app.py": handler,
        },
    )
    completed = run_hatchling(root, "lambda", environment=environment)
    assert completed.returncode == 0, output_of(completed)
    assert output_of(completed).count("Checked handler shouter.app.lambda_handler") == 1
    return layer_zip(root)


def layer_zip(root: Path) -> Path:
    manifest = json.loads((root / "dist" / "shouter-1.0-lambda.json").read_text())
    return root / "dist" / manifest["artifacts"]["layer"]["file"]


def source_zip(root: Path) -> Path:
    manifest = json.loads((root / "dist" / "shouter-1.0-lambda.json").read_text())
    return root / "dist" / manifest["artifacts"]["source"]["file"]


def tree_of(layer_cache: Path, layer: Path) -> Path:
    return tree_directory(layer_cache, file_sha256(layer))


def identity(tree: Path) -> tuple[int, int, int]:
    """What changes when a tree is extracted again: the directory, and a file's inode and time."""
    module = next(tree.rglob("hlfix_pure/__init__.py"))
    return tree.stat().st_ino, module.stat().st_ino, module.stat().st_mtime_ns


def test_a_second_build_reuses_the_layers_tree_and_its_bytecode(tmp_path, offline_environment, layer_cache):
    project = tmp_path / "shouter"
    first_layer = build(project, offline_environment)
    tree = tree_of(layer_cache, first_layer)
    before = identity(tree)
    first_bytes = first_layer.read_bytes()

    # A one-line change to the code: the layer stays the same, the check runs again.
    second_layer = build(project, offline_environment, HANDLER + "\nVERSION = 2\n")

    assert second_layer.read_bytes() == first_bytes
    assert identity(tree) == before
    # The layer's module was compiled once, into the cache's directory for CPython 3.12 x86_64 ...
    compiled = list(
        (layer_cache / PYCACHE_FOLDER / "cpython-3.12-x86_64").rglob("hlfix_pure/__init__.cpython-312.pyc")
    )
    assert len(compiled) == 1
    # ... and never next to the sources, nor into a zip.
    assert not list(tree.rglob("*.pyc"))
    with zipfile.ZipFile(source_zip(project)) as opened:
        assert not [name for name in opened.namelist() if name.endswith(".pyc") or "__pycache__" in name]
    with zipfile.ZipFile(second_layer) as opened:
        assert not [name for name in opened.namelist() if name.endswith(".pyc") or "__pycache__" in name]
    # Nothing of the check's own temporary directory stays in the cache.
    assert not [path for path in (layer_cache / PYCACHE_FOLDER).rglob("hatch-lambda-run-*")]


def test_a_different_layer_gets_its_own_tree(tmp_path, offline_environment, layer_cache):
    pure = build(tmp_path / "pure", offline_environment)
    both = build(tmp_path / "both", offline_environment, dependencies='"hlfix-pure", "hlfix-tool"')

    assert file_sha256(pure) != file_sha256(both)
    assert tree_of(layer_cache, pure).is_dir()
    assert tree_of(layer_cache, both).is_dir()
    assert tree_of(layer_cache, pure) != tree_of(layer_cache, both)
    assert sorted(path.name for path in (layer_cache / TREES_FOLDER).iterdir() if path.is_dir()) == sorted(
        [file_sha256(pure), file_sha256(both)]
    )


def _delete_the_tree(tree: Path) -> None:
    set_write_bits(tree.parent, writable=True)
    shutil.rmtree(tree.parent)


def _delete_the_marker(tree: Path) -> None:
    (tree.parent / MARKER).unlink()


def _another_layers_marker(tree: Path) -> None:
    marker = json.loads((tree.parent / MARKER).read_text())
    (tree.parent / MARKER).write_text(json.dumps({**marker, "layer_sha256": "0" * 64}))


def _rewrite_a_module(tree: Path) -> None:
    module = next(tree.rglob("hlfix_pure/__init__.py"))
    set_write_bits(module.parent, writable=True)
    module.write_text("def shout(text):\n    return 'tampered'\n")


def _add_a_file(tree: Path) -> None:
    package = next(tree.rglob("hlfix_pure/__init__.py")).parent
    set_write_bits(package, writable=True)
    (package / "extra.py").write_text("")


@pytest.mark.parametrize(
    "damage",
    [
        _delete_the_tree,
        _delete_the_marker,
        _another_layers_marker,
        _rewrite_a_module,
        _add_a_file,
    ],
)
def test_a_deleted_partial_or_tampered_tree_is_extracted_again(
    tmp_path, offline_environment, layer_cache, damage
):
    project = tmp_path / "shouter"
    tree = tree_of(layer_cache, build(project, offline_environment))
    damage(tree)

    build(project, offline_environment, HANDLER + "\nVERSION = 2\n")

    module = next(tree.rglob("hlfix_pure/__init__.py"))
    with zipfile.ZipFile(layer_zip(project)) as opened:
        assert module.read_bytes() == opened.read(module.relative_to(tree).as_posix())
        # Exactly the zip's files: what was added is gone.
        files = sorted(str(path.relative_to(tree)) for path in tree.rglob("*") if path.is_file())
        assert files == sorted(name for name in opened.namelist() if not name.endswith("/"))
    assert json.loads((tree.parent / MARKER).read_text())["layer_sha256"] == file_sha256(layer_zip(project))
    assert not os.access(module, os.W_OK) or os.geteuid() == 0


WRITER = """\
import os

import hlfix_pure

with open(os.path.join(os.path.dirname(hlfix_pure.__file__), "note.txt"), "w") as note:
    note.write("written by the handler")


def lambda_handler(event, context):
    return None
"""


def test_the_handler_cannot_write_into_the_shared_tree(tmp_path, offline_environment, layer_cache):
    project = tmp_path / "shouter"
    tree = tree_of(layer_cache, build(project, offline_environment))

    write_project(project, {"shouter/app.py": WRITER})
    completed = run_hatchling(project, "lambda", environment=offline_environment)

    assert completed.returncode != 0
    assert "Read-only file system" in output_of(completed)
    assert "only /tmp is writable" in output_of(completed)
    assert not list(tree.rglob("note.txt"))


def test_invoke_reuses_the_tree_and_answers_as_without_the_cache(
    tmp_path, offline_environment, layer_cache, monkeypatch
):
    project = tmp_path / "shouter"
    tree = tree_of(layer_cache, build(project, offline_environment))
    before = identity(tree)

    invoked = run_invoke(
        project,
        *("--handler", "shouter.app.lambda_handler", "--event", "-"),
        environment=offline_environment,
        stdin='{"text": "ship it"}',
    )

    assert invoked.returncode == 0, invoked.stderr
    assert identity(tree) == before
    # The same invocation with no cache to use: the layer extracted for it alone, no bytecode kept.
    unusable = tmp_path / "not-a-directory"
    unusable.write_text("")
    assert PYTHON312 is not None
    function = LocalFunction(
        "shouter.app.lambda_handler", PYTHON312, source_zip(project), layer_zip(project), runtime_sdk=None
    )
    monkeypatch.setenv("HATCH_LAMBDA_CACHE_DIR", str(unusable))
    without_cache = invoke_handler(function, '{"text": "ship it"}')
    monkeypatch.setenv("HATCH_LAMBDA_CACHE_DIR", str(layer_cache))
    with_cache = invoke_handler(function, '{"text": "ship it"}')

    assert without_cache.error is None and with_cache.error is None
    assert json.loads(invoked.stdout) == json.loads(without_cache.response or b"")
    assert with_cache.response == without_cache.response
    assert identity(tree) == before


SHIPPED = 'def lambda_handler(event, context):\n    return "from the shipped bytecode"\n'


def test_a_release_with_its_own_bytecode_is_checked_on_that_bytecode(
    tmp_path, offline_environment, layer_cache
):
    """Lambda loads `compile-bytecode`'s unchecked-hash pycs without reading the sources: so does the
    check, with a usable cache as without one (a pycache prefix would make CPython ignore them)."""
    project = tmp_path / "shouter"
    build(project, offline_environment, table="compile-bytecode = true")
    code = source_zip(project)
    shipped = "shouter/__pycache__/app.cpython-312.pyc"
    with zipfile.ZipFile(code) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    assert shipped in entries
    # The pyc the zip ships, made to differ from its source: what runs tells which one was loaded.
    source, compiled = tmp_path / "other.py", tmp_path / "other.pyc"
    source.write_text(SHIPPED)
    compile_probe = (
        "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], "
        "dfile='/var/task/shouter/app.py', invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)"
    )
    subprocess.run([require_cpython("3.12"), "-c", compile_probe, str(source), str(compiled)], check=True)
    entries[shipped] = compiled.read_bytes()
    with zipfile.ZipFile(code, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    assert PYTHON312 is not None
    function = LocalFunction(
        "shouter.app.lambda_handler", PYTHON312, code, layer_zip(project), runtime_sdk=None
    )

    with_cache = invoke_handler(function, '{"text": "ship it"}')
    unusable = tmp_path / "not-a-directory"
    unusable.write_text("")
    os.environ["HATCH_LAMBDA_CACHE_DIR"], kept = str(unusable), os.environ["HATCH_LAMBDA_CACHE_DIR"]
    try:
        without_cache = invoke_handler(function, '{"text": "ship it"}')
    finally:
        os.environ["HATCH_LAMBDA_CACHE_DIR"] = kept

    assert with_cache.error is None, with_cache.error
    assert json.loads(with_cache.response or b"") == "from the shipped bytecode"
    assert with_cache.response == without_cache.response


def _small_layer(path: Path, text: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("python/marker.py", text)
    return path


def test_trees_are_pruned_to_a_bounded_count_never_one_in_use(tmp_path):
    cache = tmp_path / "cache"
    layers = [
        _small_layer(tmp_path / f"layer-{number}.zip", f"N = {number}\n") for number in range(KEEP_TREES + 2)
    ]

    with shared_layer_tree(cache, layers[0]) as held:
        assert held is not None
        in_use = held.opt
        for layer in layers[1:]:
            with shared_layer_tree(cache, layer) as tree:
                assert tree is not None
                assert (tree.opt / "python" / "marker.py").read_text() == f"N = {layers.index(layer)}\n"
        # Made first and so the least recently used, but a check holds it: kept.
        assert (in_use / "python" / "marker.py").is_file()
        kept = [
            path
            for path in (cache / TREES_FOLDER).iterdir()
            if path.is_dir() and not path.name.startswith(".")
        ]
        assert KEEP_TREES <= len(kept) <= KEEP_TREES + 1

    prune(cache)

    kept = [
        path for path in (cache / TREES_FOLDER).iterdir() if path.is_dir() and not path.name.startswith(".")
    ]
    assert len(kept) == KEEP_TREES
    assert not in_use.exists()


def test_a_link_put_among_the_trees_is_pruned_without_touching_what_it_points_to(tmp_path):
    """A link named like a tree (put in the cache by hand, or by another user with access to it):
    pruning removes the link; the directory it points to keeps its files and their modes."""
    cache = tmp_path / "cache"
    victim = tmp_path / "home" / "project"
    victim.mkdir(parents=True)
    (victim / "settings.toml").write_text("mine")
    os.chmod(victim / "settings.toml", 0o400)
    for number in range(KEEP_TREES):
        layer = _small_layer(tmp_path / f"layer-{number}.zip", f"N = {number}\n")
        with shared_layer_tree(cache, layer) as tree:
            assert tree is not None
    planted = cache / TREES_FOLDER / ("0" * 64)
    planted.symlink_to(victim, target_is_directory=True)

    prune(cache)

    assert not os.path.lexists(planted)
    assert (victim / "settings.toml").read_text() == "mine"
    assert stat.S_IMODE((victim / "settings.toml").stat().st_mode) == 0o400


def test_a_file_rewritten_in_place_with_its_size_kept_is_noticed(tmp_path):
    """What root can do to a read-only file without a trace in its directory: only the file's own
    modification time shows it, and the listing has it."""
    cache = tmp_path / "cache"
    layer = _small_layer(tmp_path / "layer.zip", "N = 1\n")
    with shared_layer_tree(cache, layer) as tree:
        assert tree is not None
        module = tree.opt / "python" / "marker.py"
    set_write_bits(module.parent, writable=True)
    module.write_text("N = 2\n")
    os.utime(module, ns=(module.stat().st_atime_ns, module.stat().st_mtime_ns + 1_000_000_000))
    set_write_bits(module.parent, writable=False)

    with shared_layer_tree(cache, layer) as tree:
        assert tree is not None
        assert (tree.opt / "python" / "marker.py").read_text() == "N = 1\n"


def test_a_tree_knows_whether_its_zip_ships_bytecode(tmp_path):
    """A layer built with `compile-bytecode` is checked on its own pycs (`-B`); the marker says so,
    from the tree's first use on."""
    cache = tmp_path / "cache"
    plain = _small_layer(tmp_path / "plain.zip", "N = 1\n")
    compiled = tmp_path / "compiled.zip"
    with zipfile.ZipFile(compiled, "w") as archive:
        archive.writestr("python/marker.py", "N = 1\n")
        archive.writestr("python/__pycache__/marker.cpython-312.pyc", b"not read here")

    for _first_and_reused in range(2):
        with shared_layer_tree(cache, plain) as tree:
            assert tree is not None and not tree.ships_bytecode
        with shared_layer_tree(cache, compiled) as tree:
            assert tree is not None and tree.ships_bytecode


def test_a_tree_an_earlier_version_extracted_is_reused_and_its_zip_asked_about_bytecode(tmp_path):
    """Markers written before they recorded the bytecode fact stay valid (versions sharing a cache
    directory share its trees); the fact is then read from the zip."""
    cache = tmp_path / "cache"
    compiled = tmp_path / "compiled.zip"
    with zipfile.ZipFile(compiled, "w") as archive:
        archive.writestr("python/__pycache__/marker.cpython-312.pyc", b"not read here")
    with shared_layer_tree(cache, compiled) as tree:
        assert tree is not None
        marker_path = tree.opt.parent / MARKER
    marker = json.loads(marker_path.read_text())
    del marker["ships_bytecode"]
    marker_path.write_text(json.dumps(marker))
    before = tree.opt.stat().st_ino

    with shared_layer_tree(cache, compiled) as tree:
        assert tree is not None and tree.ships_bytecode
        assert tree.opt.stat().st_ino == before


def test_a_layer_that_ships_bytecode_is_run_on_it_from_the_shared_tree(tmp_path, monkeypatch):
    """Only the layer ships pycs: the check runs with `-B` (on them), the first time and from the marker."""
    monkeypatch.setenv("HATCH_LAMBDA_CACHE_DIR", str(tmp_path / "cache"))
    code = tmp_path / "code.zip"
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return None\n")
    plain = _small_layer(tmp_path / "plain.zip", "N = 1\n")
    compiled = tmp_path / "compiled.zip"
    with zipfile.ZipFile(compiled, "w") as archive:
        archive.writestr("python/__pycache__/marker.cpython-312.pyc", b"not read here")

    for _first_and_reused in range(2):
        with lambda_layout(code, compiled, interpreter="cpython-3.12-x86_64") as layout:
            assert layout.shared_opt is not None
            assert layout.bytecode_options == ("-B",)
        with lambda_layout(code, plain, interpreter="cpython-3.12-x86_64") as layout:
            assert layout.shared_opt is not None
            assert layout.bytecode_options[0] == "-X"
