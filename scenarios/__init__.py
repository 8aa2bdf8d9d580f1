"""Scenario files (TOML data), the runner and the command line.

Turns a scenario file plus the calibrated parameters into model runs and
writes tidy results (Parquet) with their parameters, seed and version.
"""
