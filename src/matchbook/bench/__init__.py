"""Benchmarks: commands that print throughput and latency percentiles."""
