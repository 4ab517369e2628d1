"""`edgepose eval`: clean --json, the tables, --out, and exit 2 naming the file on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_eval_engine import write_coco

FACTORY = f"{Path(__file__).resolve().parents[1] / 'fixtures' / 'user_model.py'}:build"
KEYS = {"oks_ap", "oks_ap50", "oks_ap75", "oks_ar", "pck@0.1", "pck@0.2", "pckh@0.5", "mpjpe_px", "per_keypoint"}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgepose", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def ann(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_coco(tmp_path_factory.mktemp("evalcli"), n_images=4, seed=11)


def test_eval_json_is_one_clean_document(ann: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    result = run_cli("eval", "--model-factory", FACTORY, "--input-size", "64x48", "--data", str(ann),
                     "--flip", "--batch", "3", "--json", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert KEYS <= set(data["metrics"]) and data["runtime"] == "torch" and data["flip"] is True
    assert data["n_images"] == 4 and data["n_instances"] == json.loads(ann.read_text())["annotations"].__len__()
    assert data["metrics"]["pckh@0.5"] is None and len(data["metrics"]["per_keypoint"]) == 17
    assert 0.0 <= data["metrics"]["pck@0.2"] <= 1.0 and data["metrics"]["mpjpe_px"] > 0
    assert json.loads(out.read_text()) == data


def test_eval_prints_overall_and_per_keypoint_tables(ann: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgepose.cli.app import main

    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--model-factory", FACTORY, "--input-size", "64x48", "--data", str(ann), "--limit", "2"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for label in ("OKS AP", "PCK@0.2 (torso)", "MPJPE (px)", "per keypoint", "left_shoulder", "2 people"):
        assert label in text, label


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--data", "missing.json"], "missing.json"), (["--schema", "lsp14"], "lsp14"), (["--decode", "cubic"], "--decode")],
    ids=["missing-file", "schema-mismatch", "bad-decode"],
)
def test_eval_bad_input_exits_2_with_one_line(ann: Path, extra: list[str], message: str) -> None:
    args = ["eval", "--model-factory", FACTORY, "--input-size", "64x48", "--data", str(ann), *extra]
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


def _results_from(ann: Path, noise_px: float, seed: int = 0, with_ids: bool = False) -> list[dict]:
    """The annotations as a COCO keypoint-results list, joints moved by Gaussian noise of `noise_px`."""
    rng = np.random.default_rng(seed)
    results = []
    for a in json.loads(ann.read_text())["annotations"]:
        kp = np.asarray(a["keypoints"], dtype=float).reshape(-1, 3)
        kp[:, :2] += rng.normal(0, noise_px, size=kp[:, :2].shape) if noise_px else 0
        kp[:, 2] = kp[:, 2] > 0
        results.append({"image_id": a["image_id"], "category_id": 1, "keypoints": kp.ravel().tolist(),
                        "score": 1.0, **({"ann_id": a["id"]} if with_ids else {})})  # fmt: skip
    return results


def test_predictions_file_ground_truth_scores_perfect_and_noise_scores_lower(ann: Path, tmp_path: Path) -> None:
    from edgepose.metrics.predictions_file import evaluate_predictions_file

    perfect = evaluate_predictions_file(ann, ann)["metrics"]  # the annotations file itself
    assert perfect["oks_ap"] == pytest.approx(1.0) and perfect["pck@0.2"] == pytest.approx(1.0)
    previous = perfect
    for noise in (2.0, 6.0, 15.0):
        path = tmp_path / f"noise{noise}.json"
        path.write_text(json.dumps(_results_from(ann, noise)))
        metrics = evaluate_predictions_file(path, ann)["metrics"]
        assert metrics["oks_ap"] < previous["oks_ap"] or previous["oks_ap"] == 0
        assert metrics["pck@0.2"] <= previous["pck@0.2"] and metrics["mpjpe_px"] > previous["mpjpe_px"]
        previous = metrics
    shuffled = _results_from(ann, 2.0, with_ids=True)[::-1]  # paired by ann_id: order does not matter
    (tmp_path / "ids.json").write_text(json.dumps(shuffled))
    by_id = evaluate_predictions_file(tmp_path / "ids.json", ann)["metrics"]
    assert by_id["pck@0.2"] == pytest.approx(evaluate_predictions_file(tmp_path / "noise2.0.json", ann)["metrics"]["pck@0.2"])


def test_predictions_file_missing_people_count_as_misses(ann: Path, tmp_path: Path) -> None:
    from edgepose.metrics.predictions_file import evaluate_predictions_file

    results = _results_from(ann, 0.0)
    (tmp_path / "half.json").write_text(json.dumps(results[: len(results) // 2]))
    result = evaluate_predictions_file(tmp_path / "half.json", ann)
    assert result["n_paired"] == len(results) // 2 and result["metrics"]["pck@0.2"] < 0.75


def test_eval_predictions_cli_json_and_bad_files_exit_2(ann: Path, tmp_path: Path) -> None:
    done = run_cli("eval", "--predictions", str(ann), "--data", str(ann), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["metrics"]["oks_ap"] == pytest.approx(1.0)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image_id": 1, "keypoints": [1, 2, 1]}]))
    done = run_cli("eval", "--predictions", str(bad), "--data", str(ann))
    assert done.returncode == 2 and "bad.json" in done.stderr and "keypoint values" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
