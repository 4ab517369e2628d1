"""Task-aligned assignment (TOOD, Feng et al. 2021) of anchors to ground-truth people, and CIoU.

For each person, candidate anchors are those whose point lies inside its box; each candidate's alignment
is score^alpha * IoU^beta (class score of the prediction, CIoU of its box with the person's); the top-k
aligned candidates become positives, an anchor claimed by two people goes to the one it overlaps most.
Target scores are the alignment normalised per person to its best IoU (Ultralytics' TaskAlignedAssigner).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

EPS = 1e-9


def bbox_ciou(box1: Tensor, box2: Tensor, eps: float = 1e-7) -> Tensor:
    """Complete IoU of matching xyxy boxes (..., 4) -> (...,)."""
    b1x1, b1y1, b1x2, b1y2 = box1.unbind(-1)
    b2x1, b2y1, b2x2, b2y2 = box2.unbind(-1)
    w1, h1 = b1x2 - b1x1, b1y2 - b1y1 + eps
    w2, h2 = b2x2 - b2x1, b2y2 - b2y1 + eps
    inter = (torch.minimum(b1x2, b2x2) - torch.maximum(b1x1, b2x1)).clamp(0) * (
        torch.minimum(b1y2, b2y2) - torch.maximum(b1y1, b2y1)
    ).clamp(0)
    iou = inter / (w1 * h1 + w2 * h2 - inter + eps)
    cw = torch.maximum(b1x2, b2x2) - torch.minimum(b1x1, b2x1)
    ch = torch.maximum(b1y2, b2y2) - torch.minimum(b1y1, b2y1)
    c2 = cw**2 + ch**2 + eps
    rho2 = ((b2x1 + b2x2 - b1x1 - b1x2) ** 2 + (b2y1 + b2y2 - b1y1 - b1y2) ** 2) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def points_in_boxes(points: Tensor, boxes: Tensor) -> Tensor:
    """(B, M, A) bool: anchor point (A, 2) strictly inside box (B, M, 4)."""
    lt, rb = boxes[..., None, :2], boxes[..., None, 2:]
    deltas = torch.cat((points[None, None] - lt, rb - points[None, None]), dim=-1)
    return deltas.amin(-1) > EPS


class TaskAlignedAssigner:
    """Ultralytics' defaults: top-k 10, alpha 0.5, beta 6."""

    def __init__(self, topk: int = 10, alpha: float = 0.5, beta: float = 6.0):
        self.topk, self.alpha, self.beta = topk, alpha, beta

    @torch.no_grad()
    def __call__(self, pd_scores: Tensor, pd_boxes: Tensor, points: Tensor, gt_labels: Tensor, gt_boxes: Tensor,
                 gt_mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
        """pd_scores (B, A, nc) probabilities, pd_boxes (B, A, 4), points (A, 2), gt_labels (B, M) long,
        gt_boxes (B, M, 4), gt_mask (B, M) bool -> target boxes (B, A, 4), target scores (B, A, nc),
        foreground mask (B, A) and the matched person index (B, A)."""
        b, a, nc = pd_scores.shape
        m = gt_boxes.shape[1]
        if m == 0 or not gt_mask.any():
            zeros = torch.zeros(b, a, dtype=torch.long, device=pd_scores.device)
            return torch.zeros_like(pd_boxes), torch.zeros_like(pd_scores), zeros.bool(), zeros
        candidates = points_in_boxes(points, gt_boxes) & gt_mask[..., None]  # (B, M, A)
        scores = pd_scores.gather(2, gt_labels.clamp(0)[:, None, :].expand(b, a, m)).permute(0, 2, 1)  # (B, M, A)
        overlaps = bbox_ciou(gt_boxes[:, :, None, :].expand(b, m, a, 4), pd_boxes[:, None].expand(b, m, a, 4))
        overlaps = overlaps.clamp(0) * candidates
        align = scores.pow(self.alpha) * overlaps.pow(self.beta) * candidates
        topk = torch.topk(align, min(self.topk, a), dim=-1).indices  # (B, M, k)
        chosen = torch.zeros_like(align).scatter_(-1, topk, 1.0)
        positive = chosen * candidates * gt_mask[..., None]
        positive = self._one_person_per_anchor(positive, overlaps)
        fg = positive.sum(1) > 0  # (B, A)
        person = positive.argmax(1)  # (B, A)
        target_boxes = gt_boxes.gather(1, person[..., None].expand(b, a, 4))
        labels = gt_labels.clamp(0).gather(1, person)
        target_scores = torch.zeros_like(pd_scores).scatter_(2, labels[..., None], 1.0) * fg[..., None]
        align = align * positive
        best_iou = (overlaps * positive).amax(-1, keepdim=True)  # per person, over its positives
        norm = (align * best_iou / (align.amax(-1, keepdim=True) + EPS)).amax(1)  # (B, A)
        return target_boxes, target_scores * norm[..., None], fg, person

    @staticmethod
    def _one_person_per_anchor(positive: Tensor, overlaps: Tensor) -> Tensor:
        """Where an anchor is positive for several people, keep only the one it overlaps most."""
        shared = positive.sum(1, keepdim=True) > 1  # (B, 1, A)
        if not shared.any():
            return positive
        best = torch.zeros_like(positive).scatter_(1, overlaps.argmax(1, keepdim=True), 1.0)
        return torch.where(shared, best, positive)
