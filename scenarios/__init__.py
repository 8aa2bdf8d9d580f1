"""Scenarios and the layers above the model, in the order they build on each other.

1. :mod:`.scenario` (with :mod:`.policy`): scenario files (TOML data): name,
   parameter overrides, interventions;
2. :mod:`.runner`: a scenario and a seed become a model run and a tidy
   monthly table (Parquet, with parameters, seed and version);
   :mod:`.parallel` runs many of them, :mod:`.outcomes` declares what is
   measured;
3. :mod:`.compare`: policies against a baseline on common random numbers;
4. :mod:`.experiments`: sweeps (sample → evaluate → analyze) over uncertain
   parameters and policy levers;
5. :mod:`.decisions`: the decision layer (Step 13), a place kept for it.

The command line is :mod:`.cli`.
"""
