"""Latency (the only timing code), A/B comparison with a bootstrap gate, and export parity checks."""
