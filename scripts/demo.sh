#!/usr/bin/env bash
# `make demo`: the main job on the bundled default.
# `edgepose optimize` with no arguments takes the packaged edgepose/checkpoints/demo-coco17-lite.pt (a SimpleBaseline trained on
# synthetic COCO-17 people), generates its held-out synthetic people (600, seed 2) on first use, and
# runs the default CPU recipe (cpu-int8: NNCF PTQ -> OpenVINO INT8) with its gates. A re-run resumes
# in the same run folder; delete runs/cpu-int8-demo-coco17-lite to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
EP=.venv/bin/edgepose
$EP info edgepose/checkpoints/demo-coco17-lite.pt
$EP optimize "$@"
