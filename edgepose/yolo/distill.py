"""Dense distillation of a YOLO-pose head: the student's raw outputs matched to the teacher's at every anchor.

Each channel group gets the loss that suits what it encodes, so no raw scale is weighed arbitrarily:

- class logits: BCE against the teacher's class probabilities (soft targets), at every anchor, less the
  targets' own entropy (so the loss is a KL divergence: 0 for the teacher itself);
- box DFL logits: KL divergence of each side's bin distribution from the teacher's (localisation
  distillation, Zheng et al. 2022), weighted by the teacher's class probability at the anchor;
- keypoint offsets: L1 in grid cells of the anchor's stride, weighted by the teacher's class probability
  and its visibility of the joint; visibility logits: soft BCE against the teacher's visibility, as for classes.

Sums are normalised by the teacher's total class probability (as Ultralytics normalises by its target
scores), so an image with one person and one with five weigh their people alike. Unlike decoded
pseudo-labels through the training loss, every anchor carries a target, not only the ~10 that the assignment
picks per person (measured in edgepose.yolo.task.yolo_pose_loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from edgepose.deploy.yolo_decode import REG_MAX, split_channels


def dense_distill_loss(student: Tensor, teacher: Tensor, num_keypoints: int, reg_max: int = REG_MAX) -> Tensor:
    """Loss between raw head outputs (B, C, A) of `student` and `teacher`, per unit of the teacher's person
    probability over the batch (module doc); 0 when they are equal."""
    if student.shape != teacher.shape:
        raise ValueError(f"student output {tuple(student.shape)} and teacher output {tuple(teacher.shape)} differ")
    nbox, nc = split_channels(student.shape[1], num_keypoints, reg_max)
    b, _, anchors = student.shape
    t = teacher.detach().float()
    s = student.float()
    cls_t = torch.sigmoid(t[:, nbox : nbox + nc])
    weight = cls_t.amax(dim=1)  # (B, A): how much the teacher sees a person at the anchor
    norm = weight.sum().clamp(min=1.0)
    cls = _bernoulli_kl(s[:, nbox : nbox + nc], t[:, nbox : nbox + nc]).sum() / norm

    box_t = t[:, :nbox].reshape(b, 4, reg_max, anchors)
    box_s = s[:, :nbox].reshape(b, 4, reg_max, anchors)
    log_t = F.log_softmax(box_t, dim=2)
    kl = (log_t.exp() * (log_t - F.log_softmax(box_s, dim=2))).sum(dim=2).mean(dim=1)  # (B, A)
    dfl = (kl * weight).sum() / norm

    kpt_t = t[:, nbox + nc :].reshape(b, num_keypoints, 3, anchors)
    kpt_s = s[:, nbox + nc :].reshape(b, num_keypoints, 3, anchors)
    vis_t = torch.sigmoid(kpt_t[:, :, 2])  # (B, K, A)
    cells = 2.0 * (kpt_s[:, :, :2] - kpt_t[:, :, :2]).abs().sum(dim=2)  # decoded offset = (2 * raw) cells
    joint_weight = vis_t * weight[:, None]
    kpt = (cells * joint_weight).sum() / (norm * num_keypoints)
    vis = (_bernoulli_kl(kpt_s[:, :, 2], kpt_t[:, :, 2]) * weight[:, None]).sum()
    vis = vis / (norm * num_keypoints)
    return cls + dfl + kpt + vis


def _bernoulli_kl(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """Elementwise KL(teacher || student) of Bernoulli variables given as logits: soft-target BCE minus the
    teacher's entropy (same gradient as the BCE, 0 where the two agree)."""
    p = torch.sigmoid(teacher_logits)
    bce = F.binary_cross_entropy_with_logits(student_logits, p, reduction="none")
    entropy = F.binary_cross_entropy_with_logits(teacher_logits, p, reduction="none")
    return bce - entropy
