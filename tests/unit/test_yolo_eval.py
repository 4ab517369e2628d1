"""Multi-person evaluation (edgepose.evaluate -> edgepose.evaluate.multi_person) and cross-schema scoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgepose.artifact import ModelSpec
from edgepose.deploy.letterbox import letterbox_params
from edgepose.evaluate import evaluate
from edgepose.metrics.schema_map import MAPS, find_map
from edgepose.schemas import COCO_TO_LSP, get_schema
from tests.coco_files import write_coco
from tests.yolo_raw import encode_people

SPEC = ModelSpec(input_size=(128, 160), schema="coco17", head="yolo", mean=(0.0,) * 3, std=(1.0,) * 3)


class RawSession:
    """Stands in for a runtime: hands out precomputed raw outputs, image by image, in evaluation order."""

    input_names = ("input",)

    def __init__(self, raws: list[np.ndarray]):
        self.raws, self.next = raws, 0

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(feeds["input"])
        assert feeds["input"].shape[1:] == (3, *SPEC.input_size)
        out = np.stack(self.raws[self.next : self.next + n])
        self.next += n
        return {"raw": out}


def perfect_raws(ann_file: Path, jitter_px: float = 0.0, to_coco: bool = False) -> list[np.ndarray]:
    """Raw outputs that decode to each image's annotated people (optionally moved by up to jitter_px)."""
    data = json.loads(ann_file.read_text())
    rng = np.random.default_rng(3)
    raws = []
    for image in sorted(data["images"], key=lambda im: im["id"]):
        _, lb = letterbox_params((image["height"], image["width"]), SPEC.input_size)
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                          for a in anns])  # fmt: skip
        kpts = np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(len(anns), -1, 3)
        if to_coco:
            kpts = lsp_to_coco(kpts)
        kpts[..., :2] += rng.uniform(-jitter_px, jitter_px, kpts[..., :2].shape)
        box_in = lb.to_input(boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        raws.append(encode_people(box_in, lb.to_input(kpts), SPEC.input_size, [i % 3 for i in range(len(anns))]))
    return raws


def lsp_to_coco(lsp: np.ndarray) -> np.ndarray:
    """The COCO-17 twins of LSP joints (face joints unlabelled): what a perfect COCO model would say."""
    coco = np.zeros((*lsp.shape[:-2], 17, 3))
    for j, src in enumerate(COCO_TO_LSP):
        if isinstance(src, int):
            coco[..., src, :] = lsp[..., j, :]
    return coco


def write_lsp(root: Path, n_images: int = 4) -> Path:
    """A small LSP-14 file: one person per noise image, neck at the shoulder midpoint."""
    coco_file = write_coco(root / "src", n_images=n_images, seed=5)
    data = json.loads(coco_file.read_text())
    lsp_names = list(get_schema("lsp14").keypoints)
    anns = []
    for ann in data["annotations"]:
        if any(a["image_id"] == ann["image_id"] for a in anns):
            continue
        kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(17, 3)
        kp[[5, 6, 11, 12], 2] = 2
        lsp = np.zeros((14, 3))
        for j, src in enumerate(COCO_TO_LSP):
            if isinstance(src, tuple):
                lsp[j] = [*(0.5 * (kp[src[0], :2] + kp[src[1], :2])), 2]
            elif src is not None:
                lsp[j] = kp[src]
        lsp[13] = [kp[0, 0], ann["bbox"][1], 2]  # head top: labelled, but no COCO twin
        anns.append({**ann, "keypoints": lsp.reshape(-1).tolist(), "num_keypoints": int((lsp[:, 2] > 0).sum())})
    data["annotations"] = anns
    data["categories"] = [{"id": 1, "name": "person", "keypoints": lsp_names, "skeleton": []}]
    for image in data["images"]:
        image["file_name"] = f"src/images/{image['file_name']}"
    path = root / "lsp.json"
    path.write_text(json.dumps(data))
    return path


def test_perfect_multi_person_outputs_score_oks_ap_1(tmp_path: Path) -> None:
    ann = write_coco(tmp_path, n_images=6, seed=2)
    result = evaluate(RawSession(perfect_raws(ann)), SPEC, ann, batch_size=4, progress=False)
    m = result["metrics"]
    assert m["oks_ap"] == pytest.approx(1.0) and m["oks_ap50"] == pytest.approx(1.0)
    assert m["pck@0.2"] == pytest.approx(1.0) and m["mpjpe_px"] == pytest.approx(0.0, abs=1e-3)
    assert m["n_unmatched"] == 0 and result["decode"] == "yolo"
    n_people = sum(1 for a in json.loads(ann.read_text())["annotations"])
    assert result["n_instances"] == n_people and result["n_images"] == 6
    assert set(m) >= {"oks_ap", "oks_ap50", "oks_ap75", "oks_ar", "pck@0.1", "pck@0.2", "pckh@0.5", "mpjpe_px",
                      "per_keypoint"}  # fmt: skip


def test_worse_outputs_score_lower_and_missed_people_count(tmp_path: Path) -> None:
    ann = write_coco(tmp_path, n_images=6, seed=2)
    jittered = evaluate(RawSession(perfect_raws(ann, jitter_px=6.0)), SPEC, ann, progress=False)["metrics"]
    assert 0.0 < jittered["oks_ap"] < 0.95
    assert jittered["mpjpe_px"] > 1.0
    blind = [np.where(np.arange(len(r))[:, None] == 64, -12.0, r) for r in perfect_raws(ann)]  # nobody found
    missed = evaluate(RawSession(blind), SPEC, ann, progress=False)["metrics"]
    assert missed["oks_ap"] == pytest.approx(0.0) and missed["pck@0.2"] == pytest.approx(0.0)
    assert missed["n_matched"] == 0 and missed["mpjpe_px"] is None


def test_flip_is_refused_for_yolo(tmp_path: Path) -> None:
    from edgepose.errors import UserError

    ann = write_coco(tmp_path, n_images=1)
    with pytest.raises(UserError, match="flip"):
        evaluate(RawSession(perfect_raws(ann)), SPEC, ann, flip=True, progress=False)


def test_coco_model_on_lsp_data_maps_joints_and_leaves_head_top_out(tmp_path: Path) -> None:
    lsp = write_lsp(tmp_path)
    result = evaluate(RawSession(perfect_raws(lsp, to_coco=True)), SPEC, lsp, progress=False)
    m = result["metrics"]
    assert result["schema"] == "lsp14" and result["schema_map"]["left_out"] == ["head_top"]
    assert m["pck@0.2"] == pytest.approx(1.0) and m["pck@0.1"] == pytest.approx(1.0)
    assert m["oks_ap"] == pytest.approx(1.0)
    assert m["per_keypoint"]["head_top"]["n_labelled"] == 0 and m["per_keypoint"]["head_top"]["pck@0.2"] is None
    assert m["per_keypoint"]["neck"]["pck@0.1"] == pytest.approx(1.0)
    assert m["pckh@0.5"] is None


def test_schema_map_takes_twins_and_the_shoulder_midpoint() -> None:
    mapping = find_map("coco17", "lsp14")
    assert mapping is MAPS[("coco17", "lsp14")] and find_map("coco17", "coco17") is None
    pred = np.zeros((1, 17, 3))
    pred[0, :, 0] = np.arange(17)
    pred[0, :, 2] = 0.5
    lsp = mapping.apply(pred)
    names = get_schema("lsp14").keypoints
    assert lsp[0, names.index("right_ankle"), 0] == 16 and lsp[0, names.index("left_wrist"), 0] == 9
    assert lsp[0, names.index("neck"), 0] == pytest.approx(5.5)
    assert lsp[0, names.index("head_top")].tolist() == [0.0, 0.0, 0.0]


def test_top_down_coco_model_is_scored_on_lsp_data(tmp_path: Path, tiny_zoo_net) -> None:  # noqa: ANN001
    from edgepose.runtimes import open_session

    lsp = write_lsp(tmp_path)
    session = open_session(tiny_zoo_net, runtime="torch")
    result = evaluate(session, tiny_zoo_net.spec, lsp, progress=False)
    assert result["schema"] == "lsp14" and result["schema_map"]["to"] == "lsp14"
    assert result["metrics"]["per_keypoint"]["head_top"]["n_labelled"] == 0
    assert result["metrics"]["pck@0.2"] is not None
