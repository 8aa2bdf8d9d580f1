"""Benchmark: build time, seconds per month-step and peak memory, vectorised vs per-agent.

Each measurement runs in a fresh process so its peak resident memory is its
own. Both implementations start from the same mid-diffusion state (internet
access 60 %, awareness 50 %, users 10 %) so every branch of the rules is
exercised, on the default homophily graph with the shipped population and SEM.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time

BENCH_STATE = {"share_access_initial": 0.6, "share_aware_initial": 0.5, "share_adopters_initial": 0.1}


def _measure(kind: str, n: int, months: int, seed: int, queue) -> None:
    from calibration.defaults import load_sem, population_spec
    from model import AdoptionModel
    from model.reference import ReferenceModel

    kwargs = dict(sem=load_sem(), population=population_spec(), seed=seed, n_agents=n, **BENCH_STATE)
    start = time.perf_counter()
    if kind == "vectorised":
        model = AdoptionModel(create_agents=False, **kwargs)
    else:
        model = ReferenceModel(**kwargs)
    build = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(months):
        model.step()
    step = (time.perf_counter() - start) / months
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    queue.put({"build_s": build, "step_s": step, "peak_rss_mb": peak_mb})


def measure(kind: str, n: int, months: int, seed: int) -> dict:
    """Run one measurement in a child process and return its figures."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(kind, n, months, seed, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def run_benchmark(sizes, *, months: int, reference_months: int, reference_max: int, seed: int,
                  echo=lambda s: None) -> list[dict]:
    """Figures for every size: vectorised always, the reference where ``n <= reference_max``."""
    rows = []
    for n in sizes:
        echo(f"timing vectorised model at {n:,} citizens ({months} months)...")
        vec = measure("vectorised", n, months, seed)
        row = {"agents": n, "months": months, "vec_build_s": vec["build_s"], "vec_step_s": vec["step_s"],
               "vec_peak_rss_mb": vec["peak_rss_mb"]}
        if n <= reference_max:
            echo(f"timing per-agent reference at {n:,} citizens ({reference_months} months)...")
            ref = measure("reference", n, reference_months, seed)
            row.update(ref_months=reference_months, ref_build_s=ref["build_s"], ref_step_s=ref["step_s"],
                       ref_peak_rss_mb=ref["peak_rss_mb"], speedup=ref["step_s"] / vec["step_s"])
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """Plain-text table of the benchmark rows."""
    head = (f"{'agents':>11} {'build s':>8} {'s/month':>9} {'peak MB':>8} | "
            f"{'ref build s':>11} {'ref s/month':>11} {'ref peak MB':>11} {'speed-up':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        ref = (f"{r['ref_build_s']:>11.2f} {r['ref_step_s']:>11.4f} {r['ref_peak_rss_mb']:>11.0f} "
               f"{r['speedup']:>8.0f}x" if "ref_step_s" in r else f"{'-':>11} {'-':>11} {'-':>11} {'-':>9}")
        lines.append(f"{r['agents']:>11,} {r['vec_build_s']:>8.2f} {r['vec_step_s']:>9.4f} "
                     f"{r['vec_peak_rss_mb']:>8.0f} | {ref}")
    return "\n".join(lines)
