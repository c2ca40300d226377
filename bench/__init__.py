"""Benchmarks and the chaos scenario: `python -m bench` (see docs/benchmarks.md)."""
