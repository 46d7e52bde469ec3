"""Benchmarks of the rendered image: `python -m bench.run`, `python -m bench.wrk_load`."""
