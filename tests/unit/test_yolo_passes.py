"""yolopose models are ready for the passes: torch-pruning traces and prunes them with the head's outputs
kept, the C2f split replays from a checkpoint, ONNX / OpenVINO run them, and every runtime is scored
by the one multi-person evaluation path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgepose.artifact import Artifact
from edgepose.models import build_model, default_spec
from tests.coco_files import write_coco

N_MODELS = ["yolopose-v8n", "yolopose-11n", "yolopose-ghost-n"]
SIZE = (64, 96)


def small(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return build_model(name, width=0.25).eval(), torch.rand(1, 3, *SIZE)


@pytest.mark.parametrize("name", N_MODELS)
def test_dependency_graph_traces_the_unmodified_model(name: str) -> None:
    tp = pytest.importorskip("torch_pruning")
    model, x = small(name)
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=x)
    first = model.get_submodule("model.0.conv")
    group = graph.get_pruning_group(first, tp.prune_conv_out_channels, idxs=[0, 1])
    assert len(group) > 1  # the BN, activation and next conv follow the first conv's channels


@pytest.mark.parametrize("name", N_MODELS)
def test_structured_prune_keeps_the_head_outputs(name: str) -> None:
    tp = pytest.importorskip("torch_pruning")
    model, x = small(name)
    with torch.no_grad():
        before = model(x)
    step = model.edgepose_prune_prepare()
    with torch.no_grad():
        assert torch.equal(model(x), before), "splitting C2f must not change the function"
    outputs = [model.get_submodule(n) for n in model.edgepose_output_layers]
    ignored = outputs + [model.get_submodule(n) for n in model.edgepose_prune_ignore]
    params = sum(p.numel() for p in model.parameters())
    pruner = tp.pruner.MagnitudePruner(model, x, importance=tp.importance.MagnitudeImportance(p=1),
                                       pruning_ratio=0.3, ignored_layers=ignored)  # fmt: skip
    pruner.step()
    with torch.no_grad():
        after = model(x)
    assert after.shape == before.shape and torch.isfinite(after).all()
    assert [c.out_channels for c in outputs] == [64] * 3 + [1] * 3 + [51] * 3
    assert sum(p.numel() for p in model.parameters()) < 0.65 * params
    assert step == {"step": "yolo-split-c2f"}


def test_the_split_replays_from_a_checkpoint(tmp_path: Path) -> None:
    from edgepose.checkpoint import save_checkpoint
    from edgepose.loading import load_artifact

    model, x = small("yolopose-v8n")
    step = model.edgepose_prune_prepare()
    artifact = Artifact(spec=default_spec("yolopose-v8n", input_size=SIZE), model=model, arch="yolopose-v8n",
                        arch_kwargs={"width": 0.25}, history=[step])  # fmt: skip
    save_checkpoint(artifact, tmp_path / "split.pt")
    again = load_artifact(tmp_path / "split.pt")
    with torch.no_grad():
        assert torch.equal(again.model(x), model(x))
    assert any(type(m).__name__ == "C2fSplit" for m in again.model.modules())


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_exported_model_runs_with_parity_and_scores_like_torch(runtime: str, tmp_path: Path) -> None:
    pytest.importorskip(runtime)
    from edgepose.evaluate import evaluate
    from edgepose.export.metadata import metadata_for_artifact
    from edgepose.export.onnx import export_onnx
    from edgepose.loading import load_artifact
    from edgepose.runtimes import open_session

    torch.manual_seed(0)
    model = build_model("yolopose-ghost-n", width=0.25).eval()
    spec = default_spec("yolopose-ghost-n", input_size=SIZE)
    artifact = Artifact(spec=spec, model=model, arch="yolopose-ghost-n", arch_kwargs={"width": 0.25})
    onnx_path = export_onnx(model, spec, tmp_path / "ghost.onnx", dynamic_batch=True,
                            metadata=metadata_for_artifact(artifact))  # fmt: skip
    exported = load_artifact(onnx_path)
    assert exported.spec.head == "yolo"
    session = open_session(exported, runtime=runtime)
    x = np.random.default_rng(0).random((2, 3, *SIZE), dtype=np.float32)
    got = session.run({"input": x})["raw"]
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert np.abs(got - expected).max() <= 1e-4 * max(1.0, float(np.abs(expected).max()))
    ann = write_coco(tmp_path / "data", n_images=3)
    ref = evaluate(open_session(artifact, runtime="torch"), spec, ann, progress=False)
    res = evaluate(session, exported.spec, ann, progress=False)
    assert res["detections"] == ref["detections"] and res["runtime"] == runtime
    for key in ("oks_ap", "pck@0.2", "mpjpe_px"):
        assert res["metrics"][key] == pytest.approx(ref["metrics"][key], abs=1e-6)
