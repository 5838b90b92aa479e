"""Benchmarks: run them as modules from the repository root, e.g. `python -m bench.overhead`."""
