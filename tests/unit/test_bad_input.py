"""What the data and metric layers refuse, count or accept (issue 15: garbage must never score).

NaN / Inf / non-numeric ground truth or predictions and visibility outside {0, 1, 2} are UserErrors
naming the file and the annotation; zero-size boxes, boxes outside the image, repeated ids and people
past COCOeval's maxDets are dropped and counted; image paths out of the dataset folder are refused unless
allowed; truncated images are errors; a model computing NaN is an error; JSON output is strict.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edgepose.artifact import ModelSpec
from edgepose.data import cocofile
from edgepose.data.coco import CocoPoseDataset, read_image_rgb
from edgepose.errors import UserError
from edgepose.metrics.predictions_file import evaluate_predictions_file
from tests.coco_files import write_coco

NAN, INF = math.nan, math.inf
SHOULDER_X, SHOULDER_V = 15, 17  # left shoulder: labelled (v=2) in every person of write_coco


@pytest.fixture
def coco(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = write_coco(tmp_path, n_images=3, seed=4)
    return path, json.loads(path.read_text())


def rewrite(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc))  # Python writes NaN / Infinity tokens, as users' tools do
    return path


def _kp(value: Any) -> Any:
    return lambda d: d["annotations"][1]["keypoints"].__setitem__(SHOULDER_X, value)


def _vis(value: Any) -> Any:
    return lambda d: d["annotations"][1]["keypoints"].__setitem__(SHOULDER_V, value)


def _field(**fields: Any) -> Any:
    return lambda d: d["annotations"][1].update(fields)


REFUSED = {
    "kp-nan": (_kp(NAN), "not a finite number"), "kp-inf": (_kp(INF), "not a finite number"),
    "kp-string": (_kp("1"), "not a finite number"), "kp-null": (_kp(None), "not a finite number"),
    "kp-bool": (_kp(True), "not a finite number"), "kp-huge": (_kp(1e300), "beyond"),
    "vis-3": (_vis(3), "not 0, 1 or 2"), "vis-half": (_vis(0.5), "not 0, 1 or 2"), "vis-nan": (_vis(NAN), "finite"),
    "bbox-nan": (_field(bbox=[NAN, 0, 10, 10]), "bbox"), "bbox-3": (_field(bbox=[0, 0, 10]), "bbox"),
    "area-inf": (_field(area=INF), "area"), "area-negative": (_field(area=-1.0), "area"),
    "iscrowd-text": (_field(iscrowd="no"), "iscrowd"), "num-keypoints-nan": (_field(num_keypoints=NAN), "num_keypoints"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(REFUSED))
def test_unscorable_ground_truth_is_refused_naming_the_annotation(coco, name: str) -> None:  # noqa: ANN001
    path, doc = coco
    edit, message = REFUSED[name]
    edit(doc)
    ann_id = doc["annotations"][1]["id"]
    with pytest.raises(UserError, match=message) as info:
        cocofile.read_json(rewrite(path, doc))
    assert str(path) in str(info.value) and f"annotation {ann_id}" in str(info.value)


@pytest.mark.parametrize(
    ("edit", "kind", "count"),
    [
        (_field(bbox=[5, 5, 0, 20]), "zero_size_box", 1),
        (_field(bbox=[5, 5, -3, 20]), "zero_size_box", 1),
        (_field(bbox=[900, 900, 20, 20]), "box_outside_image", 1),
        (lambda d: d["annotations"][1].update(id=d["annotations"][0]["id"]), "duplicate_ann_id", 1),
        (lambda d: d["images"].append(dict(d["images"][0])), "duplicate_image_id", 1),
    ],
    ids=["zero-width", "negative-width", "outside", "repeated-ann-id", "repeated-image"],
)
def test_dropped_entries_are_left_out_and_counted(coco, edit, kind: str, count: int) -> None:  # noqa: ANN001
    path, doc = coco
    n_before = len(doc["annotations"])
    edit(doc)
    checked = cocofile.read_json(rewrite(path, doc))
    assert checked.dropped[kind] == count and sum(checked.dropped.values()) == count
    if kind != "duplicate_image_id":
        assert len(checked["annotations"]) == n_before - 1


def test_people_past_max_dets_are_counted_by_the_eval(coco, tmp_path: Path) -> None:  # noqa: ANN001
    path, doc = coco
    first = doc["annotations"][0]
    same_image = sum(1 for a in doc["annotations"] if a["image_id"] == first["image_id"])
    doc["annotations"] += [{**first, "id": 1000 + i} for i in range(24)]
    rewrite(path, doc)
    result = evaluate_predictions_file(path, path)
    assert result["dropped"]["beyond_max_dets"] == same_image + 24 - 20
    assert result["metrics"]["oks_ap"] < 1.0  # COCOeval really did not score them: the count is not cosmetic


def test_conflicting_image_entries_are_refused(coco) -> None:  # noqa: ANN001
    path, doc = coco
    doc["images"].append({**doc["images"][0], "file_name": "other.jpg"})
    with pytest.raises(UserError, match="listed twice"):
        cocofile.read_json(rewrite(path, doc))


def _predictions(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"image_id": a["image_id"], "keypoints": list(a["keypoints"]), "score": 0.9} for a in doc["annotations"]]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p[0]["keypoints"].__setitem__(0, NAN), "not a finite number"),
        (lambda p: [e.update(keypoints=[NAN] * 51) for e in p], "not a finite number"),
        (lambda p: p[0]["keypoints"].__setitem__(2, INF), "not a finite number"),
        (lambda p: p[0].update(score=NAN), "score"),
        (lambda p: p[0].update(score="high"), "score"),
        (lambda p: p[0].update(image_id="1"), "image_id"),
        (lambda p: p[0]["keypoints"].__setitem__(1, 1e12), "beyond"),
        (lambda p: p.append({**p[0], "image_id": 999, "keypoints": [NAN] * 51}), "not a finite number"),
    ],
    ids=["x-nan", "all-nan", "kp-score-inf", "score-nan", "score-text", "image-id-text", "huge", "unmatched-nan"],
)
def test_unscorable_predictions_are_refused(coco, tmp_path: Path, edit, message: str) -> None:  # noqa: ANN001
    path, doc = coco
    preds = _predictions(doc)
    edit(preds)
    pred_path = tmp_path / "preds.json"
    pred_path.write_text(json.dumps(preds))
    with pytest.raises(UserError, match=message) as info:
        evaluate_predictions_file(pred_path, path)
    assert str(pred_path) in str(info.value)


def test_ground_truth_as_predictions_scores_one_and_counts_nothing(coco) -> None:  # noqa: ANN001
    path, _ = coco
    result = evaluate_predictions_file(path, path)
    assert result["metrics"]["oks_ap"] == pytest.approx(1.0) and result["metrics"]["pck@0.2"] == pytest.approx(1.0)
    assert set(result["dropped"].values()) == {0}


# ---- image paths and image files ----------------------------------------------------------------


SPEC = ModelSpec(input_size=(64, 48))


@pytest.mark.parametrize("name", ["../outside.jpg", "/ABSOLUTE", "x/../../outside.jpg"])
def test_image_paths_out_of_the_folder_are_refused_unless_allowed(coco, tmp_path: Path, name: str) -> None:  # noqa: ANN001
    path, doc = coco  # its images are in tmp_path/images, so ../outside.jpg is tmp_path/outside.jpg
    outside = tmp_path / "outside.jpg"
    cv2.imwrite(str(outside), np.zeros((120, 160, 3), np.uint8))
    doc["images"][1]["file_name"] = str(outside) if name == "/ABSOLUTE" else name
    rewrite(path, doc)
    with pytest.raises(UserError, match="outside the dataset folder"):
        CocoPoseDataset(path, SPEC)
    dataset = CocoPoseDataset(path, SPEC, allow_outside_images=True)
    assert any(inst.file.resolve() == outside.resolve() for inst in dataset.instances)


def test_truncated_images_are_errors_but_trailing_bytes_are_fine(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    for ext in (".jpg", ".png"):
        whole = tmp_path / f"whole{ext}"
        cv2.imwrite(str(whole), image)
        data = whole.read_bytes()
        cut = tmp_path / f"cut{ext}"
        cut.write_bytes(data[: int(len(data) * 0.6)])
        assert cv2.imread(str(cut)) is not None or ext == ".png"  # cv2 alone decodes part of a JPEG
        with pytest.raises(UserError, match="truncated"):
            read_image_rgb(cut)
        padded = tmp_path / f"padded{ext}"
        padded.write_bytes(data + b"\0" * 16 + b"trailer")
        assert read_image_rgb(padded).shape == (60, 80, 3)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="cannot be read"):
        read_image_rgb(empty)


# ---- model outputs, specs, JSON, parity ----------------------------------------------------------


class NanSession:
    input_names = ("input",)

    def __init__(self, value: float):
        self.value = value

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = np.zeros((len(feeds["input"]), 17, 16, 12), np.float32)
        out[0, 3, 2, 2] = self.value
        return {"heatmaps": out}


@pytest.mark.parametrize("value", [NAN, INF])
def test_a_model_that_outputs_nan_is_an_error_not_a_score(coco, value: float) -> None:  # noqa: ANN001
    from edgepose.evaluate import evaluate

    path, _ = coco
    with pytest.raises(UserError, match="NaN or Inf"):
        evaluate(NanSession(value), SPEC, path, progress=False)


@pytest.mark.parametrize(
    "fields",
    [{"input_size": (0, 64)}, {"input_size": (10**9, 64)}, {"input_size": (64.5, 64)}, {"mean": (NAN, 0.4, 0.4)},
     {"std": (0.0, 0.2, 0.2)}, {"std": (-1.0, 0.2, 0.2)}, {"mean": (0.4, 0.4)}, {"schema": "coco999"},
     {"clip_length": -1}, {"clip_length": 10**9}, {"head": "banana"}],  # fmt: skip
    ids=lambda f: "-".join(f"{k}={v}" for k, v in f.items()),
)
def test_model_spec_refuses_impossible_values(fields: dict[str, Any]) -> None:
    with pytest.raises(UserError):
        ModelSpec(**{"input_size": (64, 48), **fields})
    with pytest.raises(UserError):
        ModelSpec.from_dict({**ModelSpec(input_size=(64, 48)).to_dict(), **{k: list(v) if isinstance(v, tuple) else v
                                                                          for k, v in fields.items()}})  # fmt: skip


def test_model_spec_round_trips_and_normalises() -> None:
    spec = ModelSpec(input_size=[np.int64(64), 48.0], mean=[0, 0, 0], std=[1, 1, 1], clip_length=2.0)
    assert spec.input_size == (64, 48) and spec.mean == (0.0, 0.0, 0.0) and spec.clip_length == 2
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_json_output_is_strict() -> None:
    from edgepose.fileio import dumps_strict

    text = dumps_strict({"a": NAN, "b": [INF, 1.0, np.float32("nan")], "c": np.array([1.0, -np.inf])})
    assert json.loads(text, parse_constant=lambda t: pytest.fail(f"non-standard token {t}")) == {
        "a": None, "b": [None, 1.0, None], "c": [1.0, None]}  # fmt: skip


class Fixed:
    input_names = ("input",)

    def __init__(self, out: np.ndarray):
        self.out = out

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"raw": self.out}


@pytest.mark.parametrize(("scale", "error", "passes"), [(600.0, 1.5e-4, True), (0.5, 2e-4, False), (0.5, 5e-5, True),
                                                        (600.0, 0.1, False)])  # fmt: skip
def test_fp32_parity_is_relative_to_the_output_scale(scale: float, error: float, passes: bool) -> None:
    """The imported yolo11n-pose's raw outputs are in the hundreds: 1.5e-4 there is 2.5e-7 of the scale."""
    from edgepose.bench.parity import verify_parity

    ref = np.linspace(-scale, scale, 1000, dtype=np.float32).reshape(1, 10, 100)
    report = verify_parity(Fixed(ref), Fixed(ref + np.float32(error)), SPEC.with_changes(head="yolo"), n_random=1)
    assert report.metric == "scaled" and report.passed is passes
    assert report.checked_value == pytest.approx(error / max(1.0, scale), rel=0.05)  # float32 spacing at 600


