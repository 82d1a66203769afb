"""`hatch-lambda build --all`: every function of a uv workspace, and one layer that serves them all.

Members that have a `[tool.hatch.build.targets.lambda]` table each get their source zip and
manifest in the workspace root's `dist/`; members that target the same runtime and architecture
share **one** layer, `WORKSPACE-lambda-layer-RUNTIME-ARCH.zip`, holding the union of their
third-party dependencies (from the workspace's `uv.lock` when there is one, resolved together
otherwise). Everything is one transaction: planned, built, checked (each member's handler against
its source zip and the shared layer) and committed together, so the shared work (resolve, install,
zip, proof) is done once, and a failure anywhere leaves `dist/` as it was. A member built alone
(`hatch build -t lambda` in its folder) still gets a layer of its own.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from hatch_lambda.build.checks import check_release_size
from hatch_lambda.build.inputs import layer_options, release_inputs
from hatch_lambda.build.layer_version import build_layer_zip, plan_layer_version, store_in_cache
from hatch_lambda.build.release import ReleaseRun, SharedLayer
from hatch_lambda.build.reporting import Reporter
from hatch_lambda.build.target import Target
from hatch_lambda.build.transaction import Staging, transaction
from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.layer.sources import read_pyproject, workspace_members

# Options a shared layer is built with: the members that share it must agree on every one.
SHARED_OPTIONS = (
    "layout",
    "installer",
    "exclude-packages",
    "allow-sdist",
    "slim",
    "slim-exclude",
    "compile-bytecode",
    "compress-level",
    "date",
)


@dataclass(frozen=True)
class WorkspaceBuild:
    manifests: list[Path]
    layers: list[Path]


def workspace_name(root: Path) -> str:
    """The root project's name, else the root directory's: the shared layers' name, wheel-style."""
    name = read_pyproject(root / "pyproject.toml").get("project", {}).get("name") or root.resolve().name
    return re.sub(r"[-_.]+", "_", str(name)).lower()


def lambda_members(root: Path) -> list[Path]:
    """The workspace members with a lambda target, in name order."""
    workspace = read_pyproject(root / "pyproject.toml").get("tool", {}).get("uv", {}).get("workspace")
    members = workspace_members(root) if isinstance(workspace, dict) else {}
    if not members:
        raise LambdaBuildError(
            f"{root / 'pyproject.toml'} declares no uv workspace (`[tool.uv.workspace] members`): "
            "`--all` builds the members of one; without it, build the project in its own folder."
        )
    chosen = [
        directory
        for _, directory in sorted(members.items())
        if "lambda"
        in read_pyproject(directory / "pyproject.toml")
        .get("tool", {})
        .get("hatch", {})
        .get("build", {})
        .get("targets", {})
    ]
    if not chosen:
        raise LambdaBuildError(
            f"No member of the workspace at {root} has a `[tool.hatch.build.targets.lambda]` table."
        )
    return chosen


def build_workspace(
    root: Path, targets: list[Target], output: Path, reporter: Reporter, *, clean: bool
) -> WorkspaceBuild:
    """One transaction over every member's release and the shared layers."""
    stem = workspace_name(root)
    groups: dict[tuple[str, str], list[Target]] = {}
    for target in targets:
        groups.setdefault((target.config.runtime.name, target.config.architecture), []).append(target)
    with transaction(output, stem) as staging, contextlib.ExitStack() as held:
        runs: list[ReleaseRun] = []
        shared_layers: list[tuple[Target, SharedLayer]] = []
        for (runtime, architecture), members in sorted(groups.items()):
            _refuse_disagreeing_options(members)
            group = [ReleaseRun(member, output, ["source", "layer"]) for member in members]
            for run in group:
                run.plan(staging, own_layer=False)
            union = list(dict.fromkeys(requirement for run in group for requirement in run.requirements))
            layer_target = _shared_target(members, stem, union, reporter)
            inputs = release_inputs(
                layer_target.config, union, layer_target.lock, layer_target.fixed_date_time
            )
            for run in group:
                run.inputs = inputs
                run.build_source(staging)
            largest_source = max(
                int(entry["unzipped_size"])
                for run in group
                if (entry := run.artifacts.get("source")) is not None
            )
            shared = _shared_layer(
                layer_target,
                staging,
                held,
                inputs=inputs,
                requirements=union,
                largest_source=largest_source,
                step=group[0].step,
            )
            if shared.path is not None:
                shared_layers.append((layer_target, shared))
            reporter.display_info(
                f"Shared layer for {runtime} {architecture}: "
                + (shared.path.name if shared.path else "none (no dependencies)")
                + f", serving {', '.join(member.project_name for member in members)}"
            )
            for run in group:
                run.use_shared_layer(shared)
                run.stage_manifest(staging)
            runs.extend(group)
        with runs[0].step("commit"):
            removed = [
                path for run in runs for path in run.clean_list(["source", "layer"] if clean else None)
            ]
            manifests = [run.target.manifest_name for run in runs]
            written = staging.commit(manifests, remove=removed)
        for run in runs:
            run.after_commit(written, removed)
        for layer_target, shared in shared_layers:
            if shared.planned is not None:
                store_in_cache(layer_target, shared.planned, output / layer_target.layer_name)
        return WorkspaceBuild(
            [output / name for name in manifests], [output / target.layer_name for target, _ in shared_layers]
        )


def _shared_layer(
    target: Target,
    staging: Staging,
    held: contextlib.ExitStack,
    *,
    inputs: str,
    requirements: list[str],
    largest_source: int,
    step: Callable[[str], AbstractContextManager[None]],
) -> SharedLayer:
    if not requirements:
        return SharedLayer(None, None, inputs)
    with step("plan"):
        planned = plan_layer_version(
            target,
            staging.scratch(f"{target.stem}-{target.layer_name}"),
            inputs=inputs,
            requirements=requirements,
        )
    with step("layer"):
        entry = build_layer_zip(
            target,
            planned,
            staging,
            staging.scratch(f"{target.layer_name}-build"),
            hold=held,
            check_size=lambda size: check_release_size(target, source=largest_source, layer=size),
        )
    return SharedLayer(entry, staging.artifact(target.layer_name), inputs, planned.sbom_facts, planned)


def _shared_target(members: list[Target], stem: str, requirements: list[str], reporter: Reporter) -> Target:
    first = members[0]
    return Target(
        first.config,
        project_name=stem.replace("_", "-"),
        project_version="0",
        stem=stem,
        requirements=requirements,
        sources=first.sources,
        fixed_date_time=first.fixed_date_time,
        reporter=reporter,
        lock_packages=[member.project_name for member in members],
    )


def _refuse_disagreeing_options(members: list[Target]) -> None:
    """One layer is built with one set of options: members that share it must agree on them."""
    first = layer_options(members[0].config, members[0].fixed_date_time)
    for member in members[1:]:
        options = layer_options(member.config, member.fixed_date_time)
        for key in SHARED_OPTIONS:
            if options[key] != first[key]:
                raise LambdaBuildError(
                    f"{members[0].project_name} and {member.project_name} share a layer "
                    f"({member.description}) but set `{key}` differently ({first[key]!r} and "
                    f"{options[key]!r}): make them agree, or build the members one by one."
                )
    lock_settings = {
        str(member.config.lock) if member.config.lock else ("none" if member.config.lock_disabled else "")
        for member in members
    }
    if len(lock_settings) > 1:
        raise LambdaBuildError(
            "The members sharing a layer set `lock` differently: make them agree (the workspace's "
            "uv.lock is every member's default), or build the members one by one."
        )
