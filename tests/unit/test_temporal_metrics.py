"""Temporal metrics (edgepose.metrics.temporal) on constructed tracks with known jitter, and their wiring
into score_predictions / evaluate / `eval --smooth` for frame and clip models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgepose.artifact import ModelSpec
from edgepose.data.coco import CocoPoseDataset
from edgepose.data.cocofile import coco_api
from edgepose.deploy.smoothing import OneEuroParams
from edgepose.errors import UserError
from edgepose.evaluate import evaluate
from edgepose.metrics.scoring import score_predictions
from edgepose.metrics.temporal import accelerations, temporal_metrics, track_runs
from edgepose.schemas import get_schema
from tests.coco_files import write_coco
from tests.unit.test_eval_engine import PerfectSession

COCO17 = get_schema("coco17")
K = COCO17.num_keypoints
BOX = [10.0, 20.0, 30.0, 40.0]  # diagonal 50 px


def track_coco(tracks: dict[tuple[int, int], list[int]], gt_of) -> tuple[object, list[int], np.ndarray]:  # noqa: ANN001
    """A COCO object with one annotation per (video, track, frame); gt_of(frame) -> (K, 3) keypoints.

    Returns the COCO object, the ann ids in creation order and the (N, K, 3) GT in that order.
    """
    images, anns, gts = [], [], []
    image_of: dict[tuple[int, int], int] = {}
    for (video, track), frames in tracks.items():
        for frame in frames:
            if (video, frame) not in image_of:
                image_of[(video, frame)] = len(images) + 1
                images.append({"id": len(images) + 1, "file_name": "x.jpg", "width": 200, "height": 200,
                               "video_id": video, "frame_id": frame})  # fmt: skip
            kp = gt_of(frame)
            gts.append(kp)
            anns.append({"id": len(anns) + 1, "image_id": image_of[(video, frame)], "category_id": 1, "iscrowd": 0,
                         "bbox": BOX, "area": BOX[2] * BOX[3], "num_keypoints": int((kp[:, 2] > 0).sum()),
                         "keypoints": kp.reshape(-1).tolist(), "track_id": track})  # fmt: skip
    categories = [{"id": 1, "name": "person", "keypoints": list(COCO17.keypoints), "skeleton": []}]
    coco = coco_api({"images": images, "annotations": anns, "categories": categories})
    return coco, [a["id"] for a in anns], np.stack(gts)


def walking(frame: int) -> np.ndarray:
    """Every joint moves at a constant 3 px / frame to the right: zero acceleration."""
    kp = np.zeros((K, 3))
    kp[:, 0] = 40.0 + 3.0 * frame + np.arange(K)
    kp[:, 1] = 60.0 + np.arange(K)
    kp[:, 2] = 2
    return kp


def test_accelerations_are_second_differences() -> None:
    x = (np.arange(5.0) ** 2)[:, None, None] * np.ones((1, 2, 2))
    np.testing.assert_array_equal(accelerations(x), np.full((3, 2, 2), 2.0))


def test_a_spike_gives_the_jitter_computed_by_hand() -> None:
    coco, ids, gt = track_coco({(1, 7): list(range(5))}, walking)
    pred = gt.copy()
    pred[..., 2] = 1.0
    pred[2, 0, 0] += 5.0  # the nose jumps 5 px right at frame 2 only
    m = score_predictions(pred, coco, ids, COCO17)["metrics"]["temporal"]
    # nose accelerations at t = 1, 2, 3: +5, -10, +5 px; every other joint 0; 3 x 17 terms; diag 50 px
    assert m["jitter"] == pytest.approx((5 + 10 + 5) / 50 / (3 * K))
    assert m["accel_error"] == pytest.approx(m["jitter"])  # the GT does not accelerate
    assert m["gt_jitter"] == 0.0 and m["n_accelerations"] == 3 * K and m["n_tracks"] == 1
    assert m["per_keypoint"]["nose"]["jitter"] == pytest.approx(20 / 50 / 3)
    assert m["per_keypoint"]["left_eye"]["jitter"] == 0.0
    json.dumps(m)


def test_accel_error_ignores_real_motion_and_a_constant_offset() -> None:
    def falling(frame: int) -> np.ndarray:
        kp = walking(frame)
        kp[:, 1] += 0.5 * frame**2  # accelerating down at 1 px / frame^2
        return kp

    coco, ids, gt = track_coco({(1, 1): list(range(6))}, falling)
    pred = gt.copy()
    pred[..., :2] += np.array([4.0, -2.0])  # a biased but temporally perfect model
    pred[..., 2] = 1.0
    m = score_predictions(pred, coco, ids, COCO17)["metrics"]["temporal"]
    assert m["jitter"] == pytest.approx(1.0 / 50) and m["gt_jitter"] == pytest.approx(1.0 / 50)
    assert m["accel_error"] == pytest.approx(0.0, abs=1e-12)


def test_runs_split_at_missing_frames_and_tracks_never_mix() -> None:
    # track 1: frames 0-2 and 4-6 (frame 3 missing); track 2 shares video 1 and is offset by 100 px
    tracks = {(1, 1): [0, 1, 2, 4, 5, 6], (1, 2): [0, 1, 2, 3]}
    coco, ids, gt = track_coco(tracks, walking)
    gt[6:, :, 0] += 100.0  # track 2 rows: far from track 1
    anns = [coco.anns[i] for i in ids]
    runs = track_runs(anns, coco.imgs)
    assert [r.tolist() for r in runs] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    pred = gt.copy()
    pred[..., 2] = 1.0
    m = temporal_metrics(pred, gt, np.full(len(gt), 50.0), runs, COCO17)
    assert m["jitter"] == 0.0 and m["n_tracks"] == 3 and m["n_accelerations"] == (1 + 1 + 2) * K


def test_joints_not_labelled_in_all_three_frames_are_left_out() -> None:
    coco, ids, gt = track_coco({(1, 1): list(range(4))}, walking)
    gt[1, 0, 2] = 0  # nose unlabelled at frame 1: both triplets that contain it drop the nose
    gt[3, 1, 2] = 1  # left eye occluded (v = 1) but labelled: still counts
    pred = gt.copy()
    pred[..., 2] = 1.0
    pred[1, 0, :2] = 0.0  # whatever is predicted for the unlabelled nose is not scored
    m = temporal_metrics(pred, gt, np.full(len(gt), 50.0), track_runs([coco.anns[i] for i in ids], coco.imgs), COCO17)
    assert m["per_keypoint"]["nose"]["n_accelerations"] == 0 and m["per_keypoint"]["nose"]["jitter"] is None
    assert m["per_keypoint"]["left_eye"]["n_accelerations"] == 2 and m["jitter"] == 0.0


def test_people_without_a_prediction_cut_the_track() -> None:
    coco, ids, gt = track_coco({(1, 1): list(range(7))}, walking)
    pred = gt.copy()
    pred[..., 2] = 1.0
    pred[3] = 0.0  # a missed person (score 0): no acceleration is computed through frame 3
    m = score_predictions(pred, coco, ids, COCO17)["metrics"]["temporal"]
    assert m["jitter"] == 0.0 and m["n_accelerations"] == 2 * K and m["n_tracks"] == 2


def test_data_without_tracks_has_no_temporal_metrics(tmp_path: Path) -> None:
    ann = write_coco(tmp_path, n_images=3)
    coco = coco_api(json.loads(ann.read_text()))
    ids = sorted(coco.anns)
    pred = np.asarray([coco.anns[i]["keypoints"] for i in ids], dtype=float).reshape(len(ids), K, 3)
    assert score_predictions(pred, coco, ids, COCO17)["metrics"]["temporal"] is None


class ShakySession(PerfectSession):
    """The ground truth plus a fixed per-frame pseudo-random shake of `amp` of the crop size."""

    def __init__(self, dataset: CocoPoseDataset, amp: float):
        super().__init__(dataset, "regression")
        self.rng, self.amp = np.random.default_rng(0), amp

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = super().run(feeds)["keypoints"]
        return {"keypoints": out + self.amp * self.rng.standard_normal(out.shape).astype(np.float32)}


@pytest.fixture(scope="module")
def synth_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 12-frame synthetic clip (edgepose synth --sequences): smooth motion, one track."""
    from edgepose.data.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("clip")
    generate(out, SynthConfig(persons=12, sequences=True, frames=12, seed=3))
    return out / "annotations.json"


