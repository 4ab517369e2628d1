"""The `quantize` pass: INT8 by post-training quantization (ONNX Runtime or NNCF) or QAT (NNCF + fine-tuning).

Backends and what they write:
  onnxruntime -> Q/DQ ONNX, uint8 activations / int8 per-channel weights (ONNX Runtime CPU);
  tensorrt    -> Q/DQ ONNX, symmetric int8 (what TensorRT builds explicit-INT8 engines from);
  openvino    -> NNCF Q/DQ ONNX converted to an INT8 OpenVINO IR.
Pose-head-aware default: the layers producing the outputs (and anything after them) stay float, the
usual cause of "INT8 broke my pose head". `analyze` scores each layer quantized alone; `max_drop` keeps
the most sensitive layers float until the accuracy drop is within budget (the caller enforces the gate).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from edgepose import distributed as dist
from edgepose.artifact import Artifact as ArtifactType
from edgepose.errors import UserError
from edgepose.formats import QUANTIZE_BACKENDS
from edgepose.passes.base import PassConfig, RunContext, Stage, register_pass
from edgepose.passes.finetune import FinetuneConfig, check_finetune_data

if TYPE_CHECKING:
    from edgepose.artifact import Artifact
    from edgepose.passes.quantize_layers import Layer

INT8_GRAPH = "model_int8.onnx"  # the Q/DQ ONNX every mode writes into the work dir (after QAT: the trained graph)


class QuantizeConfig(PassConfig):
    """How to quantize: mode, backend, calibration, which layers stay float, analysis and budget."""

    mode: Literal["ptq", "qat"] = "ptq"
    backend: Literal["onnxruntime", "openvino", "tensorrt"] = "onnxruntime"
    method: Literal["minmax", "entropy", "percentile"] = "minmax"
    calib_images: int = Field(128, ge=1)
    per_channel: bool = True
    reduce_range: bool | None = Field(None, description="7-bit weights; default: on for CPUs without VNNI")
    preset: Literal["mixed", "performance"] = "mixed"
    fast_bias_correction: bool = True
    keep_output_float: bool = True
    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)
    analyze: bool = False
    max_drop: float | None = Field(None, ge=0, description="accuracy budget in points of the primary metric")
    eval_limit: int | None = Field(300, ge=1, description="people scored per analysis / search step")
    max_float_layers: int | None = Field(None, ge=1)
    finetune: FinetuneConfig = Field(default_factory=lambda: FinetuneConfig(epochs=2, lr=1e-4, distill=0.5))


@register_pass(
    "quantize", config=QuantizeConfig, stage=Stage.QUANTIZE, accepts={"torch", "onnx"}, produces={"onnx", "openvino"},
    description="INT8 by PTQ (ONNX Runtime / NNCF) or QAT, pose-head-aware, with sensitivity and budget",
)  # fmt: skip
def quantize(artifact: Artifact, cfg: QuantizeConfig, ctx: RunContext) -> Artifact:
    """Quantize the model into ctx.work_dir (the input is not changed); returns the INT8 ONNX or IR artifact."""
    import onnx

    from edgepose.passes.quantize_calib import calibration_inputs, check_normalisation
    from edgepose.passes.quantize_layers import check_patterns, output_layers, quantizable_layers, select

    if cfg.mode == "qat" and artifact.model is None:
        raise UserError("QAT fine-tunes a PyTorch model: give an edgepose .pt checkpoint, not an ONNX file")
    calib_file = ctx.need("calibration data", ctx.calib_data, "--calib ANN.json (or images: a folder, glob, video)")
    if cfg.mode == "qat":
        check_finetune_data(cfg.finetune, ctx, artifact.spec)
    if (cfg.analyze or cfg.max_drop is not None) and ctx.val_data is None:
        raise UserError("--analyze and --max-drop score the model: give the evaluation data with --eval ANN.json")
    inputs = ctx.calib_inputs
    if inputs is None:
        inputs = calibration_inputs(calib_file, artifact.spec, cfg.calib_images, ctx.seed, ctx.detector, ctx.log)
    record: dict[str, Any] = {"mode": cfg.mode, "backend": cfg.backend, "calibration": {
        "data": str(calib_file), "images": int(len(inputs)), **check_normalisation(inputs, artifact.spec, str(calib_file))}}
    ctx.records["quantize"] = record
    fp32_onnx, torch_heads = fp32_graph(artifact, ctx.work_dir)
    graph = onnx.load(str(fp32_onnx))
    layers = quantizable_layers(graph)
    check_patterns(layers, [*cfg.include, *cfg.exclude], "include/exclude")
    heads = output_layers(graph, torch_heads) if cfg.keep_output_float else []
    chosen = {x.node for x in select(layers, cfg.include)} - {x.node for x in select(layers, cfg.exclude)}
    base_float = [x for x in layers if x.node not in chosen or x.node in {h.node for h in heads}]
    record["float_by_config"] = {x.name: "output layer" if x in heads else "excluded" for x in base_float}
    metadata = _int8_metadata(artifact, cfg)

    if cfg.mode == "qat":
        from edgepose.passes.quantize_qat import quantize_aware_train

        out = ctx.work_dir / INT8_GRAPH
        record["qat"] = quantize_aware_train(artifact, inputs, [x.name for x in base_float], cfg.finetune, ctx, out,
                                             metadata)  # fmt: skip
        if not dist.is_main():  # another torchrun rank: it helped train; rank 0 exported, its result is the one used
            return ArtifactType(spec=artifact.spec, format="onnx", path=None, provenance={"torchrun_rank": dist.rank()})
        final_float: list[Layer] = list(base_float)
    else:
        quantizer = _make_quantizer(cfg, fp32_onnx, inputs, ctx.work_dir)
        record["settings"] = quantizer.settings()
        out, final_float = _ptq(quantizer, cfg, ctx, artifact, fp32_onnx, layers, base_float, metadata, record)
    record["int8_layers"] = [x.name for x in layers if x.node not in {f.node for f in final_float}]
    record["float_layers"] = [x.name for x in final_float]
    record["layers_total"] = len(layers)
    return _int8_artifact(artifact, cfg, out, ctx.work_dir, metadata)


def fp32_graph(artifact: Artifact, work_dir: Path) -> tuple[Path, list[str]]:
    """An FP32 ONNX of the model (BN folded into deconvs too) and its output-layer names (torch names)."""
    from edgepose.export.convert import source_precision
    from edgepose.export.metadata import metadata_for_artifact
    from edgepose.export.onnx import export_onnx
    from edgepose.passes.select import output_layers

    if artifact.model is None:
        precision = source_precision(artifact)
        if precision != "fp32":
            raise UserError(f"{artifact.path} is an {precision} graph; quantize the FP32 model instead")
        return Path(artifact.path), []  # type: ignore[arg-type]
    from edgepose.passes.quantize_qat import fold_batchnorm

    model = copy.deepcopy(artifact.model).eval()
    heads = output_layers(model, artifact.spec)
    fold_batchnorm(model)
    path = export_onnx(model, artifact.spec, work_dir / "model_fp32.onnx", simplify=False, dynamic_batch=True,
                       metadata=metadata_for_artifact(artifact))  # fmt: skip
    return path, heads


def _make_quantizer(cfg: QuantizeConfig, fp32_onnx: Path, inputs: Any, work_dir: Path) -> Any:
    if cfg.backend == "openvino":
        from edgepose.passes.quantize_nncf import NncfQuantizer

        if cfg.method != "minmax":
            raise UserError(f"the openvino backend (NNCF) calibrates with its own min-max statistics; "
                            f"--method {cfg.method} is for the onnxruntime and tensorrt backends")  # fmt: skip
        return NncfQuantizer(fp32_onnx, inputs, preset=cfg.preset, fast_bias_correction=cfg.fast_bias_correction)
    from edgepose.passes.quantize_ort import OrtQuantizer

    target = "tensorrt" if cfg.backend == "tensorrt" else "cpu"
    return OrtQuantizer(fp32_onnx, inputs, work_dir / "ort", method=cfg.method, target=target,
                        per_channel=cfg.per_channel, reduce_range=cfg.reduce_range)  # fmt: skip


def _ptq(
    quantizer: Any, cfg: QuantizeConfig, ctx: RunContext, artifact: Artifact, fp32_onnx: Path, layers: list[Layer],
    base_float: list[Layer], metadata: dict[str, str], record: dict[str, Any],
) -> tuple[Path, list[Layer]]:  # fmt: skip
    """Quantize once, or with analysis and/or the budget search; returns (Q/DQ ONNX, float layers).

    The budget search first scores the plain INT8 model; only when it is over budget are the layers
    ranked (by the per-layer scan) and the most sensitive kept float.
    """
    from edgepose.passes.quantize_search import search_budget

    out = ctx.work_dir / INT8_GRAPH
    if not cfg.analyze and cfg.max_drop is None:
        return quantizer.quantize(base_float, out, metadata), list(base_float)
    runtime = QUANTIZE_BACKENDS[cfg.backend].runtime
    score = _scorer(artifact, Path(ctx.val_data), runtime, cfg.eval_limit, ctx.threads)  # type: ignore[arg-type]
    fp32_metric = score(fp32_onnx)
    record["search_metric"] = {"name": _metric(artifact), "fp32": round(fp32_metric, 5), "runtime": runtime,
                               "eval_limit": cfg.eval_limit}  # fmt: skip
    candidates = [x for x in layers if x not in base_float]
    plain: tuple[Path, float] | None = None
    if cfg.max_drop is not None and not cfg.analyze:
        path = quantizer.quantize(base_float, ctx.work_dir / "search_0.onnx")
        plain = (path, score(path))
        if 100 * (fp32_metric - plain[1]) <= cfg.max_drop:
            _record_budget(record, cfg.max_drop, fp32_metric, plain[1], [], [_step(0, plain[1], fp32_metric, [])])
            return quantizer.quantize(base_float, out, metadata), list(base_float)
    ranked = _rank_layers(quantizer, cfg, ctx, artifact, fp32_onnx, candidates, layers, score, fp32_metric, record)
    if cfg.max_drop is None:
        return quantizer.quantize(base_float, out, metadata), list(base_float)
    result = search_budget(
        quantizer, base_float, ranked, score, fp32_metric, cfg.max_drop, ctx.work_dir, cfg.max_float_layers,
        on_step=lambda s: ctx.log(f"  {s['float_layers']} most sensitive layers float: drop {s['drop_points']:.2f} points"),
    )  # fmt: skip
    _record_budget(record, cfg.max_drop, fp32_metric, result.metric, result.float_layers, result.steps)
    final_float = [*base_float, *result.float_layers]
    return quantizer.quantize(final_float, out, metadata), final_float


def _rank_layers(
    quantizer: Any, cfg: QuantizeConfig, ctx: RunContext, artifact: Artifact, fp32_onnx: Path,
    candidates: list[Layer], layers: list[Layer], score: Any, fp32_metric: float, record: dict[str, Any],
) -> list[Layer]:  # fmt: skip
    """Layers ordered by what quantizing each alone costs (most harmful first), from the per-layer scan.

    The scan re-quantizes once per layer, so it runs on the ONNX Runtime quantizer (calibrated once);
    for the openvino backend its ranking then guides NNCF's float list.
    """
    from edgepose.passes.quantize_search import analyze

    scanner, scan_score, scan_fp32, runtime = quantizer, score, fp32_metric, QUANTIZE_BACKENDS[cfg.backend].runtime
    if cfg.backend == "openvino":
        scanner = _make_quantizer(cfg.model_copy(update={"backend": "onnxruntime"}), fp32_onnx, quantizer.inputs,
                                  ctx.work_dir)  # fmt: skip
        scan_score = _scorer(artifact, Path(ctx.val_data), "onnxruntime", cfg.eval_limit, ctx.threads)  # type: ignore[arg-type]
        scan_fp32, runtime = scan_score(fp32_onnx), "onnxruntime"
    ctx.log(f"sensitivity scan: {len(candidates)} layers, each quantized alone ...")
    rows = analyze(scanner, candidates, layers, scan_score, scan_fp32, ctx.work_dir,
                   on_step=lambda i, n, name: ctx.log(f"  [{i}/{n}] {name}"))  # fmt: skip
    record["analysis"] = {"runtime": runtime, "fp32": round(scan_fp32, 5), "rows": rows}
    by_node = {x.node: x for x in candidates}
    return [by_node[row["node"]] for row in rows]


def _step(k: int, metric: float, fp32_metric: float, added: list[Layer]) -> dict[str, Any]:
    return {"float_layers": k, "metric": round(metric, 5), "drop_points": round(100 * (fp32_metric - metric), 3),
            "added": [x.name for x in added]}  # fmt: skip


def _record_budget(record: dict[str, Any], max_drop: float, fp32_metric: float, metric: float, kept: list[Layer],
                   steps: list[dict[str, Any]]) -> None:  # fmt: skip
    drop = round(100 * (fp32_metric - metric), 3)
    record["budget"] = {"max_drop_points": max_drop, "within_budget": drop <= max_drop, "drop_points": drop,
                        "metric": round(metric, 5), "kept_float": [x.name for x in kept], "steps": steps}  # fmt: skip


def _scorer(artifact: Artifact, data: Path, runtime: str, limit: int | None, threads: int | None) -> Any:
    """score(path) -> the primary metric of that ONNX file on `runtime`, on the first `limit` people."""
    from edgepose.evaluate import evaluate
    from edgepose.loading import load_artifact
    from edgepose.runtimes import open_session

    metric = _metric(artifact)

    def score(path: Path) -> float:
        candidate = load_artifact(path)
        session = open_session(candidate, runtime, threads=threads)
        value = evaluate(session, artifact.spec, data, limit=limit, progress=False)["metrics"].get(metric)
        if value is None:
            raise UserError(f"{data} gives no {metric} to search on (no labelled people?)")
        return float(value)

    return score


def _metric(artifact: Artifact) -> str:
    from edgepose.measure import primary_metric

    return primary_metric(artifact.spec.schema)


def _int8_metadata(artifact: Artifact, cfg: QuantizeConfig) -> dict[str, str]:
    from edgepose.export.metadata import metadata_for_artifact

    meta = metadata_for_artifact(artifact, "int8")
    meta.update({"edgepose.quantize_mode": cfg.mode, "edgepose.quantize_backend": cfg.backend})
    return meta


def _int8_artifact(artifact: Artifact, cfg: QuantizeConfig, onnx_path: Path, work_dir: Path,
                   metadata: dict[str, str]) -> Artifact:  # fmt: skip
    """The result as an Artifact: the Q/DQ ONNX, or its OpenVINO IR for the openvino backend."""
    path, fmt = onnx_path, "onnx"
    if cfg.backend == "openvino":
        from edgepose.export.openvino import export_openvino

        path, fmt = export_openvino(onnx_path, work_dir / "model_int8.xml", "int8", metadata), "openvino"
    provenance = {**artifact.provenance, "precision": "int8", "quantized_from": str(artifact.path or artifact.arch)}
    for key, cast in (("params", int), ("gflops", float)):  # the FP32 graph's compute: INT8 changes the bits, not the ops
        if f"edgepose.{key}" in metadata:
            provenance[key] = cast(metadata[f"edgepose.{key}"])
    return ArtifactType(
        spec=artifact.spec, format=fmt, path=path, arch=artifact.arch, arch_kwargs=dict(artifact.arch_kwargs),
        history=list(artifact.history), provenance=provenance,
    )  # fmt: skip
