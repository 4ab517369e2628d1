"""YOLO-pose decoding in numpy: anchors, DFL boxes, keypoints, NMS, letterbox and its inverse."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgepose.deploy.letterbox import letterbox, letterbox_params
from edgepose.deploy.normalize import YOLO_SCALING, to_model_input
from edgepose.deploy.yolo_decode import decode_anchors, make_anchors, nms, postprocess
from tests.yolo_raw import encode_people

INPUT = (96, 128)  # non-square: an x/y mix-up shows


def _people() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    boxes = np.array([[10.0, 12.0, 42.5, 80.25], [70.0, 20.0, 118.0, 90.0], [60.0, 5.0, 100.0, 45.0]])
    kpts = np.zeros((3, 17, 3))
    for i, b in enumerate(boxes):
        kpts[i, :, 0] = rng.uniform(b[0], b[2], 17)
        kpts[i, :, 1] = rng.uniform(b[1], b[3], 17)
        kpts[i, :, 2] = rng.choice([0, 1, 2], 17)
    return boxes, kpts


def test_anchor_order_is_level_then_row_major() -> None:
    points, strides = make_anchors(INPUT)
    assert len(points) == 12 * 16 + 6 * 8 + 3 * 4
    assert points[:3].tolist() == [[0.5, 0.5], [1.5, 0.5], [2.5, 0.5]]  # x moves first
    assert points[16].tolist() == [0.5, 1.5]
    assert strides[0] == 8 and strides[12 * 16] == 16 and strides[-1] == 32


def test_the_zoo_model_gives_one_column_per_anchor() -> None:
    from edgepose.models import build_model

    model = build_model("yolopose-v8n", width=0.25).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, *INPUT))
    assert out.shape[-1] == len(make_anchors(INPUT)[0])


def test_known_people_decode_back_exactly() -> None:
    boxes, kpts = _people()
    raw = encode_people(boxes, kpts, INPUT, level_of=[0, 1, 2])
    dets = postprocess(raw[None], INPUT, 17, conf=0.5)[0]
    assert len(dets) == 3
    order = np.argsort([b[0] for b in dets.boxes])  # match by position: 10, 60, 70
    np.testing.assert_allclose(dets.boxes[order], boxes[[0, 2, 1]], atol=1e-3)
    np.testing.assert_allclose(dets.keypoints[order][..., :2], kpts[[0, 2, 1]][..., :2], atol=1e-3)
    assert ((dets.keypoints[order][..., 2] > 0.5) == (kpts[[0, 2, 1]][..., 2] > 0)).all()
    assert dets.scores.min() > 0.99


def test_decode_of_selected_anchors_equals_decode_of_all() -> None:
    raw = np.random.default_rng(1).normal(size=(4 * 16 + 1 + 51, len(make_anchors(INPUT)[0]))).astype(np.float32)
    boxes, scores, kpts = decode_anchors(raw, INPUT, 17)
    index = np.array([3, 200, 251])
    b, s, k = decode_anchors(raw, INPUT, 17, index)
    np.testing.assert_allclose(b, boxes[index])
    np.testing.assert_allclose(k, kpts[index])
    assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()


def test_nms_removes_duplicates_and_keeps_separate_people() -> None:
    boxes = np.array([[0, 0, 10, 20], [0.5, 0, 10.5, 20], [30, 0, 40, 20], [29, 1, 40, 21], [0, 0, 10, 10.0]])
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.6])
    keep = nms(boxes, scores, iou_threshold=0.7)
    assert keep.tolist() == [3, 0, 4]  # best first; 1 duplicates 0, 2 duplicates 3; 4 overlaps 0 by IoU 0.5


def test_overlapping_people_survive_and_duplicates_do_not() -> None:
    boxes, kpts = _people()  # people 1 and 2 overlap (IoU 0.18): two people, not one
    raw = encode_people(boxes[1:], kpts[1:], INPUT, level_of=[0, 2])
    dup = encode_people(boxes[1:2] + 1.0, kpts[1:2], INPUT, level_of=[1])  # person 1 again, one level up
    column = dup[64] > 0
    raw[:, column] = dup[:, column]
    raw[64, column] = 5.0  # a less confident duplicate
    dets = postprocess(raw[None], INPUT, 17, conf=0.25, iou=0.7)[0]
    assert len(dets) == 2
    np.testing.assert_allclose(np.sort(dets.boxes[:, 0]), [60.0, 70.0], atol=1e-3)


def test_confidence_threshold_is_strict_and_max_det_caps() -> None:
    boxes, kpts = _people()
    raw = encode_people(boxes, kpts, INPUT, level_of=[0, 1, 2])
    assert len(postprocess(raw[None], INPUT, 17, conf=0.9999999)[0]) == 0
    assert len(postprocess(raw[None], INPUT, 17, conf=0.5, max_det=2)[0]) == 2


@pytest.mark.parametrize("shape", [(120, 160), (300, 100), (96, 128), (33, 500)])
def test_letterbox_and_inverse_round_trip_points(shape: tuple[int, int]) -> None:
    image = np.random.default_rng(0).integers(0, 255, (*shape, 3), dtype=np.uint8)
    boxed, lb = letterbox(image, INPUT)
    assert boxed.shape == (*INPUT, 3)
    points = np.array([[0.0, 0.0], [shape[1], shape[0]], [shape[1] / 3, shape[0] / 2]])
    moved = lb.to_input(points)
    assert moved[:, 0].min() >= 0 and moved[:, 0].max() <= INPUT[1] + 1e-9
    assert moved[:, 1].min() >= 0 and moved[:, 1].max() <= INPUT[0] + 1e-9
    np.testing.assert_allclose(lb.to_image(moved), points, atol=1e-9)
    grey = boxed[: lb.pad_top] if lb.pad_top else boxed[:, : lb.pad_left]
    assert (grey == 114).all()


def test_letterbox_keeps_aspect_and_centres_like_ultralytics() -> None:
    (new_w, new_h), lb = letterbox_params((425, 640), (640, 640))  # a COCO photo
    assert (new_w, new_h) == (640, 425) and (lb.pad_left, lb.pad_top) == (0, 107)  # 215 rows of padding: 107 + 108
    x = to_model_input(np.full((2, 2, 3), 255, np.uint8), scaling=YOLO_SCALING)
    assert x.shape == (3, 2, 2) and x.dtype == np.float32 and float(x.max()) == 1.0
