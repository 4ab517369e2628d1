"""Timing (latency.py is the only timing code: latency and throughput), the bench JSON, the A/B latency gate
(blocks.py: ABBA design; compare.py: interval over blocks, pass / fail / inconclusive), export parity checks."""
