"""BiLSTM clip models through export: ONNX Runtime and OpenVINO sessions against torch eager, with the
error bounded relative to the output's scale (1e-4), and evaluated on clip data through each runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgepose.artifact import Artifact
from edgepose.export.convert import export_model
from edgepose.models import MODELS, zoo_info
from edgepose.runtimes import open_session
from tests.unit.test_zoo import settle_batchnorm, small_case

CLIP_MODELS = [n for n in MODELS.names() if zoo_info(n).spec.clip_length]
FORMATS = {"onnx": ("onnxruntime", "m.onnx"), "openvino": ("openvino", "ir/m.xml")}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("name", CLIP_MODELS)
def test_clip_model_export_matches_torch_relative_to_output_scale(name: str, fmt: str, tmp_path: Path) -> None:
    runtime, filename = FORMATS[fmt]
    pytest.importorskip(runtime)
    model, spec = small_case(name)
    x = torch.rand(spec.input_shape(2), generator=torch.Generator().manual_seed(2))
    settle_batchnorm(model, x)
    with torch.no_grad():
        expected = model(x).numpy()
    artifact = Artifact(spec=spec, model=model, arch=name)
    path = export_model(artifact, fmt, tmp_path / filename).path
    session = open_session(path, threads=1)
    got = np.concatenate([session.run({"input": x[i : i + 1].numpy()})["keypoints"] for i in range(2)])
    assert got.shape == expected.shape == (2, spec.clip_length, 17, 2)
    scale = float(np.abs(expected).max())
    spread = float(np.abs(expected[0] - expected[1]).max())
    assert spread > 1e-3 * scale, "outputs do not vary with the input: the bound below would prove nothing"
    assert float(np.abs(got - expected).max()) <= 1e-4 * scale


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_clip_model_evaluates_alike_on_torch_and_runtime(runtime: str, tmp_path: Path) -> None:
    """The same clip data scored through torch and the runtime: same PCK, jitter within float noise."""
    pytest.importorskip(runtime)
    from edgepose.data.synth import SynthConfig, generate
    from edgepose.evaluate import evaluate

    generate(tmp_path / "clips", SynthConfig(persons=16, sequences=True, frames=8, seed=4))
    ann = tmp_path / "clips" / "annotations.json"
    name = "bipose-lite-bilstm"
    model, spec = small_case(name)
    settle_batchnorm(model, torch.rand(spec.input_shape(2)))
    artifact = Artifact(spec=spec, model=model, arch=name)
    fmt = "onnx" if runtime == "onnxruntime" else "openvino"
    path = export_model(artifact, fmt, tmp_path / FORMATS[fmt][1]).path
    ref = evaluate(open_session(artifact, runtime="torch"), spec, ann, progress=False)["metrics"]
    got = evaluate(open_session(path, threads=1), spec, ann, progress=False)["metrics"]
    assert got["pck@0.2"] == pytest.approx(ref["pck@0.2"], abs=1e-6)
    assert got["temporal"]["jitter"] == pytest.approx(ref["temporal"]["jitter"], rel=1e-3)
    assert got["temporal"]["n_accelerations"] == ref["temporal"]["n_accelerations"] > 0


def test_export_verifies_a_clip_model_on_real_clips(tmp_path: Path) -> None:
    """`export --verify-data` on clip data feeds (n, T, 3, H, W) clips and reports keypoint displacement."""
    pytest.importorskip("onnxruntime")
    from edgepose.bench.parity import dataset_images, verify_export
    from edgepose.data.synth import SynthConfig, generate

    generate(tmp_path / "clips", SynthConfig(persons=16, sequences=True, frames=8, seed=6))
    name = "bipose-lite-bilstm"
    model, spec = small_case(name)
    settle_batchnorm(model, torch.rand(spec.input_shape(2)))
    images = dataset_images(str(tmp_path / "clips" / "annotations.json"), spec, 3)
    assert images.shape == (3, *spec.input_shape(1)[1:])
    artifact = Artifact(spec=spec, model=model, arch=name)
    exported = export_model(artifact, "onnx", tmp_path / "m.onnx")
    report = verify_export(artifact, exported.path, images=images, n_random=2).to_dict()
    assert report["passed"] and report["n_images"] == 3
    assert report["mean_kpt_px"] is not None and report["mean_kpt_px"] < 1e-2
