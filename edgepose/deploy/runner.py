"""Run a device bundle with onnxruntime or openvino: numpy, opencv and the runtime, no torch.

    from edgepose.deploy.runner import BundleRunner
    runner = BundleRunner("bundle/")                     # runtime: the bundle's own (onnx -> onnxruntime)
    poses = runner.predict(rgb, boxes_xywh=[[x, y, w, h]])

The sessions are opened with the settings edgepose's own runtimes use (ONNX Runtime: all graph optimisations;
OpenVINO: LATENCY hint, f32 inference precision except for FP16 IRs), and the pipeline is
edgepose.deploy.model.PoseModel with the bundle's config: what `edgepose predict` runs, to the same numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgepose.deploy.bundle import read_bundle
from edgepose.deploy.crop import clip_boxes
from edgepose.deploy.model import PoseModel
from edgepose.deploy.pose import Pose
from edgepose.errors import MissingDependency, UserError

RUNTIMES = ("onnxruntime", "openvino")


class OrtBundleSession:
    def __init__(self, path: Path, threads: int | None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingDependency("onnxruntime", hint="pip install onnxruntime") from None
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if threads is not None:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inputs = self._session.get_inputs()
        self.input_names = tuple(i.name for i in inputs)
        self.output_names = tuple(o.name for o in self._session.get_outputs())
        batch = inputs[0].shape[0] if inputs and inputs[0].shape else None
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        self.runtime = "onnxruntime"

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = self._session.run(None, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()})
        return {n: np.asarray(o, dtype=np.float32) for n, o in zip(self.output_names, outs, strict=True)}


class OpenVinoBundleSession:
    def __init__(self, path: Path, threads: int | None, precision: str):
        try:
            import openvino as ov
        except ImportError:
            raise MissingDependency("openvino", hint="pip install openvino") from None
        core = ov.Core()
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY",
                                  "INFERENCE_PRECISION_HINT": "f16" if precision == "fp16" else "f32"}  # fmt: skip
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        model = core.read_model(str(path))
        self._compiled = core.compile_model(model, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self.input_names = tuple(p.get_any_name() for p in model.inputs)
        self.output_names = tuple(p.get_any_name() for p in model.outputs)
        self._outputs = list(self._compiled.outputs)
        batch = model.inputs[0].get_partial_shape()[0]
        self.fixed_batch = batch.get_length() if batch.is_static else None
        self.runtime = "openvino"

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = self._request.infer({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()})
        return {n: np.array(results[p], dtype=np.float32) for n, p in zip(self.output_names, self._outputs, strict=True)}


def open_bundle_session(folder: Path, meta: dict[str, Any], runtime: str | None = None,
                        threads: int | None = None) -> OrtBundleSession | OpenVinoBundleSession:  # fmt: skip
    fmt = meta["model"]["format"]
    runtime = runtime or ("openvino" if fmt == "openvino" else "onnxruntime")
    if runtime not in RUNTIMES:
        raise UserError(f"the bundle runner uses {' or '.join(RUNTIMES)}, not {runtime}")
    if runtime == "onnxruntime" and fmt != "onnx":
        raise UserError(f"onnxruntime cannot run a {fmt} model; use --runtime openvino")
    path = folder / meta["model"]["file"]
    if runtime == "onnxruntime":
        return OrtBundleSession(path, threads)
    return OpenVinoBundleSession(path, threads, str(meta["provenance"].get("precision", "fp32")))


class BundleRunner:
    """A bundle's model behind onnxruntime / openvino, with the bundle's preprocessing and decode."""

    def __init__(self, folder: str | Path, runtime: str | None = None, threads: int | None = None):
        self.folder = Path(folder)
        self.meta, self.config = read_bundle(self.folder)
        self.session = open_bundle_session(self.folder, self.meta, runtime, threads)
        self.model = PoseModel(self.session, self.config)

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        return self.model.names

    def predict(self, image_rgb: np.ndarray, boxes_xywh: Any = None, box_scores: Any = None) -> list[Pose]:
        """Poses in a uint8 RGB (H, W, 3) image. Top-down bundles crop `boxes_xywh` (clipped to the image;
        default: the whole image); YOLO-pose bundles find the people themselves."""
        if self.config.top_down and boxes_xywh is not None:
            boxes, keep = clip_boxes(np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4), image_rgb.shape[:2])
            scores = None if box_scores is None else np.asarray(box_scores, dtype=np.float64)[keep]
            return self.model.top_down(image_rgb, boxes, scores)
        return self.model.predict(image_rgb)
