"""The memory guard: a run's estimated peak memory against the memory this machine has available.

:func:`egov_abm.model.memory.estimate_peak_bytes` estimates one model run;
here it is multiplied by the worker processes that run at the same time and
compared with :func:`available_bytes` (``MemAvailable`` of ``/proc/meminfo``,
lowered to what a cgroup memory limit leaves). A run that would not fit is
refused with one line (:class:`MemoryGuardError`) before anything is built,
unless forced.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from egov_abm.model import InputError
from egov_abm.model.memory import BASELINE_BYTES, estimate_peak_bytes

MEMINFO = Path("/proc/meminfo")
CGROUP_V2 = Path("/sys/fs/cgroup")
CGROUP_V1 = Path("/sys/fs/cgroup/memory")


class MemoryGuardError(InputError):
    """A run's estimated peak memory exceeds the memory available."""


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").split()[0]
        return int(text)
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return None  # "max", absent, unreadable: no limit known


def available_bytes() -> int | None:
    """Memory this process may still use, in bytes, or None where it cannot be read (not on Linux).

    ``MemAvailable`` from ``/proc/meminfo``; when a cgroup memory limit is set
    (``memory.max`` of cgroup v2, ``memory.limit_in_bytes`` of v1), at most
    that limit minus the cgroup's current use.
    """
    available = None
    try:
        for line in MEMINFO.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        pass
    for limit_file, usage_file in ((CGROUP_V2 / "memory.max", CGROUP_V2 / "memory.current"),
                                   (CGROUP_V1 / "memory.limit_in_bytes", CGROUP_V1 / "memory.usage_in_bytes")):
        limit = _read_int(limit_file)
        if limit is None or limit >= 1 << 60:  # v1 writes "no limit" as a huge number
            continue
        left = max(0, limit - (_read_int(usage_file) or 0))
        available = left if available is None else min(available, left)
    return available


def size(n_bytes: float) -> str:
    """``n_bytes`` as a short decimal figure: 950 MB, 9.4 GB."""
    if n_bytes < 1e9:
        return f"{n_bytes / 1e6:,.0f} MB"
    return f"{n_bytes / 1e9:,.1f} GB"


def run_bytes(scenario) -> int:
    """Estimated peak memory of one run of ``scenario`` (a :class:`~egov_abm.scenarios.scenario.Scenario`)."""
    return estimate_peak_bytes(scenario.params, len(scenario.policies))


def sweep_bytes(tasks: Iterable) -> tuple[int, int]:
    """``(bytes, n_agents)`` of the largest run among a sweep's ``tasks`` (:class:`RunTask`, with ``params``)."""
    keys = ("n_agents", "network", "mean_degree", "p_rewire", "graph_builder")
    seen = {}
    for task in tasks:
        key = (*(task.params[k] for k in keys), len(task.base.policies))
        if key not in seen:
            seen[key] = estimate_peak_bytes(task.params, key[-1])
    largest = max(seen, key=seen.get)
    return seen[largest], largest[0]


def parallel_bytes(per_run: int, workers: int, *, spawned: bool | None = None) -> int:
    """Peak of ``workers`` processes each running a model, plus the process that waits for them.

    By default one worker runs in the calling process itself (``spawned`` False), as
    :func:`egov_abm.scenarios.parallel.map_runs` does; a Dask cluster always spawns its workers.
    """
    spawned = workers > 1 if spawned is None else spawned
    return workers * per_run + BASELINE_BYTES if spawned else per_run


def pool_workers(workers: int | None, runs: int) -> int:
    """Processes :func:`egov_abm.scenarios.parallel.map_runs` starts for ``runs`` runs (1: runs in this process)."""
    from egov_abm.scenarios.parallel import default_workers

    workers = default_workers() if workers is None else workers
    return max(1, min(workers, runs))


def check_memory(command: str, scenarios: Iterable, *, workers: int = 1, force: bool = False,
                 available: int | None = None, remedy: str | None = None) -> int:
    """Refuse, with one line, runs whose estimated peak memory exceeds what is available; return the estimate.

    Args:
        command: what is starting, for the message (``run``, ``compare``, ``sweep``, ``the comparison``).
        scenarios: the scenarios that may run (anything with ``params`` and ``policies``);
            the largest estimate counts, ``workers`` times at once.
        workers: worker processes running at the same time (1: in this process).
        force: only compute and return the estimate.
        available: bytes available (default :func:`available_bytes`).
        remedy: the advice that ends the message (default: the command line's ``--workers`` and ``--force``).

    Raises:
        MemoryGuardError: the estimate exceeds the memory available, and not ``force``.
    """
    largest = max(scenarios, key=run_bytes)
    return check_bytes(command, run_bytes(largest), largest.params.n_agents, workers=workers, force=force,
                       available=available, remedy=remedy)


def check_sweep(plan, workers: int | None, *, force: bool = False, available: int | None = None) -> str:
    """Check a sweep's local cluster of ``workers`` processes (default: one per CPU) as :func:`check_memory`.

    Returns one line describing the estimate (``sweep --dry-run`` prints it).
    """
    from egov_abm.scenarios.parallel import default_workers

    workers = workers or default_workers()
    per_run, n_agents = sweep_bytes(plan.tasks)
    needed = check_bytes("sweep", per_run, n_agents, workers=workers, force=force, available=available,
                         spawned=True)
    return (f"estimated peak memory: about {size(needed)} ({workers} worker(s) x {size(per_run)} for runs of "
            f"up to {n_agents:,} citizens)")


def check_bytes(command: str, per_run: int, n_agents: int, *, workers: int = 1, force: bool = False,
                available: int | None = None, spawned: bool | None = None, remedy: str | None = None) -> int:
    """As :func:`check_memory`, for a per-run estimate ``per_run`` of runs of ``n_agents`` citizens."""
    needed = parallel_bytes(per_run, workers, spawned=spawned)
    if force:
        return needed
    available = available_bytes() if available is None else available
    if available is None or needed <= available:
        return needed
    what = f"{n_agents:,} citizens need"
    hint = "use --force to run anyway"
    if workers > 1:
        what = f"{workers} workers x {n_agents:,} citizens need"
        fit = next((k for k in range(workers - 1, 0, -1)
                    if parallel_bytes(per_run, k, spawned=spawned) <= available), 0)
        hint = (f"use --workers {fit}, or --force to run anyway" if fit >= 1
                else "even one worker would not fit; use --force to run anyway")
    raise MemoryGuardError(f"{command}: {what} about {size(needed)}, {size(available)} are available "
                           f"({remedy or hint})")