@pytest.mark.parametrize("clip_length", [None, 4], ids=["frame-model", "clip-model"])
def test_eval_on_clip_data_reports_temporal_metrics_and_smoothing_lowers_jitter(
    synth_clip: Path, clip_length: int | None
) -> None:
    ann = synth_clip
    spec = ModelSpec(input_size=(64, 48), schema="coco17", head="regression", clip_length=clip_length)
    dataset = CocoPoseDataset(ann, spec, clip_length=clip_length, clip_stride=clip_length or 1)
    perfect = evaluate(PerfectSession(dataset, "regression"), spec, ann, progress=False)
    t = perfect["metrics"]["temporal"]
    assert t["accel_error"] == pytest.approx(0.0, abs=1e-3) and t["jitter"] == pytest.approx(t["gt_jitter"], rel=1e-3)
    assert t["n_tracks"] == 1 and t["n_accelerations"] > 0 and perfect["smooth"] == {"method": "none"}
    raw = evaluate(ShakySession(dataset, 0.02), spec, ann, progress=False)["metrics"]["temporal"]
    smooth = evaluate(ShakySession(dataset, 0.02), spec, ann, progress=False,
                      smooth=OneEuroParams(min_cutoff=0.5, beta=0.0))  # fmt: skip
    assert raw["accel_error"] > 0.01 and raw["jitter"] > 3 * t["jitter"]
    assert smooth["metrics"]["temporal"]["accel_error"] < 0.5 * raw["accel_error"]
    assert smooth["metrics"]["temporal"]["jitter"] < 0.5 * raw["jitter"]
    assert smooth["smooth"]["method"] == "one-euro" and smooth["smooth"]["min_cutoff"] == 0.5


