"""`qbutler demo`: qbutler against a simulated Sense site (sensesim), with a live view.

This package (with tests and benchmarks) is the only place where qbutler and sensesim meet.
"""
