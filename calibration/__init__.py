"""Calibration: national margins, SEM parameters and the fitted dynamics.

Produces the parameter files and population specs that ``scenarios`` hands
to ``model``. Data files live in ``calibration/data/`` with a ``source`` for
every figure; parameter files in ``calibration/params/``.
"""
