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
    args = parser.parse_args()
    dist.setup()
    torch.manual_seed(0)
    factory = f"{FACTORY}:{'build' if args.bn else 'build_plain'}"
    artifact = load_artifact(None, LoadOptions(model_factory=factory, input_size="64x48", schema="coco17"))
    teacher = load_artifact(None, LoadOptions(model_factory=factory, input_size="64x48", schema="coco17")).model
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch, lr=2e-3, warmup_steps=2, workers=0, seed=3,
                      distill_alpha=0.3, max_steps_per_epoch=args.steps, threads=1)  # fmt: skip
    out = Path(args.out)

    def on_epoch(record: dict) -> None:
        if args.stop_after is not None and record["epoch"] == args.stop_after:
            raise KeyboardInterrupt

    try:
        result = train(artifact, args.data, None, cfg, out_path=out / "model.pt", teacher=teacher, progress=False,
                       on_epoch=on_epoch)  # fmt: skip
    except KeyboardInterrupt:
        return 130
    torch.save({"state_dict": artifact.model.state_dict(), "log": result.log, "world_size": dist.world_size()},
               out / f"result-rank{dist.rank()}.pt")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
