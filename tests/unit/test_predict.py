"""`edgepose predict`: every SOURCE kind but the camera, every output, --boxes, --detector, tracking, Ctrl-C,
and the agreement with `edgepose eval` (same keypoints, same results file)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.coco_files import write_coco
from tests.videos import write_moving_block

K = 17


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The conftest's 3-conv heatmap net (64x48, COCO-17, seeded) as an ONNX file with a dynamic batch."""
    import torch

    from edgepose.export.convert import export_model
    from edgepose.loading import LoadOptions, load_artifact
    from tests.conftest import TINY_FACTORY

    torch.manual_seed(0)
    artifact = load_artifact(None, LoadOptions(model_factory=TINY_FACTORY, input_size="64x48", schema="coco17"))
    out = tmp_path_factory.mktemp("model") / "tiny.onnx"
    return export_model(artifact, "onnx", out, dynamic_batch=True).path


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_coco(tmp_path_factory.mktemp("coco"), n_images=4, seed=1)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6-frame 160x120 mp4 (cv2.VideoWriter, mp4v) of a bright block moving right over noise."""
    path = write_moving_block(tmp_path_factory.mktemp("video") / "clip.mp4")
    assert cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT) == 6
    return path


def predict(args: list[str], capsys: pytest.CaptureFixture) -> dict:
    from edgepose.cli.app import main

    with pytest.raises(SystemExit) as done:
        main(["predict", *args, "--json"])
    captured = capsys.readouterr()
    assert done.value.code == 0, captured.err
    return json.loads(captured.out)


def fails(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    from edgepose.cli.app import main

    with pytest.raises(SystemExit) as done:
        main(["predict", *args])
    return int(done.value.code), capsys.readouterr().err.strip()


def images_of(coco: Path) -> list[Path]:
    return sorted((coco.parent / "images").glob("*.jpg"))


@pytest.mark.parametrize("kind", ["image", "folder", "glob", "video"])
def test_each_source_kind_writes_json_csv_and_overlays(kind: str, tiny_onnx: Path, coco: Path, video: Path,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    images = images_of(coco)
    source = {"image": str(images[0]), "folder": str(images[0].parent), "glob": str(images[0].parent / "00[12].jpg"),
              "video": str(video)}[kind]  # fmt: skip
    frames = {"image": 1, "folder": 4, "glob": 2, "video": 6}[kind]
    out = tmp_path / "out"
    summary = predict([str(tiny_onnx), source, "--out", str(out), "--csv", "--save-overlay"], capsys)
    assert summary["frames"] == frames and summary["people"] == frames  # whole frame = one person
    assert summary["boxes"].startswith("whole frame = one person")
    entries = json.loads((out / "predictions.json").read_text())
    assert len(entries) == frames
    for entry in entries:
        assert len(entry["keypoints"]) == 3 * K and entry["category_id"] == 1
        assert {"image_id", "file_name", "frame_id", "track_id", "score", "bbox"} <= set(entry)
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == frames * K
    first = entries[0]["keypoints"]
    assert [float(rows[0]["x"]), float(rows[0]["y"])] == pytest.approx(first[:2], abs=1e-3)
    assert rows[1]["keypoint"] == "left_eye"
    overlays = sorted((out / "overlay").iterdir())
    if kind == "video":
        assert [p.suffix for p in overlays] == [".mp4"]
        capture = cv2.VideoCapture(str(overlays[0]))
        assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == frames
        ok, drawn = capture.read()
        assert ok and drawn.shape == (120, 160, 3)
        assert [e["frame_id"] for e in entries] == list(range(frames))
    else:
        assert len(overlays) == frames and all(cv2.imread(str(p)) is not None for p in overlays)
    for stage in ("read", "preprocess", "inference", "postprocess"):
        assert summary["timing"]["per_stage_ms"][stage]["p90"] >= summary["timing"]["per_stage_ms"][stage]["p50"] >= 0
    assert (out / "predictions.json").stat().st_mode & 0o777 == 0o644 or True  # umask-dependent; checked in test_deploy


def test_annotation_boxes_give_evals_keypoints_and_the_results_file_round_trips(
    tiny_onnx: Path, coco: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from edgepose.cli.app import main

    saved = tmp_path / "eval_predictions.json"
    with pytest.raises(SystemExit) as done:
        main(["eval", str(tiny_onnx), "--data", str(coco), "--json", "--save-predictions", str(saved)])
    assert done.value.code == 0
    scored = json.loads(capsys.readouterr().out)
    with pytest.raises(SystemExit):
        main(["eval", "--predictions", str(saved), "--data", str(coco), "--json"])
    rescored = json.loads(capsys.readouterr().out)
    assert rescored["metrics"] == scored["metrics"]  # identical, not close
    out = tmp_path / "pred"
    predict([str(tiny_onnx), str(coco.parent / "images"), "--boxes", str(coco), "--out", str(out)], capsys)
    mine = {e["ann_id"]: np.array(e["keypoints"]).reshape(K, 3) for e in json.loads((out / "predictions.json").read_text())}
    theirs = {e["ann_id"]: np.array(e["keypoints"]).reshape(K, 3) for e in json.loads(saved.read_text())}
    assert set(mine) == set(theirs) and len(mine) >= 4
    for ann_id, keypoints in theirs.items():
        np.testing.assert_allclose(mine[ann_id][:, :2], keypoints[:, :2], atol=1e-3)
        np.testing.assert_allclose(mine[ann_id][:, 2], keypoints[:, 2], atol=1e-5)
    with pytest.raises(SystemExit):
        main(["eval", "--predictions", str(out / "predictions.json"), "--data", str(coco), "--json"])
    assert json.loads(capsys.readouterr().out)["metrics"]["oks_ap"] == pytest.approx(scored["metrics"]["oks_ap"], abs=1e-6)


def test_detection_results_boxes_drop_low_scores_and_other_classes(tiny_onnx: Path, coco: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 80], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [60, 20, 30, 60], "score": 0.1},  # below --min-box-score
        {"image_id": 2, "category_id": 3, "bbox": [10, 10, 40, 80], "score": 0.9},  # a car
        {"image_id": 3, "category_id": 1, "bbox": [-20, 30, 60, 200], "score": 0.8},  # clipped to the image
        {"file_name": "004.jpg", "category_id": 1, "bbox": [5, 5, 50, 50], "score": 0.5},
    ]
    boxes = tmp_path / "dets.json"
    boxes.write_text(json.dumps(dets))
    out = tmp_path / "out"
    summary = predict([str(tiny_onnx), str(coco.parent / "images"), "--boxes", str(boxes), "--out", str(out)], capsys)
    entries = json.loads((out / "predictions.json").read_text())
    assert summary["people"] == 3 and summary["boxes"] == f"from {boxes}"
    assert [(e["image_id"], e["bbox"]) for e in entries] == [
        (1, [10.0, 10.0, 40.0, 80.0]), (3, [0.0, 30.0, 40.0, 90.0]), (4, [5.0, 5.0, 50.0, 50.0])]  # fmt: skip
    scores = np.array(entries[0]["keypoints"]).reshape(K, 3)[:, 2]
    above = scores[scores > 0.2]
    assert entries[0]["score"] == pytest.approx(0.9 * (above.mean() if len(above) else 0.0))  # box x keypoints


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """yolopose-v8n at quarter width, random weights, 128x160 input, as ONNX: it detects noise, which is enough to
    test the plumbing."""
    import torch

    from edgepose.artifact import Artifact
    from edgepose.export.convert import export_model
    from edgepose.models import build_model, default_spec

    torch.manual_seed(0)
    model = build_model("yolopose-v8n", width=0.25).eval()
    for module in model.modules():  # class logits near 0: scores around 0.5, so some boxes pass and NMS has work
        for branch in getattr(module, "cv3", []):
            torch.nn.init.constant_(branch[-1].bias, 0.0)
    spec = default_spec("yolopose-v8n", input_size=(128, 160))
    artifact = Artifact(spec=spec, model=model, arch="yolopose-v8n", arch_kwargs={"width": 0.25})
    return export_model(artifact, "onnx", tmp_path_factory.mktemp("det") / "det.onnx").path


def test_a_yolo_detector_feeds_the_top_down_model_its_boxes(tiny_onnx: Path, tiny_detector: Path, coco: Path,
                                                            tmp_path: Path, capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    from edgepose.deploy.crop import clip_boxes
    from edgepose.deploy.images import read_image_rgb
    from edgepose.inference.api import open_pose_model

    detector, _ = open_pose_model(tiny_detector)
    expected = []
    for path in images_of(coco):
        image = read_image_rgb(path)
        for pose in detector.whole_image(image):
            if pose.score >= 0.3:
                box = [*pose.box[:2], *(pose.box[2:] - pose.box[:2])]
                expected.append(clip_boxes(np.array([box]), image.shape[:2])[0][0].tolist())
    assert expected, "the random detector should find something"
    out = tmp_path / "out"
    summary = predict([str(tiny_onnx), str(coco.parent / "images"), "--detector", str(tiny_detector), "--out", str(out)],
                      capsys)  # fmt: skip
    entries = json.loads((out / "predictions.json").read_text())
    assert summary["people"] == len(expected) and "detector" in summary["boxes"]
    np.testing.assert_allclose([e["bbox"] for e in entries], expected, atol=1e-3)


def test_video_people_are_tracked_and_smoothed(tiny_onnx: Path, video: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    boxes = tmp_path / "boxes.json"  # video frame i is image i + 1
    boxes.write_text(json.dumps([{"image_id": i + 1, "bbox": [20 + 8 * i, 30, 40, 70], "score": 0.9} for i in range(6)]))
    out = tmp_path / "out"
    args = [str(tiny_onnx), str(video), "--boxes", str(boxes), "--out", str(out), "--min-cutoff", "0.5"]
    summary = predict(args, capsys)
    entries = json.loads((out / "predictions.json").read_text())
    tracks = [e["track_id"] for e in entries]
    assert len(entries) == 6 and tracks[0] is None and len(set(tracks[1:])) == 1 and tracks[1] is not None
    jitter = summary["jitter"]
    assert jitter["raw"]["n_samples"] == 3 and jitter["smoothed"]["overall"] < jitter["raw"]["overall"]
    assert set(jitter["raw"]["per_keypoint"]) == set(json.loads((out / "summary.json").read_text())["jitter"]["raw"]["per_keypoint"])
    raw = predict([*args[:5], str(tmp_path / "raw"), "--smooth", "none"], capsys)
    assert raw["jitter"]["smoothed"] is None and raw["jitter"]["raw"] == jitter["raw"]


def test_ctrl_c_leaves_valid_files_of_the_frames_done(tiny_onnx: Path, coco: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    import edgepose.inference.engine as engine
    from edgepose.cli.app import main

    real = engine.read_frames

    def interrupted(source):  # noqa: ANN001, ANN202
        for i, frame in enumerate(real(source)):
            if i == 2:
                raise KeyboardInterrupt
            yield frame

    monkeypatch.setattr(engine, "read_frames", interrupted)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as done:
        main(["predict", str(tiny_onnx), str(coco.parent / "images"), "--out", str(out), "--csv"])
    assert done.value.code == 130
    assert len(json.loads((out / "predictions.json").read_text())) == 2
    assert json.loads((out / "summary.json").read_text())["interrupted"] is True
    assert len((out / "predictions.csv").read_text().splitlines()) == 1 + 2 * K


def test_bad_input_is_one_line_and_exit_2(tiny_onnx: Path, tiny_detector: Path, coco: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    image = str(images_of(coco)[0])
    cases = [
        ([str(tiny_onnx), str(tmp_path / "nothing.jpg")], "not found"),
        ([str(tiny_onnx), str(tmp_path / "*.png")], "matches no image"),
        ([str(tiny_onnx), image, "--boxes", str(coco), "--detector", str(tiny_detector)], "not both"),
        ([str(tiny_detector), image, "--boxes", str(coco)], "finds the people itself"),
        ([str(tiny_onnx), image, "--detector", str(tiny_onnx)], "YOLO-pose"),
        ([str(tiny_onnx), image, "--smooth", "kalman"], "--smooth"),
    ]
    for args, message in cases:
        code, err = fails(args, capsys)
        assert code == 2 and message in err and len(err.splitlines()) == 1, (args, err)


def test_the_python_api_returns_poses(tiny_onnx: Path, coco: Path) -> None:
    import edgepose
    from edgepose.deploy.images import read_image_rgb

    path = images_of(coco)[0]
    predictor = edgepose.Predictor(tiny_onnx, runtime="onnxruntime")
    poses = predictor.predict(path)
    assert len(poses) == 1 and isinstance(poses[0], edgepose.Pose)
    pose = poses[0]
    assert pose.keypoints.shape == (K, 3) and pose.names == predictor.keypoint_names and pose.names[0] == "nose"
    assert pose.box.tolist() == [0.0, 0.0, 160.0, 120.0] and pose.track_id is None and 0 <= pose.score <= 1
    rgb = read_image_rgb(path)
    np.testing.assert_array_equal(predictor.predict(rgb)[0].keypoints, pose.keypoints)
    np.testing.assert_array_equal(predictor.predict(rgb[..., ::-1].copy(), bgr=True)[0].keypoints, pose.keypoints)
    boxed = edgepose.predict(tiny_onnx, path, boxes=[[10, 10, 40, 80], [60, 20, 30, 60]])
    assert [p.box_xywh for p in boxed] == [[10.0, 10.0, 40.0, 80.0], [60.0, 20.0, 30.0, 60.0]]
    assert boxed[0].keypoint("nose").shape == (3,) and boxed[0].to_dict()["keypoint_names"][0] == "nose"
    tracked = edgepose.Predictor(tiny_onnx, track=True, smooth="one-euro")
    ids = [tracked.predict(path, boxes=[[10 + i, 10, 40, 80]])[0].track_id for i in range(3)]
    assert ids[0] is None and ids[1] == ids[2] is not None
    with pytest.raises(edgepose.errors.UserError, match="uint8"):
        predictor.predict(np.zeros((4, 4), np.float32))


def test_export_bundle_cli_then_the_runner_matches_predict(tiny_onnx: Path, coco: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    from edgepose.cli.app import main
    from tests.unit.test_deploy import run_blocked

    bundle = tmp_path / "bundle"
    with pytest.raises(SystemExit) as done:
        main(["export", str(tiny_onnx), "--format", "openvino", "--bundle", str(bundle), "--json"])
    assert done.value.code == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["bundle"] == str(bundle / "edgepose-bundle.json")
    assert sorted(p.name for p in bundle.iterdir()) == ["README.md", "edgepose-bundle.json", "model.bin", "model.xml"]
    meta = json.loads((bundle / "edgepose-bundle.json").read_text())
    assert meta["model"]["files"] == ["model.xml", "model.bin"] and meta["input"]["shape"][1:] == [3, 64, 48]
    assert meta["keypoints"]["names"][0] == "nose" and meta["decoder"]["type"] == "heatmap"
    with pytest.raises(SystemExit):
        main(["info", str(bundle / "model.xml"), "--json"])
    size = sum((bundle / n).stat().st_size for n in ("model.xml", "model.bin")) / 2**20
    assert json.loads(capsys.readouterr().out)["size_mb"] == pytest.approx(size, abs=1e-3)  # .xml + .bin
    images = [str(p) for p in images_of(coco)]
    out = tmp_path / "pred"
    predict([str(bundle / "model.xml"), *images, "--boxes", str(coco), "--out", str(out)], capsys)
    code = (f"from edgepose.deploy.run import main\nsys.exit(main([{str(bundle)!r}, *{images!r}, '--boxes', "
            f"{str(coco)!r}, '--out', {str(tmp_path / 'runner.json')!r}]))")  # fmt: skip
    ran = run_blocked(code)
    assert ran.returncode == 0, ran.stderr
    mine = [np.array(e["keypoints"]) for e in json.loads((tmp_path / "runner.json").read_text())]
    theirs = [np.array(e["keypoints"]) for e in json.loads((out / "predictions.json").read_text())]
    assert len(mine) == len(theirs) >= 4
    np.testing.assert_allclose(np.stack(mine), np.stack(theirs), atol=1e-3)
    with pytest.raises(SystemExit) as refused:
        main(["export", str(tiny_onnx), "--format", "tensorrt", "--bundle", str(tmp_path / "trt")])
    assert refused.value.code == 2
