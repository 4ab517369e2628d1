"""One training run of edgepose's loop for tests/unit/test_distributed.py, alone or under torchrun.

    python tests/distributed_worker.py --data ANN --out DIR [--epochs E] [--stop-after K] [--bn]
    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/distributed_worker.py --data ANN --out DIR

Every rank writes DIR/result-rank{R}.pt: the trained weights and the epoch log. `--stop-after K` interrupts the
run after epoch K (its resume state is on disk by then), as Ctrl-C would; re-running without it resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgepose import distributed as dist  # noqa: E402
from edgepose.loading import LoadOptions, load_artifact  # noqa: E402
from edgepose.train import TrainConfig, train  # noqa: E402

FACTORY = ROOT / "tests" / "fixtures" / "user_model.py"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--stop-after", type=int, default=None)
    parser.add_argument("--bn", action="store_true", help="the BatchNorm net (per-process batch statistics)")
    parser.add_argument("--qat", action="store_true", help="fake-quantize it with NNCF first (QAT)")
    args = parser.parse_args()
    dist.setup()
    torch.manual_seed(0)
    factory = f"{FACTORY}:{'build' if args.bn else 'build_plain'}"
    artifact = load_artifact(None, LoadOptions(model_factory=factory, input_size="64x48", schema="coco17"))
    teacher = load_artifact(None, LoadOptions(model_factory=factory, input_size="64x48", schema="coco17")).model
    if args.qat:
        artifact.model = fake_quantized(artifact.model)
    init = {k: v.detach().clone() for k, v in artifact.model.state_dict().items()}
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch, lr=2e-3, warmup_steps=2, workers=0, seed=3,
                      distill_alpha=0.3, max_steps_per_epoch=args.steps, threads=1)  # fmt: skip
    out = Path(args.out)

    def on_epoch(record: dict) -> None:
        if args.stop_after is not None and record["epoch"] == args.stop_after:
            raise KeyboardInterrupt

    try:
        with kernels(args.qat):
                result = train(artifact, args.data, None, cfg, out_path=out / "model.pt", teacher=teacher,
                           progress=False, on_epoch=on_epoch)  # fmt: skip
    except KeyboardInterrupt:
        return 130
    torch.save({"state_dict": artifact.model.state_dict(), "init": init, "log": result.log,
                "world_size": dist.world_size()}, out / f"result-rank{dist.rank()}.pt")  # fmt: skip
    return 0


def kernels(qat: bool):  # noqa: ANN201
    """NNCF's pure-PyTorch kernels while a fake-quantized model trains (edgepose.passes.quantize_qat)."""
    import contextlib

    from edgepose.passes.quantize_qat import nncf_torch_kernels

    return nncf_torch_kernels() if qat else contextlib.nullcontext()


def fake_quantized(model: torch.nn.Module) -> torch.nn.Module:
    """The model with NNCF fake-quantizers whose ranges are calibrated on 8 fixed random images (as QAT does)."""
    with kernels(True) as nncf:
        generator = torch.Generator().manual_seed(1)
        images = [torch.randn(1, 3, 64, 48, generator=generator) for _ in range(8)]
        return nncf.quantize(model.eval(), nncf.Dataset(images), subset_size=len(images))


if __name__ == "__main__":
    sys.exit(main())
