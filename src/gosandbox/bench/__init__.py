"""Benchmarks (``python -m gosandbox.bench``): gosandbox against the origin's way and the host's ``go build``."""
