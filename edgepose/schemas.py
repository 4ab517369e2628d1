"""Keypoint schemas: joint names, flip pairs, skeleton, OKS sigmas and the segments PCK/PCKh use.

LSP-14 and MPII-16 have no official OKS sigmas. We use the COCO sigma of the matching joint; for the
joints COCO lacks we chose: neck / thorax / upper neck = 0.079 (the shoulder sigma: a torso point),
pelvis = 0.107 (the hip sigma), head top = 0.035 (the ear sigma: a head point farther out than the nose).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgepose.registry import Registry


@dataclass(frozen=True)
class KeypointSchema:
    name: str
    keypoints: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    skeleton: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]
    torso: tuple[int, int]  # opposite shoulder and hip: the PCK normaliser
    head: tuple[int, int] | None  # head segment for PCKh, None where the schema has none

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    def flip_index(self) -> list[int]:
        """Index permutation that swaps left and right joints."""
        index = list(range(self.num_keypoints))
        for a, b in self.flip_pairs:
            index[a], index[b] = b, a
        return index

    def index(self, name: str) -> int:
        return self.keypoints.index(name)


SCHEMAS: Registry[KeypointSchema] = Registry("keypoint schema")

_COCO_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
_COCO_SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
    0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)  # fmt: skip
COCO17 = KeypointSchema(
    name="coco17",
    keypoints=_COCO_NAMES,
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    skeleton=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
        (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),  # fmt: skip
    sigmas=_COCO_SIGMAS,
    torso=(5, 12),
    head=None,
)

LSP14 = KeypointSchema(
    name="lsp14",
    keypoints=(
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
        "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
        "neck", "head_top",
    ),  # fmt: skip
    flip_pairs=((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)),
    skeleton=(
        (0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 12), (9, 12), (9, 10), (10, 11),
        (12, 13), (2, 8), (3, 9),
    ),  # fmt: skip
    sigmas=(0.089, 0.087, 0.107, 0.107, 0.087, 0.089, 0.062, 0.072, 0.079, 0.079, 0.072, 0.062, 0.079, 0.035),
    torso=(8, 3),
    head=(12, 13),
)

MPII16 = KeypointSchema(
    name="mpii16",
    keypoints=(
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
        "pelvis", "thorax", "upper_neck", "head_top",
        "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    ),  # fmt: skip
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    skeleton=(
        (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11), (11, 12),
        (12, 7), (7, 13), (13, 14), (14, 15),
    ),  # fmt: skip
    sigmas=(
        0.089, 0.087, 0.107, 0.107, 0.087, 0.089, 0.107, 0.079, 0.079, 0.035,
        0.062, 0.072, 0.079, 0.079, 0.072, 0.062,
    ),  # fmt: skip
    torso=(12, 3),
    head=(8, 9),
)

for _schema in (COCO17, LSP14, MPII16):
    SCHEMAS.add(_schema.name, _schema)

# COCO-17 joint index for each LSP-14 joint; neck is the shoulder midpoint, head top has no twin.
COCO_TO_LSP: tuple[int | tuple[int, int] | None, ...] = (
    16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, (5, 6), None,
)


def get_schema(name: str) -> KeypointSchema:
    return SCHEMAS.get(name)


def schema_for_count(num_keypoints: int) -> KeypointSchema | None:
    """The registered schema with this many joints, if exactly one has it."""
    matches = [e.obj for e in SCHEMAS if e.obj.num_keypoints == num_keypoints]
    return matches[0] if len(matches) == 1 else None
