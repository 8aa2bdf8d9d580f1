"""Benchmark: build time, seconds per month-step and peak memory, vectorised vs per-agent.

Each measurement runs in a fresh process so its peak resident memory is its
own. Both implementations start from the same mid-diffusion state (internet
access 60 %, awareness 50 %, users 10 %) so every branch of the rules is
exercised, on the default homophily graph with the shipped population and SEM.
The vectorised model builds that graph with its default direct builder; the
per-agent reference, written the usual Mesa way, builds it with networkx.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_module
import signal
import time

import click

BENCH_STATE = {"share_access_initial": 0.6, "share_aware_initial": 0.5, "share_adopters_initial": 0.1}


def _measure(kind: str, n: int, months: int, seed: int, queue) -> None:
    from egov_abm.calibration.defaults import load_sem, population_spec
    from egov_abm.model import AdoptionModel
    from egov_abm.model.memory import MIB, peak_resident_bytes
    from egov_abm.model.reference import ReferenceModel

    kwargs = dict(sem=load_sem(), population=population_spec(), seed=seed, n_agents=n, **BENCH_STATE)
    start = time.perf_counter()
    if kind == "vectorised":
        model = AdoptionModel(create_agents=False, **kwargs)
    else:  # the usual Mesa way: the graph from networkx's generator, one Python object per citizen
        model = ReferenceModel(graph_builder="networkx", **kwargs)
    build = time.perf_counter() - start
    start = time.perf_counter()
    model.step()  # the first month loads (or compiles) the kernel: timed apart
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(months):
        model.step()
    step = (time.perf_counter() - start) / months
    peak_mb = peak_resident_bytes() / MIB
    result = {"build_s": build, "first_step_s": first, "step_s": step, "peak_rss_mb": peak_mb}
    if kind == "vectorised":
        from egov_abm.model.kernel import month_bytes

        result["month_bytes"] = month_bytes(model)
    queue.put(result)


class BenchError(click.ClickException):
    """A measurement's child process failed or was killed; the message is one line."""


def _child(target, kind: str, n: int, months: int, seed: int, queue) -> None:
    """Run ``target`` in the child; an exception is sent back as one line instead of a traceback."""
    try:
        target(kind, n, months, seed, queue)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent as one line
        queue.put({"error": " ".join(f"{type(exc).__name__}: {exc}".split())})


