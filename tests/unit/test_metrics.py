"""Metrics over arrays: OKS AP through pycocotools, PCK / PCKh, MPJPE, visible-joint F1."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.errors import UserError
from edgepose.metrics.coco_eval import coco_from_arrays, instance_scores
from edgepose.metrics.pck import f1_visible, pck, segment_length
from edgepose.metrics.scoring import score_predictions
from edgepose.schemas import COCO17, LSP14

NOISE_PX = (0.0, 2.0, 6.0, 15.0)


def make_people(schema=COCO17, n: int = 48, seed: int = 0) -> tuple[np.ndarray, list[int], np.ndarray]:
    """(N, K, 3) GT people of varied size (torso 20-120 px), 2 per image, some joints occluded /
    unlabelled; also image ids and xywh boxes."""
    rng = np.random.default_rng(seed)
    k = schema.num_keypoints
    size = rng.uniform(60, 360, n)  # person height in px
    origin = rng.uniform(0, 400, (n, 2))
    rel = rng.uniform([0.0, 0.0], [0.45, 1.0], (n, k, 2))
    xy = origin[:, None] + rel * size[:, None, None]
    v = np.full((n, k), 2.0)
    v[rng.random((n, k)) < 0.15] = 1.0
    v[rng.random((n, k)) < 0.08] = 0.0
    v[:, list(schema.torso)] = 2.0  # every instance has a torso here; another test drops it
    gt = np.concatenate([xy, v[..., None]], axis=2)
    gt[gt[..., 2] == 0, :2] = 0.0
    boxes = np.concatenate([origin, np.stack([0.45 * size, size], 1)], axis=1)
    return gt, [i // 2 + 1 for i in range(n)], boxes


def predictions_from(gt: np.ndarray, noise_px: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pred = gt.copy()
    pred[..., :2] += rng.normal(0.0, noise_px, gt[..., :2].shape) if noise_px else 0.0
    pred[..., 2] = np.where(gt[..., 2] == 2, 0.9, 0.1)
    return pred


def score(gt: np.ndarray, pred: np.ndarray, image_ids, boxes, schema=COCO17) -> dict:
    areas = boxes[:, 2] * boxes[:, 3]
    return score_predictions(pred, gt, schema=schema, image_ids=image_ids, bboxes=boxes, areas=areas)


@pytest.mark.parametrize("schema", [COCO17, LSP14], ids=lambda s: s.name)
def test_ground_truth_scores_perfectly(schema) -> None:
    gt, image_ids, boxes = make_people(schema)
    result = score(gt, predictions_from(gt, 0.0), image_ids, boxes, schema)
    m = result["metrics"]
    assert m["oks_ap"] == pytest.approx(1.0) and m["oks_ap50"] == pytest.approx(1.0)
    assert m["oks_ap75"] == pytest.approx(1.0) and m["oks_ar"] == pytest.approx(1.0)
    assert m["pck@0.1"] == 1.0 and m["pck@0.2"] == 1.0
    assert m["mpjpe_px"] == 0.0 and m["f1_visible"] == 1.0
    assert result["n_instances"] == len(gt) and result["n_images"] == len(set(image_ids))
    assert set(m["per_keypoint"]) == set(schema.keypoints)
    assert all(v["pck@0.2"] == 1.0 for v in m["per_keypoint"].values())
    if schema.head is None:
        assert m["pckh@0.5"] is None and "pckh@0.5" not in m["per_keypoint"][schema.keypoints[0]]
    else:
        assert m["pckh@0.5"] == 1.0


def test_pckh_is_null_for_coco17_and_json_ready() -> None:
    import json

    gt, image_ids, boxes = make_people(COCO17, n=6)
    m = score(gt, predictions_from(gt, 3.0), image_ids, boxes)["metrics"]
    assert m["pckh@0.5"] is None
    assert '"pckh@0.5": null' in json.dumps(m)


def test_noisier_predictions_score_strictly_lower() -> None:
    gt, image_ids, boxes = make_people(COCO17)
    runs = [score(gt, predictions_from(gt, s), image_ids, boxes)["metrics"] for s in NOISE_PX]
    for key in ("oks_ap", "oks_ar", "pck@0.1", "pck@0.2"):
        values = [r[key] for r in runs]
        assert all(a > b for a, b in zip(values, values[1:], strict=False)), (key, values)
    mpjpe = [r["mpjpe_px"] for r in runs]
    assert all(a < b for a, b in zip(mpjpe, mpjpe[1:], strict=False)), mpjpe
    # Gaussian noise of s px per axis: mean error s * sqrt(pi / 2)
    assert mpjpe[-1] == pytest.approx(15.0 * np.sqrt(np.pi / 2), rel=0.1)


def test_lsp_noise_lowers_pckh_too() -> None:
    gt, image_ids, boxes = make_people(LSP14)
    pckh = [score(gt, predictions_from(gt, s), image_ids, boxes, LSP14)["metrics"]["pckh@0.5"] for s in NOISE_PX]
    assert all(a > b for a, b in zip(pckh, pckh[1:], strict=False)), pckh


def test_pck_counts_exactly_against_the_torso() -> None:
    gt = np.zeros((1, 17, 3))
    gt[0, :, 2] = 2
    gt[0, 5, :2], gt[0, 12, :2] = (0.0, 0.0), (30.0, 40.0)  # torso length 50 px
    pred = gt.copy()
    pred[0, 0, 0] += 9.0  # within 0.2 x 50 = 10, outside 0.1 x 50 = 5
    pred[0, 1, 1] += 11.0  # outside both
    torso = segment_length(gt, COCO17.torso)
    assert torso[0] == pytest.approx(50.0)
    assert pck(pred, gt, torso, 0.2) == pytest.approx(16 / 17)
    assert pck(pred, gt, torso, 0.1) == pytest.approx(15 / 17)


def test_instances_without_a_labelled_torso_are_left_out_of_pck() -> None:
    gt, image_ids, boxes = make_people(COCO17, n=10)
    gt[:4, COCO17.torso[1], 2] = 0  # hip unlabelled: no torso length for 4 people
    pred = predictions_from(gt, 0.0)
    pred[:4, :, :2] += 500.0  # far off, but those people cannot be scored by PCK
    m = score(gt, pred, image_ids, boxes)["metrics"]
    assert m["n_pck_instances"] == 6 and m["pck@0.2"] == 1.0
    assert m["mpjpe_px"] > 100  # MPJPE needs no normaliser and does see them
    assert m["oks_ap"] < 0.7


def test_f1_visible_counts_detections_at_the_right_place() -> None:
    gt = np.zeros((1, 4, 3))
    gt[0, :, :2] = [[0, 0], [100, 0], [0, 100], [100, 100]]
    gt[0, :, 2] = [2, 2, 1, 0]
    norm = np.array([100.0])
    pred = gt.copy()
    pred[0, :, 2] = [0.9, 0.9, 0.05, 0.05]
    assert f1_visible(pred, gt, norm)["f1"] == 1.0
    pred[0, 2, 2] = 0.9  # an occluded joint called visible: one false positive
    r = f1_visible(pred, gt, norm)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == 1.0 and r["f1"] == pytest.approx(0.8)
    pred[0, 1, 0] += 30  # visible, detected, but 30 px away (> 0.2 x 100): a miss and a false positive
    r = f1_visible(pred, gt, norm)
    assert r["precision"] == pytest.approx(1 / 3) and r["recall"] == pytest.approx(1 / 2)


def test_instance_score_is_mean_of_confident_keypoints() -> None:
    s = np.array([[0.9, 0.5, 0.1, 0.0], [0.1, 0.1, 0.1, 0.1]])
    np.testing.assert_allclose(instance_scores(s), [0.7, 0.0])
    np.testing.assert_allclose(instance_scores(s, box_scores=np.array([0.5, 1.0])), [0.35, 0.0])


def test_score_ranking_matters_to_ap() -> None:
    """COCOeval ranks by instance score: confident wrong predictions cost more AP than unconfident."""
    gt, image_ids, boxes = make_people(COCO17, n=20)
    pred = predictions_from(gt, 0.0)
    pred[:5, :, :2] += 200.0
    low, high = pred.copy(), pred.copy()
    low[:5, :, 2], high[5:, :, 2] = 0.3, 0.3
    ap_low = score(gt, low, image_ids, boxes)["metrics"]["oks_ap"]
    ap_high = score(gt, high, image_ids, boxes)["metrics"]["oks_ap"]
    assert ap_low == pytest.approx(0.75, abs=0.01) and ap_high < ap_low


def test_score_predictions_against_a_coco_object_and_ann_ids() -> None:
    gt, image_ids, boxes = make_people(COCO17, n=8)
    coco, ann_ids = coco_from_arrays(gt, image_ids, boxes)
    order = ann_ids[::-1]  # rows may come in any order, paired by ann_id
    pred = predictions_from(gt, 0.0)[::-1]
    m = score_predictions(pred, coco, order, COCO17)["metrics"]
    assert m["oks_ap"] == pytest.approx(1.0) and m["pck@0.2"] == 1.0


def test_keypoint_count_mismatch_is_a_user_error() -> None:
    gt, image_ids, boxes = make_people(LSP14, n=4)
    with pytest.raises(UserError, match="lsp14"):
        score_predictions(np.zeros((4, 17, 3)), gt, schema="lsp14")
    with pytest.raises(UserError, match="keypoints"):
        score_predictions(np.zeros((4, 14, 3)), gt, schema="coco17")
