"""Raw YOLO-pose head outputs built from known people, for decode and evaluation tests.

`encode_people` writes, for each person, logits at one anchor that edgepose.deploy.yolo_decode turns back into
its box and keypoints exactly (DFL: a two-hot distribution whose expectation is the distance), and a
confident class logit; every other anchor gets a very low score.
"""

from __future__ import annotations

import numpy as np

from edgepose.deploy.yolo_decode import REG_MAX, make_anchors

HIGH, LOW = 12.0, -12.0


def dfl_logits(distance_cells: float, reg_max: int = REG_MAX) -> np.ndarray:
    """Logits over reg_max bins whose softmax expectation is `distance_cells` (0 <= d <= reg_max - 1)."""
    lo = int(np.floor(distance_cells))
    frac = distance_cells - lo
    prob = np.full(reg_max, 1e-30)
    prob[lo] += 1.0 - frac
    if frac > 0:
        prob[lo + 1] += frac
    return np.log(prob)


def encode_people(boxes: np.ndarray, keypoints: np.ndarray, input_size: tuple[int, int], level_of: list[int] | None = None,
                  strides: tuple[int, ...] = (8, 16, 32)) -> np.ndarray:  # fmt: skip
    """(C, A) raw output with person i (box xyxy, keypoints (K, 3) input pixels) at the anchor of stride
    level level_of[i] (default 0) nearest its box centre; visible joints get a high visibility logit."""
    points, stride_of = make_anchors(input_size, strides)
    k = keypoints.shape[1] if len(keypoints) else 17
    raw = np.zeros((4 * REG_MAX + 1 + 3 * k, len(points)))
    raw[4 * REG_MAX] = LOW
    level_start = np.concatenate([[0], np.cumsum([len(points[stride_of == s]) for s in strides])])
    for i, (box, kpts) in enumerate(zip(boxes, keypoints, strict=True)):
        level = (level_of or [0] * len(boxes))[i]
        s = strides[level]
        sel = np.arange(level_start[level], level_start[level + 1])
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]) / s
        a = sel[np.argmin(np.linalg.norm(points[sel] - centre, axis=1))]
        px, py = points[a]
        dists = [px - box[0] / s, py - box[1] / s, box[2] / s - px, box[3] / s - py]
        for side, d in enumerate(dists):
            raw[side * REG_MAX : (side + 1) * REG_MAX, a] = dfl_logits(float(np.clip(d, 0, REG_MAX - 1)))
        raw[4 * REG_MAX, a] = HIGH
        rows = raw[4 * REG_MAX + 1 :, a].reshape(k, 3)
        rows[:, 0] = (kpts[:, 0] / s - (px - 0.5)) / 2
        rows[:, 1] = (kpts[:, 1] / s - (py - 0.5)) / 2
        rows[:, 2] = np.where(kpts[:, 2] > 0, HIGH, LOW)
    return raw.astype(np.float32)
