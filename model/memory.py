"""Estimated peak memory of one model run, from its parameters alone.

The estimate is the sum of

- the process's baseline: the interpreter with numpy, pandas, pyarrow, Mesa
  and the model imported (:data:`BASELINE_BYTES`);
- the citizens' arrays (:data:`CITIZEN_BYTES` per citizen): population
  (region, age band, education, urban, about 9 B), the processes' states
  (eight float32 opinion arrays, one-byte flags, the access factors, about
  47 B), group codes, degrees and inverse degrees (12 B), the neighbour
  buffer and its sums (four float32 columns each, 32 B), and the temporaries
  of the build (random draws, the sort of the citizens by block);
- the social graph: for the ``direct`` builder only the rewired ties are
  stored (:data:`REWIRED_TIE_BYTES` each: two added and two removed entries
  of row and column, the gather indices and the gather buffers of four
  columns, and the build's temporaries); for the ``networkx`` builder and
  ``scale_free`` the networkx graph itself (:data:`NETWORKX_NODE_BYTES` per
  citizen and :data:`NETWORKX_TIE_BYTES` per tie, the CSR copy included);
  the ``complete`` graph is never built, but its neighbour sums are float64
  (:data:`COMPLETE_CITIZEN_BYTES`);
- with interventions, this month's modifiers and the temporaries of applying
  them (:data:`INTERVENTION_CITIZEN_BYTES`), and a target mask per
  intervention (:data:`PER_INTERVENTION_BYTES`).

The constants were fitted to peak resident memory (of a process started from a shell, MiB) measured
on the 2-core development machine (Python 3.11, numpy 2); the peak is reached
while building, and without interventions the months add nothing on sparse graphs:

========================================================  ========  =========
run                                                       measured  estimated
========================================================  ========  =========
``egov-abm run``, 1,000 citizens                               182        190
``egov-abm run``, 1,000,000 citizens                           368        381
``run``, citizen_centric / technology_only, 1 M (a)            385        404
``compare`` of 3 policies and baseline, 300 k, 2 workers (b)   648        698
model build + 3 months, 50,000 citizens                        172        200
model build + 3 months, 200,000 citizens                       200        228
model build + 3 months, 3,000,000 citizens                     772        762
1,000,000 citizens, ``mean_degree = 40``                       560        610
1,000,000 citizens, ``p_rewire = 0.5``                         670        686
100,000 citizens, ``graph_builder = "networkx"``               426        457
200,000 citizens, networkx, ``mean_degree = 20``              1095       1124
100,000 citizens, ``scale_free``                               402        457
300,000 citizens, ``complete``                                 209        240
``egov-abm bench``, 20,000,000 citizens (README)              3700       4005
========================================================  ========  =========

(a) the whole horizon, two interventions. (b) the whole process tree; 748 MiB
before the workers collected each finished model (``scenarios.compare``). The
model builds ran without pandas and pyarrow (30 MiB less baseline), as
``egov-abm bench`` does; ``egov-abm run`` of 20,000,000 citizens peaks at 3731 MiB.
The estimate is within 0.95 to 1.25 times the measured peak, on the high side
for small runs, where the baseline dominates.

This module knows nothing of files, the machine or the command line: see
:mod:`egov_abm.scenarios.resources` for the check against the memory available.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MIB = 1 << 20

#: Resident memory of a process that has imported the model, pandas and pyarrow (``egov-abm run`` of 1,000
#: citizens peaks at 182 MiB).
BASELINE_BYTES = 265 * MIB
#: Per citizen, on a sparse graph: the state arrays (about 100 B) plus the temporaries of the build.
CITIZEN_BYTES = 97
#: Per citizen on the complete graph instead: float64 neighbour sums and their copy.
COMPLETE_CITIZEN_BYTES = 176
#: Per rewired tie of the direct ring builder (``n * (mean_degree // 2) * p_rewire`` ties).
REWIRED_TIE_BYTES = 170
#: Per tie of the direct ``scale_free`` builder: its growth's working lists (about 20 B) and the compressed rows
#: (two int32 entries), measured at its peak (2.9 GB for 100 million ties).
CSR_TIE_BYTES = 29
#: Per citizen of a networkx graph (node dictionaries; homophily also relabels a copy).
NETWORKX_NODE_BYTES = 575
#: Per tie of a networkx graph (two adjacency entries, their dictionaries and the CSR copy).
NETWORKX_TIE_BYTES = 420
#: Per citizen when a run has interventions: this month's extra access, external influence and success arrays
#: (12 B) and the temporaries of applying them.
INTERVENTION_CITIZEN_BYTES = 16
#: Per citizen and intervention: its target mask and the temporaries of applying it.
PER_INTERVENTION_BYTES = 4


def _get(params: Any, name: str) -> Any:
    return params[name] if isinstance(params, Mapping) else getattr(params, name)


def graph_ties(params: Any) -> tuple[str, int]:
    """``(storage, ties)``: how the graph of ``params`` is held (direct, networkx, none) and the ties stored."""
    n = int(_get(params, "n_agents"))
    k = int(_get(params, "mean_degree"))
    network = _get(params, "network")
    if network == "complete":
        return "none", 0
    if network == "scale_free":
        ties = n * max(1, k // 2)
        return ("networkx" if _get(params, "graph_builder") == "networkx" else "csr"), ties
    if _get(params, "graph_builder") == "networkx":
        return "networkx", n * (k // 2)
    return "direct", round(n * (k // 2) * float(_get(params, "p_rewire")))


def estimate_peak_bytes(params: Any, n_interventions: int = 0) -> int:
    """Estimated peak resident memory, in bytes, of a process running one model of ``params``.

    Args:
        params: a :class:`~egov_abm.model.Params`, or a mapping with at least ``n_agents``,
            ``network``, ``mean_degree``, ``p_rewire`` and ``graph_builder``.
        n_interventions: interventions of the run's scenario.

    Returns:
        The baseline of the process plus the citizens' arrays and the social graph (see the module).
    """
    n = int(_get(params, "n_agents"))
    storage, ties = graph_ties(params)
    total = BASELINE_BYTES + n * (COMPLETE_CITIZEN_BYTES if storage == "none" else CITIZEN_BYTES)
    if storage == "direct":
        total += ties * REWIRED_TIE_BYTES
    elif storage == "csr":
        total += ties * CSR_TIE_BYTES
    elif storage == "networkx":
        total += n * NETWORKX_NODE_BYTES + ties * NETWORKX_TIE_BYTES
    if n_interventions:
        total += n * (INTERVENTION_CITIZEN_BYTES + PER_INTERVENTION_BYTES * int(n_interventions))
    return int(total)


def peak_resident_bytes() -> int:
    """Peak resident memory of this process since it started its program (``VmHWM``).

    ``ru_maxrss`` is not used: Linux carries it across ``exec``, so a child
    started from a large process (a test runner) would report its parent's
    size. ``VmHWM`` belongs to the program's own address space.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

