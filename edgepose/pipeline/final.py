"""The final stage: export for the target runtime, verify parity, evaluate, and time against the baselines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from edgepose.errors import UserError
from edgepose.fileio import write_json
from edgepose.formats import file_name
from edgepose.measure import compare_latency
from edgepose.pipeline.measure import PREDICTIONS, eval_summary, timing
from edgepose.pipeline.steps import QDQ_REFERENCE

if TYPE_CHECKING:
    from edgepose.artifact import Artifact
    from edgepose.pipeline.run_dir import RunDir
    from edgepose.pipeline.steps import Inputs

PARITY_IMAGES = (8, 32)  # real images for the parity check: (fp32/fp16, int8)


def run_final(run: RunDir, current: Artifact, inputs: Inputs, key: str) -> dict[str, Any]:
    """Export `current` into final/, check it, measure it; reuse a sealed final stage when nothing changed."""
    folder = run.final
    if run.done(folder, key):
        inputs.log("final: done earlier, reusing its measurements")
        return json.loads((folder / "metrics.json").read_text())
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    recipe = inputs.recipe
    inputs.log(f"final: exporting for {recipe.target} ...")
    final, precision = export_final(current, inputs, folder)
    inputs.log(f"final: verifying {final.path} against the model it came from ...")
    parity = verify_final(final, precision, inputs)
    inputs.log(f"final: evaluating on {recipe.runtime} and timing against the baselines (interleaved) ...")
    baseline = inputs.baseline
    assert baseline is not None
    metrics = {
        "artifact": str(final.path), "format": final.format, "precision": precision, "runtime": recipe.runtime,
        "parity": parity, "eval": eval_summary(final, inputs.eval_data, recipe.runtime, recipe, inputs.progress,
                                                 predictions=folder / PREDICTIONS),
        "vs_torch_fp32": compare_latency(baseline, final, "torch", recipe.runtime, **timing(recipe)),
        "vs_target_fp32": compare_latency(baseline, final, recipe.runtime, recipe.runtime, **timing(recipe)),
    }  # fmt: skip
    write_json(folder / "metrics.json", metrics)
    write_final_bundle(final, metrics, inputs)
    run.seal(folder, key, artifact=final.path.name)  # type: ignore[union-attr]
    return metrics


def write_final_bundle(final: Artifact, metrics: dict[str, Any], inputs: Inputs) -> None:
    """Make final/ a device bundle (edgepose-bundle.json + README.md beside the model) with what was measured."""
    from edgepose.export.bundle import BUNDLE_FORMATS, write_model_bundle

    if final.format not in BUNDLE_FORMATS or final.path is None:
        inputs.log(f"final: no device bundle for a {final.format} file (bundles hold ONNX or OpenVINO models)")
        return
    bench = metrics["vs_target_fp32"]["b"]
    latency = {**(bench.get("latency_ms") or {}), "runtime": bench.get("runtime"), "threads": bench.get("threads")}
    baseline = inputs.baseline
    write_model_bundle(final.path, source=baseline.path if baseline is not None else None, recipe=inputs.recipe.name,
                       accuracy=metrics["eval"]["metrics"], accuracy_data=str(inputs.eval_data), latency_ms=latency)  # fmt: skip
    inputs.log(f"final: device bundle in {final.path.parent} (python -m edgepose.deploy.run {final.path.parent} IMAGE)")


def export_final(current: Artifact, inputs: Inputs, folder: Any) -> tuple[Artifact, str]:
    """The deployable file for the recipe's target, in `folder`; returns it and its precision."""
    from edgepose.export.convert import export_model, source_precision
    from edgepose.export.files import copy_model_files
    from edgepose.loading import load_artifact

    recipe = inputs.recipe
    fmt = recipe.export_format
    source = source_precision(current) if current.format == "onnx" else current.provenance.get("precision", "fp32")
    precision = recipe.export.precision
    if precision == "auto":
        precision = source if source == "int8" else ("fp16" if fmt == "tensorrt" else "fp32")
    out = folder / file_name(fmt)
    folder.mkdir(parents=True, exist_ok=True)
    if current.format == fmt:
        copy_model_files(current.path, out)
    elif current.format in ("torch", "onnx"):
        export_model(current, fmt, out, precision=precision, dynamic_batch=recipe.export.dynamic_batch,
                     opset=recipe.export.opset)  # fmt: skip
    else:
        raise UserError(f"a {current.format} model cannot be exported to {fmt}: change the recipe's target or "
                        "the quantize backend")  # fmt: skip
    return load_artifact(out, inputs.load_options), precision


def verify_final(final: Artifact, precision: str, inputs: Inputs) -> dict[str, Any]:
    """Parity of the final file against the chain's reference (the last PyTorch model, or the QAT-trained Q/DQ
    graph evaluated literally after QAT), on random and real images.

    INT8 is checked on real images only (random noise lies outside the calibrated ranges by construction), and
    on more of them: its gate is a mean keypoint displacement, and a weak model's flat heatmaps let single joints
    jump between near-equal peaks under any INT8 rounding, which makes a mean over a handful of images noisy.
    """
    from edgepose.bench.parity import dataset_images, verify_parity
    from edgepose.runtimes import open_session
    from edgepose.runtimes.onnxruntime import open_literal_qdq

    reference, reference_runtime = inputs.reference or inputs.baseline, inputs.reference_runtime
    assert reference is not None
    threads = inputs.recipe.benchmark.threads
    images = dataset_images(str(inputs.eval_data), reference.spec, PARITY_IMAGES[precision == "int8"])
    if reference_runtime == QDQ_REFERENCE:
        reference_session = open_literal_qdq(reference, threads=threads)
    else:
        reference_session = open_session(reference, reference_runtime, threads=threads)
    report = verify_parity(
        reference_session, open_session(final, inputs.recipe.runtime, threads=threads), reference.spec,
        n_random=0 if precision == "int8" else 4, images=images, precision=precision,
        tolerance=inputs.recipe.gates.max_parity_error,
    )  # fmt: skip
    return {**report.to_dict(), "reference": str(reference.path or reference.arch), "reference_runtime": reference_runtime}
