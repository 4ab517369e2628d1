"""A device bundle: a folder with the model file(s), ONE metadata file (edgepose-bundle.json) and a README.

The metadata says everything a device needs to run the model the way edgepose measured it: the input (name,
shape, layout, dtype, colour order, pixel scaling, mean/std, the crop or letterbox rule), the keypoints (names,
skeleton, flip pairs), the decoder (type, thresholds, NMS) and the provenance (precision, edgepose version,
source checkpoint sha256, recipe, measured accuracy and latency where known). Its `pipeline` entry is the
ModelConfig the runner (edgepose.deploy.runner) rebuilds, so the runner and `edgepose predict` share one config.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from edgepose.deploy.config import CROP_RULE, LETTERBOX_RULE, ModelConfig
from edgepose.errors import UserError
from edgepose.fileio import write_json, write_text

BUNDLE_FILE = "edgepose-bundle.json"
BUNDLE_FORMAT = 1
MODEL_SUFFIXES = {"onnx": ".onnx", "openvino": ".xml"}


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundle_metadata(config: ModelConfig, *, fmt: str, files: list[str], input_name: str, output_name: str,
                    batch: int | None, provenance: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The metadata document of a bundle (written as edgepose-bundle.json)."""
    schema = config.keypoint_schema
    h, w = config.input_size
    dec = config.decoder
    if config.head == "yolo":
        decoder: dict[str, Any] = {"type": "yolo-pose", "output": output_name, "conf": dec.conf, "iou_nms": dec.iou,
                                   "max_det": dec.max_det, "strides": list(dec.strides), "reg_max": dec.reg_max,
                                   "layout": "(B, 4*reg_max + classes + 3K, anchors): DFL box bins, class logits, "
                                             "keypoint (x, y, visibility logit) rows"}  # fmt: skip
    elif config.head == "heatmap":
        decoder = {"type": "heatmap", "output": output_name, "refine": dec.refine, "blur_sigma": dec.blur_sigma,
                   "flip_test": dec.flip_test, "layout": "(B, K, H/stride, W/stride); heatmap px i -> input px i*stride"}
    else:
        decoder = {"type": "regression", "output": output_name, "flip_test": dec.flip_test,
                   "layout": "(B, K, 2|3): x, y in [0, 1] of the input width / height (+ a confidence)"}
    return {
        "edgepose_bundle": BUNDLE_FORMAT,
        "model": {"format": fmt, "file": files[0], "files": files},
        "input": {
            "name": input_name, "shape": [batch if batch else "N", 3, h, w], "layout": "NCHW", "dtype": "float32",
            "color": "RGB", "scaling": config.scaling, "mean": list(config.mean), "std": list(config.std),
            "resize": config.resize, "rule": LETTERBOX_RULE if config.resize == "letterbox" else CROP_RULE,
        },
        "keypoints": {"schema": schema.name, "names": list(schema.keypoints),
                      "skeleton": [list(e) for e in schema.skeleton], "flip_pairs": [list(p) for p in schema.flip_pairs]},
        "decoder": decoder,
        "provenance": provenance,
        "pipeline": config.to_dict(),
    }  # fmt: skip


def write_bundle(folder: str | Path, meta: dict[str, Any]) -> Path:
    """Write edgepose-bundle.json and README.md into `folder` (the model files are already there)."""
    folder = Path(folder)
    for name in meta["model"]["files"]:
        if not (folder / name).is_file():
            raise UserError(f"bundle {folder}: model file {name} is missing")
    write_json(folder / BUNDLE_FILE, meta)
    write_text(folder / "README.md", bundle_readme(meta))
    return folder / BUNDLE_FILE


def read_bundle(folder: str | Path) -> tuple[dict[str, Any], ModelConfig]:
    """(metadata, the pipeline config) of a bundle folder; UserError when it is not one."""
    folder = Path(folder)
    path = folder / BUNDLE_FILE
    if not path.is_file():
        raise UserError(f"{folder} is not an edgepose bundle (no {BUNDLE_FILE}); make one with "
                        "`edgepose export MODEL --format onnx --bundle DIR`")  # fmt: skip
    try:
        meta = json.loads(path.read_text())
        if meta.get("edgepose_bundle") != BUNDLE_FORMAT:
            raise UserError(f"{path}: bundle format {meta.get('edgepose_bundle')} is not {BUNDLE_FORMAT}")
        return meta, ModelConfig.from_dict(meta["pipeline"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a valid bundle file ({type(exc).__name__}: {exc})") from None


def bundle_readme(meta: dict[str, Any]) -> str:
    """The bundle's short README: what is in it, how to feed it, how to run it."""
    inp, dec, prov, kp = meta["input"], meta["decoder"], meta["provenance"], meta["keypoints"]
    model = meta["model"]
    accuracy = prov.get("accuracy") or {}
    latency = prov.get("latency_ms")
    lines = [
        f"# edgepose bundle: {Path(model['file']).stem} ({model['format']}, {prov.get('precision', 'fp32')})",
        "",
        f"Files: {', '.join(model['files'])}, `{BUNDLE_FILE}` (everything below, machine-readable), this README.",
        "",
        "## Run it (needs numpy, opencv-python(-headless) and the runtime; no torch)",
        "",
        "```bash",
        f"pip install numpy opencv-python-headless {'openvino' if model['format'] == 'openvino' else 'onnxruntime'} edgepose",
        "python -m edgepose.deploy.run . photo.jpg [more.jpg ...] [--boxes boxes.json]   # JSON poses on stdout",
        "```",
        "",
        "```python",
        "from edgepose.deploy.runner import BundleRunner",
        "poses = BundleRunner('.').predict(rgb_image)      # uint8 RGB (H, W, 3); boxes_xywh=... for top-down models",
        "```",
        "",
        "## Input",
        "",
        f"- `{inp['name']}`: {inp['dtype']} {inp['layout']} {inp['shape']}, {inp['color']}, pixels scaled {inp['scaling']}, "
        f"then (x - mean) / std with mean {inp['mean']}, std {inp['std']}",
        f"- resize: {inp['resize']}: " + "; ".join(f"{k}: {v}" for k, v in inp["rule"].items()),
        "",
        "## Output and decoding",
        "",
        "- " + ", ".join(f"{k} {v}" for k, v in dec.items()),
        f"- keypoints ({kp['schema']}): {', '.join(kp['names'])}",
        f"- skeleton (0-based pairs): {kp['skeleton']}; flip pairs: {kp['flip_pairs']}",
        "",
        "## Provenance",
        "",
        f"- precision {prov.get('precision')}, edgepose {prov.get('edgepose_version')}, recipe {prov.get('recipe') or '-'}",
        f"- source {prov.get('source') or '-'} (sha256 {prov.get('source_sha256') or '-'})",
        "- accuracy: " + (", ".join(f"{k} {v:.4f}" for k, v in accuracy.items() if isinstance(v, float)) or "not measured")
        + (f" on {prov.get('accuracy_data')}" if prov.get("accuracy_data") else ""),
        "- latency: " + (", ".join(f"{k} {v}" for k, v in latency.items()) if latency else "not measured"),
        "",
    ]  # fmt: skip
    return "\n".join(lines)
