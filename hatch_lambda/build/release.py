"""One `hatch build -t lambda`: plan, build, prove, check, then commit, as one transaction.

Every version asked for is built by the same run, into the staging directory of one transaction
(`build.transaction`): planned first (settings, requirements, resolution, the cache key), then
built and proven, then checked (the handler against the pair of zips this build commits, never
against what an earlier build left), and only then committed to the output directory, the zips
and the manifest together. A failure at any step says which step failed and leaves the output
directory exactly as it was.

A zip that is not rebuilt (`-t lambda:source` alone) is carried over from the previous manifest
while its file is unchanged, and it makes a release with the new zip only when it was built from the
same inputs (`build.inputs`); otherwise the manifest says the pair is stale and what to run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from hatch_lambda.archive.atomic import write_text
from hatch_lambda.build import manifest, sbom
from hatch_lambda.build.checks import check_release_handler, check_release_size
from hatch_lambda.build.first_party import FirstPartyCode, collect_first_party
from hatch_lambda.build.inputs import release_inputs
from hatch_lambda.build.layer_version import PlannedLayer, build_layer_zip, plan_layer_version, store_in_cache
from hatch_lambda.build.sbom import first_party_facts, zip_layer_facts
from hatch_lambda.build.source_version import build_source_zip
from hatch_lambda.build.target import Target
from hatch_lambda.build.transaction import Staging, transaction
from hatch_lambda.errors import LambdaBuildError
from hatch_lambda.files.digest import file_sha256
from hatch_lambda.platform.runtimes import marker_environment

STEPS = {
    "plan": "planning (settings, requirements, resolution)",
    "source": "building the source zip",
    "layer": "building the layer",
    "check": "checking the handler",
    "commit": "committing the artifacts",
}
REBUILD_BOTH = "run `hatch build -t lambda` to build both"


class BuildStepError(LambdaBuildError):
    """A step of the transaction failed; the output directory was left as it was."""

    def __init__(self, step: str, output: Path, problem: str) -> None:
        self.step = step
        self.problem = problem
        super().__init__(
            f"{problem}\n\nThe build failed while {STEPS[step]}; nothing in {output} was changed."
        )


class Committed(NamedTuple):
    """What one run wrote: each version's artifact (the layer version's is the manifest without a layer)."""

    artifacts: dict[str, Path]
    removed: list[Path]


@dataclass(frozen=True)
class SharedLayer:
    """One layer built for several workspace members at once (`hatch-lambda build --all`)."""

    entry: dict[str, Any] | None  # its manifest entry; None: the members need no layer
    path: Path | None  # where it is staged
    inputs: str  # the digest every member's release is built from
    sbom_facts: list[dict[str, Any]] = field(default_factory=list)  # what it holds, for the SBOM
    planned: PlannedLayer | None = None  # to store in the layer cache after the commit


def build_release(target: Target, output: Path, versions: list[str], *, clean: list[str] | None) -> Committed:
    """Build `versions` of `target` into `output` in one transaction.

    `clean` names the versions whose earlier artifacts `-c` asked to remove; they go at the commit.
    """
    run = ReleaseRun(target, output, versions)
    with transaction(output, target.stem) as staging, contextlib.ExitStack() as held:
        run.plan(staging)
        run.build_source(staging)
        run.build_own_layer(staging, held)
        run.stage_manifest(staging)
        with run.step("commit"):
            removed = run.clean_list(clean)
            written = staging.commit([target.manifest_name], remove=removed)
        run.after_commit(written, removed)
        return run.committed(removed)


class ReleaseRun:
    """One project's release, in phases a workspace build can interleave with its members' others."""

    def __init__(self, target: Target, output: Path, versions: list[str]) -> None:
        self.target = target
        self.output = output
        self.versions = versions
        self.manifest_path = output / target.manifest_name
        self.requirements: list[str] = []  # what the layer installs, known once planned
        self.code: FirstPartyCode | None = None
        self.inputs = ""
        self.planned: PlannedLayer | None = None
        self.artifacts: dict[str, dict[str, Any] | None] = {}
        self.staged: dict[str, Path] = {}  # where each zip of this release is: staged, or kept in place
        self.shared: SharedLayer | None = None
        self.problems: list[str] = []  # why the release is not deployable, once staged
        self.layer_facts: list[dict[str, Any]] | None = None  # None: the layer was not built by this run

    def plan(self, staging: Staging, *, own_layer: bool = True) -> None:
        target, config = self.target, self.target.config
        # The runtime's CPython (for the cache key, the bytecode, the check) is found meanwhile.
        target.start_finding_runtime_python(compiles_source="source" in self.versions)
        with self.step("plan"):
            self.code = collect_first_party(
                target, target.sources, staging.scratch(f"{target.stem}-first-party")
            )
            self.requirements = self.code.layer_requirements
            self.inputs = release_inputs(config, self.requirements, target.lock, target.fixed_date_time)
            if own_layer and "layer" in self.versions and self.requirements:
                self.planned = plan_layer_version(
                    target,
                    staging.scratch(f"{target.stem}-plan"),
                    inputs=self.inputs,
                    requirements=self.requirements,
                )

    def build_source(self, staging: Staging) -> None:
        if "source" not in self.versions:
            return
        target = self.target
        assert self.code is not None
        with self.step("source"):
            layer_size = self._carried_size("layer") if "layer" not in self.versions else None
            self.artifacts["source"] = build_source_zip(
                target,
                staging.stage(target.source_name),
                staging.scratch(f"{target.stem}-wheel"),
                first_party=self.code.packages,
                inputs=self.inputs,
                check_size=lambda size: check_release_size(target, source=size, layer=layer_size),
            )
            self.staged["source"] = staging.staged[target.source_name]

    def build_own_layer(self, staging: Staging, held: contextlib.ExitStack) -> None:
        if "layer" not in self.versions:
            return
        with self.step("layer"):
            self.artifacts["layer"] = self._layer(staging, held, self.planned, self.artifacts.get("source"))
            if self.artifacts["layer"] is not None:
                self.staged["layer"] = staging.artifact(self.target.layer_name)
            self.layer_facts = self.planned.sbom_facts if self.planned is not None else []

    def use_shared_layer(self, shared: SharedLayer) -> None:
        self.shared = shared
        self.artifacts["layer"] = shared.entry
        self.layer_facts = shared.sbom_facts
        if shared.path is not None:
            self.staged["layer"] = shared.path

    def stage_manifest(self, staging: Staging) -> None:
        target, config = self.target, self.target.config
        for artifact in ("source", "layer"):
            if artifact not in self.artifacts:
                self._carry(artifact, self.artifacts)
        self.problems = self._problems(self.artifacts, self.inputs)
        with self.step("check"):
            check = check_release_handler(
                target,
                self._zip_path(self.artifacts, self.staged, "source"),
                self._zip_path(self.artifacts, self.staged, "layer"),
                unpaired="; ".join(self.problems) or None,
            )
        with self.step("commit"):
            sbom_path = staging.stage(target.sbom_name)
            write_text(sbom_path, self._sbom_text())
            write_text(
                staging.stage(target.manifest_name),
                manifest.manifest_text(
                    project_name=target.project_name,
                    project_version=target.project_version,
                    runtime=config.runtime,
                    architecture=config.architecture,
                    inputs=self.inputs,
                    artifacts=self.artifacts,
                    problems=self.problems,
                    handler_check=check,
                    sbom={"file": target.sbom_name, "sha256": file_sha256(sbom_path)},
                ),
            )

    def _sbom_text(self) -> str:
        target, config = self.target, self.target.config
        components = {"source": first_party_facts(self.code.packages if self.code else [])}
        layer = self.artifacts.get("layer")
        if self.layer_facts is not None:
            components["layer"] = self.layer_facts
        elif layer is not None:  # carried from an earlier build: described from the zip itself
            components["layer"] = zip_layer_facts(self.output / layer["file"], config.layer_prefix)
        return sbom.sbom_text(
            project_name=target.project_name,
            project_version=target.project_version,
            requirements=target.requirements,
            environment=marker_environment(config.runtime, config.architecture),
            zips=self.artifacts,
            components=components,
            properties={"runtime": config.runtime.name, "architecture": config.architecture},
            timestamp=sbom.source_date_epoch(),
        )

    def after_commit(self, written: list[Path], removed: list[Path]) -> None:
        target = self.target
        for problem in self.problems:
            target.reporter.display_warning(f"Not deployable yet: {problem}")
        if self.planned is not None and "layer" in self.staged and self.shared is None:
            store_in_cache(target, self.planned, self.output / target.layer_name)
        for path in removed:
            if path not in written:
                target.reporter.display_info(f"Removed {path.name} (clean)")

    def committed(self, removed: list[Path]) -> Committed:
        target = self.target
        return Committed(
            {
                "source": self.output / target.source_name,
                "layer": self.output
                / (target.layer_name if "layer" in self.staged else target.manifest_name),
            },
            removed,
        )

    def _layer(
        self,
        staging: Staging,
        held: contextlib.ExitStack,
        planned: PlannedLayer | None,
        source: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        target = self.target
        if planned is None:
            target.reporter.display_info("No layer zip: the project has no dependencies to put in one")
            return None
        source_size = int(source["unzipped_size"]) if source else self._carried_size("source")
        return build_layer_zip(
            target,
            planned,
            staging,
            staging.scratch("layer"),
            hold=held,
            check_size=lambda size: check_release_size(target, source=source_size, layer=size),
        )

    def _carry(self, artifact: str, artifacts: dict[str, dict[str, Any] | None]) -> None:
        """Keep the other zip of an earlier build in the manifest while its file is unchanged."""
        if artifact == "layer" and not self.requirements:
            artifacts["layer"] = None  # no dependencies: no layer, whatever an earlier build made
            return
        config = self.target.config
        entry = manifest.carried_entry(self.manifest_path, artifact, config.runtime, config.architecture)
        if entry is not None:
            artifacts[artifact] = entry

    def _carried_size(self, artifact: str) -> int | None:
        config = self.target.config
        entry = manifest.carried_entry(self.manifest_path, artifact, config.runtime, config.architecture)
        return int(entry["unzipped_size"]) if entry else None

    def _problems(self, artifacts: dict[str, dict[str, Any] | None], inputs: str) -> list[str]:
        """Why the zips this manifest lists do not make a release Lambda can run, if they do not."""
        problems = []
        names = {"source": "source zip", "layer": "layer"}
        for artifact, name in names.items():
            if artifact not in artifacts:
                problems.append(
                    f"there is no {name} for {self.target.description} in {self.output}: {REBUILD_BOTH}"
                )
                continue
            entry = artifacts[artifact]
            if entry is not None and entry.get("inputs") != inputs:
                problems.append(
                    f"the {name} in {self.output} was built from other dependencies or options than this "
                    f"build's (stale pair): {REBUILD_BOTH}"
                )
        return problems

    def _zip_path(
        self, artifacts: dict[str, dict[str, Any] | None], staged: dict[str, Path], artifact: str
    ) -> Path | None:
        if artifact in staged:
            return staged[artifact]
        entry = artifacts.get(artifact)
        return self.output / entry["file"] if entry else None

    def clean_list(self, clean: list[str] | None) -> list[Path]:
        if clean is None:
            return []
        return sorted(
            path for path in self.output.iterdir() if path.is_file() and self.target.owns(path.name, clean)
        )

    @contextlib.contextmanager
    def step(self, step: str) -> Iterator[None]:
        try:
            yield
        except BuildStepError:
            raise
        except LambdaBuildError as error:
            raise BuildStepError(step, self.output, str(error)) from error
        except OSError as error:
            where = f" ({error.filename})" if error.filename else ""
            raise BuildStepError(step, self.output, f"{error.strerror or error}{where}") from error


def remove_now(target: Target, output: Path, versions: list[str]) -> list[Path]:
    """`--clean-only`: remove this project's own artifacts of `versions` at once."""
    removed = []
    for path in sorted(output.iterdir()) if output.is_dir() else []:
        if path.is_file() and target.owns(path.name, versions):
            path.unlink()
            removed.append(path)
    for path in removed:
        target.reporter.display_info(f"Removed {path.name}")
    return removed
