"""Benchmarks; each writes its figures to bench/RESULTS.md."""
