"""Benchmarks (run with `make bench` / `make bench-quality`; not part of `make test`)."""
