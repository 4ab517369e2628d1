"""YOLO-pose training pieces: task-aligned assignment, the loss, whole-image data with flips, the train loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgepose.deploy.yolo_decode import make_anchors
from edgepose.models import build_model, default_spec
from edgepose.schemas import get_schema
from edgepose.yolo.assigner import TaskAlignedAssigner, bbox_ciou
from edgepose.yolo.data import MultiPersonDataset, YoloAugment, collate
from edgepose.yolo.loss import YoloPoseLoss
from tests.coco_files import write_coco

SIZE = (64, 96)


def test_assignment_picks_anchors_inside_each_box_and_the_right_person() -> None:
    points = torch.as_tensor(make_anchors(SIZE)[0] * make_anchors(SIZE)[1][:, None], dtype=torch.float32)  # pixels
    gt = torch.tensor([[[4.0, 4.0, 36.0, 60.0], [50.0, 10.0, 90.0, 40.0], [0.0, 0.0, 0.0, 0.0]]])
    mask = torch.tensor([[True, True, False]])
    a = len(points)
    pd_boxes = gt[0, :2].repeat_interleave(a // 2 + 1, 0)[:a][None] + 1.0  # roughly right boxes everywhere
    pd_boxes[0, points[:, 0] > 45] = gt[0, 1] + 1.0
    boxes, scores, fg, person = TaskAlignedAssigner(topk=10)(torch.full((1, a, 1), 0.5), pd_boxes, points,
                                                             torch.zeros(1, 3, dtype=torch.long), gt, mask)  # fmt: skip
    assert 0 < fg.sum() <= 20
    for anchor in torch.nonzero(fg[0]).flatten():
        x, y = points[anchor]
        box = gt[0, person[0, anchor]]
        assert box[0] < x < box[2] and box[1] < y < box[3]
        assert torch.equal(boxes[0, anchor], box)
    assert set(person[0, fg[0]].tolist()) == {0, 1} and (scores[0, ~fg[0]] == 0).all()
    best_iou = float(bbox_ciou(pd_boxes[0, fg[0]], boxes[0, fg[0]]).max())
    assert float(scores[0, fg[0]].max()) == pytest.approx(best_iou, abs=1e-4)  # normalised to the best IoU


def test_keypoint_loss_is_zero_for_exact_keypoints() -> None:
    loss = YoloPoseLoss(SIZE, get_schema("coco17").sigmas)
    points = torch.tensor([[3.5, 2.5]])
    stride = torch.tensor([[8.0]])
    gt = torch.zeros(1, 17, 3)
    gt[0, :, 0], gt[0, :, 1], gt[0, :, 2] = torch.linspace(10, 40, 17), 20.0, 2.0
    raw = torch.zeros(1, 17, 3)
    raw[..., 0] = (gt[..., 0] / 8 - (points[:, None, 0] - 0.5)) / 2  # the decode's inverse
    raw[..., 1] = (gt[..., 1] / 8 - (points[:, None, 1] - 0.5)) / 2
    pose, _ = loss._keypoint_losses(raw, gt, torch.tensor([[1.0, 1.0, 6.0, 4.0]]), points, stride)
    assert float(pose) == pytest.approx(0.0, abs=1e-7)
    raw[..., 0] += 0.5
    assert float(loss._keypoint_losses(raw, gt, torch.tensor([[1.0, 1.0, 6.0, 4.0]]), points, stride)[0]) > 0.01


def test_flip_mirrors_people_and_swaps_left_and_right(tmp_path: Path) -> None:
    ann = write_coco(tmp_path, n_images=1, seed=4)
    spec = default_spec("yolopose-ghost-n", input_size=(120, 160))  # the images' own size: no resize
    plain = MultiPersonDataset(ann, spec, augment=YoloAugment(scale=0, translate=0, flip_prob=0, hsv=(0, 0, 0)))
    flipped = MultiPersonDataset(ann, spec, augment=YoloAugment(scale=0, translate=0, flip_prob=1, hsv=(0, 0, 0)))
    a, b = plain[0], flipped[0]
    data = json.loads(ann.read_text())
    first = np.asarray(data["annotations"][0]["keypoints"]).reshape(17, 3)
    np.testing.assert_allclose(a["keypoints"][0, :, :2][first[:, 2] > 0].numpy(), first[first[:, 2] > 0, :2], atol=1e-4)
    left_shoulder, right_shoulder = 5, 6
    assert b["keypoints"][0, right_shoulder, 0] == pytest.approx(160 - float(a["keypoints"][0, left_shoulder, 0]), abs=1e-4)
    assert torch.allclose(b["image"], a["image"].flip(-1), atol=1e-6)
    assert torch.allclose(b["boxes"][:, [0, 2]], 160 - a["boxes"][:, [2, 0]], atol=1e-4)


def test_loss_decreases_on_a_tiny_model_and_tiny_data(tmp_path: Path) -> None:
    ann = write_coco(tmp_path, n_images=4, seed=1)
    spec = default_spec("yolopose-ghost-n", input_size=SIZE)
    dataset = MultiPersonDataset(ann, spec, augment=YoloAugment(scale=0, translate=0, flip_prob=0, hsv=(0, 0, 0)))
    batch = collate([dataset[i] for i in range(4)])
    torch.manual_seed(0)
    model = build_model("yolopose-ghost-n", width=0.25)
    loss_fn = YoloPoseLoss(SIZE, get_schema("coco17").sigmas)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss, parts = loss_fn(model(batch["image"]), batch["boxes"], batch["keypoints"], batch["mask"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert set(parts) == {"box", "cls", "dfl", "pose", "kobj"}
    assert losses[-1] < 0.7 * losses[0]


def test_shared_train_loop_trains_a_yolo_model_and_keeps_the_best_by_oks_ap(tmp_path: Path) -> None:
    from edgepose.artifact import Artifact
    from edgepose.loading import load_artifact
    from edgepose.measure import primary_metric
    from edgepose.train import TrainConfig, train

    ann = write_coco(tmp_path / "data", n_images=6, seed=1)
    spec = default_spec("yolopose-ghost-n", input_size=SIZE)
    torch.manual_seed(0)
    artifact = Artifact(spec=spec, model=build_model("yolopose-ghost-n", width=0.25), arch="yolopose-ghost-n",
                        arch_kwargs={"width": 0.25})  # fmt: skip
    cfg = TrainConfig(epochs=2, batch_size=3, lr=2e-3, warmup_steps=1, workers=0)
    result = train(artifact, ann, ann, cfg, out_path=tmp_path / "ghost.pt", progress=False)
    assert result.metric_name == primary_metric(spec.schema) == "oks_ap" and result.epochs_run == 2
    assert all("oks_ap" in r["val"] for r in result.log) and result.log[1]["loss"] < result.log[0]["loss"]
    saved = load_artifact(tmp_path / "ghost.pt")
    assert saved.spec.head == "yolo" and saved.arch == "yolopose-ghost-n"
