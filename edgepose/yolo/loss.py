"""YOLO-pose training loss (Ultralytics v8PoseLoss): class BCE, CIoU + DFL box loss, OKS keypoint loss,
keypoint-visibility BCE, on anchors chosen by task-aligned assignment.

Gains are Ultralytics' defaults (box 7.5, cls 0.5, dfl 1.5, pose 12, kobj 1). The loss is per image
(Ultralytics multiplies by the batch size to suit its SGD learning rates; edgepose trains with AdamW).
Boxes and keypoints are compared in grid cells of each anchor's stride, as Ultralytics does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from edgepose.deploy.yolo_decode import DEFAULT_STRIDES, REG_MAX, make_anchors
from edgepose.yolo.assigner import TaskAlignedAssigner, bbox_ciou


@dataclass(frozen=True)
class LossGains:
    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5
    pose: float = 12.0
    kobj: float = 1.0


class YoloPoseLoss:
    """Loss of raw outputs (B, 4*reg_max + nc + 3K, A) against padded targets from edgepose.yolo.data.collate."""

    def __init__(self, input_size: tuple[int, int], sigmas: tuple[float, ...], nc: int = 1,
                 strides: tuple[int, ...] = DEFAULT_STRIDES, reg_max: int = REG_MAX,
                 gains: LossGains = LossGains()):  # fmt: skip
        points, stride_of = make_anchors(input_size, strides)
        self.points = torch.as_tensor(points, dtype=torch.float32)  # grid cells
        self.stride = torch.as_tensor(stride_of, dtype=torch.float32)[:, None]  # (A, 1)
        self.sigmas = torch.as_tensor(sigmas, dtype=torch.float32)
        self.nc, self.reg_max, self.gains = nc, reg_max, gains
        self.assigner = TaskAlignedAssigner()
        self.bins = torch.arange(reg_max, dtype=torch.float32)

    def __call__(self, raw: Tensor, boxes: Tensor, keypoints: Tensor, mask: Tensor) -> tuple[Tensor, dict[str, float]]:
        """(total loss, its parts). boxes (B, M, 4) xyxy and keypoints (B, M, K, 3) in input pixels."""
        b, channels, a = raw.shape
        if a != len(self.points):
            raise ValueError(f"the model gives {a} anchors, the loss expects {len(self.points)} for its input size")
        k = self.sigmas.numel()
        nbox = 4 * self.reg_max
        pred = raw.float().permute(0, 2, 1)  # (B, A, C)
        dist_logits, cls_logits = pred[..., :nbox], pred[..., nbox : nbox + self.nc]
        kpt_raw = pred[..., nbox + self.nc :].reshape(b, a, k, 3)
        pts, stride = self.points.to(raw.device), self.stride.to(raw.device)
        pd_boxes = self._decode_boxes(dist_logits, pts)  # cells
        labels = torch.zeros(b, boxes.shape[1], dtype=torch.long, device=raw.device)
        target_boxes, target_scores, fg, person = self.assigner(
            cls_logits.detach().sigmoid(), (pd_boxes.detach() * stride), pts * stride, labels, boxes, mask
        )
        score_sum = target_scores.sum().clamp(min=1.0)
        loss_cls = F.binary_cross_entropy_with_logits(cls_logits, target_scores, reduction="sum") / score_sum
        zero = raw.sum() * 0.0
        loss_box = loss_dfl = loss_pose = loss_kobj = zero
        if fg.any():
            weight = target_scores.sum(-1)[fg]
            tgt_cells = (target_boxes / stride)[fg]
            loss_box = ((1.0 - bbox_ciou(pd_boxes[fg], tgt_cells)) * weight).sum() / score_sum
            ltrb = torch.cat((pts.expand(b, a, 2)[fg] - tgt_cells[:, :2], tgt_cells[:, 2:] - pts.expand(b, a, 2)[fg]), -1)
            loss_dfl = (self._dfl(dist_logits[fg].reshape(-1, self.reg_max), ltrb) * weight).sum() / score_sum
            gt_kpts = keypoints.gather(1, person[..., None, None].expand(b, a, k, 3))[fg]
            loss_pose, loss_kobj = self._keypoint_losses(kpt_raw[fg], gt_kpts, tgt_cells, pts.expand(b, a, 2)[fg],
                                                         stride.expand(b, a, 1)[fg])  # fmt: skip
        g = self.gains
        parts = {"box": loss_box * g.box, "cls": loss_cls * g.cls, "dfl": loss_dfl * g.dfl,
                 "pose": loss_pose * g.pose, "kobj": loss_kobj * g.kobj}  # fmt: skip
        total = sum(parts.values())
        return total, {name: float(value.detach()) for name, value in parts.items()}

    def _decode_boxes(self, dist_logits: Tensor, points: Tensor) -> Tensor:
        """(B, A, 4*reg_max) -> (B, A, 4) xyxy in grid cells (the DFL expectation)."""
        b, a, _ = dist_logits.shape
        dist = dist_logits.reshape(b, a, 4, self.reg_max).softmax(-1) @ self.bins.to(dist_logits.device)
        return torch.cat((points - dist[..., :2], points + dist[..., 2:]), -1)

    def _dfl(self, logits: Tensor, target_ltrb: Tensor) -> Tensor:
        """Distribution focal loss: cross-entropy to the two bins around each target distance, per anchor."""
        target = target_ltrb.clamp(0, self.reg_max - 1 - 0.01).reshape(-1)
        left = target.long()
        w_left = (left + 1).float() - target
        loss = F.cross_entropy(logits, left, reduction="none") * w_left + F.cross_entropy(
            logits, left + 1, reduction="none"
        ) * (1 - w_left)
        return loss.reshape(-1, 4).mean(-1)

    def _keypoint_losses(self, kpt_raw: Tensor, gt: Tensor, box_cells: Tensor, points: Tensor, stride: Tensor
                         ) -> tuple[Tensor, Tensor]:  # fmt: skip
        """OKS-based location loss and visibility BCE over positive anchors (keypoints in grid cells)."""
        pred_xy = kpt_raw[..., :2] * 2.0 + (points[:, None, :] - 0.5)
        gt_xy = gt[..., :2] / stride[:, None, :]
        labelled = gt[..., 2] > 0
        area = ((box_cells[:, 2] - box_cells[:, 0]) * (box_cells[:, 3] - box_cells[:, 1]))[:, None]
        d2 = (pred_xy - gt_xy).pow(2).sum(-1)
        e = d2 / ((2 * self.sigmas.to(d2.device)).pow(2) * (area + 1e-9) * 2)
        factor = labelled.shape[1] / (labelled.sum(1, keepdim=True) + 1e-9)
        loss_pose = (factor * (1 - torch.exp(-e)) * labelled).mean()
        loss_kobj = F.binary_cross_entropy_with_logits(kpt_raw[..., 2], labelled.float())
        return loss_pose, loss_kobj
