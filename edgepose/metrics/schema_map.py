"""Cross-schema scoring: a model's joints mapped onto the data's schema (a COCO-17 model on LSP-14 data).

LSP joints are taken from their COCO twins (edgepose.schemas.COCO_TO_LSP); the neck is the shoulder
midpoint. A joint with no twin (LSP's head top) is left out of every metric: its ground truth is
masked (v = 0) in a copy of the annotations, so OKS, PCK, MPJPE and F1 never score it. PCKh, whose
normaliser is the neck-to-head-top segment, then has no instance and is null.
"""

from __future__ import annotations

import contextlib
import copy
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.schemas import COCO_TO_LSP, SCHEMAS, get_schema

Source = int | tuple[int, int] | None


@dataclass(frozen=True)
class SchemaMap:
    """For each target joint: a source joint index, a pair to average, or None (no twin)."""

    source: str
    target: str
    index: tuple[Source, ...]

    @property
    def left_out(self) -> list[str]:
        names = get_schema(self.target).keypoints
        return [names[j] for j, src in enumerate(self.index) if src is None]

    def apply(self, pred: np.ndarray) -> np.ndarray:
        """(..., K_source, 3) [x, y, score] -> (..., K_target, 3); a joint without a twin gets 0, 0, score 0."""
        p = np.asarray(pred, dtype=np.float64)
        out = np.zeros((*p.shape[:-2], len(self.index), p.shape[-1]))
        for j, src in enumerate(self.index):
            if isinstance(src, tuple):
                out[..., j, :] = 0.5 * (p[..., src[0], :] + p[..., src[1], :])
            elif src is not None:
                out[..., j, :] = p[..., src, :]
        return out.astype(np.float32)

    def mask_coco(self, coco: Any) -> Any:
        """A copy of a pycocotools COCO object with the left-out joints unlabelled (x = y = v = 0)."""
        from pycocotools.coco import COCO

        drop = [j for j, src in enumerate(self.index) if src is None]
        data = copy.deepcopy(coco.dataset)
        for ann in data.get("annotations", []):
            kps = ann.get("keypoints")
            if not kps:
                continue
            for j in drop:
                kps[3 * j : 3 * j + 3] = [0, 0, 0]
            ann["num_keypoints"] = int(sum(1 for v in kps[2::3] if v > 0))
        masked = COCO()
        masked.dataset = data
        with contextlib.redirect_stdout(io.StringIO()):
            masked.createIndex()
        return masked

    def describe(self) -> dict[str, Any]:
        """What the eval JSON says about the mapping."""
        return {
            "from": self.source, "to": self.target, "left_out": self.left_out,
            "note": f"{self.source} predictions mapped onto {self.target} joints (neck = shoulder midpoint); "
                    f"{', '.join(self.left_out) or 'no joint'} has no {self.source} twin and is left out of every "
                    "metric, so PCKh (normalised by neck-head top) is null",
        }  # fmt: skip


MAPS: dict[tuple[str, str], SchemaMap] = {("coco17", "lsp14"): SchemaMap("coco17", "lsp14", COCO_TO_LSP)}


def data_schema_name(ann_file: str | Path) -> str | None:
    """The registered schema whose joint names (in order) are the file's, None if none is."""
    from edgepose.data import cocofile

    path = Path(ann_file)
    _, names = cocofile.keypoint_category(cocofile.read_json(path), path)
    return next((e.name for e in SCHEMAS if list(e.obj.keypoints) == names), None)


def find_map(model_schema: str, data_schema: str | None) -> SchemaMap | None:
    """The mapping from the model's schema to the data's, None when they are the same or none is known."""
    if data_schema is None or data_schema == model_schema:
        return None
    return MAPS.get((model_schema, data_schema))


def schema_map_for(model_schema: str, ann_file: str | Path) -> SchemaMap | None:
    """find_map for an annotation file (reads its keypoint names)."""
    return find_map(model_schema, data_schema_name(ann_file))
