"""One pass from a model to a measured output file: what `edgepose prune | ghost | quantize` do, as functions.

The CLI parses options and prints; everything else (scratch folders, the pass, the atomic save or move,
the before/after comparison on the same data and runtime, the accuracy-budget gate) happens here, so a
Python caller gets the same result as the command line.

Under torchrun (edgepose.distributed) only the fine-tuning runs on every process: a pass that fine-tunes runs
on every rank (its structural part deterministically, see the passes), rank 0 alone saves the output, and the
comparison (evaluation, timing) runs on rank 0 while the other ranks wait at a barrier, so nothing else runs
while it times; every rank returns rank 0's report. A pass that does not fine-tune runs on rank 0 alone.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose import distributed as dist
from edgepose.console import info
from edgepose.errors import GateFailed
from edgepose.formats import QUANTIZE_BACKENDS
from edgepose.measure import compare_step, compare_step_on_runtimes
from edgepose.passes.base import PassConfig, RunContext, apply_pass, make_config
from edgepose.passes.finetune import finetune_of

if TYPE_CHECKING:
    from edgepose.artifact import Artifact


INT8_PARITY_IMAGES = 32  # real images for the FP32 vs INT8 keypoint check


def _path(value: str | Path | None) -> Path | None:
    return Path(value) if value else None


def rewrite_to_checkpoint(
    pass_name: str, artifact: Artifact, cfg: PassConfig, output: str | Path, *,
    train_data: str | Path | None = None, val_data: str | Path | None = None, calib_data: str | Path | None = None,
    threads: int | None = None, progress: bool = True, log: Callable[[str], None] = info, detector: Any = None,
    **provenance: Any,
) -> tuple[Artifact, dict[str, Any]]:  # fmt: skip
    """Run a torch -> torch pass (prune, ghost, finetune, subpixel) and save OUT atomically.

    Its work files (a fine-tune's resume state) live beside OUT in `.OUT.work/` while it runs, so an
    interrupted run resumes; they are removed once OUT is written. Returns the result and ctx.records.
    """
    from edgepose.checkpoint import save_checkpoint

    dist.setup()
    output = Path(output)
    work_dir = output.parent / f".{output.name}.work"
    ctx = RunContext(
        work_dir=work_dir, train_data=_path(train_data), val_data=_path(val_data), calib_data=_path(calib_data),
        threads=threads, progress=progress, log=log, detector=detector,
    )  # fmt: skip
    result = apply_pass(artifact, pass_name, cfg, ctx)
    with dist.rank_zero_only() as main:
        if main:
            save_checkpoint(result, output, **{f"{pass_name}_config": cfg.model_dump(mode="json")}, **provenance)
            shutil.rmtree(work_dir, ignore_errors=True)
    return result, ctx.records


def measured_rewrite(
    pass_name: str, artifact: Artifact, cfg: PassConfig, output: str | Path, *, runtimes: list[str],
    eval_data: str | Path | None = None, eval_limit: int | None = None, iters: int = 60, **run_options: Any,
) -> dict[str, Any]:
    """rewrite_to_checkpoint, then the before/after report: size, GFLOPs, latency on each runtime (interleaved,
    one run each) and accuracy on `eval_data` through the one eval path."""
    dist.setup()
    if finetune_of(pass_name, make_config(pass_name, cfg)) is None:  # nothing to train: rank 0 does it all
        return dist.on_rank_zero(lambda: _measured_rewrite(pass_name, artifact, cfg, output, runtimes, eval_data,
                                                           eval_limit, iters, run_options))  # fmt: skip
    return _measured_rewrite(pass_name, artifact, cfg, output, runtimes, eval_data, eval_limit, iters, run_options)


def _measured_rewrite(pass_name: str, artifact: Artifact, cfg: PassConfig, output: str | Path, runtimes: list[str],
                      eval_data: str | Path | None, eval_limit: int | None, iters: int,
                      run_options: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    log = run_options.get("log", info)
    result, records = rewrite_to_checkpoint(pass_name, artifact, cfg, output, **run_options)

    def measure() -> dict[str, Any]:  # rank 0 alone: the other ranks wait, so nothing runs beside the timing
        report = compare_step_on_runtimes(
            artifact, result, runtimes, eval_data=eval_data, eval_limit=eval_limit,
            threads=run_options.get("threads"), iters=iters, log=log,
        )  # fmt: skip
        others = {key: value for key, value in records.items() if key != pass_name}  # e.g. a fine-tune's record
        return {**report, "model": str(artifact.path or artifact.arch), "output": str(output),
                pass_name: records.get(pass_name), "records": others}  # fmt: skip

    return dist.on_rank_zero(measure)


def quantize_to_file(
    artifact: Artifact, options: dict[str, Any], calib: str | Path, output: str | Path, *,
    eval_data: str | Path | None = None, finetune_data: str | Path | None = None, threads: int | None = None,
    iters: int = 60, subpixel: bool = False, progress: bool = True, log: Callable[[str], None] = info,
    detector: Any = None, parity_gate: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Quantize into a scratch folder beside OUT, move the result to OUT, compare it with FP32 on the backend's
    runtime, and enforce the accuracy budget (`max_drop`): GateFailed carrying the report when it is not met.

    With `subpixel` the deconvs are first rewritten as conv + pixel shuffle (the `subpixel` pass, exact), so
    they are quantized too; the FP32 side of the comparison stays the model as given.
    """
    dist.setup()
    if finetune_of("quantize", make_config("quantize", options)) is None:  # PTQ: nothing to train, rank 0 alone
        return dist.on_rank_zero(lambda: _quantize_to_file(artifact, options, calib, output, eval_data, finetune_data,
                                                           threads, iters, subpixel, progress, log, detector,
                                                           parity_gate))  # fmt: skip
    return _quantize_to_file(artifact, options, calib, output, eval_data, finetune_data, threads, iters, subpixel,
                             progress, log, detector, parity_gate)  # fmt: skip


def _quantize_to_file(artifact: Artifact, options: dict[str, Any], calib: str | Path, output: str | Path,
                      eval_data: str | Path | None, finetune_data: str | Path | None, threads: int | None, iters: int,
                      subpixel: bool, progress: bool, log: Callable[[str], None],
                      detector: Any = None, parity_gate: bool = False) -> dict[str, Any]:  # fmt: skip
    """quantize_to_file's work: QAT trains on every rank; moving, comparing and the gate happen on rank 0."""
    from edgepose.export.files import move_model_files

    output = Path(output)
    output.resolve().parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".edgepose-quantize-", dir=output.resolve().parent) as tmp:
        ctx = RunContext(
            work_dir=Path(tmp), calib_data=Path(calib), val_data=_path(eval_data), train_data=_path(finetune_data),
            threads=threads, progress=progress, log=log, detector=detector,
        )  # fmt: skip
        from edgepose.passes.quantize_calib import calibration_inputs

        config = make_config("quantize", options)  # the calibration data is read (and refused) before any work
        ctx.calib_inputs = calibration_inputs(Path(calib), artifact.spec, config.calib_images, ctx.seed, detector, log)
        source = artifact
        if subpixel and artifact.format == "torch":
            source = apply_pass(artifact, "subpixel", None, ctx)
        log(f"quantizing {artifact.path or artifact.arch} ({options.get('mode', 'ptq')}, "
            f"{options.get('backend', 'onnxruntime')}) ...")  # fmt: skip
        result = apply_pass(source, "quantize", options, ctx)
        with dist.rank_zero_only() as main:
            if main:
                result.path = move_model_files(result.path, output)
    return dist.on_rank_zero(lambda: _compare_int8(artifact, result, ctx, eval_data, threads, iters, log, parity_gate))


