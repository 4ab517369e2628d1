"""Print the numbers of benchmarks/resnet50_cpu.sh from the JSON files it wrote (one folder)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load(folder: Path, name: str) -> dict:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() and path.stat().st_size else {}


def main(folder: Path) -> None:
    onnx = load(folder, "export_onnx").get("parity", {})
    print(f"ONNX parity: max abs {onnx.get('max_abs_err')}, mean keypoint displacement {onnx.get('mean_kpt_px')} px "
          f"({onnx.get('n_random')} random + {onnx.get('n_images')} real inputs)")
    for runtime in ("torch", "onnxruntime", "openvino"):
        bench = load(folder, f"bench_{runtime}")
        lat = bench.get("latency_ms", {})
        print(f"bench {runtime:12s} p50 {lat.get('p50')} ms  p90 {lat.get('p90')}  p99 {lat.get('p99')}  "
              f"FPS {bench.get('fps')}  threads {bench.get('threads')}")
    for name in ("compare_self", "compare_area", "compare_torch_vs_ov_int8", "compare_ort_fp32_vs_int8"):
        data = load(folder, name)
        if data:
            ratio, (lo, hi) = data["ratio_p50"], data["ci95"]
            print(f"{name:26s} B/A p50 ratio {ratio:.3f} [{lo:.3f}, {hi:.3f}] -> B is {1 / ratio:.2f}x as fast; "
                  f"gate {data['verdict']}")
    for backend in ("openvino", "onnxruntime"):
        record = load(folder, f"quant_{backend}")
        latency = record.get("latency") or {}
        if latency:
            print(f"quantize {backend}: INT8 vs FP32 on {latency['runtime']}: {latency['speedup']:.2f}x "
                  f"{latency['speedup_ci95']}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
