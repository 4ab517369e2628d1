"""The baseline and the pass steps of `edgepose optimize`, each written into its own sealed folder."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.errors import UserError
from edgepose.fileio import write_json
from edgepose.measure import compare_latency, model_size
from edgepose.pipeline.measure import PREDICTIONS, eval_summary, timing
from edgepose.pipeline.run_dir import RunDir

if TYPE_CHECKING:
    from edgepose.artifact import Artifact
    from edgepose.loading import LoadOptions
    from edgepose.recipe import PassEntry, Recipe


STEP_WORK_DIR = "work"  # a pass's scratch folder inside steps/NN_<pass>/


QDQ_REFERENCE = "onnxruntime (Q/DQ evaluated in float)"  # see _track_reference and runtimes.onnxruntime.open_literal_qdq


@dataclass
class Inputs:
    """What every step needs: the recipe, the data files, how to reload artifacts, where to log."""

    recipe: Recipe
    eval_data: Path
    calib_data: Path
    train_data: Path | None
    load_options: LoadOptions
    progress: bool
    log: Callable[[str], None]
    baseline: Artifact | None = None  # the input model, unchanged: teacher for distillation, reference for speed
    baseline_on_target: Artifact | None = None
    reference: Artifact | None = None  # what the final file must compute (parity): see _track_reference
    reference_runtime: str = "torch"
    stages: list[dict[str, Any]] = field(default_factory=list)
    val_data: Path | None = None  # fine-tuning's validation (data.val); the evaluation data never chooses anything


def run_baseline(run: RunDir, inputs: Inputs, key: str) -> dict[str, Any]:
    """Accuracy (torch runtime), size and compute of the input model (its latency is measured in the final stage,
    interleaved with the final artifact)."""
    folder = run.step_dir(0, "baseline")
    if run.done(folder, key):
        inputs.log("baseline: done earlier, reusing its measurements")
        return json.loads((folder / "metrics.json").read_text())
    if run.stale_from(folder, key):
        inputs.log(f"the input model, data or settings changed: redoing {', '.join(run.clear_from(0))}")
    baseline = inputs.baseline
    assert baseline is not None
    inputs.log("baseline: evaluating and benchmarking the input model (PyTorch eager FP32) ...")
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {
        "model": str(baseline.path or baseline.arch), "runtime": "torch", "precision": "fp32",
        "eval": eval_summary(baseline, inputs.eval_data, "torch", inputs.recipe, inputs.progress,
                             predictions=folder / PREDICTIONS),
        # size and compute only: the baseline's latency is the PyTorch side of the final stage's interleaved run
        "bench": model_size(baseline),
    }  # fmt: skip
    write_json(folder / "metrics.json", metrics)
    run.seal(folder, key)
    return metrics


def run_pass_step(run: RunDir, index: int, entry: PassEntry, current: Artifact, inputs: Inputs, key: str) -> Artifact:
    """Run one pass into steps/NN_<pass>/ (or reuse a sealed result) and record its metrics.

    Under torchrun every rank runs the pass (its fine-tuning is data-parallel); rank 0 alone decides whether
    the step is reused, clears stale folders, stores the result, measures it and seals the folder.
    """
    from edgepose import distributed as dist
    from edgepose.passes import RunContext, apply_pass

    folder = run.step_dir(index, entry.pass_)
    sealed = dist.on_rank_zero(lambda: _reuse_or_clear(run, folder, index, entry, inputs, key))
    if sealed:
        artifact = _reload(folder / sealed["artifact"], inputs)
        with dist.rank_zero_only() as main:
            if main:
                inputs.stages.append(json.loads((folder / "metrics.json").read_text()))
                _track_reference(artifact, entry, folder, inputs)
        return artifact
    started = time.perf_counter()
    ctx = RunContext(
        work_dir=folder / STEP_WORK_DIR, train_data=inputs.train_data, val_data=inputs.val_data,
        calib_data=inputs.calib_data, threads=inputs.recipe.benchmark.threads, progress=inputs.progress,
        seed=inputs.recipe.seed, teacher=inputs.baseline, log=inputs.log,
    )  # fmt: skip
    artifact = apply_pass(current, entry.pass_, entry.options(), ctx)
    seconds = round(time.perf_counter() - started, 1)

    def finish() -> None:  # rank 0 alone (the others wait): store, measure, seal
        stored = _store(artifact, folder)
        metrics = step_metrics(index, entry, stored, inputs, ctx.records, seconds)
        write_json(folder / "metrics.json", metrics)
        run.seal(folder, key, artifact=stored.path.name, format=stored.format)  # type: ignore[union-attr]
        inputs.stages.append(metrics)
        _track_reference(stored, entry, folder, inputs)

    dist.on_rank_zero(finish)
    return artifact


def _reuse_or_clear(run: RunDir, folder: Path, index: int, entry: PassEntry, inputs: Inputs,
                    key: str) -> dict[str, Any] | None:  # fmt: skip
    """The seal of a step done earlier with the same inputs, or None after clearing what is stale."""
    sealed = run.done(folder, key)
    if sealed:
        inputs.log(f"step {index} {entry.pass_}: done earlier, reusing {sealed['artifact']}")
        return sealed
    if run.stale_from(folder, key):
        inputs.log(f"recipe or input changed at step {index}: redoing {', '.join(run.clear_from(index))}")
    inputs.log(f"step {index} {entry.pass_}: running {entry.options() or '(defaults)'} ...")
    return None


def step_metrics(index: int, entry: PassEntry, artifact: Artifact, inputs: Inputs, records: dict[str, Any],
                 seconds: float) -> dict[str, Any]:  # fmt: skip
    """Accuracy of the step's model, and its latency against the baseline on the target runtime (one run)."""
    from edgepose.bench.benchmark import model_facts

    runtime = inputs.recipe.runtime if artifact.format != "torch" else _cpu_runtime(inputs.recipe)
    eval_runtime = "torch" if artifact.format == "torch" else runtime
    compare = compare_latency(inputs.baseline_on_target or inputs.baseline, artifact, runtime, runtime,  # type: ignore[arg-type]
                              **timing(inputs.recipe))
    return {
        "index": index, "pass": entry.pass_, "options": entry.options(), "artifact": str(artifact.path),
        "format": artifact.format, "seconds": seconds, **model_facts(artifact),
        "eval": eval_summary(artifact, inputs.eval_data, eval_runtime, inputs.recipe, inputs.progress),
        "bench": compare["b"], "vs_baseline_on_target": {k: compare[k] for k in ("ratio_p50", "ci95", "speedup",
                                                                                  "speedup_ci95")},
        "records": records,
    }  # fmt: skip


