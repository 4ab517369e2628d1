"""The one YOLO-pose decode, in numpy: anchors, DFL boxes, keypoints, threshold and NMS (eval, predict and the
device runner call it).

Raw output (B, 4*reg_max + nc + 3K, A), anchors level by level (strides 8/16/32), row-major. For an
anchor at grid cell (gx, gy) of stride s, its point is (gx + 0.5, gy + 0.5) cells (Ultralytics'
make_anchors). Box: softmax over each side's reg_max bins, expectation = distance (cells) to the left,
top, right, bottom edges; xyxy = (point -+ distances) * s. Keypoint: x = (raw_x * 2 + point_x - 0.5) * s
(Pose.kpts_decode), same for y; visibility = sigmoid. Score = max class sigmoid. All in input pixels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

DEFAULT_STRIDES = (8, 16, 32)
REG_MAX = 16
CONF_PREDICT = 0.25  # Ultralytics' predict defaults
IOU_NMS = 0.7
MAX_DET = 300
MAX_NMS = 30000  # candidates kept (best first) before NMS


@dataclass
class Detections:
    """People found in one image, best first: boxes (N, 4) xyxy, scores (N,), keypoints (N, K, 3) [x, y, vis]."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    anchor_index: np.ndarray  # (N,) which anchor each came from

    def __len__(self) -> int:
        return len(self.scores)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def make_anchors(input_size: tuple[int, int], strides: tuple[int, ...] = DEFAULT_STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """(points (A, 2) in grid cells, stride per anchor (A,)) for an (H, W) input, Ultralytics' order.

    Built once per (input size, strides) (every frame of a video asks for the same grid); callers get copies.
    """
    points, stride_of = _anchors((int(input_size[0]), int(input_size[1])), tuple(int(s) for s in strides))
    return points.copy(), stride_of.copy()


@functools.lru_cache(maxsize=16)
def _anchors(input_size: tuple[int, int], strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    h, w = input_size
    points, stride_of = [], []
    for s in strides:
        gh, gw = int(np.ceil(h / s)), int(np.ceil(w / s))
        gy, gx = np.meshgrid(np.arange(gh, dtype=np.float64), np.arange(gw, dtype=np.float64), indexing="ij")
        points.append(np.stack([gx.reshape(-1) + 0.5, gy.reshape(-1) + 0.5], axis=1))
        stride_of.append(np.full(gh * gw, float(s)))
    return np.concatenate(points), np.concatenate(stride_of)


def split_channels(channels: int, num_keypoints: int, reg_max: int = REG_MAX) -> tuple[int, int]:
    """(box channels, class count) of a raw output with `channels` rows; ValueError if they do not add up."""
    nc = channels - 4 * reg_max - 3 * num_keypoints
    if nc < 1:
        raise ValueError(f"a raw output with {channels} channels cannot hold {num_keypoints} keypoints x 3 + "
                         f"{4 * reg_max} box bins + at least one class")  # fmt: skip
    return 4 * reg_max, nc


def decode_boxes(box_logits: np.ndarray, points: np.ndarray, strides: np.ndarray, reg_max: int = REG_MAX) -> np.ndarray:
    """(4*reg_max, N) DFL logits of N anchors -> (N, 4) xyxy input pixels."""
    logits = np.asarray(box_logits, dtype=np.float64).reshape(4, reg_max, -1)
    logits = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    dist = np.einsum("sbn,b->ns", prob, np.arange(reg_max, dtype=np.float64))  # (N, 4) l, t, r, b in cells
    xy1 = points - dist[:, :2]
    xy2 = points + dist[:, 2:]
    return np.concatenate([xy1, xy2], axis=1) * strides[:, None]


def decode_keypoints(kpt_raw: np.ndarray, points: np.ndarray, strides: np.ndarray) -> np.ndarray:
    """(3K, N) raw keypoint rows of N anchors -> (N, K, 3) [x, y input pixels, visibility probability]."""
    k = np.asarray(kpt_raw, dtype=np.float64)
    k = k.reshape(k.shape[0] // 3, 3, k.shape[-1])  # (K, 3, N)
    out = np.empty((k.shape[2], k.shape[0], 3))
    out[..., 0] = ((k[:, 0] * 2.0 + (points[:, 0] - 0.5)) * strides).T
    out[..., 1] = ((k[:, 1] * 2.0 + (points[:, 1] - 0.5)) * strides).T
    out[..., 2] = sigmoid(k[:, 2]).T
    return out


def decode_anchors(raw: np.ndarray, input_size: tuple[int, int], num_keypoints: int, index: np.ndarray | None = None,
                   strides: tuple[int, ...] = DEFAULT_STRIDES, reg_max: int = REG_MAX
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """One image's raw (C, A) at anchors `index` (all by default) -> boxes (N, 4), scores (N,), keypoints (N, K, 3)."""
    raw = np.asarray(raw)
    points, stride_of = _anchors((int(input_size[0]), int(input_size[1])), tuple(int(s) for s in strides))
    if raw.shape[-1] != len(points):
        raise ValueError(f"a raw output with {raw.shape[-1]} anchors does not fit a {input_size[0]}x{input_size[1]} "
                         f"input at strides {strides} ({len(points)} anchors)")  # fmt: skip
    nbox, nc = split_channels(raw.shape[0], num_keypoints, reg_max)
    index = np.arange(raw.shape[-1]) if index is None else np.asarray(index)
    sub = raw[:, index]
    pts, st = points[index], stride_of[index]
    boxes = decode_boxes(sub[:nbox], pts, st, reg_max)
    scores = sigmoid(sub[nbox : nbox + nc]).max(axis=0)
    keypoints = decode_keypoints(sub[nbox + nc :], pts, st)
    return boxes, scores, keypoints


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box (4,) with (N, 4) boxes."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = IOU_NMS) -> np.ndarray:
    """Greedy NMS: indices kept, best first; a box overlapping a kept one by IoU > threshold is dropped."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def postprocess(raw: np.ndarray, input_size: tuple[int, int], num_keypoints: int, conf: float = CONF_PREDICT,
                iou: float = IOU_NMS, max_det: int = MAX_DET, strides: tuple[int, ...] = DEFAULT_STRIDES,
                reg_max: int = REG_MAX) -> list[Detections]:  # fmt: skip
    """Raw (B, C, A) -> per image, the people with score > conf after NMS (at most max_det), input pixels."""
    raw = np.asarray(raw, dtype=np.float32)
    if raw.ndim != 3:
        raise ValueError(f"raw YOLO output must be (B, C, A), got shape {raw.shape}")
    nbox, nc = split_channels(raw.shape[1], num_keypoints, reg_max)
    results = []
    for image_raw in raw:
        scores_all = sigmoid(image_raw[nbox : nbox + nc]).max(axis=0)
        candidates = np.flatnonzero(scores_all > conf)
        candidates = candidates[np.argsort(-scores_all[candidates], kind="stable")][:MAX_NMS]
        boxes, scores, keypoints = decode_anchors(image_raw, input_size, num_keypoints, candidates, strides, reg_max)
        keep = nms(boxes, scores, iou)[:max_det]
        results.append(Detections(boxes[keep], scores[keep], keypoints[keep], candidates[keep]))
    return results
