"""Experiments over many runs, in SALib's order: sample → evaluate → analyze.

- :mod:`.spec`: sweep files (TOML data): what is uncertain (``[parameters]``),
  what policy chooses (``[levers]``), the outcomes recorded, and the design
  (grid, Latin hypercube, Sobol', Morris) sampled from them;
- :mod:`.sweep`: evaluates the design: one run per (design point, replicate)
  through :func:`egov_abm.scenarios.parallel.iter_runs` on Dask, results kept
  as resumable Parquet;
- :mod:`.analysis`: per-point summaries and Sobol'/Morris indices (SALib).

The shipped sweep files are data, in ``scenarios/sweeps/``.
"""
