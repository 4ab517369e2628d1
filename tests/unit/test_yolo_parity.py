"""The export parity gate on a YOLO-pose head: keypoints compared at the anchors where the reference finds a person."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.bench.parity import UNDECODABLE_INT8, verify_parity, yolo_displacements
from edgepose.deploy.yolo_decode import REG_MAX, make_anchors
from edgepose.models import default_spec

SIZE = (64, 96)
K = 17
CHANNELS = 4 * REG_MAX + 1 + 3 * K


def raw_with_person(anchor: int | None, kpt_shift: float = 0.0, unseen: tuple[int, ...] = ()) -> np.ndarray:
    """(1, C, A) raw output: every class logit very negative except at `anchor` (a confident person there)."""
    n_anchors = len(make_anchors(SIZE)[0])
    raw = np.zeros((1, CHANNELS, n_anchors), dtype=np.float32)
    raw[0, 4 * REG_MAX] = -20.0
    if anchor is not None:
        raw[0, 4 * REG_MAX, anchor] = 5.0
    kpts = raw[0, 4 * REG_MAX + 1 :].reshape(K, 3, n_anchors)
    kpts[:, 0] += kpt_shift
    kpts[:, 2] = 5.0
    for k in unseen:
        kpts[k, 2] = -5.0
    return raw


class FixedSession:
    """A Session that returns one fixed raw output whatever the input."""

    def __init__(self, raw: np.ndarray) -> None:
        self.raw = raw

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"raw": self.raw}


def test_displacement_is_measured_on_the_confident_anchor_seen_keypoints_only() -> None:
    spec = default_spec("yolopose-ghost-n", input_size=SIZE)
    anchor = 10  # stride 8: a raw x shift of d moves the keypoint by 2 * d * 8 px
    moved = yolo_displacements(raw_with_person(anchor), raw_with_person(anchor, 0.25, unseen=(0, 1)), spec)
    assert moved is not None and moved.shape == (K,)  # one confident anchor counts, though every anchor moved
    # the reference sees all K keypoints, so all count; the candidate's visibility does not decide
    np.testing.assert_allclose(moved, 2 * 0.25 * 8)
    hidden = yolo_displacements(raw_with_person(anchor, unseen=(0, 1)), raw_with_person(anchor, 0.25), spec)
    assert hidden is not None and hidden.shape == (K - 2,)


def test_no_person_in_the_reference_gives_no_displacement() -> None:
    spec = default_spec("yolopose-ghost-n", input_size=SIZE)
    assert yolo_displacements(raw_with_person(None), raw_with_person(None, 3.0), spec) is None


@pytest.mark.parametrize(("shift", "passes"), [(0.01, True), (1.0, False)])
def test_int8_parity_of_a_yolo_head_judges_decoded_keypoints(shift: float, passes: bool) -> None:
    spec = default_spec("yolopose-ghost-n", input_size=SIZE)
    report = verify_parity(FixedSession(raw_with_person(3)), FixedSession(raw_with_person(3, shift)), spec,
                           n_random=2, precision="int8")  # fmt: skip
    assert report.metric == "kpt" and report.passed is passes
    assert report.mean_kpt_px == pytest.approx(2 * shift * 8, rel=1e-4)
    assert report.checked_value == pytest.approx(report.mean_kpt_px / np.hypot(*SIZE))


def test_int8_parity_falls_back_to_the_relative_error_when_nobody_is_found() -> None:
    spec = default_spec("yolopose-ghost-n", input_size=SIZE)
    report = verify_parity(FixedSession(raw_with_person(None)), FixedSession(raw_with_person(None, 0.01)), spec,
                           n_random=2, precision="int8")  # fmt: skip
    assert (report.tolerance, report.metric) == UNDECODABLE_INT8 and report.mean_kpt_px is None


def test_an_output_that_is_not_the_ultralytics_layout_is_not_decoded() -> None:
    spec = default_spec("yolopose-ghost-n", input_size=SIZE)
    odd = np.zeros((1, 10, 100), dtype=np.float32)  # neither the channels nor the anchors fit
    assert yolo_displacements(odd, odd, spec) is None
