"""Full-size clip models on this CPU (random weights: latency does not depend on them): a clip of T in one
batch and a streaming step with cached CNN features, interleaved in rounds (bench.latency.measure).

  PYTHONPATH=$PWD python benchmarks/temporal_fullsize_fps.py --threads 1 --rounds 3 --iters 3
"""

from __future__ import annotations

import argparse
import json

import torch

from edgepose.bench.latency import measure, stats_from_samples
from edgepose.models import build_model, zoo_info
from edgepose.models.temporal import ClipStreamer


class _Call:
    device = "cpu"

    def __init__(self, fn):  # noqa: ANN001
        self.fn = fn

    def run(self, feeds: dict) -> None:
        self.fn()

    def synchronize(self) -> None:
        pass


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["bipose-resnet50-bilstm", "darknet53-bilstm"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    runners = {}
    for name in args.models:
        spec = zoo_info(name).spec
        model = build_model(name).eval()
        h, w = spec.input_size
        t = spec.clip_length
        clip, frame = torch.randn(1, t, 3, h, w), torch.randn(1, 3, h, w)
        streamer = ClipStreamer(model)
        for _ in range(t):
            streamer.step(frame, [0])
        runners[f"{name} clip of {t}"] = (lambda m=model, c=clip: m(c), t)
        runners[f"{name} streaming, cached features"] = (lambda s=streamer, f=frame: s.step(f, [0]), 1)
    samples = {k: [] for k in runners}
    for _ in range(args.rounds):
        for k, (fn, _) in runners.items():
            samples[k] += measure(_Call(fn), {}, warmup=1, iters=args.iters).samples_ms
    out = {}
    for k, (_, frames) in runners.items():
        s = stats_from_samples(samples[k])
        out[k] = {"ms_per_frame_p50": round(s.p50 / frames, 1), "fps": round(1000 * frames / s.p50, 2), "n": s.n}
        print(f"{k:50s} {s.p50 / frames:9.1f} ms/frame {1000 * frames / s.p50:7.2f} FPS (n={s.n})", flush=True)
    print(json.dumps({"threads": args.threads, "results": out}))


if __name__ == "__main__":
    main()
