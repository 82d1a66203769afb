"""A layer built fresh, on a cache miss: install, slim, prove, compile and zip into staging.

Kept apart from `layer_version` (plan, cache, place), which imports it only when the cache misses:
a warm build loads none of the installer, proof, bytecode or deflate machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hatch_lambda.archive.entry_cache import EntryStore
from hatch_lambda.archive.reproducible_zip import WrittenZip, write_reproducible_zip
from hatch_lambda.build import manifest
from hatch_lambda.build.checks import prove_loadable
from hatch_lambda.build.reporting import counted, report_zip, waiting
from hatch_lambda.build.sbom import layer_facts
from hatch_lambda.build.target import Target, unzipped_size
from hatch_lambda.files.cache_root import cache_directory
from hatch_lambda.files.installed_tree import files_to_pack, installed_distributions, owners_by_record
from hatch_lambda.files.record import FileToPack
from hatch_lambda.files.slim import slim_layer
from hatch_lambda.files.trash import discard, emptied_meanwhile
from hatch_lambda.layer.install import install_layer
from hatch_lambda.layer.plan import LayerPlan
from hatch_lambda.platform.limits import human, largest_distributions
from hatch_lambda.platform.proof import ProofResult, prove_layer
from hatch_lambda.runtime.bytecode import LAYER_ROOT


def build_fresh_layer(
    target: Target,
    plan: LayerPlan,
    destination: Path,
    scratch: Path,
    *,
    inputs: str,
    check_size: Callable[[int], None],
    cache_copy: Path | None = None,
) -> dict[str, Any]:
    """Build the layer into `destination` (staging); `cache_copy`, when given, gets the same bytes."""
    installed = scratch / "target"
    try:
        return _build(
            target, plan, destination, installed, inputs=inputs, check_size=check_size, cache_copy=cache_copy
        )
    finally:
        # Removed by the next build, while its installer runs (`files.trash`).
        discard(installed, cache_directory())


def _build(
    target: Target,
    plan: LayerPlan,
    destination: Path,
    installed: Path,
    *,
    inputs: str,
    check_size: Callable[[int], None],
    cache_copy: Path | None,
) -> dict[str, Any]:
    config = target.config
    waiting(
        target.reporter,
        f"Installing {counted(plan.resolved, 'package') if plan.resolved else 'the packages'} "
        f"for {target.description}...",
    )
    plan.prepare_install()
    with emptied_meanwhile(cache_directory()):
        layer = install_layer(plan.request, config.installer, installed)
    summary = layer.summary
    target.reporter.display_info(
        f"Resolved {counted(summary.resolved or plan.resolved, 'package')} for {target.description} "
        f"({summary.platform}) and installed {summary.installed} in {summary.seconds:.2f}s"
    )
    if layer.removed:
        target.reporter.display_info(
            "Removed what pip chose for this machine but the target does not need: "
            + ", ".join(layer.removed)
        )
    for warning in layer.warnings:
        target.reporter.display_warning(warning)
    files = _slimmed(target, files_to_pack(installed, config.layer_prefix, planned_packages=plan.resolved))
    # Before the proof and the listing: a layer too large to deploy fails without reading a binary.
    check_size(unzipped_size(files))
    distributions = installed_distributions(installed)
    # Proven after slimming: `slim-exclude` can drop a file that would fail the proof; proven
    # before the zip, so a layer that cannot load is never zipped.
    proof, bytecode = _prove_and_compile(target, installed, files)
    prove_loadable(target, "layer", proof)
    if bytecode:
        files = [*files, *bytecode]
        check_size(unzipped_size(files))
    waiting(
        target.reporter,
        f"Compressing {len(files)} files ({human(unzipped_size(files))}) into the layer zip...",
    )
    written = _write_layer_zip(target, destination, files, cache_copy)
    largest = largest_distributions(files, owners_by_record(installed), config.layer_prefix)
    report_zip(target.reporter, written, largest)
    return {
        "entry": manifest.layer_entry(written, inputs, config.layout, distributions),
        "sbom": layer_facts(installed, config.layer_prefix, plan.file_hashes),
        "largest": largest,
        # Shown again when the layer comes from the cache, the proof's with the install's.
        "warnings": layer.warnings + proof.warnings,
    }


def _prove_and_compile(
    target: Target, installed: Path, files: list[FileToPack]
) -> tuple[ProofResult, list[FileToPack]]:
    """The proof of the layer's files, and their bytecode with `compile-bytecode`.

    The proof runs beside the compilers, which are other processes: this one mostly waits for
    their replies. It never runs beside the zip: the proof is Python reading headers and so is the
    zip's bookkeeping, and two such threads wait on each other for the GIL at every read and write
    (a bump, most streams copied from the entry cache, spent several times the proof's own time).
    A refused binary is reported before any error of the compile.
    """
    config = target.config

    def prove() -> ProofResult:
        return prove_layer(installed, list(files), config.layer_prefix, config.runtime, config.architecture)

    if not config.compile_bytecode:
        return prove(), []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hatch-lambda-proof") as proving:
        proof_of = proving.submit(prove)
        try:
            bytecode = target.bytecode(files, import_root=config.layer_prefix, extracted_to=LAYER_ROOT)
        except Exception:
            # A refused binary is the first thing to fix, whatever else failed. An interrupt is
            # not caught here; leaving the block still waits for the proof (tens of ms).
            prove_loadable(target, "layer", proof_of.result())
            raise
        return proof_of.result(), bytecode


def _write_layer_zip(
    target: Target, destination: Path, files: list[FileToPack], cache_copy: Path | None
) -> WrittenZip:
    """Zip the layer, copying the deflate streams of files compressed by an earlier build (a bump
    changes a few packages; the large libraries stay as they were)."""
    store = EntryStore(cache_directory())
    written = write_reproducible_zip(
        destination,
        files,
        fixed_date_time=target.fixed_date_time,
        compress_level=target.config.compress_level,
        store=store,
        copy_to=cache_copy,
    )
    counts = store.counts
    if counts.reused:
        target.reporter.display_info(
            f"Reused {counted(counts.reused, 'compressed file')} ({human(counts.reused_bytes)}) "
            f"from the entry cache ({store.root}); compressed {counts.compressed} new ones "
            f"({human(counts.compressed_bytes)}); small files: reused {counts.bundled_reused}, "
            f"compressed {counts.bundled_compressed}"
        )
    if counts.compressed or counts.bundled_compressed:
        store.prune()
    for warning in store.warnings:
        target.reporter.display_warning(warning)
    return written


def _slimmed(target: Target, files: list[FileToPack]) -> list[FileToPack]:
    config = target.config
    if not (config.slim or config.slim_exclude):
        return files
    result = slim_layer(files, config.layer_prefix, config.slim_exclude, drop_never_imported=config.slim)
    target.reporter.display_info(
        f"Slimmed the layer: left out {result.removed_files} files ({human(result.removed_bytes)}) "
        "that Lambda never imports"
    )
    return result.kept
