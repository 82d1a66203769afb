"""`hatch-lambda build`: the lambda target without Hatch, exactly as `hatch build -t lambda` builds it.

PEP 517 front ends (`uv build`, `python -m build`) cannot ask for a custom target, so projects on
hatchling that never run Hatch get this command. Like `python -m build`, it builds in an isolated
environment: a virtual environment made with uv from `[build-system] requires` and the target's
`dependencies` (so other build-hook plugins work), kept in the hatch-lambda cache between runs
and keyed by what it holds. This running hatch-lambda is put on that environment's path (an
overlay with its package and entry points), so the plugin that builds is the one the user runs,
released or not. Then hatchling's own `build` command runs there: same artifacts, same bytes, same
output lines as Hatch. `--no-isolation` builds with the running environment instead.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

import hatch_lambda
from hatch_lambda.__about__ import __version__
from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.files.cache_root import cache_directory
from hatch_lambda.layer.sources import read_pyproject
from hatch_lambda.layer.uv import find_uv

VERSIONS = ("source", "layer")
ENTRY_POINTS = "[hatch]\nlambda = hatch_lambda.hooks\n"


def add_build(commands: Any) -> None:
    build = commands.add_parser(
        "build",
        help="build the lambda target without Hatch (as `hatch build -t lambda` would)",
        description=(
            "Build the project's lambda target (source zip, layer zip, manifest) in an isolated "
            "environment made with uv from [build-system] requires and the target's dependencies, "
            "exactly as `hatch build -t lambda` would."
        ),
    )
    build.add_argument(
        "location", nargs="?", metavar="DIRECTORY", help="where to write (default: the target's)"
    )
    build.add_argument(
        "-t",
        "--target",
        action="append",
        metavar="VERSION",
        help="`source`, `layer` (or `lambda:source`, `lambda:layer`); default both",
    )
    build.add_argument("-c", "--clean", action="store_true", help="remove this target's older artifacts")
    build.add_argument(
        "--project", default=".", metavar="DIR", help="the project's directory (default: the current one)"
    )
    build.add_argument(
        "--no-isolation", action="store_true", help="build with the running environment, not an isolated one"
    )
    build.add_argument(
        "--all",
        action="store_true",
        help="at a uv workspace's root: every member with a lambda target, and one shared layer",
    )
    build.set_defaults(run=run_build)


def run_build(arguments: argparse.Namespace) -> int:
    project = Path(arguments.project).resolve()
    if not (project / "pyproject.toml").is_file():
        raise LambdaBuildError(
            f"No pyproject.toml in {project}: run it in the project, or pass --project DIR."
        )
    if arguments.all:
        return _build_all(project, arguments)
    command = ["-m", "hatchling", "build", *hatchling_targets(arguments.target or [])]
    if arguments.location:
        command += ["-d", str(Path(arguments.location).resolve())]
    if arguments.clean:
        command.append("-c")
    if arguments.no_isolation:
        python, environment = sys.executable, dict(os.environ)
    else:
        python, environment = isolated_environment(project)
    return subprocess.run([python, *command], cwd=project, env=environment, check=False).returncode


def hatchling_targets(given: list[str]) -> list[str]:
    """`-t source` / `-t lambda:layer` / `-t lambda` in hatchling's spelling, refusing anything else."""
    versions: list[str] = []
    for text in given:
        for part in text.split(","):
            name, _, version = part.partition(":")
            if not version and name in VERSIONS:
                name, version = "lambda", name
            if name != "lambda" or (version and version not in VERSIONS):
                message = (
                    f"Unknown target `{part}`: give `source`, `layer`, `lambda:source` or `lambda:layer`."
                )
                raise LambdaBuildError(message)
            versions += [version] if version else list(VERSIONS)
    chosen = [version for version in VERSIONS if version in versions]
    if not chosen or chosen == list(VERSIONS):
        return ["-t", "lambda"]
    return [argument for version in chosen for argument in ("-t", f"lambda:{version}")]


def _build_all(root: Path, arguments: argparse.Namespace) -> int:
    """`--all`: in the isolated environment of every member's build requirements, or right here."""
    from hatch_lambda.build.workspace import lambda_members  # noqa: PLC0415

    if arguments.target:
        raise LambdaBuildError("`--all` builds every version of every member: leave out `-t`.")
    members = lambda_members(root)
    if not arguments.no_isolation:
        requirements = sorted({text for member in members for text in build_requirements(member)})
        python, environment = isolated_environment(root, requirements)
        command = [
            python,
            "-m",
            "hatch_lambda.cli",
            "build",
            "--all",
            "--no-isolation",
            "--project",
            str(root),
        ]
        command += [str(Path(arguments.location).resolve())] if arguments.location else []
        command += ["-c"] if arguments.clean else []
        return subprocess.run(command, cwd=root, env=environment, check=False).returncode
    return _build_all_here(root, members, arguments)


