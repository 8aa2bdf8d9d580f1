"""The decision layer (roadmap Step 13): a place kept for it, nothing here yet.

What lands here reads the outcome registry (:mod:`egov_abm.scenarios.outcomes`,
with each outcome's direction) and runs through
:func:`egov_abm.scenarios.parallel.map_runs`:

- paired differences between policies on common random numbers (replicate
  ``r`` of every policy on the same streams, as :mod:`.compare` runs them);
- the probability that one policy beats another, P(beats), per outcome;
- regret of each policy across the uncertain inputs of an experiment
  (:mod:`.experiments`);
- an optimiser over budgets: intervention doses and spending as levers.

``scenarios/`` reads in order: scenario → runner → compare → experiments →
decisions.
"""
