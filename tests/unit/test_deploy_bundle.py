"""Device bundles on real photos: the runner, in a process where torch cannot be imported, reproduces
`edgepose predict`'s keypoints to 1e-3 px on 20 LSP-Extended photos, for an ONNX and an OpenVINO bundle; and
`predict` with the annotations' boxes gives `eval`'s keypoints on the same photos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "lspet"
CHECKPOINT = ROOT / "checkpoints" / "lsp-simplebaseline-lite.pt"
N_PHOTOS = 20

pytestmark = pytest.mark.skipif(not (DATA / "lspet_val.json").exists() or not CHECKPOINT.exists(),
                                reason="needs ../shared/data/lspet and checkpoints/lsp-simplebaseline-lite.pt")  # fmt: skip


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 20 photos of lspet_val.json as their own annotations file (absolute image paths)."""
    data = json.loads((DATA / "lspet_val.json").read_text())
    images = sorted(data["images"], key=lambda im: im["id"])[:N_PHOTOS]
    ids = {im["id"] for im in images}
    subset = {**data, "images": [{**im, "file_name": str(DATA / im["file_name"])} for im in images],
              "annotations": [a for a in data["annotations"] if a["image_id"] in ids]}  # fmt: skip
    path = tmp_path_factory.mktemp("lsp") / "lsp20.json"
    path.write_text(json.dumps(subset))
    return path


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The LSP checkpoint exported as an ONNX bundle and an OpenVINO bundle (the library calls `export --bundle` makes)."""
    from edgepose.export.bundle import write_model_bundle
    from edgepose.export.convert import export_model
    from edgepose.loading import load_artifact

    artifact = load_artifact(CHECKPOINT)
    root = tmp_path_factory.mktemp("bundles")
    made = {}
    for fmt, name in (("onnx", "model.onnx"), ("openvino", "model.xml")):
        out = export_model(artifact, fmt, root / fmt / name).path
        write_model_bundle(out, source=CHECKPOINT)
        made[fmt] = root / fmt
    return made


def image_paths(photos: Path) -> list[str]:
    return [im["file_name"] for im in sorted(json.loads(photos.read_text())["images"], key=lambda im: im["id"])]


def predict_cli(model: Path, photos: Path, out: Path, runtime: str, capsys: pytest.CaptureFixture) -> list[dict]:
    from edgepose.cli.app import main

    with pytest.raises(SystemExit) as done:
        main(["predict", str(model), *image_paths(photos), "--boxes", str(photos), "--runtime", runtime,
              "--out", str(out), "--json"])  # fmt: skip
    assert done.value.code == 0, capsys.readouterr().err
    capsys.readouterr()
    return json.loads((out / "predictions.json").read_text())


def runner_without_torch(bundle: Path, photos: Path, out: Path) -> tuple[list[dict], str]:
    """`python -m edgepose.deploy.run` in a fresh interpreter whose `import torch` fails."""
    code = ("import sys, runpy; sys.modules['torch'] = None\n"
            f"sys.argv = ['run', {str(bundle)!r}, *{image_paths(photos)!r}, '--boxes', {str(photos)!r}, "
            f"'--out', {str(out)!r}]\n"
            "try:\n    runpy.run_module('edgepose.deploy.run', run_name='__main__')\n"
            "finally:\n    print('TORCH', sys.modules.get('torch'))\n")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stdout


def keyed(entries: list[dict]) -> dict[tuple, np.ndarray]:
    """Keypoints (K, 3) by (file name, box), the one thing both writers share for a person."""
    return {(Path(e["file_name"]).name, tuple(round(v, 2) for v in e["bbox"])): np.array(e["keypoints"]).reshape(-1, 3)
            for e in entries}  # fmt: skip


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_bundle_runner_without_torch_reproduces_predict(fmt: str, bundles: dict[str, Path], photos: Path,
                                                        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    bundle = bundles[fmt]
    meta = json.loads((bundle / "edgepose-bundle.json").read_text())
    assert meta["input"]["resize"] == "crop" and meta["keypoints"]["schema"] == "lsp14"
    assert meta["provenance"]["source_sha256"] and (bundle / "README.md").exists()
    runtime = "openvino" if fmt == "openvino" else "onnxruntime"
    model = bundle / meta["model"]["file"]
    expected = keyed(predict_cli(model, photos, tmp_path / "predict", runtime, capsys))
    got_entries, stdout = runner_without_torch(bundle, photos, tmp_path / "runner.json")
    assert "TORCH None" in stdout  # torch was blocked, and nothing managed to import it
    got = keyed(got_entries)
    assert set(got) == set(expected) and len(got) >= N_PHOTOS
    worst = max(float(np.abs(got[k][:, :2] - expected[k][:, :2]).max()) for k in expected)
    assert worst <= 1e-3, f"runner and predict differ by {worst} px"
    for key in expected:
        np.testing.assert_allclose(got[key][:, 2], expected[key][:, 2], atol=1e-5)


def test_predict_with_annotation_boxes_gives_eval_keypoints_on_photos(bundles: dict[str, Path], photos: Path,
                                                                      tmp_path: Path, capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    from edgepose.cli.app import main

    model = bundles["onnx"] / "model.onnx"
    saved = tmp_path / "eval.json"
    with pytest.raises(SystemExit):
        main(["eval", str(model), "--data", str(photos), "--save-predictions", str(saved), "--allow-outside-images",
              "--json"])  # the photos' paths are absolute on purpose
    scored = json.loads(capsys.readouterr().out)
    evaluated = {e["ann_id"]: np.array(e["keypoints"]).reshape(-1, 3) for e in json.loads(saved.read_text())}
    predicted = {e["ann_id"]: np.array(e["keypoints"]).reshape(-1, 3)
                 for e in predict_cli(model, photos, tmp_path / "predict", "onnxruntime", capsys)}  # fmt: skip
    assert set(predicted) == set(evaluated) and len(evaluated) == scored["n_instances"]
    worst = max(float(np.abs(predicted[a][:, :2] - evaluated[a][:, :2]).max()) for a in evaluated)
    assert worst <= 1e-3, f"predict and eval differ by {worst} px"
    with pytest.raises(SystemExit):
        main(["eval", "--predictions", str(tmp_path / "predict" / "predictions.json"), "--data", str(photos), "--json"])
    assert json.loads(capsys.readouterr().out)["metrics"]["pck@0.2"] == pytest.approx(scored["metrics"]["pck@0.2"])
