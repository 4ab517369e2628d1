"""`predict` with a clip (CNN + BiLSTM) model: per-track sliding windows of crops (edgepose.deploy.clip_window),
checked against the windows built by hand and the model run on them."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgepose.deploy.clip_window import ClipWindows
from tests.videos import write_moving_block


def test_windows_slide_per_track_pad_at_the_start_and_reset() -> None:
    w = ClipWindows(3)
    crop = lambda v: np.full((1, 3, 2, 2), float(v), dtype=np.float32)  # noqa: E731
    first = w.windows(crop(1), ["a"])
    assert first.shape == (1, 3, 3, 2, 2) and (first == 1).all()  # padded with the first crop
    w.windows(crop(2), ["a"])
    third = w.windows(np.concatenate([crop(3), crop(9)]), ["a", None])
    assert [float(v) for v in third[0, :, 0, 0, 0]] == [1.0, 2.0, 3.0]
    assert (third[1] == 9).all()  # no track: the crop alone, repeated
    fourth = w.windows(crop(4), ["a"])
    assert [float(v) for v in fourth[0, :, 0, 0, 0]] == [2.0, 3.0, 4.0]  # the oldest frame left the window
    w.reset()
    assert (w.windows(crop(5), ["a"]) == 5).all()
    with pytest.raises(ValueError):
        ClipWindows(0)


def test_a_track_back_after_a_long_gap_starts_afresh() -> None:
    w = ClipWindows(2, forget_after_frames=2)
    w.windows(np.zeros((1, 3, 1, 1)), ["a"])
    for _ in range(3):
        w.windows(np.zeros((1, 3, 1, 1)), ["b"])
    assert (w.windows(np.ones((1, 3, 1, 1)), ["a"]) == 1).all()


class WindowMeanSession:
    """A stand-in clip model: output (B, T, K, 2), every position = the mean pixel of its window, so the
    newest frame's output tells which crops its window held."""

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = next(iter(feeds.values()))
        b, t = x.shape[:2]
        mean = x.reshape(b, -1).mean(axis=1)
        return {"keypoints": np.broadcast_to(mean[:, None, None, None], (b, t, 17, 2)).astype(np.float32).copy()}


def test_top_down_clip_feeds_each_track_its_own_window() -> None:
    from edgepose.artifact import ModelSpec
    from edgepose.deploy.config import ModelConfig
    from edgepose.deploy.decode import to_image_coords
    from edgepose.deploy.model import PoseModel

    spec = ModelSpec(input_size=(16, 16), schema="coco17", head="regression", clip_length=3, mean=(0, 0, 0),
                     std=(1, 1, 1))  # fmt: skip
    model = PoseModel(WindowMeanSession(), ModelConfig.from_spec(spec))
    windows = ClipWindows(3)
    boxes = np.array([[0, 0, 16, 16], [16, 0, 16, 16]], dtype=np.float64)
    crop_means = []
    for level in (10, 40, 70, 100):
        image = np.zeros((16, 32, 3), dtype=np.uint8)
        image[:, :16], image[:, 16:] = level, 255 - level
        crops, inverses = model.crop(image, boxes)
        crop_means.append(crops.reshape(2, -1).mean(axis=1))
        poses = model.top_down_clip(image, boxes, windows, ["a", "b"])
        got = np.array([p.keypoints[0, :2] for p in poses])
        window = np.array(([crop_means[0]] * 3 + crop_means)[-3:])  # padded with the track's first crop
        in_input = np.broadcast_to((window.mean(axis=0) * 16)[:, None, None], (2, 1, 3)).copy()  # (x, y) = mean * 16
        expected = to_image_coords(in_input, inverses)[:, 0, :2]
        np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_predict_runs_a_clip_model_on_a_video_with_a_window_per_track(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    import torch

    from edgepose.artifact import Artifact
    from edgepose.cli.app import main
    from edgepose.deploy.config import ModelConfig
    from edgepose.deploy.decode import decode_regression, to_image_coords
    from edgepose.deploy.model import PoseModel
    from edgepose.export.convert import export_model
    from tests.unit.test_zoo import settle_batchnorm, small_case

    model, spec = small_case("bipose-lite-bilstm")
    settle_batchnorm(model, torch.rand(spec.input_shape(2), generator=torch.Generator().manual_seed(1)))
    pytest.importorskip("onnxruntime")
    ckpt = export_model(Artifact(spec=spec, model=model, arch="bipose-lite-bilstm"), "onnx", tmp_path / "clip.onnx",
                        dynamic_batch=True).path  # fmt: skip
    video = write_moving_block(tmp_path / "clip.mp4")
    box = lambda i: [20 + 8 * i, 30, 40, 70]  # noqa: E731
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([{"image_id": i + 1, "bbox": box(i), "score": 0.9} for i in range(6)]))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as done:
        main(["predict", str(ckpt), str(video), "--boxes", str(boxes), "--out", str(out), "--smooth", "none", "--json"])
    assert done.value.code == 0, capsys.readouterr().err
    entries = json.loads((out / "predictions.json").read_text())
    tracks = [e["track_id"] for e in entries]
    assert len(entries) == 6 and len({t for t in tracks if t is not None}) == 1
    # by hand: each frame's crop, the window of its track's last T crops (padded with the first), the model
    reader, crops, got, expected = cv2.VideoCapture(str(video)), [], [], []
    pose_model = PoseModel(None, ModelConfig.from_spec(spec))  # crop only
    t_len = spec.clip_length
    for i, entry in enumerate(entries):
        ok, bgr = reader.read()
        assert ok
        crop, inverse = pose_model.crop(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.array([box(i)], dtype=np.float64))
        if tracks[i] is None:
            window = [crop[0]] * t_len
        else:
            crops.append(crop[0])
            window = ([crops[0]] * t_len + crops)[-t_len:]
        with torch.no_grad():
            coords = model(torch.from_numpy(np.stack(window)[None]))[0, -1:].numpy()
        expected.append(to_image_coords(decode_regression(coords, spec.input_size), inverse)[0, :, :2])
        got.append(np.asarray(entry["keypoints"], dtype=np.float64).reshape(-1, 3)[:, :2])
    expected_px, got_px = np.array(expected), np.array(got)
    assert np.abs(expected_px - expected_px[0]).max() > 1.0, "the poses do not vary: the check would prove nothing"
    np.testing.assert_allclose(got_px, expected_px, atol=1e-3 * float(np.abs(expected_px).max()))
