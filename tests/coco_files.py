"""Small COCO-keypoints files for tests: noise images with plausible person boxes and joints."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from edgepose.schemas import get_schema


def write_coco(root: Path, n_images: int = 5, seed: int = 0, video: bool = False) -> Path:
    """A small COCO-17 keypoints JSON + noise JPEGs: 1-2 people per image, some joints v=1 / v=0."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(1, n_images + 1):
        h, w = 120, 160
        cv2.imwrite(str(root / "images" / f"{i:03d}.jpg"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        image = {"id": i, "file_name": f"{i:03d}.jpg", "width": w, "height": h}
        if video:
            image.update(video_id=1, frame_id=i)
        images.append(image)
        for _ in range(1 if video else int(rng.integers(1, 3))):
            bw, bh = rng.uniform(30, 60), rng.uniform(60, 100)
            x0, y0 = rng.uniform(2, w - bw - 2), rng.uniform(2, h - bh - 2)
            xy = np.stack([rng.uniform(x0, x0 + bw, 17), rng.uniform(y0, y0 + bh, 17)], 1)
            v = rng.choice([2, 2, 2, 1, 0], 17)
            v[[5, 12]] = 2  # a torso in every person: left shoulder high, right hip low
            xy[5] = (x0 + 0.2 * bw, y0 + 0.2 * bh)
            xy[12] = (x0 + 0.8 * bw, y0 + 0.7 * bh)
            xy[v == 0] = 0
            kps = np.concatenate([xy, v[:, None]], 1).reshape(-1)
            anns.append({
                "id": len(anns) + 1, "image_id": i, "category_id": 1, "iscrowd": 0, "bbox": [x0, y0, bw, bh],
                "area": bw * bh, "num_keypoints": int((v > 0).sum()), "keypoints": [float(t) for t in kps],
                **({"track_id": 7} if video else {}),
            })  # fmt: skip
    categories = [{"id": 1, "name": "person", "keypoints": list(get_schema("coco17").keypoints), "skeleton": []}]
    path = root / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": categories}))
    return path
