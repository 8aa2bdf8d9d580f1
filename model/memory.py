"""Estimated peak memory of one model run, from its parameters alone.

The estimate is the sum of

- the process's baseline: the interpreter with numpy, numba, pandas,
  pyarrow, Mesa and the model imported (:data:`BASELINE_BYTES`);
- the citizens' arrays (:data:`CITIZEN_BYTES` per citizen): population
  (about 9 B), the processes' states (six float32 opinion arrays,
  satisfaction and need rate, one-byte flags and levels, the months of last
  use and service: about 45 B), the group code, the neighbours' snapshot
  (16 B), and the temporaries of the build (random draws in chunks, the
  order of the citizens by block);
- the social graph: for the ``direct`` ring builder only the rewired ties are
  stored (:data:`REWIRED_TIE_BYTES` each, mostly the build's temporaries: the
  draws, the hash set of ties, the sorts into rows); for the direct
  ``scale_free`` builder the growth's lists and the compressed rows
  (:data:`CSR_TIE_BYTES` per tie); for the ``networkx`` builder the networkx
  graph itself (:data:`NETWORKX_NODE_BYTES` per citizen and
  :data:`NETWORKX_TIE_BYTES` per tie, the CSR copy included); the
  ``complete`` graph is never built (:data:`COMPLETE_CITIZEN_BYTES`);
- with interventions, this month's modifiers and the temporaries of applying
  them (:data:`INTERVENTION_CITIZEN_BYTES`), and a target mask per
  intervention (:data:`PER_INTERVENTION_BYTES`).

The constants were fitted to peak resident memory (MiB) measured on the
2-core development machine (Python 3.11, numpy 2, numba 0.68), in a process
started from a shell; the peak is reached while building. Up to
:data:`LARGE_FROM` citizens the whole build's temporaries grow with the
population; beyond it the build works in chunks, so each further citizen
and tie costs less (:data:`CITIZEN_BYTES_LARGE` and the ``*_LARGE``
constants). Re-measured for 1 million citizens and more on 2026-11-24
(``egov-abm run --agents N --months 1``, maximum resident size from
``/usr/bin/time``; the ``scale_free`` rows after its builder stored each tie
once while growing, with ``--set network=scale_free``):

==========================================================  ========  =========
run                                                         measured  estimated
==========================================================  ========  =========
``egov-abm run``, 1,000 citizens                                 281        265
``egov-abm run``, 1,000,000 citizens                             393        441
model build + 3 months, 50,000 citizens                          266        274
model build + 3 months, 200,000 citizens                         288        300
``egov-abm run``, 3,000,000 citizens                             680        794
``egov-abm run``, 5,000,000 citizens                             799        977
``egov-abm run``, 10,000,000 citizens                           1213       1435
``egov-abm run``, 20,000,000 citizens                           2119       2351
5,000,000 citizens, ``p_rewire = 0.5``                          1688       2202
5,000,000 citizens, ``mean_degree = 40``                        1458       1896
10,000,000 citizens, ``mean_degree = 40``                       2605       3040
1,000,000 citizens, ``mean_degree = 40``                         671        656
1,000,000 citizens, ``p_rewire = 0.5``                           685        728
100,000 citizens, ``graph_builder = "networkx"``                 480        531
200,000 citizens, networkx, ``mean_degree = 20``                1149       1197
100,000 citizens, ``scale_free`` with networkx                   455        531
1,000,000 citizens, ``scale_free`` (direct)                      415        461
3,000,000 citizens, ``scale_free`` (direct)                      748        852
6,000,000 citizens, ``scale_free`` (direct)                     1040       1218
20,000,000 citizens, ``scale_free`` (direct)                    2646       2927
300,000 citizens, ``complete``                                   283        315
5,000,000 citizens, ``complete``                                 682        925
8,000,000 citizens, ``complete``                                 916       1160
==========================================================  ========  =========

The estimate is within 0.94 to 1.17 times the measured peak up to 3,000,000
citizens, and 1.11 to 1.36 times beyond (on the safe side).

This module knows nothing of files, the machine or the command line: see
:mod:`egov_abm.scenarios.resources` for the check against the memory available.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MIB = 1 << 20

#: Resident memory of a process that has imported the model (with numba), pandas and pyarrow (``egov-abm run`` of
#: 1,000 citizens peaks at 281 MiB, the model alone at 265).
BASELINE_BYTES = 265 * MIB
#: Per citizen, on a sparse graph: the state arrays (about 75 B) plus the temporaries of the build.
CITIZEN_BYTES = 110
#: Per citizen on the complete graph instead: float64 neighbour sums and their copy.
COMPLETE_CITIZEN_BYTES = 176
#: Per rewired tie of the direct ring builder (``n * (mean_degree // 2) * p_rewire`` ties).
REWIRED_TIE_BYTES = 150
#: Per tie of the direct ``scale_free`` builder: its growth's working lists and the compressed rows (two int32
#: entries), measured at its peak (1 and 3 million citizens; each tie is stored once while the graph grows).
CSR_TIE_BYTES = 19
#: From this many citizens on, each further citizen and tie costs the ``*_LARGE`` bytes below: the build's
#: temporaries no longer grow with the population.
LARGE_FROM = 3_000_000
#: Per citizen beyond :data:`LARGE_FROM` on a sparse graph (measured: 5 to 20 million citizens).
CITIZEN_BYTES_LARGE = 48
#: Per citizen beyond :data:`LARGE_FROM` on the complete graph (measured: 5 and 8 million citizens).
COMPLETE_CITIZEN_BYTES_LARGE = 82
#: Per rewired tie beyond :data:`LARGE_FROM` citizens (measured: ``p_rewire`` and ``mean_degree`` at 5 and 10
#: million citizens).
REWIRED_TIE_BYTES_LARGE = 96
#: Per tie of the direct ``scale_free`` builder beyond :data:`LARGE_FROM` citizens (measured: 6 and 20 million).
CSR_TIE_BYTES_LARGE = 16
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
    small = min(n, LARGE_FROM)  # citizens at the full rate; the others (and their ties) at the large rate
    large = n - small
    small_ties = ties * small / n if n else 0.0
    large_ties = ties - small_ties
    if storage == "none":
        total = BASELINE_BYTES + small * COMPLETE_CITIZEN_BYTES + large * COMPLETE_CITIZEN_BYTES_LARGE
    else:
        total = BASELINE_BYTES + small * CITIZEN_BYTES + large * CITIZEN_BYTES_LARGE
    if storage == "direct":
        total += small_ties * REWIRED_TIE_BYTES + large_ties * REWIRED_TIE_BYTES_LARGE
    elif storage == "csr":
        total += small_ties * CSR_TIE_BYTES + large_ties * CSR_TIE_BYTES_LARGE
    elif storage == "networkx":  # (not measured beyond a million citizens: the full rates throughout)
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