def _compare_int8(artifact: Artifact, result: Artifact, ctx: RunContext, eval_data: str | Path | None,
                  threads: int | None, iters: int, log: Callable[[str], None],
                  parity_gate: bool = False) -> dict[str, Any]:  # fmt: skip
    """The INT8 result against FP32 on the backend's runtime, the keypoint parity on real images (GateFailed when
    it fails only with `parity_gate`: a weak model's flat heatmaps move joints under any rounding), and the accuracy
    budget (GateFailed when not met)."""
    record = ctx.records["quantize"]
    if "subpixel" in ctx.records:
        record = {**record, "subpixel": ctx.records["subpixel"]}
    runtime = QUANTIZE_BACKENDS[record["backend"]].runtime
    log(f"wrote {result.path}; comparing with FP32 on {runtime} ...")
    report = compare_step(artifact, result, eval_data=eval_data, runtime=runtime, threads=threads, iters=iters)
    data = {"output": str(result.path), "quantize": record, **report,
            "parity": _int8_parity(artifact, result, ctx, runtime, threads)}  # fmt: skip
    if parity_gate and not data["parity"]["passed"]:
        raise GateFailed(
            f"INT8 parity failed: the INT8 keypoints move {data['parity']['checked_value']:.3g} of the input diagonal "
            f"from FP32's on {data['parity']['n_images']} calibration-source images (tolerance "
            f"{data['parity']['tolerance']:g}); it was written to {result.path}", report=data,
        )  # fmt: skip
    budget = record.get("budget")
    if budget and not budget["within_budget"]:
        raise GateFailed(
            f"accuracy budget not met: the best INT8 model drops {budget['drop_points']:.2f} points "
            f"(budget {budget['max_drop_points']}) with {len(budget['kept_float'])} sensitive layers float; "
            f"it was written to {result.path}", report=data,
        )  # fmt: skip
    return data


def _int8_parity(artifact: Artifact, result: Artifact, ctx: RunContext, runtime: str,
                 threads: int | None) -> dict[str, Any]:  # fmt: skip
    """FP32 vs INT8 decoded keypoints on real images of the calibration source (drawn with another seed than the
    calibration set): the INT8 parity gate (edgepose.bench.parity, mean displacement / input diagonal)."""
    from edgepose.bench.parity import verify_parity
    from edgepose.passes.quantize_calib import calibration_inputs
    from edgepose.runtimes import open_session

    images = calibration_inputs(ctx.calib_data, artifact.spec, INT8_PARITY_IMAGES, ctx.seed + 1, ctx.detector)
    reference = open_session(artifact, "torch" if artifact.format == "torch" else runtime, threads=threads)
    parity = verify_parity(reference, open_session(result, runtime, threads=threads), artifact.spec, n_random=0,
                           images=images, precision="int8")  # fmt: skip
    return {**parity.to_dict(), "data": str(ctx.calib_data)}
