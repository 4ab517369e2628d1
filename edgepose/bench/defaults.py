"""The A/B gate's defaults, in a module light enough for the CLI to import at start-up (no numpy).

Chosen from pilot runs on the shared 2-core dev VM and kept after benchmarks/calibrate_gate.py measured them
under load (2026-12-02, Intel Xeon, 2 vCPUs: 0/60 false alarms, 95% coverage of 1.0, 1.18x and 1.45x slowdowns
detected 30/30; the table in benchmarks/README.md).
"""

BLOCK_ITERS = 3  # timed runs per block (a median of 3 ignores one preempted run)
DEFAULT_ITERS = 200  # timed runs per model before the first look
DEFAULT_MAX_SECONDS = 120.0  # the CLI's time budget for extending an inconclusive first look
MIN_UNITS = 4  # the fewest units (ABBA cycles, or pairs with a random order) an interval is computed from
EXIT_INCONCLUSIVE = 4  # `bench compare`: 0 pass, 1 fail, 2 bad input, 4 inconclusive