def measure(kind: str, n: int, months: int, seed: int) -> dict:
    """Run one measurement in a child process and return its figures.

    Raises:
        BenchError: the child raised, exited without a result, or was killed
            (by a signal, e.g. the kernel's out-of-memory killer).
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(_measure, kind, n, months, seed, queue))
    what = f"bench: the {kind} run at {n:,} citizens"
    proc.start()
    try:
        result = None
        while result is None:
            try:
                result = queue.get(timeout=0.5)
            except queue_module.Empty:
                if proc.is_alive():
                    continue
                try:  # the child may have put its result just before it ended
                    result = queue.get(timeout=1.0)
                except queue_module.Empty:
                    code = proc.exitcode
                    if code is not None and code < 0:
                        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else -code
                        how = f"was killed by signal {name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
                    else:
                        how = f"ended with exit status {code} and no result"
                    raise BenchError(f"{what} {how}") from None
        if "error" in result:
            raise BenchError(f"{what} failed: {result['error']}")
        proc.join()
        return result
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        queue.close()


def estimate_mb(n: int) -> float:
    """The memory guard's estimate of the vectorised model's peak at ``n`` citizens, in MiB (as the peak)."""
    from egov_abm.model import Params
    from egov_abm.model.memory import MIB, estimate_peak_bytes

    return estimate_peak_bytes(Params(n_agents=n)) / MIB


def memory_bandwidth(size_bytes: int = 400_000_000, repeats: int = 5) -> float:
    """Bytes per second one core moves in a large copy (read plus write), the best of ``repeats``."""
    import numpy as np

    a = np.ones(size_bytes // 16)
    b = np.empty_like(a)
    np.copyto(b, a)  # map the pages first
    best = min(_timed(lambda: np.copyto(b, a)) for _ in range(repeats))
    return 2 * a.nbytes / best


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run_benchmark(sizes, *, months: int, reference_months: int, reference_max: int, seed: int,
                  echo=lambda s: None) -> list[dict]:
    """Figures for every size: vectorised always, the reference where ``n <= reference_max``.

    Each vectorised row also gives the bytes one month moves at least
    (:func:`model.kernel.month_bytes`) and the time that takes at the measured
    memory bandwidth of one core (:func:`memory_bandwidth`): the limit of this
    machine for that month, and how far the month is from it.
    """
    echo("timing memory bandwidth (one core, large copy)...")
    bandwidth = memory_bandwidth()
    rows = []
    for n in sizes:
        echo(f"timing vectorised model at {n:,} citizens ({months} months)...")
        vec = measure("vectorised", n, months, seed)
        limit = vec["month_bytes"] / bandwidth
        row = {"agents": n, "months": months, "vec_build_s": vec["build_s"], "vec_first_step_s": vec["first_step_s"],
               "vec_step_s": vec["step_s"], "vec_peak_rss_mb": vec["peak_rss_mb"], "vec_estimate_mb": estimate_mb(n),
               "month_gb": vec["month_bytes"] / 1e9, "bandwidth_gb_s": bandwidth / 1e9, "limit_s": limit,
               "times_limit": vec["step_s"] / limit}
        if n <= reference_max:
            echo(f"timing per-agent reference at {n:,} citizens ({reference_months} months)...")
            ref = measure("reference", n, reference_months, seed)
            row.update(ref_months=reference_months, ref_build_s=ref["build_s"], ref_step_s=ref["step_s"],
                       ref_peak_rss_mb=ref["peak_rss_mb"], speedup=ref["step_s"] / vec["step_s"])
        rows.append(row)
    return rows


def _table(columns: list[tuple[str, int]], rows: list[list[str]]) -> str:
    """Right-aligned fixed-width table: ``columns`` are (title, width), ``rows`` formatted cells."""
    def line(cells):
        return " ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, columns, strict=True))
    head = line([title for title, _ in columns])
    return "\n".join([head, "-" * len(head), *(line(cells) for cells in rows)])


def format_table(rows: list[dict]) -> str:
    """Plain-text table of the benchmark rows."""
    columns = [("agents", 11), ("build s", 8), ("1st month s", 11), ("s/month", 9), ("peak MB", 8), ("est. MB", 8),
               ("GB/month", 8), ("limit s", 8), ("x limit", 7), ("|", 1),
               ("ref build s", 11), ("ref s/month", 11), ("ref peak MB", 11), ("speed-up", 9)]
    cells = []
    for r in rows:
        ref = ([f"{r['ref_build_s']:.2f}", f"{r['ref_step_s']:.4f}", f"{r['ref_peak_rss_mb']:.0f}",
                f"{r['speedup']:.0f}x"] if "ref_step_s" in r else ["-"] * 4)
        limit = ([f"{r['month_gb']:.3f}", f"{r['limit_s']:.4f}", f"{r['times_limit']:.1f}"] if "limit_s" in r
                 else ["-"] * 3)
        cells.append([f"{r['agents']:,}", f"{r['vec_build_s']:.2f}",
                      f"{r['vec_first_step_s']:.3f}" if "vec_first_step_s" in r else "-", f"{r['vec_step_s']:.4f}",
                      f"{r['vec_peak_rss_mb']:.0f}", f"{r['vec_estimate_mb']:.0f}" if "vec_estimate_mb" in r else "-",
                      *limit, "|", *ref])
    table = _table(columns, cells)
    if rows and "bandwidth_gb_s" in rows[0]:
        table += (f"\nlimit s: GB/month at the memory bandwidth of one core ({rows[0]['bandwidth_gb_s']:.1f} GB/s, "
                  "a large copy); x limit: s/month over limit s")
    return table


def sweep_benchmark(spec_path, worker_counts=(1, 2), repeats: int = 3, echo=lambda s: None) -> list[dict]:
    """Throughput of a sweep on local Dask clusters, against calling the model directly.

    *Direct*: every run of the sweep, one after another in this process, through
    :func:`scenarios.runner.run_one` (build, run, outcome frame), with the SEM and
    population read once, as a worker caches them. *Sweep*: the
    same runs through :func:`egov_abm.scenarios.experiments.sweep.run_sweep` on a fresh local
    cluster of ``w`` workers, into a fresh folder, twice per cluster: *cold*
    (first tasks import the model in each worker) and *warm* (same cluster,
    new folder). Compute time runs from the first submission to the last
    stored result; cluster start-up is reported apart. Overhead per run is
    worker-seconds per run minus the direct seconds per run. *CPU ms/run* is
    processor time instead of wall time: this process's (client, scheduler,
    Parquet writing) plus every worker's, per run; its overhead is that minus
    the direct runs' processor time, so it shows Dask's cost even when other
    programs share the cores (wall time then counts their share too). Figures
    are medians over ``repeats``.
    """
    import statistics
    import tempfile

    from egov_abm.calibration.defaults import population_spec
    from egov_abm.scenarios.experiments.spec import load_sweep
    from egov_abm.scenarios.experiments.sweep import execute, local_cluster, plan_sweep, run_sweep
    from egov_abm.scenarios.runner import run_one, sem_for

    plan = plan_sweep(load_sweep(spec_path))
    n = len(plan.tasks)
    execute(plan.tasks[0])  # warm the imports and caches of this process
    population = population_spec()  # read once, as a worker does (its files are not part of a run's cost)
    sems = {}
    direct, direct_cpu = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        for t in plan.tasks:
            scenario = t.scenario()
            key = (scenario.sem_member, scenario.sem_file)
            sem = sems[key] if key in sems else sems.setdefault(key, sem_for(scenario))
            run_one(scenario, t.seed, t.replicate, months=t.months, dose_scale=t.dose_scale, sem=sem,
                    population=population)
        direct.append((time.perf_counter() - start) / n)
        direct_cpu.append((time.process_time() - cpu) / n)
    direct_s, direct_cpu_s = statistics.median(direct), statistics.median(direct_cpu)
    echo(f"direct: {direct_s * 1e3:.1f} ms per run ({n} runs, median of {repeats})")
    rows = [{"mode": "direct", "workers": 1, "runs": n, "runs_per_s": 1 / direct_s, "s_per_run": direct_s,
             "overhead_ms_per_run": 0.0, "cluster_start_s": 0.0, "cpu_ms_per_run": direct_cpu_s * 1e3,
             "cpu_overhead_ms_per_run": 0.0}]
    for w in worker_counts:
        figures = {"cold": [], "warm": []}
        cpu_figures = {"cold": [], "warm": []}
        starts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            client, cluster = local_cluster(w)
            starts.append(time.perf_counter() - t0)
            try:
                for mode in ("cold", "warm"):
                    workers_cpu, cpu = client.run(time.process_time), time.process_time()
                    with tempfile.TemporaryDirectory() as tmp:
                        stats = run_sweep(plan, f"{tmp}/sweep", client=client)
                    figures[mode].append(stats.compute_seconds)
                    after = client.run(time.process_time)
                    cpu_figures[mode].append((time.process_time() - cpu + sum(
                        after[k] - workers_cpu[k] for k in after if k in workers_cpu)) / n)
            finally:
                client.close()
                cluster.close()
        for mode, values in figures.items():
            wall = statistics.median(values)
            per_run = wall * w / n
            cpu_s = statistics.median(cpu_figures[mode])
            rows.append({"mode": mode, "workers": w, "runs": n, "runs_per_s": n / wall, "s_per_run": per_run,
                         "overhead_ms_per_run": (per_run - direct_s) * 1e3,
                         "cluster_start_s": statistics.median(starts), "cpu_ms_per_run": cpu_s * 1e3,
                         "cpu_overhead_ms_per_run": (cpu_s - direct_cpu_s) * 1e3})
            echo(f"{w} worker(s), {mode}: {n / wall:.1f} runs/s")
    return rows


def format_sweep_table(rows: list[dict]) -> str:
    """Plain-text table of :func:`sweep_benchmark` rows."""
    columns = [("mode", 7), ("workers", 7), ("runs", 5), ("runs/s", 8), ("worker-s/run", 12),
               ("overhead ms/run", 15), ("cluster start s", 15), ("CPU ms/run", 10), ("CPU overhead ms/run", 19)]
    return _table(columns, [[r["mode"], str(r["workers"]), str(r["runs"]), f"{r['runs_per_s']:.1f}",
                             f"{r['s_per_run']:.3f}", f"{r['overhead_ms_per_run']:.1f}",
                             f"{r['cluster_start_s']:.1f}", f"{r['cpu_ms_per_run']:.1f}",
                             f"{r['cpu_overhead_ms_per_run']:.1f}"] for r in rows])
