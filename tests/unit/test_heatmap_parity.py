"""The INT8 parity gate on a heatmap head: judged on the keypoints the reference sees (a peak >= HEATMAP_SEEN)."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.bench.parity import HEATMAP_SEEN, verify_parity
from edgepose.models import default_spec

SPEC = default_spec("simplebaseline-lite", input_size=(64, 48))  # heatmaps 16x12, stride 4
K = 17


class FixedSession:
    """A Session that returns one fixed heatmap output whatever the input."""

    def __init__(self, heatmaps: np.ndarray) -> None:
        self.heatmaps = heatmaps

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"heatmaps": self.heatmaps}


def heatmaps(peaks: dict[int, tuple[int, int, float]], flat_argmax: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(1, K, 16, 12): keypoint k peaks at (x, y) with the given height; every other map is flat at 0.01 with its
    argmax (by 1e-4) at `flat_argmax`."""
    maps = np.full((1, K, 16, 12), 0.01, dtype=np.float32)
    maps[0, :, flat_argmax[1], flat_argmax[0]] += 1e-4
    for k, (x, y, height) in peaks.items():
        maps[0, k, y, x] = height
    return maps


def judge(reference: np.ndarray, candidate: np.ndarray) -> tuple[bool, float]:
    report = verify_parity(FixedSession(reference), FixedSession(candidate), SPEC, n_random=2, precision="int8")
    assert report.metric == "kpt"
    return report.passed, float(report.mean_kpt_px or 0.0)


def test_unseen_keypoints_moving_across_a_flat_map_do_not_fail_a_model_that_sees_others() -> None:
    seen = {0: (5, 5, 0.8), 1: (6, 9, 0.5)}
    passed, px = judge(heatmaps(seen), heatmaps(seen, flat_argmax=(11, 15)))  # 15 flat maps' argmax jump ~73 px
    assert passed and px == 0.0


def test_a_seen_keypoint_that_moves_fails() -> None:
    seen = {0: (5, 5, 0.8), 1: (6, 9, 0.5)}
    moved = {0: (5, 5, 0.8), 1: (1, 1, 0.5)}  # 4 * hypot(5, 8) = 37.7 px
    passed, px = judge(heatmaps(seen), heatmaps(moved))
    assert not passed and px == pytest.approx(4 * np.hypot(5, 8) / 2)


@pytest.mark.parametrize("peak", [HEATMAP_SEEN / 2, 0.05])
def test_a_model_that_sees_nothing_is_judged_on_every_keypoint(peak: float) -> None:
    low = {0: (5, 5, peak)}
    passed, px = judge(heatmaps(low), heatmaps(low, flat_argmax=(11, 15)))
    assert not passed and px > 0


def test_the_report_counts_the_keypoints_it_judged_and_the_line_says_so() -> None:
    from edgepose.cli.quantize import parity_line

    seen = {0: (5, 5, 0.8), 1: (6, 9, 0.5)}
    report = verify_parity(FixedSession(heatmaps(seen)), FixedSession(heatmaps(seen)), SPEC, n_random=2, precision="int8")
    assert (report.n_keypoints, report.n_judged) == (2 * K, 2 * 2)  # 2 inputs x 17 keypoints; 2 seen in each
    line = parity_line({**report.to_dict(), "data": "photos/"})
    assert "over the 4 of 34 keypoints the FP32 model sees" in line and line.endswith(": pass")


def test_the_line_for_a_gate_on_raw_output_error_names_that_metric() -> None:
    from edgepose.cli.quantize import parity_line

    line = parity_line({"n_images": 0, "data": None, "metric": "rel", "mean_kpt_px": None, "checked_value": 0.2,
                        "tolerance": 0.05, "passed": False})  # fmt: skip
    assert "rel error 0.2 (tolerance 0.05): FAIL" in line
