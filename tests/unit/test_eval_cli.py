"""`edgepose eval`: clean --json, the tables, --out, and exit 2 naming the file on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
