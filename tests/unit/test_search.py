"""`search` recipes: every candidate after every pruning prefix, the fastest passing chain published as final/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.coco_files import write_coco

SEARCH_RECIPE = """
schema_version: 1
name: tiny-search
target: cpu-onnxruntime
search:
  unpruned: true
  reference: ort-int8
  prune:
    - {method: structured, target_gflops_ratio: 0.6, round_to: 1}
  candidates:
    - name: ort-int8
      target: cpu-onnxruntime
      passes:
        - {pass: quantize, backend: onnxruntime, calib_images: 4}
    - name: ort-fp32
      target: cpu-onnxruntime
    - name: trt-fp16
      target: gpu-tensorrt
      export: {precision: fp16}
benchmark: {threads: 1, iters: 6, warmup: 1}
gates: {max_metric_drop: 100.0, min_speedup: 0.01, max_parity_error: 0.25}
"""


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_coco(tmp_path_factory.mktemp("coco"), n_images=4)


def test_search_runs_every_chain_skips_what_cannot_run_and_publishes_the_winner(tiny_zoo_net, coco: Path,
                                                                                 tmp_path: Path) -> None:  # noqa: ANN001
    import edgepose
    from edgepose.checkpoint import save_checkpoint

    ckpt = save_checkpoint(tiny_zoo_net, tmp_path / "tiny.pt")
    recipe = tmp_path / "search.yaml"
    recipe.write_text(SEARCH_RECIPE)
    out = tmp_path / "run"
    messages: list[str] = []
    report = edgepose.optimize(ckpt, str(recipe), coco, out, progress=False, log=messages.append)
    search = report["search"]
    names = sorted(row["name"] for row in search["candidates"])
    assert names == ["prune1-gflops60/ort-fp32", "prune1-gflops60/ort-int8", "unpruned/ort-fp32", "unpruned/ort-int8"]
    skipped = {row["name"]: row["reason"] for row in search["skipped"]}
    assert set(skipped) == {"unpruned/trt-fp16", "prune1-gflops60/trt-fp16"}  # no TensorRT here
    rows = {row["name"]: row for row in search["candidates"]}
    passing = [row for row in rows.values() if row["passed"]]
    # the fastest by its own run leads; the next fastest are timed against the leader, interleaved, and the winner
    # is the last one kept
    ranked = sorted(passing, key=lambda row: row["speedup_vs_torch"], reverse=True)[:3]
    rounds = search["tiebreak"]
    assert [r["contender"] for r in rounds] == [row["name"] for row in ranked[1:]]
    assert rounds[0]["leader"] == ranked[0]["name"]
    for r in rounds:
        lo, hi = r["speedup_ci95"]
        assert lo <= r["speedup"] <= hi and r["kept"] == (r["contender"] if r["speedup"] > 1 else r["leader"])
    assert search["winner"] == (rounds[-1]["kept"] if rounds else ranked[0]["name"])
    pruned = rows["prune1-gflops60/ort-fp32"]["gflops"]
    assert pruned < 0.75 * rows["unpruned/ort-fp32"]["gflops"]
    # final/ is the winner's bundle, and the report's final stage is the winner's
    bundle = json.loads((out / "final" / "edgepose-bundle.json").read_text())
    assert (out / "final" / bundle["model"]["file"]).is_file()
    assert report["final"]["precision"] == rows[search["winner"]]["precision"]
    versus = search["vs_reference"]
    assert versus["reference"] == "unpruned/ort-int8" or versus.get("same")
    if "speedup" in versus:
        lo, hi = versus["speedup_ci95"]
        assert lo <= versus["speedup"] <= hi
    markdown = (out / "report.md").read_text()
    assert "## Search" in markdown and f"**{search['winner']}**" in markdown and "skipped" in markdown
    assert ("Tie-break, interleaved in one run" in markdown) == bool(rounds)
    assert (out / "report_search.png").stat().st_size > 10_000
    # a re-run redoes nothing: every chain's steps and final stage are sealed
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("done.json")}
    again = edgepose.optimize(ckpt, str(recipe), coco, out, progress=False, log=messages.append)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert again["search"]["winner"] == search["winner"] and again["search"]["tiebreak"] == rounds


def test_search_recipe_that_fine_tunes_asks_for_training_data_first(tiny_zoo_net, coco: Path, tmp_path: Path) -> None:  # noqa: ANN001
    import edgepose
    from edgepose.checkpoint import save_checkpoint
    from edgepose.errors import UserError

    ckpt = save_checkpoint(tiny_zoo_net, tmp_path / "tiny.pt")
    with pytest.raises(UserError, match=r"search\.prune\.0 \(prune\) fine-tunes: give training data"):
        edgepose.optimize(ckpt, "cpu-auto", coco, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