def _build_all_here(root: Path, members: list[Path], arguments: argparse.Namespace) -> int:
    from hatchling.bridge.app import Application  # noqa: PLC0415
    from hatchling.plugin.manager import PluginManager  # noqa: PLC0415

    from hatch_lambda.build.builder import LambdaBuilder  # noqa: PLC0415
    from hatch_lambda.build.workspace import build_workspace  # noqa: PLC0415

    app = Application()
    plugins = PluginManager()
    targets = []
    for member in members:
        builder = LambdaBuilder(str(member), plugin_manager=plugins, app=app.get_safe_application())
        targets.append(builder.lambda_target())
    output = Path(arguments.location).resolve() if arguments.location else root / "dist"
    built = build_workspace(root, targets, output, app.get_safe_application(), clean=arguments.clean)
    for path in [*built.layers, *built.manifests]:
        app.display_info(os.path.relpath(path, root) if path.is_relative_to(root) else str(path))
    return 0


def isolated_environment(project: Path, requirements: list[str] | None = None) -> tuple[str, dict[str, str]]:
    """The build environment for `project`: made once per set of requirements, then reused."""
    requirements = requirements if requirements is not None else build_requirements(project)
    key = hashlib.sha256(
        json.dumps(
            {
                "requires": requirements,
                "python": sys.version,
                # The overlay links to this very installation: another one gets its own environment.
                "hatch-lambda": [__version__, str(Path(hatch_lambda.__file__).parent)],
            }
        ).encode()
    ).hexdigest()[:24]
    home = cache_directory() / "build-environments" / key
    if not (home / "ready").is_file():
        _create(home, requirements)
    python = home / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(_overlay(home)), *filter(None, [environment.get("PYTHONPATH")])]
    )
    environment["VIRTUAL_ENV"] = str(home)
    environment["PATH"] = os.pathsep.join([str(python.parent), environment.get("PATH", "")])
    return str(python), environment


def build_requirements(project: Path) -> list[str]:
    """`[build-system] requires` and the target's `dependencies`, hatch-lambda's own in its place."""
    document = read_pyproject(project / "pyproject.toml")
    hatch_build = document.get("tool", {}).get("hatch", {}).get("build", {})
    declared = [
        *document.get("build-system", {}).get("requires", ["hatchling"]),
        *hatch_build.get("dependencies", []),
        *hatch_build.get("targets", {}).get("lambda", {}).get("dependencies", []),
    ]
    ours = [text for text in importlib.metadata.requires("hatch-lambda") or [] if "extra ==" not in text]
    kept = []
    for text in declared:
        try:
            name = canonicalize_name(Requirement(str(text)).name)
        except InvalidRequirement as error:
            raise LambdaBuildError(
                f"{project / 'pyproject.toml'}: a build requirement is malformed: {error}"
            ) from error
        if name != "hatch-lambda":
            kept.append(str(text))
    return sorted(set(kept + ours))


def _create(home: Path, requirements: list[str]) -> None:
    home.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{home.name}-", dir=home.parent))
    try:
        uv = find_uv()
        for command in (
            [uv, "venv", str(building), "--python", sys.executable, "--quiet", "--no-project"],
            [uv, "pip", "install", "--python", str(building), "--quiet", *requirements],
        ):
            completed = subprocess.run(command, capture_output=True, text=True, check=False)
            if completed.returncode != 0:
                said = (completed.stderr or completed.stdout).strip()
                raise LambdaBuildError(
                    f"Could not make the isolated build environment ({' '.join(requirements)}):\n{said}\n"
                    "Check your index settings, or build with `--no-isolation`."
                )
        (building / "ready").write_text("\n".join(requirements) + "\n", encoding="utf-8")
        shutil.rmtree(home, ignore_errors=True)
        os.replace(building, home)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _overlay(home: Path) -> Path:
    """A directory holding this running hatch_lambda and a dist-info naming its entry points."""
    overlay = home / "overlay"
    package = overlay / "hatch_lambda"
    source = Path(hatch_lambda.__file__).parent
    if not package.exists():
        overlay.mkdir(exist_ok=True)
        try:
            package.symlink_to(source, target_is_directory=True)
        except OSError:  # no symlinks (Windows without the privilege): a copy does
            shutil.copytree(source, package, ignore=shutil.ignore_patterns("__pycache__"))
        dist_info = overlay / f"hatch_lambda-{__version__}.dist-info"
        dist_info.mkdir(exist_ok=True)
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: hatch-lambda\nVersion: {__version__}\n", encoding="utf-8"
        )
        (dist_info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    return overlay
