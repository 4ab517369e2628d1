#!/usr/bin/env bash
# The CPU numbers the export/bench and quantization issues ask for, on simplebaseline-resnet50 at
# 256x192, batch 1, 2 threads: one `edgepose bench` per runtime (torch eager, ONNX Runtime, OpenVINO
# FP32), ONNX parity, the `bench compare` gate (self: pass; 1.5x the input area: fail), and the INT8
# speedups measured side by side in one run (OpenVINO INT8 vs torch eager; ORT INT8 vs ORT FP32).
# The weights are the zoo's seeded random init: speed does not depend on them; calibration uses
# synthetic people (generated on first use). Results land in $OUT (default runs/r50-cpu).
#   bash benchmarks/resnet50_cpu.sh          (about 10 min on an idle 2-core machine)
set -euo pipefail
cd "$(dirname "$0")/.."
EP=${EP:-.venv/bin/edgepose}
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/r50-cpu}
CALIB=${CALIB:-runs/demo-data/val-seed2-600/annotations.json}
mkdir -p "$OUT"
[ -f "$CALIB" ] || $EP synth "$(dirname "$CALIB")" --persons 600 --seed 2
$PY - "$OUT" <<'PY'
import sys
from edgepose.artifact import Artifact
from edgepose.checkpoint import save_checkpoint
from edgepose.models import build_model, default_spec
import torch
out = sys.argv[1]
for name, size in (("r50", (256, 192)), ("r50_area1.5x", (288, 256))):  # 288*256 = 1.5 * 256*192
    torch.manual_seed(0)
    art = Artifact(spec=default_spec("simplebaseline-resnet50", input_size=size),
                   model=build_model("simplebaseline-resnet50"), arch="simplebaseline-resnet50", arch_kwargs={})
    save_checkpoint(art, f"{out}/{name}.pt", dataset="none (seeded random init, for timing)")
PY
$EP export "$OUT/r50.pt" --format onnx -o "$OUT/r50.onnx" --verify-data "$CALIB" --json > "$OUT/export_onnx.json"
$EP export "$OUT/r50.pt" --format openvino -o "$OUT/r50.xml" --json > "$OUT/export_openvino.json"
$EP export "$OUT/r50_area1.5x.pt" --format onnx -o "$OUT/r50_area1.5x.onnx" --json > "$OUT/export_onnx_area.json"
for rt in torch onnxruntime openvino; do
  model="$OUT/r50.pt"; [ $rt = onnxruntime ] && model="$OUT/r50.onnx"; [ $rt = openvino ] && model="$OUT/r50.xml"
  $EP bench "$model" --runtime $rt --threads 2 --iters 50 --warmup 5 --json > "$OUT/bench_$rt.json"
done
$EP bench compare "$OUT/r50.onnx" "$OUT/r50.onnx" --threads 2 --iters 60 --fail-if-slower 5% --json > "$OUT/compare_self.json" || true
$EP bench compare "$OUT/r50.onnx" "$OUT/r50_area1.5x.onnx" --threads 2 --iters 60 --fail-if-slower 5% --json > "$OUT/compare_area.json" || true
$EP quantize "$OUT/r50.pt" --calib "$CALIB" --backend openvino -o "$OUT/r50_int8.xml" --calib-images 64 --threads 2 --iters 40 --json > "$OUT/quant_openvino.json"
$EP quantize "$OUT/r50.pt" --calib "$CALIB" --backend onnxruntime -o "$OUT/r50_int8.onnx" --calib-images 64 --threads 2 --iters 40 --json > "$OUT/quant_onnxruntime.json"
$EP bench compare "$OUT/r50.pt" "$OUT/r50_int8.xml" --runtime torch --runtime-b openvino --threads 2 --iters 40 --json > "$OUT/compare_torch_vs_ov_int8.json" || true
$EP bench compare "$OUT/r50.onnx" "$OUT/r50_int8.onnx" --threads 2 --iters 60 --json > "$OUT/compare_ort_fp32_vs_int8.json" || true
$PY benchmarks/summarize_r50.py "$OUT"
# the same INT8 comparisons through `edgepose optimize` (benchmarks/recipes/r50-int8-*.yaml), on 64 people
SUB="$(dirname "$CALIB")/sub64.json"
$PY -c "import json,sys; d=json.load(open(sys.argv[1])); d['annotations']=d['annotations'][:64]; \
ids={a['image_id'] for a in d['annotations']}; d['images']=[i for i in d['images'] if i['id'] in ids]; \
json.dump(d, open(sys.argv[2], 'w'))" "$CALIB" "$SUB"
for r in ort ov ov-no-subpixel; do
  $EP optimize "$OUT/r50.pt" --recipe benchmarks/recipes/r50-int8-$r.yaml --data "$SUB" --out "$OUT/optimize-$r" --json \
    > "$OUT/optimize-$r.json" || true
done
