"""Benchmarks run by ``make bench``: each section returns flat records for the table and bench.json."""
