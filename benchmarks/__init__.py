"""Benchmarks that print tables (not tests): ``python -m benchmarks.speed``, ``benchmarks.decode``,
``benchmarks.load``."""
