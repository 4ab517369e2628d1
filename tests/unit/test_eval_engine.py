"""The evaluation engine end to end through the real COCO reader, with sessions that answer perfectly.

A fake session looks each crop up by its bytes and returns what a perfect model would: Gaussian
heatmaps (or normalised coordinates) of the GT keypoints in model-input pixels. Mirrored crops (flip
test) get the mirrored answer, so the flip path is checked against independently rendered maps.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from edgepose.artifact import ModelSpec
from edgepose.data.coco import CocoPoseDataset
from edgepose.data.targets import gaussian_heatmaps
from edgepose.evaluate import evaluate
from edgepose.schemas import get_schema
from tests.coco_files import write_coco

LSP_VAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "lspet" / "lspet_val.json"
REQUIRED = {"oks_ap", "oks_ap50", "oks_ap75", "oks_ar", "pck@0.1", "pck@0.2", "pckh@0.5", "mpjpe_px", "per_keypoint"}


def _key(frame: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(frame, dtype=np.float32).tobytes()).hexdigest()


class PerfectSession:
    """Answers with the ground truth of each crop (found by its bytes), as heatmaps or coordinates."""

    input_names = ("input",)
    runtime = "fake-perfect"

    def __init__(self, dataset: CocoPoseDataset, head: str, limit: int | None = None):
        self.head, self.calls = head, 0
        self.h, self.w = dataset.input_size
        self.stride, self.sigma = dataset.heatmap_stride, dataset.sigma
        self.output_names = ("heatmaps",) if head == "heatmap" else ("keypoints",)
        flip_index = dataset.schema.flip_index()
        self.table: dict[str, np.ndarray] = {}
        for index in range(min(len(dataset), limit or len(dataset))):
            item = dataset[index]
            frames = item["image"].numpy().reshape(-1, 3, self.h, self.w)
            kpts = item["keypoints"].numpy().reshape(len(frames), -1, 3)
            for frame, kp in zip(frames, kpts, strict=True):
                self.table[_key(frame)] = kp
                mirrored = kp[flip_index].copy()
                mirrored[:, 0] = np.where(mirrored[:, 2] > 0, self.w - 1 - mirrored[:, 0], 0)
                self.table[_key(frame[..., ::-1])] = mirrored

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        x = feeds["input"]
        frames = x.reshape(-1, 3, self.h, self.w)
        kps = [self.table[_key(f)] for f in frames]
        if self.head == "heatmap":
            size = (self.h // self.stride, self.w // self.stride)
            outs = [gaussian_heatmaps(kp, (kp[:, 2] > 0).astype(np.float32), size, self.stride, self.sigma) for kp in kps]
        else:
            outs = [kp[:, :2] / np.array([self.w, self.h], dtype=np.float32) for kp in kps]
        out = np.stack(outs)
        return {self.output_names[0]: out.reshape(*x.shape[:-3], *out.shape[1:])}


def check_perfect(result: dict, n_instances: int) -> None:
    m = result["metrics"]
    assert REQUIRED <= set(m) and {"n_images", "n_instances", "model", "runtime"} <= set(result)
    assert result["n_instances"] == n_instances
    assert m["oks_ap"] >= 0.99 and m["oks_ap50"] == pytest.approx(1.0) and m["oks_ar"] >= 0.99
    assert m["pck@0.1"] == 1.0 and m["pck@0.2"] == 1.0
    assert m["mpjpe_px"] < 0.5
    json.dumps(result)  # JSON-ready as it is


@pytest.mark.parametrize("flip", [False, True], ids=["plain", "flip"])
def test_heatmap_engine_scores_ground_truth_as_perfect(tmp_path: Path, flip: bool) -> None:
    ann = write_coco(tmp_path)
    spec = ModelSpec(input_size=(64, 48), schema="coco17", head="heatmap")
    dataset = CocoPoseDataset(ann, spec)
    session = PerfectSession(dataset, "heatmap")
    result = evaluate(session, spec, ann, batch_size=3, flip=flip, progress=False, model_name="fake")
    check_perfect(result, len(dataset))
    assert result["n_images"] == 5 and result["runtime"] == "fake-perfect" and result["flip"] is flip
    assert result["metrics"]["pckh@0.5"] is None and result["decode"] == "dark"
    assert session.calls == (2 if flip else 1) * -(-len(dataset) // 3)


def test_regression_engine_and_limit(tmp_path: Path) -> None:
    ann = write_coco(tmp_path, seed=3)
    spec = ModelSpec(input_size=(64, 48), schema="coco17", head="regression")
    dataset = CocoPoseDataset(ann, spec)
    result = evaluate(PerfectSession(dataset, "regression"), spec, ann, batch_size=4, flip=True, progress=False, limit=3)
    check_perfect(result, 3)
    assert result["decode"] == "regression"


def test_a_wrong_model_scores_low(tmp_path: Path) -> None:
    ann = write_coco(tmp_path, seed=5)
    spec = ModelSpec(input_size=(64, 48), schema="coco17", head="heatmap")

    class Blind:
        def run(self, feeds):  # the same blob for every joint: the crop centre
            maps = np.zeros((len(feeds["input"]), 17, 16, 12), dtype=np.float32)
            maps[:, :, 8, 6] = 1.0
            return {"heatmaps": maps}

    m = evaluate(Blind(), spec, ann, progress=False)["metrics"]
    assert m["oks_ap"] < 0.2 and m["pck@0.1"] < 0.3 and m["mpjpe_px"] > 5


def test_fixed_batch_session_gets_padded_chunks(tmp_path: Path) -> None:
    ann = write_coco(tmp_path, seed=7)
    spec = ModelSpec(input_size=(64, 48), schema="coco17", head="heatmap")
    dataset = CocoPoseDataset(ann, spec)
    session = PerfectSession(dataset, "heatmap")
    session.fixed_batch = 2
    seen = []
    inner = session.run
    session.run = lambda feeds: (seen.append(len(feeds["input"])), inner(feeds))[1]
    check_perfect(evaluate(session, spec, ann, batch_size=5, progress=False), len(dataset))
    assert set(seen) == {2}


def test_clip_model_frames_are_scored_as_instances(tmp_path: Path) -> None:
    ann = write_coco(tmp_path, n_images=5, video=True)
    spec = ModelSpec(input_size=(64, 48), schema="coco17", head="regression", clip_length=2)
    dataset = CocoPoseDataset(ann, spec, clip_length=2)
    result = evaluate(PerfectSession(dataset, "regression"), spec, ann, batch_size=2, progress=False)
    check_perfect(result, 4)  # non-overlapping 2-frame windows of 5 frames: frames 1-4 are scored
    assert result["n_images"] == 4


@pytest.mark.skipif(not LSP_VAL.exists(), reason=f"LSP-Extended sample not found at {LSP_VAL}")
def test_lsp_val_ground_truth_through_the_engine() -> None:
    spec = ModelSpec(input_size=(128, 96), schema="lsp14", head="heatmap")
    dataset = CocoPoseDataset(LSP_VAL, spec)
    result = evaluate(PerfectSession(dataset, "heatmap", limit=12), spec, LSP_VAL, batch_size=6, flip=True,
                      progress=False, limit=12)  # fmt: skip
    check_perfect(result, 12)
    assert result["metrics"]["pckh@0.5"] == 1.0 and result["schema"] == "lsp14"
    assert set(result["metrics"]["per_keypoint"]) == set(get_schema("lsp14").keypoints)
