"""edgepose.deploy: imports without torch, the shared preprocessing, One-Euro smoothing, jitter, file modes."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgepose.deploy
from edgepose.deploy.config import DecoderSettings, ModelConfig
from edgepose.deploy.crop import clip_boxes, crop_affine, crop_inverse, transform_points
from edgepose.deploy.normalize import TOP_DOWN_SCALING, YOLO_SCALING, scale_pixels, to_model_input
from edgepose.deploy.smoothing import OneEuroFilter, PoseSmoother
from edgepose.errors import UserError
from edgepose.inference.jitter import JitterMeter

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_MODULES = sorted(f"edgepose.deploy.{m.name}" for m in pkgutil.iter_modules(edgepose.deploy.__path__))
BLOCK_TORCH = "import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"


def run_blocked(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter where `import torch` fails (as on a device without it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)  # fmt: skip


def test_every_deploy_module_imports_with_torch_blocked() -> None:
    assert {"edgepose.deploy.runner", "edgepose.deploy.run", "edgepose.deploy.model"} <= set(DEPLOY_MODULES)
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in DEPLOY_MODULES)
    code += "heavy = [m for m in ('onnxruntime', 'openvino', 'rich', 'typer', 'pycocotools') if m in sys.modules]\n"
    code += "print('HEAVY', heavy)\n"
    done = run_blocked(code)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout  # runtimes load only when a runner opens one


def test_import_edgepose_stays_light_and_exports_the_api_lazily() -> None:
    done = run_blocked("import edgepose\nassert 'edgepose.inference' not in sys.modules\n"
                       "print(edgepose.Pose.__name__, callable(edgepose.predict), edgepose.Predictor.__name__)")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Pose", "True", "Predictor"]


def test_scalings_are_the_two_the_models_were_trained_with() -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    np.testing.assert_array_equal(scale_pixels(pixels, TOP_DOWN_SCALING), pixels.astype(np.float32) * np.float32(1 / 255))
    np.testing.assert_array_equal(scale_pixels(pixels, YOLO_SCALING), pixels.astype(np.float32) / np.float32(255))
    assert (scale_pixels(pixels, TOP_DOWN_SCALING) != scale_pixels(pixels, YOLO_SCALING)).any()  # why both are kept
    x = to_model_input(pixels, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert x.shape == (3, 16, 16) and x.flags.c_contiguous
    np.testing.assert_allclose(x[:, 15, 15], (1.0 - 0.5) / 0.25, rtol=1e-6)
    with pytest.raises(ValueError, match="scaling"):
        scale_pixels(pixels, "x/256")


def test_crop_affine_maps_the_box_centre_to_the_input_centre_and_back() -> None:
    box = (40.0, 30.0, 50.0, 120.0)
    affine = crop_affine(box, (128, 96))
    centre = transform_points(np.array([[65.0, 90.0]]), affine)
    np.testing.assert_allclose(centre, [[47.5, 63.5]], atol=1e-9)
    inverse = crop_inverse(affine)
    assert inverse.dtype == np.float32
    np.testing.assert_allclose(transform_points(centre, inverse), [[65.0, 90.0]], atol=1e-3)


def test_clip_boxes_keeps_the_inside_part_and_drops_empty_boxes() -> None:
    boxes = np.array([[-10.0, 5.0, 50.0, 200.0], [300.0, 10.0, 20.0, 20.0], [10.0, 10.0, 0.0, 5.0]])
    clipped, keep = clip_boxes(boxes, (100, 200))
    assert keep.tolist() == [True, False, False]
    np.testing.assert_allclose(clipped, [[0.0, 5.0, 40.0, 95.0]])
    assert clipped.dtype == np.float32  # as the dataset reader stores boxes, so eval and predict crop alike


def test_model_config_round_trips_through_a_dict_and_checks_its_values() -> None:
    from edgepose.artifact import ModelSpec

    spec = ModelSpec(input_size=(640, 640), schema="coco17", head="yolo", mean=(0.0,) * 3, std=(1.0,) * 3)
    cfg = ModelConfig.from_spec(spec, conf=0.4)
    assert cfg.scaling == YOLO_SCALING and cfg.resize == "letterbox" and cfg.decoder.conf == 0.4
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig.from_spec(ModelSpec(input_size=(128, 96))).scaling == TOP_DOWN_SCALING
    with pytest.raises(UserError, match="refinement"):
        DecoderSettings(refine="best")
    with pytest.raises(UserError, match="thresholds"):
        DecoderSettings(iou=1.5)


def test_one_euro_passes_a_constant_and_the_first_sample_and_follows_a_step() -> None:
    filt = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    assert filt(np.array([5.0]), 0.0)[0] == 5.0
    for i in range(1, 10):
        assert filt(np.array([5.0]), i / 30)[0] == pytest.approx(5.0)
    out = [filt(np.array([15.0]), (10 + i) / 30)[0] for i in range(300)]
    assert 5.0 < out[0] < 15.0 and all(b >= a for a, b in zip(out, out[1:], strict=False))  # monotone, no overshoot
    assert out[-1] == pytest.approx(15.0, abs=1e-3)
    # alpha = 1 / (1 + tau / dt): the first step of a 1 Hz filter at 30 fps moves 1 / (1 + 30 / 2pi) of the way
    alpha = 1.0 / (1.0 + (1.0 / (2 * np.pi)) / (1 / 30))
    assert out[0] == pytest.approx(5.0 + alpha * 10.0)
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0.0)


def test_one_euro_lowers_jitter_on_a_noisy_track_and_lags_less_with_beta() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(120) / 30
    truth = np.stack([100 + 40 * t, 50 + 10 * np.sin(2 * t)], axis=1)  # a person walking
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    names = ("a",)

    def smoothed(beta: float) -> np.ndarray:
        smoother = PoseSmoother(min_cutoff=1.0, beta=beta)
        return np.stack([smoother(np.array([[*p, 0.9]]), 1, ti)[0, :2] for p, ti in zip(noisy, t, strict=True)])

    def jitter(track: np.ndarray) -> float:
        meter = JitterMeter(names)
        for i, p in enumerate(track):
            meter.add(1, i, np.array([[*p, 1.0]]), 100.0)
        return meter.result()["overall"]

    slow, fast = smoothed(0.0), smoothed(0.5)
    assert jitter(slow) < 0.3 * jitter(noisy) and jitter(fast) < jitter(noisy)
    lag = lambda track: float(np.abs(track[60:] - truth[60:]).mean())  # noqa: E731
    assert lag(fast) < lag(slow)  # beta raises the cutoff while moving: less lag
    assert PoseSmoother()(np.ones((2, 3)), None, 0.0) is not None  # untracked poses pass through


def test_jitter_meter_is_zero_for_constant_speed_and_exact_for_a_zigzag() -> None:
    meter = JitterMeter(("a", "b"))
    for i in range(5):
        meter.add("walk", i, np.array([[10.0 * i, 0.0, 1.0], [0.0, 0.0, 1.0]]), 50.0)
    assert meter.result()["overall"] == pytest.approx(0.0)
    zig = JitterMeter(("a",))
    for i in range(4):
        zig.add(1, i, np.array([[2.0 * (i % 2), 0.0, 1.0]]), 4.0)  # 0, 2, 0, 2: |a| = 4 px / diag 4 = 1
    zig.add(1, 10, np.array([[100.0, 0.0, 1.0]]), 4.0)  # a gap restarts the window: no sample
    result = zig.result()
    assert result["overall"] == pytest.approx(1.0) and result["n_samples"] == 2
    assert JitterMeter(("a",)).result()["overall"] is None


def test_atomic_writes_get_normal_permissions(tmp_path: Path) -> None:
    from edgepose.fileio import write_json, write_text

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        write_text(tmp_path / "b.txt", "hi")
        os.umask(0o077)
        write_text(tmp_path / "private.txt", "hi")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600  # the umask decides, as for open()
    assert not list(tmp_path.glob(".*tmp"))
