"""The report's overlay strip picks the people whose keypoints moved most between the two evaluations."""

from __future__ import annotations

from edgepose.report.overlays import moved_most


def entry(ann_id: int, shift: float) -> dict:
    return {"ann_id": ann_id, "keypoints": [10.0 + shift, 20.0, 0.9] * 14, "bbox": [0, 0, 50, 100]}


def test_the_people_moved_most_come_first_and_unmatched_ones_are_left_out() -> None:
    baseline = [entry(1, 0), entry(2, 0), entry(3, 0), entry(9, 0)]
    final = [entry(1, 1.0), entry(2, 5.0), entry(3, 2.5), entry(4, 40.0)]  # 4 has no baseline, 9 no final
    picked = moved_most(baseline, final, count=2)
    assert [(round(moved, 6), before["ann_id"]) for moved, before, _ in picked] == [(5.0, 2), (2.5, 3)]
    assert moved_most(baseline, [], count=3) == []