def test_parity_refuses_a_source_that_outputs_nan() -> None:
    from edgepose.bench.parity import verify_parity

    ref = np.full((1, 10, 100), NAN, np.float32)
    with pytest.raises(UserError, match="NaN or Inf"):
        verify_parity(Fixed(ref), Fixed(ref), SPEC, n_random=1)


# the step each pass spends its time on, replaced to prove the data is refused before it runs
MODEL_CHANGES = {"prune": "edgepose.passes.prune._structured", "ghost": "edgepose.passes.ghost_apply.plan_swaps"}


def _nan_labels(root: Path) -> Path:
    path = write_coco(root, n_images=3, seed=4)
    doc = json.loads(path.read_text())
    _kp(NAN)(doc)
    return rewrite(path, doc)


BAD_FINETUNE_DATA = {
    "nan-keypoints": (_nan_labels, "not a finite number"),
    "empty-folder": (lambda root: (root / "empty").mkdir(parents=True) or root / "empty", "no images"),
}  # fmt: skip


@pytest.mark.parametrize("bad", list(BAD_FINETUNE_DATA))
@pytest.mark.parametrize("pass_name", list(MODEL_CHANGES))
def test_bad_finetune_data_is_refused_before_the_model_is_changed(
    pass_name: str, bad: str, tiny_pose_net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    from edgepose.passes import RunContext, apply_pass
    from edgepose.passes.finetune import FinetuneConfig

    make, message = BAD_FINETUNE_DATA[bad]
    monkeypatch.setattr(MODEL_CHANGES[pass_name], lambda *a, **k: pytest.fail("the model was changed first"))
    ctx = RunContext(work_dir=tmp_path / "work", train_data=make(tmp_path / "data"), progress=False)
    options = {"finetune": FinetuneConfig(epochs=1, batch_size=2, warmup_steps=0, workers=0)}
    with pytest.raises(UserError, match=message):
        apply_pass(tiny_pose_net, pass_name, {**options, **({"round_to": 8} if pass_name == "prune" else {})}, ctx)
