"""Issue 18, in one run: is the BiLSTM worth its cost against the same CNN per frame + One-Euro smoothing?

1. One-Euro parameters are chosen on the VALIDATION clips for each per-frame twin (a grid of min_cutoff x beta;
   three picks: highest PCK@0.2, the lowest jitter within half a PCK point of no filter, the lowest
   acceleration error); the held-out TEST clips are then scored once per row:
   the BiLSTM model offline (non-overlapping windows of T, what `edgepose eval` does), the BiLSTM streaming
   (sliding window of T, the newest frame's output: causal, like the filter), the per-frame twin, the twin
   + One-Euro (the chosen parameters), and any extra clip model (--extra).
   Scoring is the one metric path (evaluate/topdown.py's smooth_tracks, metrics.scoring.score_predictions).
2. Latency (torch, batch 1, bench.latency.measure: the only timing code), every runner interleaved in
   rounds of short blocks so that load on a shared machine hits all of them alike: a clip of T frames, a
   streaming step with cached features (CNN on the new frame + BiLSTM over T), a naive streaming step (the
   whole window again = one clip), the per-frame twin, the twin + One-Euro. FPS = 1000 / p50 ms per frame.

  PYTHONPATH=$PWD OMP_WAIT_POLICY=PASSIVE nice -n 10 python benchmarks/temporal_compare.py \\
      --bilstm checkpoints/synth-clips-bipose-lite-bilstm-from-twin.pt --twin checkpoints/synth-clips-bipose-lite-nolstm.pt \\
      --extra checkpoints/synth-clips-darknet53-lite-bilstm.pt --extra-twin darknet53-lite-nolstm \\
      --val data/synth-clips/val/annotations.json --test data/synth-clips/test/annotations.json -o temporal_compare.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from edgepose.bench.latency import measure, stats_from_samples
from edgepose.data.coco import CocoPoseDataset
from edgepose.deploy.config import ModelConfig
from edgepose.deploy.decode import decode_regression, to_image_coords
from edgepose.deploy.model import PoseModel
from edgepose.deploy.smoothing import OneEuroParams, PoseSmoother
from edgepose.evaluate.topdown import _loader, smooth_tracks
from edgepose.loading import load_artifact
from edgepose.metrics.scoring import score_predictions
from edgepose.metrics.temporal import track_runs
from edgepose.models import build_model
from edgepose.models.stats import count_gflops
from edgepose.models.temporal import ClipStreamer
from edgepose.runtimes import open_session

GRID = list(itertools.product([0.5, 1.0, 2.0, 4.0, 8.0, 16.0], [0.0, 0.3, 1.0, 3.0]))
MAX_PCK_COST = 0.005  # the "balance" pick: the smoothest filter that costs at most half a PCK point on val
FPS = 30.0  # synth --sequences frame rate assumed by the filter (frames carry no timestamps)


def offline(art: Any, ann: str) -> tuple[np.ndarray, np.ndarray, Any]:
    """(N, K, 3) image-pixel keypoints, ann ids, dataset: the eval path (clips: non-overlapping windows)."""
    spec, clip = art.spec, art.spec.clip_length
    ds = CocoPoseDataset(ann, spec, train=False, clip_length=clip, clip_stride=clip or 1)
    model = PoseModel(open_session(art, runtime="torch"), ModelConfig.from_spec(spec))
    preds, affs, ids = [], [], []
    for b in _loader(ds, 32, 0, None):
        preds.append(model.keypoints_in_input(b["image"]))
        affs.append(b["inv_affine"].reshape(-1, 2, 3))
        ids.append(b["ann_id"].reshape(-1))
    kp, ids_all = to_image_coords(np.concatenate(preds), np.concatenate(affs)), np.concatenate(ids)
    _, first = np.unique(ids_all, return_index=True)
    first = np.sort(first)
    return kp[first], ids_all[first], ds


@torch.no_grad()
def streaming(art: Any, ann: str) -> tuple[np.ndarray, np.ndarray, Any]:
    """Every frame's keypoints from a sliding window of the track's last T frames (the newest output).

    The CNN features are computed once per frame and reused by every window that holds the frame, which
    is what ClipStreamer does online (tests/unit/test_temporal_stream.py: equal to a full-window forward).
    """
    spec, model = art.spec, art.model.eval()
    t_len = spec.clip_length
    ds = CocoPoseDataset(ann, spec, train=False)  # one crop per frame, the crop the clip reader cuts
    feats, affs, ids = [], [], []
    for b in _loader(ds, 64, 0, None):
        feats.append(model.frame_features(torch.from_numpy(b["image"])))
        affs.append(b["inv_affine"])
        ids.append(b["ann_id"].reshape(-1))
    feat, aff, ids_all = torch.cat(feats), np.concatenate(affs), np.concatenate(ids)
    anns = [ds.coco.anns[int(a)] for a in ids_all]
    out = torch.zeros(len(ids_all), model.num_keypoints, 2)
    for rows in track_runs(anns, ds.coco.imgs):
        r = torch.as_tensor(rows)
        for t in range(min(t_len - 1, len(r))):  # the track's first frames: shorter windows
            out[r[t]] = model.from_features(feat[r[: t + 1]][None])[0, -1]
        if len(r) >= t_len:
            windows = feat[r].unfold(0, t_len, 1).permute(0, 2, 1)  # (n - T + 1, T, F)
            out[r[t_len - 1:]] = model.from_features(windows)[:, -1]
    kp = to_image_coords(decode_regression(out.numpy(), spec.input_size), aff)
    return kp, ids_all, ds


def score(kp: np.ndarray, ids: np.ndarray, ds: Any) -> dict[str, Any]:
    m = score_predictions(kp, ds, ids, ds.schema)["metrics"]
    t = m["temporal"]
    return {"pck@0.2": m["pck@0.2"], "pck@0.1": m["pck@0.1"], "mpjpe_px": m["mpjpe_px"], "oks_ap": m["oks_ap"],
            "jitter": t["jitter"], "accel_error": t["accel_error"], "gt_jitter": t["gt_jitter"],
            "n_frames": int(len(ids)), "n_accelerations": t["n_accelerations"]}  # fmt: skip


def tune(twin: Any, val: str) -> tuple[dict[str, OneEuroParams], list[dict[str, Any]]]:
    """On the val clips: {"accuracy": highest PCK@0.2, "balance": lowest jitter costing at most MAX_PCK_COST of
    PCK@0.2 against no filter, "smoothness": lowest acceleration error} and the whole grid."""
    kp, ids, ds = offline(twin, val)
    rows = [{"min_cutoff": None, "beta": None, **score(kp, ids, ds)}]
    for mc, beta in GRID:
        p = OneEuroParams(min_cutoff=mc, beta=beta, fps=FPS)
        rows.append({"min_cutoff": mc, "beta": beta, **score(smooth_tracks(kp, ids, ds.coco, p), ids, ds)})
    within = [r for r in rows[1:] if r["pck@0.2"] >= rows[0]["pck@0.2"] - MAX_PCK_COST]
    picks = {"accuracy": max(rows[1:], key=lambda r: r["pck@0.2"]),
             "balance": min(within or rows[1:], key=lambda r: r["jitter"]),
             "smoothness": min(rows[1:], key=lambda r: r["accel_error"])}  # fmt: skip
    return {k: OneEuroParams(min_cutoff=r["min_cutoff"], beta=r["beta"], fps=FPS) for k, r in picks.items()}, rows


class _Call:
    """A Session-shaped wrapper so bench.latency.measure times any callable (CPU, synchronous)."""

    device = "cpu"

    def __init__(self, fn: Any):
        self.fn = fn

    def run(self, feeds: dict[str, np.ndarray]) -> None:
        self.fn()

    def synchronize(self) -> None:
        pass


@torch.no_grad()
def runners(clip_model: Any, twin_model: Any, spec: Any, params: OneEuroParams, tag: str) -> dict[str, tuple[Any, int]]:
    """name -> (callable, frames it produces): the clip, streaming steps, the twin, the twin + One-Euro."""
    h, w = spec.input_size
    t_len = spec.clip_length
    clip = torch.randn(1, t_len, 3, h, w)
    frame = torch.randn(1, 3, h, w)
    streamer = ClipStreamer(clip_model)
    for _ in range(t_len):
        streamer.step(frame, [0])  # a full window of cached features
    smoother = PoseSmoother(params.min_cutoff, params.beta, params.d_cutoff, forget_after_s=1e9)
    clock = itertools.count()

    def twin_smoothed() -> None:
        coords = twin_model(frame).numpy()
        kp = decode_regression(coords, spec.input_size)[0]
        smoother(kp, 0, next(clock) / FPS, scale=float(np.hypot(h, w)))

    return {
        f"{tag} clip of {t_len} (offline)": (lambda: clip_model(clip), t_len),
        f"{tag} streaming, cached features": (lambda: streamer.step(frame, [0]), 1),
        f"{tag} streaming, window recomputed": (lambda: clip_model(clip), 1),
        f"{tag} twin per frame": (lambda: twin_model(frame), 1),
        f"{tag} twin + One-Euro": (twin_smoothed, 1),
    }


def timing(all_runners: dict[str, tuple[Any, int]], rounds: int, iters: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {name: [] for name in all_runners}
    with torch.no_grad():
        for _ in range(rounds):
            for name, (fn, _) in all_runners.items():
                samples[name] += measure(_Call(fn), {}, warmup=2, iters=iters).samples_ms
    out = {}
    for name, (_, frames) in all_runners.items():
        s = stats_from_samples(samples[name])
        out[name] = {"ms_per_call_p50": round(s.p50, 3), "ms_per_call_mean": round(s.mean, 3),
                     "ms_per_frame_p50": round(s.p50 / frames, 3), "fps": round(1000.0 * frames / s.p50, 1), "n": s.n}
    return out


def gflops_per_frame(model: Any, spec: Any) -> float:
    return round(count_gflops(model, spec) / (spec.clip_length or 1), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bilstm", required=True)
    ap.add_argument("--twin", action="append", required=True, help="per-frame twin checkpoint(s); the first is timed")
    ap.add_argument("--extra", action="append", default=[], help="more clip-model checkpoints (scored + timed)")
    ap.add_argument("--extra-twin", action="append", default=[], help="zoo name of each extra model's twin (timing)")
    ap.add_argument("--val", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--iters", type=int, default=15)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    bilstm = load_artifact(args.bilstm)
    rows: dict[str, Any] = {}
    kp, ids, ds = offline(bilstm, args.test)
    rows["BiLSTM, offline windows of T"] = score(kp, ids, ds)
    rows["BiLSTM, streaming sliding window"] = score(*streaming(bilstm, args.test))
    chosen, grids = {}, {}
    for path in args.twin:
        twin = load_artifact(path)
        name = path.rsplit("/", 1)[-1].removesuffix(".pt")
        picks, grids[name] = tune(twin, args.val)
        chosen[name] = {k: asdict(p) for k, p in picks.items()}
        for k, p in picks.items():
            print(f"{name}: One-Euro for {k} chosen on val: min_cutoff {p.min_cutoff} Hz, beta {p.beta}", flush=True)
        kp, ids, ds = offline(twin, args.test)
        rows[f"{name} per frame"] = score(kp, ids, ds)
        for k, p in picks.items():
            rows[f"{name} + One-Euro ({k}-tuned mc={p.min_cutoff} b={p.beta})"] = score(smooth_tracks(kp, ids, ds.coco, p), ids, ds)
        if path == args.twin[0]:
            first_twin, params = twin, picks["accuracy"]
    extras = [load_artifact(p) for p in args.extra]
    for art in extras:
        kp, ids, ds = offline(art, args.test)
        rows[f"{art.arch}, offline windows of T"] = score(kp, ids, ds)
        rows[f"{art.arch}, streaming sliding window"] = score(*streaming(art, args.test))
    for name, r in rows.items():
        print(f"{name:62s} PCK@0.2 {r['pck@0.2']:.4f}  MPJPE {r['mpjpe_px']:.2f} px  jitter {r['jitter']:.5f}  "
              f"accel err {r['accel_error']:.5f}  (GT jitter {r['gt_jitter']:.5f}, {r['n_frames']} frames)", flush=True)
    compute = {bilstm.arch: gflops_per_frame(bilstm.model, bilstm.spec),
               first_twin.arch: gflops_per_frame(first_twin.model, first_twin.spec)}  # fmt: skip
    all_runners = runners(bilstm.model.eval(), first_twin.model.eval(), bilstm.spec, params, bilstm.arch)
    for art, twin_name in zip(extras, args.extra_twin, strict=False):
        extra_twin = build_model(twin_name).eval()
        compute[art.arch] = gflops_per_frame(art.model, art.spec)
        compute[twin_name] = gflops_per_frame(extra_twin, art.spec.with_changes(clip_length=None))
        all_runners.update(runners(art.model.eval(), extra_twin, art.spec, params, art.arch))
    lat = timing(all_runners, args.rounds, args.iters)
    for name, r in lat.items():
        print(f"{name:50s} {r['ms_per_frame_p50']:8.2f} ms/frame  {r['fps']:7.1f} FPS  ({r['ms_per_call_p50']:.2f} ms/call, n={r['n']})")
    result = {"one_euro": {"chosen_on": args.val, "picks": chosen, "timed_with": "the first twin's accuracy pick"},
              "val_grid": grids, "test": rows, "test_data": args.test, "gflops_per_frame": compute,
              "latency": lat, "threads": args.threads, "checkpoints": {"bilstm": args.bilstm, "twin": args.twin,
              "extra": args.extra}, "seconds": round(time.time() - started, 1)}  # fmt: skip
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
