"""The r50 CPU ladder (issue 19), with edgepose's own commands, in one run on the CPU it runs on.

simplebaseline-resnet50 at 256x192, batch 1, 2 threads, seeded weights (speed does not depend on them).
Every row is one `edgepose bench compare` of torch eager FP32 (A) against the path (B), interleaved in ABBA
blocks, so each figure is a ratio measured side by side; then pruned r50 (50% GFLOPs, round_to 8/16/32/64)
+ OpenVINO INT8 against OpenVINO INT8 of the unpruned r50, on this CPU's kernels and, with
ONEDNN_MAX_CPU_ISA=AVX2, on AVX2 INT8 kernels. Prints a markdown table and writes OUT/ladder.json.

    .venv/bin/python benchmarks/r50_ladder.py --out runs/r50-ladder      (about 25 min on an idle 2-core VM)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EP = [sys.executable, "-m", "edgepose"]


def run(*args: str, env: dict[str, str] | None = None, ok_codes: tuple[int, ...] = (0,)) -> dict:
    """One edgepose command with --json; its JSON document."""
    done = subprocess.run([*EP, *args, "--json"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, check=False)  # fmt: skip
    if done.returncode not in ok_codes:
        raise SystemExit(f"edgepose {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    return json.loads(done.stdout) if done.stdout.strip() else {}


def make_models(out: Path, calib: Path) -> dict[str, Path]:
    """The seeded r50 checkpoint and every artifact of the ladder (skipping what exists)."""
    ckpt = out / "r50.pt"
    if not ckpt.exists():
        code = ("import sys, torch\nfrom edgepose.artifact import Artifact\nfrom edgepose.checkpoint import save_checkpoint\n"
                "from edgepose.models import build_model, default_spec\ntorch.manual_seed(0)\n"
                "art = Artifact(spec=default_spec('simplebaseline-resnet50'), model=build_model('simplebaseline-resnet50'),"
                " arch='simplebaseline-resnet50')\nsave_checkpoint(art, sys.argv[1], dataset='none (seeded, for timing)')\n")
        subprocess.run([sys.executable, "-c", code, str(ckpt)], check=True, cwd=ROOT)
    paths = {"torch": ckpt, "onnx": out / "r50.onnx", "ov_fp32": out / "r50.xml", "ov_bf16": out / "r50_bf16.xml",
             "ov_int8": out / "r50_int8.xml", "ov_int8_subpixel": out / "r50_int8_sp.xml", "ort_int8": out / "r50_int8.onnx"}
    steps = [
        ("onnx", ["export", str(ckpt), "--format", "onnx", "-o", str(paths["onnx"])]),
        ("ov_fp32", ["export", str(ckpt), "--format", "openvino", "-o", str(paths["ov_fp32"])]),
        ("ov_bf16", ["export", str(ckpt), "--format", "openvino", "--precision", "bf16", "-o", str(paths["ov_bf16"])]),
        ("ov_int8", ["quantize", str(ckpt), "--calib", str(calib), "--backend", "openvino", "--no-subpixel",
                     "-o", str(paths["ov_int8"]), "--calib-images", "64", "--threads", "2", "--iters", "2"]),
        ("ov_int8_subpixel", ["quantize", str(ckpt), "--calib", str(calib), "--backend", "openvino", "--subpixel",
                              "-o", str(paths["ov_int8_subpixel"]), "--calib-images", "64", "--threads", "2", "--iters", "2"]),
        ("ort_int8", ["quantize", str(ckpt), "--calib", str(calib), "--backend", "onnxruntime",
                      "-o", str(paths["ort_int8"]), "--calib-images", "64", "--threads", "2", "--iters", "2"]),
    ]  # fmt: skip
    for key, args in steps:
        if not paths[key].exists():
            print(f"making {paths[key].name} ...", file=sys.stderr)
            run(*args, ok_codes=(0, 1))
    for round_to in (8, 16, 32, 64):
        pruned, int8 = out / f"r50_p50_rt{round_to}.pt", out / f"r50_p50_rt{round_to}_int8.xml"
        if not pruned.exists():
            print(f"pruning to 50% GFLOPs, round_to {round_to} ...", file=sys.stderr)
            run("prune", str(ckpt), "-o", str(pruned), "--target-gflops", "0.5", "--round-to", str(round_to),
                "--runtime", "none")  # fmt: skip
        if not int8.exists():
            run("quantize", str(pruned), "--calib", str(calib), "--backend", "openvino", "--no-subpixel", "-o", str(int8),
                "--calib-images", "64", "--threads", "2", "--iters", "2", ok_codes=(0, 1))  # fmt: skip
        paths[f"pruned_rt{round_to}_int8"] = int8
    return paths


TIMING = {"iters": "200", "max_seconds": "60"}  # bench compare's --iters / --max-seconds (main() may lower them)


def compare(a: Path, b: Path, runtime_a: str, runtime_b: str, threads: int, env: dict[str, str] | None = None) -> dict:
    data = run("bench", "compare", str(a), str(b), "--runtime", runtime_a, "--runtime-b", runtime_b, "--threads",
               str(threads), "--fail-if-slower", "0%", "--iters", TIMING["iters"], "--max-seconds", TIMING["max_seconds"],
               "--inconclusive-ok", "--no-progress", env=env, ok_codes=(0, 1))  # fmt: skip
    lo, hi = data["ci95"]
    return {"a_p50_ms": data["a"]["latency_ms"]["p50"], "b_p50_ms": data["b"]["latency_ms"]["p50"],
            "speedup": round(1 / data["ratio_p50"], 3), "speedup_ci95": [round(1 / hi, 3), round(1 / lo, 3)],
            "blocks": data["blocks"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "r50-ladder")
    parser.add_argument("--calib", type=Path, default=None, help="COCO-17 annotations for calibration (default: synthetic)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--make-only", action="store_true", help="make the artifacts (no timing; safe under load), then stop")
    parser.add_argument("--iters", default="200", help="bench compare --iters for each row")
    parser.add_argument("--max-seconds", default="60", help="bench compare --max-seconds for each row")
    parser.add_argument("--round-to", default="8,16,32,64", help="round_to values of the pruned rows")
    parser.add_argument("--isas", default="native,AVX2", help="native and/or AVX2 (ONEDNN_MAX_CPU_ISA) for the pruned rows")
    args = parser.parse_args()
    TIMING.update(iters=str(args.iters), max_seconds=str(args.max_seconds))
    args.out.mkdir(parents=True, exist_ok=True)
    calib = args.calib or args.out / "calib" / "annotations.json"
    if not calib.exists():
        run("synth", str(calib.parent), "--persons", "128", "--seed", "5", ok_codes=(0,))
    paths = make_models(args.out, calib)
    if args.make_only:
        print(f"made {len(paths)} artifacts in {args.out}; time them on a quiet machine without --make-only", file=sys.stderr)
        return
    from edgepose.hardware import cpu_caps

    result: dict = {"cpu": cpu_caps().to_dict(), "threads": args.threads, "ladder": {}, "pruned": {}}
    ladder = [("ONNX Runtime FP32", "onnx", "onnxruntime"), ("OpenVINO FP32", "ov_fp32", "openvino"),
              ("OpenVINO bf16", "ov_bf16", "openvino"), ("OpenVINO INT8 PTQ, no subpixel", "ov_int8", "openvino"),
              ("OpenVINO INT8 PTQ, with subpixel", "ov_int8_subpixel", "openvino"),
              ("ONNX Runtime INT8 (subpixel + QDQ)", "ort_int8", "onnxruntime")]  # fmt: skip
    for label, key, runtime in ladder:
        print(f"timing {label} against torch eager ...", file=sys.stderr)
        result["ladder"][label] = compare(paths["torch"], paths[key], "torch", runtime, args.threads)
    for isa in args.isas.split(","):
        env = None if isa == "native" else {"ONEDNN_MAX_CPU_ISA": isa}
        for round_to in (int(r) for r in args.round_to.split(",")):
            print(f"timing pruned (round_to {round_to}) INT8 against unpruned INT8 ({isa}) ...", file=sys.stderr)
            result["pruned"][f"{isa}/round_to {round_to}"] = compare(
                paths["ov_int8"], paths[f"pruned_rt{round_to}_int8"], "openvino", "openvino", args.threads, env)
    (args.out / "ladder.json").write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))


def markdown(result: dict) -> str:
    cpu = result["cpu"]
    lines = [f"CPU: {cpu['model']} ({', '.join(cpu['flags'])}); {result['threads']} threads, batch 1, 256x192.", "",
             "| path | p50 ms (B) | vs torch eager (95% CI) |", "|---|---:|---:|"]  # fmt: skip
    first = next(iter(result["ladder"].values()))
    lines.append(f"| torch eager FP32 | {first['a_p50_ms']:.1f} | 1x |")
    for label, row in result["ladder"].items():
        lo, hi = row["speedup_ci95"]
        lines.append(f"| {label} | {row['b_p50_ms']:.1f} | {row['speedup']:.2f}x [{lo:.2f}, {hi:.2f}] |")
    lines += ["", "| pruned to 50% GFLOPs + OpenVINO INT8 | p50 ms | vs unpruned OpenVINO INT8 (95% CI) |",
              "|---|---:|---:|"]  # fmt: skip
    for label, row in result["pruned"].items():
        lo, hi = row["speedup_ci95"]
        lines.append(f"| {label} | {row['b_p50_ms']:.1f} | {row['speedup']:.2f}x [{lo:.2f}, {hi:.2f}] |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
