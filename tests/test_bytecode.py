"""Bytecode compiled by the runtime's CPython: which files, what bytes, and proof that CPython uses them.

The oracle is always the runtime's own interpreter (pyenv's, or one on PATH): it reads the headers
with its `importlib.util`, loads the code with its `marshal`, and imports the extracted tree. Trees
are generated here; the `network` tests compile requests and pydantic installed from the index.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import stat
import subprocess
from pathlib import Path

import pytest

from hatch_lambda.files.installed_tree import files_to_pack
from hatch_lambda.files.record import FileToPack
from hatch_lambda.layer.uv import find_uv
from hatch_lambda.platform import runtimes
from hatch_lambda.runtime import bytecode
from hatch_lambda.runtime.bytecode import (
    FUNCTION_ROOT,
    LAYER_ROOT,
    BytecodeCompilerError,
    CompiledBytecode,
    NoRuntimePythonError,
    compile_bytecode,
    runtime_python,
    start_compiler,
)
from tests.helpers import find_cpython, require_cpython

MINORS = ["3.9", "3.10", "3.11", "3.12", "3.13"]
APP = {
    "my_app/__init__.py": "",
    "my_app/handler.py": "VALUE = 42\n\ndef lambda_handler(event, context):\n    return {'value': VALUE}\n",
    "my_app/nested/deep.py": "def inner():\n    def innermost():\n        return 1\n    return innermost\n",
    "top.py": "import my_app\n",
}
# `x in {literal}` becomes a frozenset constant; None, ... and tuples holding them hash by address.
MIXED_SET = "{None, 'a', 1, 2.5, b'b', (None, 2), ..., (..., 'q'), 'c', 'd', (None, None)}"
FROZENSETS = (
    f"def check(x):\n    return x in {MIXED_SET}\n"
    f"def again(x):\n    return x in {MIXED_SET}\n"
    "BIG = {" + ", ".join(f"(None, {n})" for n in range(300)) + "}\n"
    "def big(x):\n"
    "    return x in {" + ", ".join(f"(None, {n})" for n in range(300)) + "}\n"
)


@functools.cache
def cpython(minor: str) -> str | None:
    return find_cpython(minor)


def python_or_skip(minor: str) -> str:
    return cpython(minor) or require_cpython(minor)


def version(minor: str) -> tuple[int, int]:
    major, minor_number = minor.split(".")
    return int(major), int(minor_number)


def write_tree(root: Path, files: dict[str, str | bytes], mtime: float = 1_600_000_000) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        os.utime(path, (mtime, mtime))
    return root


def compile_tree(root: Path, minor: str) -> CompiledBytecode:
    """Compile a tree as the function zip: every file at the zip's root, extracted to /var/task."""
    return compile_bytecode(
        files_to_pack(root, ""),
        python=python_or_skip(minor),
        python_version=version(minor),
        import_root="",
        extracted_to=FUNCTION_ROOT,
    )


def pycs(compiled: CompiledBytecode) -> dict[str, bytes]:
    return {file.archive_path: file.read() for file in compiled.pyc_files}


def run_python(python: str, code: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-I", "-S", "-B", "-c", code, *arguments], capture_output=True, text=True, check=False
    )


def unpack(destination: Path, *groups: list[FileToPack]) -> Path:
    for group in groups:
        for file in group:
            path = destination / file.archive_path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(file.read())
    return destination


