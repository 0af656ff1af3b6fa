"""Benchmarks: `make bench` runs them; they report medians, never assert wall-clock times."""