def _cpu_runtime(recipe: Recipe) -> str:
    """Where a torch step is timed: the target runtime, or ONNX Runtime CPU when the target is a GPU one."""
    return recipe.runtime if recipe.runtime != "tensorrt" else "onnxruntime"


def _store(artifact: Artifact, folder: Path) -> Artifact:
    """Keep the step's artifact in its folder: a checkpoint for torch, the INT8 file(s) otherwise."""
    from edgepose.checkpoint import save_checkpoint
    from edgepose.export.files import move_model_files

    if artifact.format == "torch":
        save_checkpoint(artifact, folder / "model.pt")
        return artifact
    artifact.path = move_model_files(artifact.path, folder / f"model{artifact.path.suffix}")  # type: ignore[union-attr]
    return artifact


def _reload(path: Path, inputs: Inputs) -> Artifact:
    from edgepose.loading import load_artifact

    return load_artifact(path, inputs.load_options)


def _track_reference(artifact: Artifact, entry: PassEntry, folder: Path, inputs: Inputs) -> None:
    """The parity reference: the last PyTorch model, or after QAT the QAT-trained Q/DQ ONNX evaluated literally.

    QAT changes the weights, so the float model before it is not what the INT8 file should compute; the
    Q/DQ graph the QAT network exported to is (the final file is converted from it), evaluated as written in
    float (QDQ_REFERENCE: the fake-quant arithmetic QAT trained, not one runtime's INT8 kernels).
    """
    from edgepose.passes.quantize import INT8_GRAPH

    qat_graph = folder / STEP_WORK_DIR / INT8_GRAPH
    if artifact.format == "torch":
        inputs.reference, inputs.reference_runtime = artifact, "torch"
    elif entry.pass_ == "quantize" and entry.options().get("mode") == "qat":
        if not qat_graph.is_file():
            raise UserError(f"the QAT step left no Q/DQ graph at {qat_graph}: delete {folder} and re-run to redo the step")
        inputs.reference, inputs.reference_runtime = _reload(qat_graph, inputs), QDQ_REFERENCE