def make_read_only(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    root.chmod(0o555)


def corrupt_sources(root: Path) -> int:
    """Replace every `.py` with a syntax error: an import that still works came from bytecode."""
    sources = sorted(root.rglob("*.py"))
    for source in sources:
        source.write_text("this is not Python (\n", encoding="utf-8")
    return len(sources)


@pytest.fixture(autouse=True)
def _writable_again(tmp_path):
    """Let pytest delete the trees these tests make read-only."""
    yield
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


# Which files, and where their bytecode goes ------------------------------------------------------


def test_every_importable_module_gets_a_pep_3147_pyc_beside_it(tmp_path):
    root = write_tree(
        tmp_path,
        {
            **APP,
            "my_app-1.0.dist-info/METADATA": "Name: my-app\n",
            "my_app-1.0.dist-info/licenses/build.py": "x = 1\n",
            "my_app/templates/page.html": "<p>",
            "my_app/not-a-module.py": "x = 1\n",
            "scripts-dir/tool.py": "x = 1\n",
            "my_app/stubs.pyi": "x: int\n",
        },
    )

    compiled = compile_tree(root, "3.12")

    assert sorted(pycs(compiled)) == [
        "__pycache__/top.cpython-312.pyc",
        "my_app/__pycache__/__init__.cpython-312.pyc",
        "my_app/__pycache__/handler.cpython-312.pyc",
        "my_app/nested/__pycache__/deep.cpython-312.pyc",  # a namespace package imports too
    ]
    assert compiled.uncompilable == []
    assert all(not file.executable for file in compiled.pyc_files)
    assert {file.modified for file in compiled.pyc_files} == {(2020, 9, 13, 12, 26, 40)}  # the sources' date


@pytest.mark.parametrize("layout", ["python", "site-packages"])
def test_a_layer_compiles_only_what_is_under_its_import_root(tmp_path, layout):
    runtime = runtimes.runtime_named("python3.12")
    assert runtime is not None
    prefix = "python/" if layout == "python" else runtime.site_packages + "/"
    write_tree(tmp_path / "target", {"requests/__init__.py": "", "requests/api.py": "def get(): pass\n"})
    files = files_to_pack(tmp_path / "target", prefix)
    files += [FileToPack("README.py", lambda: b"x = 1\n", executable=False, modified=(2000, 1, 1, 0, 0, 0))]

    compiled = compile_bytecode(
        files,
        python=python_or_skip("3.12"),
        python_version=(3, 12),
        import_root=prefix,
        extracted_to=LAYER_ROOT,
    )

    assert sorted(pycs(compiled)) == [
        f"{prefix}requests/__pycache__/__init__.cpython-312.pyc",
        f"{prefix}requests/__pycache__/api.cpython-312.pyc",
    ]
    pyc = pycs(compiled)[f"{prefix}requests/__pycache__/api.cpython-312.pyc"]
    filenames = code_filenames(python_or_skip("3.12"), pyc, tmp_path)
    assert set(filenames) == {f"/opt/{prefix}requests/api.py"}


def test_no_python_files_start_no_interpreter(tmp_path):
    files = [FileToPack("data.json", lambda: b"{}", executable=False, modified=(2000, 1, 1, 0, 0, 0))]

    compiled = compile_bytecode(
        files,
        python=str(tmp_path / "missing-python"),
        python_version=(3, 12),
        import_root="",
        extracted_to=FUNCTION_ROOT,
    )

    assert compiled == CompiledBytecode(pyc_files=[], uncompilable=[])


# What the bytes are --------------------------------------------------------------------------------

HEADER_PROBE = """
import importlib.util, json, sys
data = open(sys.argv[1], "rb").read()
source = open(sys.argv[2], "rb").read()
print(json.dumps({
    "magic": data[:4] == importlib.util.MAGIC_NUMBER,
    "flags": int.from_bytes(data[4:8], "little"),
    "hash": data[8:16] == importlib.util.source_hash(source),
}))
"""


@pytest.mark.parametrize("minor", MINORS)
def test_the_header_is_the_runtimes_magic_with_the_unchecked_hash_flag(tmp_path, minor):
    python = python_or_skip(minor)
    root = write_tree(tmp_path / "tree", APP)
    compiled = compile_tree(root, minor)
    tag = f"cpython-{minor.replace('.', '')}"
    pyc = tmp_path / "handler.pyc"
    pyc.write_bytes(pycs(compiled)[f"my_app/__pycache__/handler.{tag}.pyc"])

    probe = run_python(python, HEADER_PROBE, str(pyc), str(root / "my_app/handler.py"))

    assert probe.returncode == 0, probe.stderr
    # flags 0b01: hash-based, and not checked against the source (PEP 552).
    assert json.loads(probe.stdout) == {"magic": True, "flags": 0b01, "hash": True}


FILENAME_PROBE = """
import marshal, sys, types
def walk(code):
    yield code.co_filename
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from walk(const)
code = marshal.loads(open(sys.argv[1], "rb").read()[16:])
print("\\n".join(walk(code)))
"""


def code_filenames(python: str, pyc: bytes, scratch: Path) -> list[str]:
    """`co_filename` of a `.pyc`'s module code and of every function in it, as its CPython reads them."""
    path = scratch / f"{hashlib.sha256(pyc).hexdigest()}.pyc"
    path.write_bytes(pyc)
    probe = run_python(python, FILENAME_PROBE, str(path))
    assert probe.returncode == 0, probe.stderr
    return probe.stdout.split()


@pytest.mark.parametrize("minor", ["3.9", "3.12"])
def test_code_names_its_source_by_its_path_in_lambda_not_on_this_machine(tmp_path, minor):
    compiled = compile_tree(write_tree(tmp_path, APP), minor)
    tag = f"cpython-{minor.replace('.', '')}"

    pyc = pycs(compiled)[f"my_app/nested/__pycache__/deep.{tag}.pyc"]
    filenames = code_filenames(python_or_skip(minor), pyc, tmp_path)

    assert filenames == ["/var/task/my_app/nested/deep.py"] * 3  # the module, inner, innermost
    assert all(str(tmp_path).encode() not in data for data in pycs(compiled).values())


# Files the runtime cannot compile -------------------------------------------------------------------

MATCH_STATEMENT = "def kind(x):\n    match x:\n        case 1:\n            return 'one'\n"
PYTHON_2 = 'print "hello"\n'


@pytest.mark.parametrize("minor", MINORS)
def test_a_file_the_runtime_cannot_compile_is_skipped_and_reported(tmp_path, minor):
    root = write_tree(
        tmp_path,
        {
            **APP,
            "my_app/modern.py": MATCH_STATEMENT,  # 3.10 syntax
            "my_app/tests/legacy.py": PYTHON_2,
            "my_app/latin.py": b"name = '\xe9'\n",  # not UTF-8, and no coding declaration
            "my_app/nul.py": b"x = 1\x00\n",
        },
    )

    compiled = compile_tree(root, minor)

    reasons = {skipped.archive_path: skipped.reason for skipped in compiled.uncompilable}
    expected = {"my_app/tests/legacy.py", "my_app/latin.py", "my_app/nul.py"}
    if minor == "3.9":
        expected.add("my_app/modern.py")
    assert set(reasons) == expected
    assert "SyntaxError" in reasons["my_app/tests/legacy.py"]
    assert "legacy.py" in reasons["my_app/tests/legacy.py"]
    tag = f"cpython-{minor.replace('.', '')}"
    assert f"my_app/__pycache__/handler.{tag}.pyc" in pycs(compiled)
    assert (f"my_app/__pycache__/modern.{tag}.pyc" in pycs(compiled)) == (minor != "3.9")


# Reproducible --------------------------------------------------------------------------------------


@pytest.mark.parametrize("minor", MINORS)
def test_two_builds_give_identical_bytes_whatever_the_paths_dates_order_and_hash_seed(
    tmp_path, monkeypatch, minor
):
    python_or_skip(minor)
    tree = {**APP, "my_app/sets.py": FROZENSETS}
    first_files = files_to_pack(write_tree(tmp_path / "one", tree, mtime=1_000_000_000), "")
    second_files = files_to_pack(
        write_tree(tmp_path / "checkout-two" / "deeper", tree, mtime=1_700_000_000), ""
    )
    random.Random(7).shuffle(second_files)

    monkeypatch.setenv("PYTHONHASHSEED", "1")
    first = compile_bytecode(
        first_files,
        python=cpython(minor),
        python_version=version(minor),
        import_root="",
        extracted_to=FUNCTION_ROOT,
    )
    monkeypatch.setenv("PYTHONHASHSEED", "random")
    second = compile_bytecode(
        second_files,
        python=cpython(minor),
        python_version=version(minor),
        import_root="",
        extracted_to=FUNCTION_ROOT,
    )

    assert pycs(first) == pycs(second)


@pytest.mark.parametrize("minor", ["3.9", "3.10"])
def test_frozensets_hashed_by_address_are_written_in_one_order(tmp_path, minor):
    """3.9 and 3.10 write set constants in hash-table order; `hash(None)` is an address, so plain
    `marshal` gives different bytes on every run (8 runs gave 8 different files before the fix)."""
    python = python_or_skip(minor)
    root = write_tree(tmp_path, {"sets.py": FROZENSETS})
    runs = [pycs(compile_tree(root, minor)) for _ in range(5)]
    tag = f"cpython-{minor.replace('.', '')}"
    data = runs[0][f"__pycache__/sets.{tag}.pyc"]
    pyc = tmp_path / "sets.pyc"
    pyc.write_bytes(data)

    same_code = run_python(
        python,
        "import marshal, sys\n"
        "loaded = marshal.loads(open(sys.argv[1], 'rb').read()[16:])\n"
        "compiled = compile(open(sys.argv[2], 'rb').read(), '/var/task/sets.py', 'exec', dont_inherit=True)\n"
        "namespace = {}\n"
        "exec(loaded, namespace)\n"
        "assert namespace['check']((None, 2)) and not namespace['check'](3)\n"
        "assert namespace['big']((None, 299)) and not namespace['big']((None, 300))\n"
        "print(loaded == compiled)",
        str(pyc),
        str(root / "sets.py"),
    )

    assert all(run == runs[0] for run in runs)
    assert same_code.stdout.strip() == "True", same_code.stderr


# Proof that CPython uses them ----------------------------------------------------------------------

IMPORT_HANDLER = """
import sys
sys.path.insert(0, sys.argv[1])
import my_app.handler, my_app.nested.deep, top
print(my_app.handler.lambda_handler({}, None)["value"], my_app.nested.deep.inner()())
"""


@pytest.mark.parametrize("minor", MINORS)
def test_a_read_only_tree_imports_from_bytecode_without_reading_its_sources(tmp_path, minor):
    python = python_or_skip(minor)
    sources = files_to_pack(write_tree(tmp_path / "build", APP), "")
    compiled = compile_bytecode(
        sources, python=python, python_version=version(minor), import_root="", extracted_to=FUNCTION_ROOT
    )
    with_bytecode = unpack(tmp_path / "with", sources, compiled.pyc_files)
    without_bytecode = unpack(tmp_path / "without", sources)
    for task_root in (with_bytecode, without_bytecode):
        assert corrupt_sources(task_root) == 4
        make_read_only(task_root)
    listing = sorted(with_bytecode.rglob("*"))

    used = run_python(python, IMPORT_HANDLER, str(with_bytecode))
    compiled_again = run_python(python, IMPORT_HANDLER, str(without_bytecode))

    assert used.returncode == 0, used.stderr
    assert used.stdout.split() == ["42", "1"]
    assert sorted(with_bytecode.rglob("*")) == listing  # nothing written beside them
    assert "SyntaxError" in compiled_again.stderr  # the control: without bytecode, the source is read


# The interpreter -----------------------------------------------------------------------------------


def test_an_interpreter_of_another_version_is_refused(tmp_path):
    root = write_tree(tmp_path, APP)

    with pytest.raises(BytecodeCompilerError, match=r"not a working CPython 3\.11") as raised:
        compile_bytecode(
            files_to_pack(root, ""),
            python=python_or_skip("3.12"),
            python_version=(3, 11),
            import_root="",
            extracted_to=FUNCTION_ROOT,
        )

    assert "not cpython 3.11" in raised.value.output


def test_a_missing_interpreter_is_a_build_error(tmp_path):
    root = write_tree(tmp_path, APP)

    with pytest.raises(BytecodeCompilerError, match="could not be run"):
        compile_bytecode(
            files_to_pack(root, ""),
            python=str(tmp_path / "no-such-python"),
            python_version=(3, 12),
            import_root="",
            extracted_to=FUNCTION_ROOT,
        )


def test_modules_in_the_working_directory_do_not_shadow_the_compilers(tmp_path, monkeypatch):
    project = write_tree(tmp_path / "project", {"struct.py": "raise SystemExit('shadowed')\n", **APP})
    monkeypatch.chdir(project)

    compiled = compile_tree(project, "3.12")

    assert "__pycache__/struct.cpython-312.pyc" in pycs(compiled)


def test_without_the_runtimes_python_the_error_says_how_to_get_one(monkeypatch):
    runtime = runtimes.runtime_named("python3.13")
    assert runtime is not None
    monkeypatch.setattr(bytecode, "find_runtime_python", lambda _runtime, _uv: None)

    with pytest.raises(NoRuntimePythonError) as raised:
        runtime_python(runtime, None)

    message = str(raised.value)
    assert "CPython 3.13" in message
    assert "uv python install 3.13" in message
    assert "pyenv install 3.13" in message
    assert "HATCH_LAMBDA_PYTHON_3_13" in message


def test_the_runtimes_python_is_found_when_there_is_one():
    python_or_skip("3.12")
    runtime = runtimes.runtime_named("python3.12")
    assert runtime is not None

    found = runtime_python(runtime, find_uv())

    probe = subprocess.run(
        [found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, check=True
    )
    assert probe.stdout.strip() == "(3, 12)"


# Real packages -------------------------------------------------------------------------------------


def install(target: Path, minor: str, *requirements: str) -> Path:
    command = [find_uv(), "pip", "install", "--target", str(target), "--python-version", minor]
    command += ["--python-platform", "x86_64-manylinux_2_34", "--only-binary", ":all:", *requirements]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("UV_")}
    environment["UV_CACHE_DIR"] = os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    subprocess.run(command, check=True, capture_output=True, env=environment)
    return target


@pytest.mark.network
@pytest.mark.parametrize("minor", MINORS)
def test_real_packages_compile_to_the_same_bytes_in_two_builds(tmp_path, monkeypatch, minor):
    python = python_or_skip(minor)
    builds = []
    for index, seed in enumerate(["0", "random"]):
        target = install(tmp_path / f"build-{index}" / "target", minor, "requests", "pydantic")
        for path in target.rglob("*.py"):
            os.utime(path, (1_500_000_000 + index * 86_400, 1_500_000_000 + index * 86_400))
        monkeypatch.setenv("PYTHONHASHSEED", seed)
        builds.append(
            compile_bytecode(
                files_to_pack(target, "python/"),
                python=python,
                python_version=version(minor),
                import_root="python/",
                extracted_to=LAYER_ROOT,
            )
        )

    first, second = (pycs(build) for build in builds)
    assert len(first) > 100
    assert first == second
    assert builds[0].uncompilable == builds[1].uncompilable


IMPORT_REAL = """
import sys
sys.path.insert(0, sys.argv[1])
import pydantic, requests
class Event(pydantic.BaseModel):
    name: str
    count: int
print(Event(name="x", count="3").count, requests.__version__ is not None)
"""


@pytest.mark.network
def test_requests_and_pydantic_import_from_bytecode_alone(tmp_path):
    python = python_or_skip("3.12")
    target = install(tmp_path / "target", "3.12", "requests", "pydantic")
    sources = files_to_pack(target, "python/")
    compiled = compile_bytecode(
        sources, python=python, python_version=(3, 12), import_root="python/", extracted_to=LAYER_ROOT
    )
    opt = unpack(tmp_path / "opt", sources, compiled.pyc_files)
    assert corrupt_sources(opt) > 100
    make_read_only(opt)

    imported = run_python(python, IMPORT_REAL, str(opt / "python"))

    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split() == ["3", "True"]


# Every core, with a split fixed in advance ---------------------------------------------------------

SPLIT_TREE = {
    **APP,
    "alpha/__init__.py": "NAMES = ('shared', 'alpha')\n",
    "alpha/sub/mod.py": FROZENSETS,
    "beta/__init__.py": "import alpha\nshared = {'x': (None, 'shared')}\n",
    "beta/gamma.py": "def f(shared=None):\n    return shared in {None, 'alpha', ...}\n",
    "single.py": "shared = 'shared'\n",
}


def compile_with(files, minor: str, workers: int | None) -> dict[str, bytes]:
    return pycs(
        compile_bytecode(
            files,
            python=python_or_skip(minor),
            python_version=version(minor),
            import_root="python/",
            extracted_to=LAYER_ROOT,
            workers=workers,
        )
    )


def one_process(monkeypatch):
    """What the compiler did before the split: one process, every source in sorted order."""
    monkeypatch.setattr(
        bytecode,
        "_compile_in_chunks",
        lambda python, version, sources, import_dir, workers, **_: bytecode._compile_in_subprocess(
            python, version, sources
        ),
    )


@pytest.mark.parametrize("minor", MINORS)
def test_one_two_and_four_compiler_processes_write_the_same_bytes(tmp_path, monkeypatch, minor):
    files = files_to_pack(write_tree(tmp_path / "layer" / "python", SPLIT_TREE), "python/")

    by_workers = [compile_with(files, minor, workers) for workers in (1, 2, 4)]
    one_process(monkeypatch)
    reference = compile_with(files, minor, None)

    assert len(by_workers[0]) == 9
    assert by_workers[0] == by_workers[1] == by_workers[2]
    if version(minor) >= (3, 11):  # 3.9 and 3.10 may differ in reference flags (see the module)
        assert by_workers[0] == reference


def recording_chunks(monkeypatch) -> list[list[str]]:
    """What each process (3.9, 3.10) or fork (3.11 and later) is given to compile, from now on."""
    chunks: list[list[str]] = []
    fresh, forked = bytecode._compile_in_subprocess, bytecode._ForkingCompiler.compile

    def in_a_fresh_process(python, version, sources, **options):
        chunks.append([dfile for dfile, _ in sources])
        return fresh(python, version, sources, **options)

    def in_a_fork(compiler, sources):
        chunks.append([dfile for dfile, _ in sources])
        return forked(compiler, sources)

    monkeypatch.setattr(bytecode, "_compile_in_subprocess", in_a_fresh_process)
    monkeypatch.setattr(bytecode._ForkingCompiler, "compile", in_a_fork)
    return chunks


@pytest.mark.parametrize("minor", ["3.10", "3.12"])
def test_each_top_level_package_compiles_in_its_own_process_several_at_once(tmp_path, monkeypatch, minor):
    files = files_to_pack(write_tree(tmp_path / "layer" / "python", SPLIT_TREE), "python/")
    chunks = recording_chunks(monkeypatch)
    compile_with(files, minor, 4)

    assert sorted(chunk[0].split("/")[3] for chunk in chunks) == [
        "alpha",
        "beta",
        "my_app",
        "single.py",
        "top.py",
    ]
    assert all(chunk == sorted(chunk) for chunk in chunks)


@pytest.mark.network
@pytest.mark.parametrize("minor", ["3.9", "3.12"])
def test_real_packages_compile_to_the_same_bytes_on_any_number_of_cores(tmp_path, monkeypatch, minor):
    target = install(tmp_path / "target", minor, "requests", "pydantic")
    files = files_to_pack(target, "python/")

    one, two = compile_with(files, minor, 1), compile_with(files, minor, 2)
    one_process(monkeypatch)
    reference = compile_with(files, minor, None)

    assert len(one) > 100
    assert one == two
    if version(minor) >= (3, 11):
        assert one == reference


# Large packages cut along their subpackages ------------------------------------------------------

LARGE_PACKAGE_TREE = {
    **SPLIT_TREE,
    "big/__init__.py": "from big import core\n" + "A = 1\n" * 40,
    "big/core/__init__.py": "CORE = ('shared', None)\n" * 30,
    "big/core/inner/__init__.py": FROZENSETS,
    "big/core/inner/more.py": "def g(shared=None):\n    return shared in {None, 'big', ...}\n" * 10,
    "big/core/small.py": "X = 1\n",
    "big/extra.py": "EXTRA = {'shared': (None, 'big')}\n" * 10,
    "big/tests/test_big.py": "def test_it():\n    assert 'shared' in {'shared', None}\n" * 20,
}


def recorded_chunks(monkeypatch, files, minor: str) -> list[list[str]]:
    with monkeypatch.context() as patched:
        chunks = recording_chunks(patched)
        compile_with(files, minor, 4)
    return sorted([dfile.removeprefix("/opt/python/") for dfile in chunk] for chunk in chunks)


def test_a_large_package_is_cut_along_its_subpackages_by_size_alone(tmp_path, monkeypatch):
    files = files_to_pack(write_tree(tmp_path / "layer" / "python", LARGE_PACKAGE_TREE), "python/")
    # `big` holds 10,859 bytes of source, `big/core` 9,158: both are cut; `alpha` (7,860) is not.
    monkeypatch.setattr(bytecode, "SPLIT_ABOVE", 9_000)

    chunks = recorded_chunks(monkeypatch, files, "3.12")

    assert [chunk for chunk in chunks if chunk[0].startswith("big/")] == [
        ["big/__init__.py"],
        ["big/core/__init__.py"],
        ["big/core/inner/__init__.py", "big/core/inner/more.py", "big/core/small.py"],
        ["big/extra.py", "big/tests/test_big.py"],
    ]
    assert [chunk for chunk in chunks if not chunk[0].startswith("big/")] == [
        ["alpha/__init__.py", "alpha/sub/mod.py"],
        ["beta/__init__.py", "beta/gamma.py"],
        ["my_app/__init__.py", "my_app/handler.py", "my_app/nested/deep.py"],
        ["single.py"],
        ["top.py"],
    ]
    assert recorded_chunks(monkeypatch, files, "3.12") == chunks  # the same cut on a second build


@pytest.mark.parametrize("minor", MINORS)
def test_cut_packages_write_the_same_bytes_on_any_number_of_cores(tmp_path, monkeypatch, minor):
    files = files_to_pack(write_tree(tmp_path / "layer" / "python", LARGE_PACKAGE_TREE), "python/")
    whole = compile_with(files, minor, 2)
    monkeypatch.setattr(bytecode, "SPLIT_ABOVE", 400)  # every package is cut

    by_workers = [compile_with(files, minor, workers) for workers in (1, 2, 4)]

    assert len(whole) == 16
    assert by_workers[0] == by_workers[1] == by_workers[2]
    if version(minor) >= (3, 11):  # on 3.9 and 3.10 packages are never cut (see `_fixed_chunks`)
        assert by_workers[0] == whole


def test_on_3_9_and_3_10_packages_are_never_cut(tmp_path, monkeypatch):
    files = files_to_pack(write_tree(tmp_path / "layer" / "python", LARGE_PACKAGE_TREE), "python/")
    monkeypatch.setattr(bytecode, "SPLIT_ABOVE", 400)

    chunks = recorded_chunks(monkeypatch, files, "3.10")

    tops = ["alpha", "beta", "big", "my_app", "single.py", "top.py"]
    assert [chunk[0].split("/")[0] for chunk in chunks] == tops


# Forks of a compiler started once per core (3.11 and later) ---------------------------------------


def fresh_processes(monkeypatch):
    """What 3.11 and later did before forks: a fresh compiler process for every chunk."""
    monkeypatch.setattr(
        bytecode,
        "_compile_in_forks",
        lambda python, version, chunks, workers, **_: [
            bytecode._compile_in_subprocess(python, version, chunk) for chunk in chunks
        ],
    )


@pytest.mark.parametrize("minor", ["3.11", "3.12", "3.13"])
def test_a_fork_writes_the_bytes_of_a_fresh_process(tmp_path, monkeypatch, minor):
    files = files_to_pack(write_tree(tmp_path / "layer" / "python", LARGE_PACKAGE_TREE), "python/")

    forked = compile_with(files, minor, 2)
    fresh_processes(monkeypatch)
    fresh = compile_with(files, minor, 2)

    assert len(forked) == 16
    assert forked == fresh


def counting_starts(monkeypatch) -> list[list[str]]:
    """Each compiler process started from now on, by its command line."""
    started: list[list[str]] = []
    real_popen = subprocess.Popen

    def counting_popen(command, **options):
        if any(str(word).endswith(("bytecode_forks.py", "bytecode_compiler.py")) for word in command):
            started.append(command)
        return real_popen(command, **options)

    monkeypatch.setattr(bytecode.subprocess, "Popen", counting_popen)
    return started


def test_one_compiler_is_started_per_core_and_each_chunk_gets_a_fork(tmp_path, monkeypatch):
    files = files_to_pack(write_tree(tmp_path / "layer" / "python", LARGE_PACKAGE_TREE), "python/")
    monkeypatch.setattr(bytecode, "ONE_COMPILER_BELOW", 0)  # as much source as a layer's
    started = counting_starts(monkeypatch)
    chunks = recording_chunks(monkeypatch)

    compile_with(files, "3.12", 2)

    assert len(chunks) == 6
    assert 1 <= len(started) <= 2
    assert all(command[-2].endswith("bytecode_forks.py") for command in started)


def test_a_little_source_shares_one_compiler_whatever_the_cores(tmp_path, monkeypatch):
    files = files_to_pack(write_tree(tmp_path / "layer" / "python", LARGE_PACKAGE_TREE), "python/")
    many = compile_with(files, "3.12", 4)
    monkeypatch.setattr(bytecode, "ONE_COMPILER_BELOW", 0)
    per_core = compile_with(files, "3.12", 4)
    monkeypatch.undo()
    started = counting_starts(monkeypatch)
    chunks = recording_chunks(monkeypatch)

    again = compile_with(files, "3.12", 4)

    assert len(chunks) == 6
    assert len(started) == 1  # a second start would cost more than compiling 16 small modules
    assert many == per_core == again


# A compiler started ahead of its first chunk --------------------------------------------------------


@pytest.mark.parametrize("minor", ["3.10", "3.12"])
def test_a_compiler_started_ahead_writes_the_bytes_of_one_started_for_the_chunk(tmp_path, monkeypatch, minor):
    root = write_tree(tmp_path / "app", APP)  # two chunks: `my_app` and `top.py`
    python = python_or_skip(minor)
    reference = pycs(compile_tree(root, minor))
    started = start_compiler(python, version(minor))
    starts = counting_starts(monkeypatch)

    compiled = compile_bytecode(
        files_to_pack(root, ""),
        python=python,
        python_version=version(minor),
        import_root="",
        extracted_to=FUNCTION_ROOT,
        started=started,
    )

    assert pycs(compiled) == reference
    # 3.12: one forking compiler serves both chunks; 3.10: a fresh process per chunk, one of them ahead.
    assert len(starts) == (1 if minor == "3.10" else 0)


@pytest.mark.parametrize("minor", ["3.10", "3.12"])
def test_a_compiler_started_ahead_and_not_needed_is_stopped(tmp_path, minor):
    python = python_or_skip(minor)
    started = start_compiler(python, version(minor))
    process = started._process

    compiled = compile_bytecode(
        [],
        python=python,
        python_version=version(minor),
        import_root="",
        extracted_to=FUNCTION_ROOT,
        started=started,
    )

    assert compiled.pyc_files == []
    assert process.wait(timeout=10) is not None


def test_a_compiler_started_ahead_with_another_interpreter_is_not_used(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "app", APP)
    reference = pycs(compile_tree(root, "3.12"))
    other = start_compiler(python_or_skip("3.11"), (3, 11))
    compiled_by: list[str] = []
    forked = bytecode._ForkingCompiler.compile

    def recording(compiler, sources):
        compiled_by.append(compiler.version)
        return forked(compiler, sources)

    monkeypatch.setattr(bytecode._ForkingCompiler, "compile", recording)
    compiled = compile_bytecode(
        files_to_pack(root, ""),
        python=python_or_skip("3.12"),
        python_version=(3, 12),
        import_root="",
        extracted_to=FUNCTION_ROOT,
        started=other,
    )

    assert pycs(compiled) == reference
    assert compiled_by == ["3.12", "3.12"]
    assert other._process.wait(timeout=10) is not None


FAKE_SERVER_CRASHING = """
import struct, sys
sys.stdout.buffer.write(b"hatch-lambda bytecode compiler\\n")
sys.stdout.buffer.flush()
sys.stdin.buffer.read(struct.unpack("<I", sys.stdin.buffer.read(4))[0])
sys.stderr.write("Fatal Python error: Segmentation fault\\n")
written = b"hatch-lambda bytecode compiler\\n"
sys.stdout.buffer.write(struct.pack("<iI", -11, len(written)) + written)
sys.stdout.buffer.flush()
"""


def test_a_fork_that_crashes_is_an_error_naming_the_file_it_was_compiling(tmp_path, monkeypatch):
    server = tmp_path / "crashing_forks.py"
    server.write_text(FAKE_SERVER_CRASHING, encoding="utf-8")
    monkeypatch.setattr(bytecode, "_FORK_SERVER", server)
    root = write_tree(tmp_path / "app", APP)

    with pytest.raises(BytecodeCompilerError, match="exited with status -11 while compiling") as raised:
        compile_tree(root, "3.12")

    assert "/var/task/" in str(raised.value)
    assert "Segmentation fault" in raised.value.output