def test_smoothing_data_without_tracks_is_a_user_error(tmp_path: Path) -> None:
    ann = write_coco(tmp_path, n_images=3)
    spec = ModelSpec(input_size=(64, 48), schema="coco17", head="regression")
    session = PerfectSession(CocoPoseDataset(ann, spec), "regression")
    with pytest.raises(UserError, match="clip data"):
        evaluate(session, spec, ann, progress=False, smooth=OneEuroParams())


def test_optimize_summary_rows_show_jitter_on_clip_data_only() -> None:
    from edgepose.report.markdown import summary_rows

    side = {"latency_ms": {"p50": 2.0, "p90": 3.0}, "fps": 500.0, "size_mb": 1.0, "params": 1e6, "gflops": 0.1}

    def report(temporal: dict | None) -> dict:
        metrics = {"pck@0.2": 0.5, "temporal": temporal}
        return {"baseline": {"eval": {"metrics": metrics}, "precision": "fp32", "bench": side},
                "final": {"eval": {"metrics": metrics}, "runtime": "openvino", "precision": "int8",
                          "vs_torch_fp32": {"a": side, "b": side}}}  # fmt: skip

    rows = {what: (b, f) for what, b, f in summary_rows(report({"jitter": 0.0123456, "accel_error": 0.02}))}
    assert rows["jitter (box diag / frame^2)"] == ("0.01235", "0.01235")
    assert rows["accel error (box diag / frame^2)"] == ("0.02000", "0.02000")
    assert not any("jitter" in what for what, _, _ in summary_rows(report(None)))
