"""Benchmarks and the log-corpus generator they share with the tests."""
