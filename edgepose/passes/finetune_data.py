"""What a recovery fine-tune trains and validates on, from whatever the user gave as `--finetune-data` / `--val`.

- Labelled data (a COCO-keypoints file in the model's schema): the labels mixed with the teacher's outputs
  (`distill`), as before.
- Anything else (a folder, a glob, a video, an annotations file of another schema): label-free, the teacher's
  outputs alone are the targets (distill 1; edgepose.inference.unlabelled).
- Validation: the labelled `--val` data when given; else agreement with the teacher on held-back pictures of the
  fine-tuning data (HOLD_SHARE of them, at most HOLD_CAP), which are then not trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.errors import UserError

if TYPE_CHECKING:
    from torch import nn

    from edgepose.artifact import ModelSpec

HOLD_SHARE = 0.1
HOLD_CAP = 200
MIN_PICTURES_TO_HOLD = 10  # fewer: nothing is held back (no validation, the last epoch is kept)
CLIP_NEEDS_LABELS = ("label-free fine-tuning of clip models is not supported yet: give --finetune-data labelled in "
                     "the model's schema")


@dataclass
class RecoveryData:
    train: Any  # a Dataset, or the labelled file's path (YOLO-pose reads its own)
    val: Any  # a labelled file's path, a TeacherAgreement, or None
    labelled: bool
    targets: str  # what the targets were, for the report
    validation: str  # what validated, for the report


def recovery_data(train_source: str | Path, val_source: str | Path | None, spec: ModelSpec,
                  teacher: nn.Module | None, seed: int = 0, hold_back: bool = True) -> RecoveryData:  # fmt: skip
    """The training set and validation check for a fine-tune on `train_source` (module doc)."""
    from edgepose.inference.image_inputs import has_matching_labels, list_views, split_held_back

    labelled = has_matching_labels(train_source, spec)
    if not labelled and teacher is None:
        raise UserError(f"{train_source} has no labels in the model's schema: label-free fine-tuning distils from "
                        "the original model, and there is none here (fine-tune inside prune / ghost / quantize)")  # fmt: skip
    targets = "labels mixed with the teacher's outputs (distill)" if labelled else "the teacher's outputs (no labels)"
    if spec.head == "yolo" and not labelled:
        targets = "the teacher's raw head outputs at every anchor (no labels)"
    if (spec.head == "yolo" and labelled) or spec.clip_length:  # readers of their own: labelled files only
        if not labelled:
            raise UserError(CLIP_NEEDS_LABELS)
        return RecoveryData(train_source, val_source, True, targets, str(val_source) if val_source else "none")
    views = list_views(train_source, spec)
    if val_source is not None or not hold_back or teacher is None or len({v.image_key for v in views}) < MIN_PICTURES_TO_HOLD:
        train = _labelled(train_source, spec, None) if labelled else _unlabelled(views, spec, train_source)
        return RecoveryData(train, val_source, labelled, targets, str(val_source) if val_source else "none")
    from edgepose.inference.unlabelled import TeacherAgreement

    train_views, held = split_held_back(views, HOLD_SHARE, HOLD_CAP, seed)
    if not held or not train_views:
        raise UserError(f"{train_source} holds too few pictures to hold some back for validation: give --val")
    val = TeacherAgreement(held, spec, teacher)
    held_keys = {v.image_key for v in held}
    train = _labelled(train_source, spec, held_keys) if labelled else _unlabelled(train_views, spec, train_source)
    return RecoveryData(train, val, labelled, targets, str(val))


def check_source(train_source: str | Path, spec: ModelSpec) -> None:
    """Read `train_source` the way recovery_data will, so that bad fine-tuning data (a missing folder, an empty
    glob, NaN keypoints) is refused before the pass spends minutes on the model rather than after."""
    from edgepose.inference.image_inputs import has_matching_labels, list_views

    labelled = has_matching_labels(train_source, spec)  # reads (and checks: edgepose.data.coco_checks) a .json
    if labelled and spec.head != "yolo" and not spec.clip_length:  # YOLO-pose and clip models read their own
        _labelled(train_source, spec, None)
    elif not labelled and spec.clip_length:
        raise UserError(CLIP_NEEDS_LABELS)
    elif not labelled:
        list_views(train_source, spec)


def _labelled(path: str | Path, spec: ModelSpec, held_keys: set[str] | None) -> Any:
    from edgepose.data.coco import CocoPoseDataset

    dataset = CocoPoseDataset(path, spec, train=True)
    if held_keys:
        dataset.instances = [inst for inst in dataset.instances if str(inst.file) not in held_keys]
    dataset.source = str(path)
    return dataset


def _unlabelled(views: list[Any], spec: ModelSpec, source: str | Path) -> Any:
    from edgepose.inference.unlabelled import UnlabelledCrops

    return UnlabelledCrops(views, spec, train=True, source=str(source))
