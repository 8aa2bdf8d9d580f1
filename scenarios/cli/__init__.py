"""The ``egov-abm`` command line: parses arguments and calls library functions.

Every error a user can cause ends in one line on stderr and a non-zero exit
(2 for bad input, 130 when interrupted), never a traceback.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path


def _on_interrupt_while_importing(signum, frame) -> None:
    sys.stderr.write("egov-abm: interrupted\n")
    _forget_handled_interrupt()
    raise SystemExit(130)


#: Set by Ctrl-C (SIGINT) during a command (:func:`main`), whatever becomes of the KeyboardInterrupt it raises: a
#: library that swallows it (or a C callback that prints and drops it) does not make the command run on
#: (:func:`_check_interrupt`).
_CTRL_C = threading.Event()


def _on_interrupt(signum, frame) -> None:
    _CTRL_C.set()
    raise KeyboardInterrupt


def _check_interrupt() -> None:
    """Raise KeyboardInterrupt if Ctrl-C came earlier and its KeyboardInterrupt was lost on the way."""
    if _CTRL_C.is_set():
        raise KeyboardInterrupt


def _forget_handled_interrupt() -> None:
    """Tell CPython that a Ctrl-C has been handled, so that the exit status stays 130.

    A KeyboardInterrupt that passes through ``exec`` of a string (as dataclasses and other libraries do while they
    import) sets the interpreter's ``_Py_UnhandledKeyboardInterrupt`` even when it is caught further up; run as
    ``python -m``, CPython 3.11 then ends itself with SIGINT at exit (status -2) after the one-line message.
    """
    import ctypes

    try:
        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 0
    except (ValueError, AttributeError):  # not exported by this build of Python: nothing to clear
        pass


def _guard_imports() -> bool:
    """Ctrl-C while the libraries below import: one line (exit 130), or ignored in a spawned worker.

    A worker process started by ``spawn`` (Dask's, a process pool's) imports
    this script again; Ctrl-C reaches it too but is for the parent, which
    stops its workers. Returns whether a handler was put in place.
    """
    if threading.current_thread() is not threading.main_thread() or (
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        return False
    child = multiprocessing.current_process().name != "MainProcess"  # spawn names the child before this import
    signal.signal(signal.SIGINT, signal.SIG_IGN if child else _on_interrupt_while_importing)
    return True


_GUARDED = _guard_imports()

import click  # noqa: E402

from egov_abm.model.errors import InputError  # noqa: E402
from egov_abm.scenarios.parallel import WorkerLost  # noqa: E402

if _GUARDED and not multiprocessing.current_process().name.startswith("Dask Worker"):
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a Dask worker keeps ignoring it (dask_setup)

#: Largest seed: results store the seed in a 64-bit signed integer column (``egov_abm.model.SEED_MAX``, tested
#: equal; not imported, so that ``--help`` and ``--version`` load no numpy).
SEED_MAX = 2**63 - 1
#: Type of every --seed option.
SEED = click.IntRange(min=0, max=SEED_MAX)


def _parse_set(values: tuple[str, ...], flags: dict[str, tuple[str, object]] | None = None) -> dict:
    """``KEY=VALUE`` pairs from ``--set``; values are read as TOML scalars (numbers, true/false, "text").

    A key given twice takes its last value. ``flags`` maps a parameter to its
    dedicated option and that option's value: the parameter may be set by
    ``--set`` only when the option is not given; the option's value, when
    given, is added to the result.
    """
    import tomllib

    out: dict = {}
    for key, (flag, value) in (flags or {}).items():
        if value is not None and any(item.partition("=")[0].strip() == key for item in values):
            raise click.BadParameter(f"{key} is also given by {flag}; give it once", param_hint="'--set'")
    for item in values:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="'--set'")
        try:
            out[key.strip()] = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = text.strip()
    for key, (_, value) in (flags or {}).items():
        if value is not None:
            out[key] = value
    return out


#: ``--force`` of the commands that run models: skip the memory guard (:mod:`egov_abm.scenarios.resources`).
force_option = click.option("--force", is_flag=True,
                            help="Run even if the estimated peak memory exceeds the memory available.")


class _Interrupted(Exception):
    """Ctrl-C inside a command, carried past click (which would print a blank line of its own first)."""


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            result = super().invoke(ctx)
            _check_interrupt()  # a Ctrl-C whose KeyboardInterrupt a library swallowed still ends in one line, 130
            return result
        except KeyboardInterrupt as exc:
            raise _Interrupted() from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="egov-abm", prog_name="egov-abm")
def cli() -> None:
    """Agent-based simulation of e-government portal adoption in Kazakhstan."""


@cli.command()
@click.option("--scenario", "scenario_ref", default="baseline", show_default=True, metavar="NAME|PATH",
              help="Shipped scenario name or path to a scenario TOML file.")
@click.option("--agents", type=click.IntRange(min=10), default=None, metavar="N",
              help="Number of simulated adult citizens [default: the scenario's, 5000].")
@click.option("--months", type=click.IntRange(min=0, max=2400), default=None, metavar="T",
              help="Months to simulate [default: the scenario's horizon].")
@click.option("--seed", type=SEED, default=1, show_default=True, metavar="S",
              help="Root seed; replicate r uses a stream spawned from it.")
@click.option("--replicates", type=click.IntRange(min=1, max=100_000), default=1, show_default=True,
              metavar="R", help="Independent replicates.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Output folder [default: results/<scenario>].")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override any model parameter by name (repeatable), e.g. --set network=small_world.")
@click.option("--uncertainty", type=click.Choice(["chance", "calibration", "full"]), default=None,
              help="What the replicates carry, as for compare: chance only (the posterior's best particle); plus "
                   "posterior draws of the calibrated rates; plus the SEM member and the intention-behaviour slope "
                   "(whole posterior draws) [default: full with several replicates, chance with one].")
@click.option("--ensemble", is_flag=True, hidden=True, help="Same as --uncertainty full (kept for scripts).")
@force_option
def run(scenario_ref: str, agents: int | None, months: int | None, seed: int, replicates: int,
        out_dir: Path | None, sets: tuple[str, ...], uncertainty: str | None, ensemble: bool, force: bool) -> None:
    """Run a scenario and write timeseries.parquet and run.json."""
    from tqdm import tqdm

    from egov_abm.scenarios.output import check_out_dir
    from egov_abm.scenarios.resources import check_memory
    from egov_abm.scenarios.runner import run_metadata, run_replicates, summarise, write_results
    from egov_abm.scenarios.scenario import load_scenario

    scenario = load_scenario(scenario_ref).with_overrides(**_parse_set(sets, {"n_agents": ("--agents", agents)}))
    if ensemble and uncertainty not in (None, "full"):
        raise InputError(f"--ensemble is --uncertainty full; it cannot go with --uncertainty {uncertainty}")
    level = "full" if ensemble else uncertainty or ("full" if replicates > 1 and scenario.posterior else "chance")
    check_memory("run", [scenario], force=force)
    horizon = scenario.months if months is None else months
    out_dir = check_out_dir(out_dir or Path("results") / scenario.name, "run")
    start = time.perf_counter()
    with tqdm(total=replicates * horizon, unit="month", desc=scenario.name, disable=None, leave=False) as bar:
        frame = run_replicates(scenario, seed, replicates, months=horizon, ensemble=level, progress=bar.update)
    elapsed = time.perf_counter() - start
    ts_path, meta_path = write_results(out_dir, frame, run_metadata(scenario, seed, replicates, horizon, level))

    first, last = frame["date"].min(), frame["date"].max()
    click.echo(f"scenario {scenario.name}: {scenario.params.n_agents:,} citizens, {horizon} months "
               f"({first:%Y-%m} to {last:%Y-%m}), {replicates} replicate(s)"
               f"{' over posterior draws' if level != 'chance' else ''}, seed {seed}, "
               f"{elapsed:.1f} s")
    if scenario.posterior is not None:
        from egov_abm.scenarios.decisions import UNCERTAINTY_TEXT

        hint = (" (add --replicates 40 for the calibration's spread, or compare policies with 'egov-abm compare')"
                if level == "chance" else "")
        click.echo(f"uncertainty '{level}': {UNCERTAINTY_TEXT[level]}{hint}")
    table = summarise(frame)
    click.echo(f"at the horizon ({last:%Y-%m}), shares of the adult population:")
    click.echo(table.to_string(float_format=lambda v: f"{v:.3f}"))
    click.echo(f"wrote {ts_path} ({len(frame):,} rows) and {meta_path}")


@cli.command()
@click.argument("scenario_refs", nargs=-1, required=True, metavar="SCENARIO...")
@click.option("--baseline", "baseline_ref", default="baseline", show_default=True, metavar="NAME|PATH")
@click.option("--replicates", type=click.IntRange(min=1, max=10_000), default=10, show_default=True, metavar="R")
@click.option("--agents", type=click.IntRange(min=100), default=None, metavar="N",
              help="Citizens per run [default: the scenarios' own, 5000].")
@click.option("--seed", type=SEED, default=1, show_default=True)
@click.option("--uncertainty", type=click.Choice(["chance", "calibration", "full"]), default="full",
              show_default=True,
              help="What the replicates carry: chance only; plus posterior draws of the calibrated rates; plus the "
                   "SEM ensemble member and the intention-behaviour slope (whole posterior draws).")
@click.option("--ensemble", is_flag=True, hidden=True, help="Same as --uncertainty full (kept for scripts).")
@click.option("--margin", type=click.FloatRange(min=0.0), default=0.0, show_default=True, metavar="USERS",
              help="Extra users at the horizon a policy needs to count as beating the baseline in a draw.")
@click.option("--target-share", "target", type=click.FloatRange(min=0.0, max=1.0, min_open=True, max_open=True),
              default=0.5, show_default=True, metavar="S",
              help="Share of adults (12-month use) whose reaching is timed: months gained by each policy.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="W",
              help="Parallel worker processes [default: number of CPUs].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results/compare"),
              show_default=True, metavar="DIR")
@click.option("--pdf", is_flag=True, help="Also print brief.html to brief.pdf (needs Chromium or Chrome).")
@force_option
def compare(scenario_refs: tuple[str, ...], baseline_ref: str, replicates: int, agents: int | None, seed: int,
            uncertainty: str, ensemble: bool, margin: float, target: float, workers: int | None, out_dir: Path,
            pdf: bool, force: bool) -> None:
    """Run scenarios and their baseline on common random numbers and compare them ('all': every shipped policy).

    Replicate r of every scenario takes the same random streams and, unless --uncertainty chance, the same
    posterior draw, so differences are paired: the decision table gives P(beats the baseline), the pairwise
    P(A beats B), expected regret, cost per extra user and months gained, each over the paired draws.
    """
    from tqdm import tqdm

    from egov_abm.scenarios.compare import compare_scenarios, format_table, write_comparison
    from egov_abm.scenarios.decisions import format_decisions, format_equity, information_text
    from egov_abm.scenarios.output import check_out_dir
    from egov_abm.scenarios.resources import check_memory, pool_workers
    from egov_abm.scenarios.scenario import SCENARIO_DIR, load_scenario

    refs = list(scenario_refs)
    if refs == ["all"]:
        refs = [str(p) for p in sorted((SCENARIO_DIR / "policies").glob("*.toml"))]
    base = load_scenario(baseline_ref).with_overrides(n_agents=agents)
    scenarios = [load_scenario(r).with_overrides(n_agents=agents) for r in refs]
    check_memory("compare", [base, *scenarios], workers=pool_workers(workers, (len(refs) + 1) * replicates),
                 force=force)
    check_out_dir(out_dir, "compare")
    if pdf:
        from egov_abm.scenarios.brief import find_browser

        find_browser()
    with tqdm(total=(len(scenarios) + 1) * replicates, unit="run", desc="comparing", disable=None) as bar:
        result = compare_scenarios(scenarios, base, seed=seed, replicates=replicates,
                                   ensemble="full" if ensemble else uncertainty, workers=workers,
                                   margin=margin, target=target, progress=bar.update)
    report = write_comparison(result, out_dir, pdf=pdf)
    click.echo(format_table(result.table))
    click.echo(format_decisions(result.table, result.pairwise, base.name, result.meta["uncertainty"], replicates,
                                margin, target))
    click.echo(format_equity(result.equity, base.name))
    click.echo(information_text(result.meta["decision"]))
    click.echo(f"{len(result.replicates)} runs in {result.meta['seconds']} s; wrote {out_dir}/comparison.parquet, "
               f"timeseries.parquet, replicates.parquet, {report}, {out_dir}/brief.html"
               + (f" and {out_dir}/brief.pdf" if pdf else ""))


def _split(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    """A comma-separated list option as a tuple of names (None when not given)."""
    if value is None:
        return None
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if not names:
        raise click.BadParameter("expected names separated by commas")
    return names


@cli.command()
@click.option("--budget-kzt", "budget", type=float, required=True, metavar="KZT",
              help="Total budget to allocate over the window, national, in KZT (e.g. 48e9).")
@click.option("--start", default="2025-01", show_default=True, metavar="YYYY-MM", help="First month of spending.")
@click.option("--end", default="2029-12", show_default=True, metavar="YYYY-MM", help="Last month of spending.")
@click.option("--levers", callback=_split, default="infrastructure,skills,trust,awareness,service_quality,assisted",
              show_default=True, metavar="A,B,...", help="Levers the budget may go to (scenarios/data/levers.csv).")
@click.option("--objective", type=click.Choice(["users", "equity"]), default="users", show_default=True,
              help="users: extra adults using the portal at the horizon; equity: mean gain, in points, of the share "
                   "of users among rural, 60+ and school-education-only adults.")
@click.option("--target", "targets", callback=_split, default="all,rural,60+,school", show_default=True,
              metavar="G,...", help="Groups a lever may be aimed at, where the lever allows it.")
@click.option("--baseline", "baseline_ref", default="baseline", show_default=True, metavar="NAME|PATH")
@click.option("--trials", type=click.IntRange(min=1, max=10_000), default=48, show_default=True, metavar="N",
              help="Allocations to try (the shipped packages and each lever alone come first).")
@click.option("--replicates", type=click.IntRange(min=2, max=10_000), default=16, show_default=True, metavar="R",
              help="Paired draws each allocation of the search is scored on.")
@click.option("--check-replicates", type=click.IntRange(min=2, max=10_000), default=40, show_default=True,
              metavar="R", help="Fresh paired draws the best allocations and the packages are checked on.")
@click.option("--agents", type=click.IntRange(min=100), default=None, metavar="N",
              help="Citizens per run [default: the baseline's, 5000].")
@click.option("--seed", type=SEED, default=1, show_default=True)
@click.option("--uncertainty", type=click.Choice(["chance", "calibration", "full"]), default="full",
              show_default=True, help="What the paired draws carry (as for compare).")
@click.option("--name", default="optimised", show_default=True, metavar="NAME",
              help="Name of the allocation scenario written.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="W",
              help="Parallel worker processes [default: number of CPUs].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on a Dask cluster (tcp://host:port) instead of local processes.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results/optimise"),
              show_default=True, metavar="DIR")
@click.option("--pdf", is_flag=True, help="Also print brief.html to brief.pdf (needs Chromium or Chrome).")
@force_option
def optimise(budget: float, start: str, end: str, levers: tuple[str, ...], objective: str, targets: tuple[str, ...],
             baseline_ref: str, trials: int, replicates: int, check_replicates: int, agents: int | None, seed: int,
             uncertainty: str, name: str, workers: int | None, scheduler: str | None, out_dir: Path,
             pdf: bool, force: bool) -> None:
    """Search allocations of a budget across levers for the most users (or the most equal gains), under uncertainty.

    Every allocation is scored against the baseline on the same paired draws (Optuna's TPE search); the best few
    and the shipped packages the levers can express (moved to the window, set to the budget) are then run on fresh
    draws, and the best there is written as a scenario file (NAME.toml) that compare and the app run, beside
    brief.html, optimise.json and the comparison's tables. The search is kept in DIR.study.db: run the same
    command again to resume it, or with more --trials to extend it.
    """
    import re

    from tqdm import tqdm

    from egov_abm.scenarios.optimise import Settings, format_result, validate, write_result
    from egov_abm.scenarios.output import check_out_dir
    from egov_abm.scenarios.resources import check_memory, pool_workers
    from egov_abm.scenarios.scenario import SIMPLE_NAME, load_scenario

    if workers is not None and scheduler is not None:
        raise InputError("--workers sizes the local pool; with --scheduler the cluster's own workers are used")
    if scheduler is not None and "://" not in scheduler:
        raise InputError(f"--scheduler {scheduler}: expected an address such as tcp://host:8786")
    if not SIMPLE_NAME.fullmatch(name):
        raise InputError(f"--name: expected letters, digits, _ and -, got {name!r}")
    if not math.isfinite(budget):
        raise InputError(f"--budget-kzt: expected a number of KZT above 0, got {budget}")
    for flag, value in (("--start", start), ("--end", end)):
        if not re.fullmatch(r"\d{4}-\d{2}", value):
            raise InputError(f"{flag}: expected a month as YYYY-MM, got {value!r}")
    base = load_scenario(baseline_ref).with_overrides(n_agents=agents)
    settings = Settings(budget_kzt=budget, start=start, end=end, levers=levers, objective=objective, targets=targets,
                        trials=trials, replicates=replicates, check_replicates=check_replicates, seed=seed,
                        uncertainty=uncertainty, name=name)
    validate(settings, base)
    check_out_dir(out_dir, "optimise")
    if pdf:
        from egov_abm.scenarios.brief import find_browser

        find_browser()
    client = None
    if scheduler is not None:
        from egov_abm.scenarios.experiments.sweep import check_workers, connect

        client = connect(scheduler)
        check_workers(client)
    else:
        check_memory("optimise", [base], workers=pool_workers(workers, replicates), force=force)
    bars: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            for bar in bars.values():
                bar.close()
            bars[stage] = tqdm(total=total, unit="trial" if stage == "search" else "run", disable=None,
                               desc="searching" if stage == "search" else "checking")
        bar = bars[stage]
        bar.total = total
        bar.update(done - bar.n)

    from egov_abm.scenarios.optimise import optimise as run_optimiser

    try:
        result = run_optimiser(base, settings, out_dir, workers=workers, client=client, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
        if client is not None:
            client.close()
    report = write_result(result, base, baseline_ref, out_dir, pdf=pdf)
    click.echo(format_result(result))
    click.echo(f"{result.meta['trials']} trials and the check in {result.meta['seconds']} s; wrote "
               f"{out_dir}/{result.best_name}.toml (run it: egov-abm compare {out_dir}/{result.best_name}.toml, or "
               f"egov-abm app --scenario {out_dir}/{result.best_name}.toml), "
               f"{out_dir}/brief.html{', brief.pdf' if pdf else ''}, optimise.json, trials.parquet and {report}")


@cli.command()
@click.option("--agents", "sizes", type=click.IntRange(min=100), multiple=True, metavar="N",
              help="Population sizes to time (repeatable) [default: 10000 and 100000].")
@click.option("--months", type=click.IntRange(min=1, max=600), default=12, show_default=True, metavar="T",
              help="Months timed for the vectorised model.")
@click.option("--reference-months", type=click.IntRange(min=1, max=600), default=3, show_default=True,
              metavar="T", help="Months timed for the per-agent reference.")
@click.option("--reference-max", type=click.IntRange(min=0), default=100_000, show_default=True, metavar="N",
              help="Largest N at which the per-agent reference is also timed.")
@click.option("--seed", type=SEED, default=1, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="Also write the figures as JSON.")
@click.option("--sweep", "sweep_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="SPEC.toml", help="Instead: time this sweep on local Dask clusters against direct model calls.")
@click.option("--workers", "worker_counts", type=click.IntRange(min=1, max=256), multiple=True, metavar="N",
              help="With --sweep: cluster sizes to time (repeatable) [default: 1 and 2].")
@click.option("--repeat", type=click.IntRange(min=1, max=100), default=3, show_default=True,
              help="With --sweep: repetitions (medians are reported).")
def bench(sizes: tuple[int, ...], months: int, reference_months: int, reference_max: int, seed: int,
          json_path: Path | None, sweep_path: Path | None, worker_counts: tuple[int, ...], repeat: int) -> None:
    """Time build and month-steps of the vectorised model and the per-agent reference (or a sweep's runs/s)."""
    import json

    from egov_abm.scenarios.cli.bench import format_sweep_table, format_table, run_benchmark, sweep_benchmark

    if sweep_path is not None:
        from egov_abm.scenarios.experiments.spec import load_sweep

        load_sweep(sweep_path)  # bad file: one line before anything runs
        rows = sweep_benchmark(sweep_path, worker_counts or (1, 2), repeat, echo=lambda s: click.echo(s, err=True))
        click.echo(format_sweep_table(rows))
        if json_path is not None:
            json_path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
            click.echo(f"wrote {json_path}")
        return
    if worker_counts:
        raise InputError("--workers: only used with --sweep")
    rows = run_benchmark(sizes or (10_000, 100_000), months=months, reference_months=reference_months,
                         reference_max=reference_max, seed=seed, echo=lambda s: click.echo(s, err=True))
    click.echo(format_table(rows))
    if json_path is not None:
        json_path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        click.echo(f"wrote {json_path}")


@cli.command()
@click.option("--agents", type=click.IntRange(min=1000, max=1_000_000), default=20_000, show_default=True,
              metavar="N", help="Simulated citizens in each run.")
@click.option("--seed", type=SEED, default=1, show_default=True, metavar="S",
              help="Seed of every run (scenario and baseline share it).")
def doses(agents: int, seed: int) -> None:
    """Measure what each intervention kind delivers against its stated dose, in the dose's unit."""
    from egov_abm.scenarios.doses import format_table, measure_doses

    click.echo(format_table(measure_doses(n_agents=agents, seed=seed)))


@cli.command()
@click.argument("spec_path", type=click.Path(path_type=Path), metavar="SPEC.toml|NAME")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Results folder [default: results/sweeps/<sweep name>]. Re-running into it resumes.")
@click.option("--workers", type=click.IntRange(min=1, max=1024), default=None, metavar="N",
              help="Worker processes of the local Dask cluster [default: the CPUs available].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Use an existing Dask cluster, e.g. tcp://10.0.0.5:8786, instead of a local one.")
@click.option("--retry-failed", is_flag=True, help="Run again the runs stored as failed.")
@click.option("--dry-run", is_flag=True,
              help="Check the sweep file and print the design size and memory estimate; run nothing.")
@click.option("--dashboard", is_flag=True,
              help="Serve the local cluster's Dask dashboard on 127.0.0.1 and print its address (needs bokeh).")
@force_option
def sweep(spec_path: Path, out_dir: Path | None, workers: int | None, scheduler: str | None, retry_failed: bool,
          dry_run: bool, dashboard: bool, force: bool) -> None:
    """Run a parameter sweep (grid, Latin hypercube, Sobol' or Morris design) on Dask; results as Parquet.

    SPEC is a sweep file, or the name of a shipped one (smoke, sobol_dynamics).
    """
    from tqdm import tqdm

    from egov_abm.scenarios.experiments.spec import load_sweep
    from egov_abm.scenarios.experiments.sweep import SweepInterrupted, check_dashboard, plan_sweep, run_sweep
    from egov_abm.scenarios.output import check_out_dir
    from egov_abm.scenarios.resources import check_sweep

    if workers is not None and scheduler is not None:
        raise InputError("--workers sizes a local cluster; with --scheduler the cluster's own workers are used")
    if dashboard and scheduler is not None:
        raise InputError("--dashboard serves a local cluster's dashboard; a --scheduler cluster has its own")
    if dashboard:
        check_dashboard()
    if scheduler is not None and "://" not in scheduler:
        raise InputError(f"--scheduler {scheduler}: expected an address such as tcp://host:8786")
    spec = load_sweep(spec_path)
    out_dir = out_dir or Path("results") / "sweeps" / spec.name
    check_out_dir(out_dir, "sweep")  # before the design is built; --dry-run reports a bad --out too
    plan = plan_sweep(spec)
    points = len(plan.design.points)
    click.echo(f"sweep {spec.name}: {spec.method} design, {points:,} points x {spec.replicates} replicate(s) = "
               f"{len(plan.tasks):,} runs of {plan.tasks[0].params['n_agents']:,} citizens over {plan.months} months")
    if scheduler is None:  # a local cluster: its workers share this machine's memory
        estimate = check_sweep(plan, workers, force=force or dry_run)
        if dry_run:
            click.echo(estimate)
    if dry_run:
        return
    _check_interrupt()
    bar = tqdm(unit="run", desc=spec.name, disable=None, dynamic_ncols=True)
    failed = 0

    def on_start(total: int, done: int) -> None:
        _check_interrupt()
        bar.reset(total=total)
        bar.update(done)
        bar.unpause()
        if done:
            bar.write(f"{done:,} of {total:,} runs already in {out_dir}; running the other {total - done:,}")

    def progress(row: dict) -> None:
        nonlocal failed
        _check_interrupt()
        if row["status"] != "ok":
            failed += 1
            if failed <= 3:
                bar.write(f"run {row['run_id']} (point {row['point']}, replicate {row['replicate']}) failed: "
                          f"{row['error']}")
        bar.set_postfix(failed=failed, refresh=False)
        bar.update(1)

    try:
        stats = run_sweep(plan, out_dir, workers=workers, scheduler=scheduler, retry_failed=retry_failed,
                          progress=progress, on_start=on_start,
                          dashboard=(lambda link: bar.write(f"Dask dashboard: {link}")) if dashboard else None)
    except SweepInterrupted as exc:
        bar.close()
        click.echo(f"egov-abm: {exc}", err=True)
        raise SystemExit(exc.exit_code) from None
    bar.close()
    if stats.computed == 0:
        click.echo(f"all {stats.runs:,} runs were already done in {out_dir}; nothing to compute")
    else:
        rate = stats.computed / stats.compute_seconds if stats.compute_seconds else float("nan")
        click.echo(f"{stats.computed:,} runs in {stats.seconds:.1f} s on {stats.workers} worker(s) "
                   f"({rate:.2f} runs/s while computing), {stats.failed:,} failed; {stats.skipped:,} were already done")
    if stats.failed:
        click.echo("failed runs keep their error in the 'error' column; --retry-failed runs them again", err=True)
    click.echo(f"results: {out_dir} (pandas.read_parquet('{out_dir}')); analyse with: egov-abm analyze {out_dir}")


@cli.command()
@click.argument("sweep_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR")
@click.option("--outcome", "outcomes", multiple=True, metavar="NAME",
              help="Summary outcome to analyse (repeatable) [default: all recorded].")
@click.option("--no-plots", is_flag=True, help="Write tables and report only.")
def analyze(sweep_dir: Path, outcomes: tuple[str, ...], no_plots: bool) -> None:
    """Summarise a sweep per design point and compute Sobol' or Morris indices (SALib); write _analysis/."""
    from egov_abm.scenarios.experiments.analysis import analyze_dir, format_indices, format_summary

    result, target = analyze_dir(sweep_dir, list(outcomes) or None, plots=not no_plots)
    from egov_abm.scenarios.experiments.sweep import read_meta

    meta = read_meta(sweep_dir)
    c = result.counts
    click.echo(f"sweep {meta['name']}: {meta['method']} design, {c['points']:,} points, {c['runs']:,} runs "
               f"({c['ok']:,} ok, {c['failed']:,} failed, {c['missing']:,} not run yet)")
    click.echo(format_summary(result, max_rows=12))
    if not result.indices.empty:
        click.echo(f"{'Sobol' if meta['method'] == 'sobol' else 'Morris'} indices:")
        click.echo(format_indices(result, meta["method"]))
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {target}/ (summary.csv, report.md{', indices.csv' if not result.indices.empty else ''}, plots)")


def _parse_scale(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, float] | None:
    """``MIN,MAX`` from ``--scale`` (e.g. ``1,5``) as two numbers with MIN < MAX."""
    if value is None:
        return None
    parts = value.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise click.BadParameter(f"expected MIN,MAX such as 1,5, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise click.BadParameter(f"expected finite MIN < MAX such as 1,5, got {value!r}")
    return lo, hi


@cli.group()
def calibrate() -> None:
    """Fit the model's parameters to data (sem: the survey's structural equation model)."""


@calibrate.command("sem")
@click.option("--survey", "survey_path", type=click.Path(path_type=Path), required=True, metavar="CSV",
              help="Survey responses: one row per respondent, one column per item, header row of names.")
@click.option("--spec", "spec_path", type=click.Path(path_type=Path), required=True, metavar="FILE",
              help="semopy model description, e.g. calibration/specs/final.sem.")
@click.option("--scale", callback=_parse_scale, default=None, metavar="MIN,MAX",
              help="Declared response scale, e.g. 1,5; a value outside it is an error.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("sem_fit.json"),
              show_default=True, metavar="FILE.json", help="Where to write the fit as JSON.")
def calibrate_sem_cmd(survey_path: Path, spec_path: Path, scale: tuple[float, float] | None, out_path: Path) -> None:
    """Fit a structural equation model to survey responses and write the fit as JSON.

    When the spec has the simulation's constructs (attitude, trust, readiness,
    intention) the JSON carries a 'sem' block the simulation can load.
    """
    from egov_abm.calibration.sem_calibrate import calibrate_sem, format_report, write_json
    from egov_abm.scenarios.output import check_out_file

    if out_path.is_dir():
        raise InputError(f"--out {out_path}: is a folder; expected a file name such as {out_path / 'sem_fit.json'}")
    check_out_file(out_path)
    doc = calibrate_sem(survey_path, spec_path, scale=scale)
    written = write_json(doc, out_path)
    click.echo(format_report(doc))
    click.echo(f"wrote {written}")


@calibrate.command("dynamics")
@click.option("--budget", type=click.IntRange(min=10), default=6000, show_default=True, metavar="N",
              help="Most model runs to spend (with --scheduler the last generation may overrun it).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("dynamics_posterior.json"), show_default=True, metavar="FILE",
              help="Posterior ensemble (JSON); pyabc's history is kept beside it as FILE-stem.abc.db, and a rerun "
                   "with the same arguments continues from it.")
@click.option("--population", type=click.IntRange(min=10), default=300, show_default=True, metavar="P",
              help="Particles per generation.")
@click.option("--agents", type=click.IntRange(min=100), default=5_000, show_default=True, metavar="N",
              help="Citizens per calibration run.")
@click.option("--seed", type=SEED, default=1, show_default=True,
              help="Seed of the proposals drawn in this process (pyabc's workers reseed from the system: the "
                   "sampler is not seed-reproducible; every model run is).")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="W",
              help="Local worker processes [default: number of CPUs].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on a Dask cluster, e.g. tcp://host:8786, instead of local processes.")
@click.option("--tolerance", "min_tolerance", type=click.FloatRange(min=0.0), default=1.0, show_default=True,
              help="Stop once runs are this close to the data (RMS residual in noise units, blocks weighted "
                   "equally).")
@click.option("--holdout-from", "holdout_from", type=int, default=None, metavar="YEAR",
              help="Fit only the figures before YEAR, then report how well the posterior predicts the others.")
@click.option("--draws", type=click.IntRange(min=10), default=100, show_default=True, metavar="K",
              help="Posterior draws that predict the held-out figures.")
def calibrate_dynamics_cmd(budget: int, out_path: Path, population: int, agents: int, seed: int,
                           workers: int | None, scheduler: str | None, min_tolerance: float,
                           holdout_from: int | None, draws: int) -> None:
    """Fit the dynamic parameters to Kazakhstan's record 2006-2021 (pyabc ABC-SMC posterior ensemble)."""
    from egov_abm.calibration.abc import calibrate_dynamics
    from egov_abm.scenarios.output import check_out_file
    from egov_abm.scenarios.parallel import default_workers

    if workers is not None and scheduler is not None:
        raise InputError("--workers sizes the local run; with --scheduler the cluster's own workers are used")
    if scheduler is not None and "://" not in scheduler:
        raise InputError(f"--scheduler {scheduler}: expected an address such as tcp://host:8786")
    check_out_file(out_path)
    posterior = calibrate_dynamics(budget, out_path, population=population, agents=agents, seed=seed,
                                   workers=default_workers() if workers is None else workers, scheduler=scheduler,
                                   min_tolerance=min_tolerance, holdout_from=holdout_from, draws=draws,
                                   log=click.echo)
    meta = posterior.meta
    last = posterior.generations[-1]
    ended = {"target": f"reached the tolerance target {min_tolerance:g}",
             "budget": f"the budget of {budget:,} runs ended first: tolerance {last['tolerance'] or float('inf'):.3g} "
                       f"did not reach the target {min_tolerance:g}",
             "generations": "stopped at the most generations"}[meta["stopped"]]
    click.echo(f"{meta['simulations']:,} runs, {len(posterior.generations)} generations; {ended}")
    click.echo(f"{'parameter':<30} {'median':>9} {'5 %':>9} {'95 %':>9}")
    for row in posterior.summary():
        click.echo(f"{row['parameter']:<30} {row['q50']:>9.4g} {row['q05']:>9.4g} {row['q95']:>9.4g}")
    if meta.get("holdout"):
        h = meta["holdout"]
        click.echo(f"held out from {holdout_from}: {len(h['figures'])} figures")
        click.echo(f"{'figure':<34} {'observed':>9} {'model 90 % band':>19} {'in 50/90':>9} {'noisy 50/90':>12} "
                   f"{'PIT':>5}")
        for r in h["figures"]:
            yes = {True: "yes", False: "no"}
            click.echo(f"{r['target'] + ' ' + r['date']:<34} {r['observed']:>9.4g} "
                       f"{r['model_q05']:>9.4g}-{r['model_q95']:<9.4g} "
                       f"{yes[r['model_covered_50']] + '/' + yes[r['model_covered_90']]:>9} "
                       f"{yes[r['covered_50']] + '/' + yes[r['covered_90']]:>12} {r['pit']:>5.2f}")
        s = h["summary"]
        click.echo(f"covered, model only: {s['model_covered_50']:.0%} (50 %), {s['model_covered_90']:.0%} (90 %); "
                   f"with observation noise: {s['covered_50']:.0%}, {s['covered_90']:.0%}")
    click.echo(f"wrote {out_path} (history: {meta['history']})")


@calibrate.command("synthetic")
@click.option("--sets", type=click.IntRange(min=2), default=20, show_default=True, metavar="S",
              help="Synthetic data sets, each drawn from the prior and calibrated.")
@click.option("--budget", type=click.IntRange(min=10), default=800, show_default=True, metavar="N",
              help="Most model runs per data set.")
@click.option("--population", type=click.IntRange(min=10), default=100, show_default=True, metavar="P")
@click.option("--agents", type=click.IntRange(min=100), default=2_000, show_default=True, metavar="N")
@click.option("--seed", type=SEED, default=11, show_default=True, help="Seed of the true values and the noise.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="W",
              help="Local worker processes [default: number of CPUs].")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("synthetic_check.json"), show_default=True, metavar="FILE",
              help="The coverage table (JSON); the histories are kept in FILE-stem.histories/ so a rerun continues.")
def calibrate_synthetic_cmd(sets: int, budget: int, population: int, agents: int, seed: int, workers: int | None,
                            out_path: Path) -> None:
    """Check the calibration on synthetic data drawn from the prior (coverage of the true values, SBC-style)."""
    import json

    from egov_abm.calibration.abc import calibration_config
    from egov_abm.calibration.targets import load_observations
    from egov_abm.calibration.validation import synthetic_check
    from egov_abm.scenarios.output import atomic_file, check_out_file
    from egov_abm.scenarios.parallel import default_workers

    check_out_file(out_path)
    workdir = out_path.with_name(out_path.stem + ".histories")
    workdir.mkdir(parents=True, exist_ok=True)
    doc = synthetic_check(calibration_config(agents), workdir, sets=sets, budget=budget, population=population,
                          observations=load_observations(), workers=default_workers() if workers is None else workers,
                          seed=seed, log=click.echo)
    with atomic_file(out_path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    click.echo(f"{'parameter':<30} {'in 50 %':>8} {'in 90 %':>8}")
    for row in doc["coverage"]:
        if row["in50"] is not None:
            click.echo(f"{row['parameter']:<30} {row['in50']:>8.0%} {row['in90']:>8.0%}")
    click.echo(f"all parameters: {doc['overall_in50']:.0%} inside their 50 % intervals, {doc['overall_in90']:.0%} "
               f"inside their 90 % intervals (nominal 50 % and 90 %)")
    click.echo(f"wrote {out_path}")


@calibrate.command("report")
@click.option("--posterior", "posterior_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="Posterior from 'calibrate dynamics' [default: the shipped one].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("calibration_report"), show_default=True, metavar="DIR", help="Folder for the report.")
@click.option("--draws", type=click.IntRange(min=10), default=100, show_default=True, metavar="K",
              help="Posterior draws to run (one seed each).")
@click.option("--agents", type=click.IntRange(min=100), default=10_000, show_default=True, metavar="N")
@click.option("--seed", type=SEED, default=7, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="W",
              help="Parallel worker processes [default: number of CPUs].")
@click.option("--holdout", "holdout_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="Posterior fitted with --holdout-from [default: the shipped 2018 hold-out].")
@click.option("--synthetic", "synthetic_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="Result of 'calibrate synthetic' [default: the shipped one].")
def calibrate_report_cmd(posterior_path: Path | None, out_dir: Path, draws: int, agents: int, seed: int,
                         workers: int | None, holdout_path: Path | None, synthetic_path: Path | None) -> None:
    """Identification, in-sample, hold-out and synthetic checks, and the 2022-2030 projection (Markdown)."""
    from egov_abm.calibration.posterior import (
        DEFAULT_HOLDOUT,
        DEFAULT_POSTERIOR,
        DEFAULT_SYNTHETIC,
        load_posterior,
        load_synthetic,
    )
    from egov_abm.calibration.report import write_report
    from egov_abm.scenarios.output import check_out_dir

    check_out_dir(out_dir, "report")
    posterior = load_posterior(posterior_path or DEFAULT_POSTERIOR)
    holdout_path = holdout_path or (DEFAULT_HOLDOUT if DEFAULT_HOLDOUT.exists() else None)
    holdout = load_posterior(holdout_path) if holdout_path else None
    if holdout is not None and not holdout.meta.get("holdout"):
        raise InputError(f"--holdout {holdout_path}: not a posterior fitted with --holdout-from")
    synthetic_path = synthetic_path or (DEFAULT_SYNTHETIC if DEFAULT_SYNTHETIC.exists() else None)
    synthetic = load_synthetic(synthetic_path) if synthetic_path else None
    figures = write_report(posterior, out_dir, draws=draws, agents=agents, seed=seed, workers=workers,
                           holdout=holdout, synthetic=synthetic)
    for target, share in figures["coverage_90"].items():
        click.echo(f"{target:<18} {share:>5.0%} of published figures inside the predictive 90 % band")
    click.echo(f"wrote {out_dir / 'report.md'} with plots, projection_2022_2030.csv and posterior tables")


@cli.command()
@click.option("--port", type=click.IntRange(min=1, max=65535), default=8765, show_default=True, metavar="P",
              help="Port to serve the app on.")
@click.option("--host", default="127.0.0.1", show_default=True, metavar="HOST",
              help="Address to bind; the default serves this machine only (use 0.0.0.0 to share on a network).")
@click.option("--open/--no-open", "open_browser", default=False, show_default=True,
              help="Open the app in a web browser once it is up.")
@click.option("--scenario", "scenario_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Also offer this scenario file on the Explore and Compare pages, by its file name "
                                   "(e.g. the NAME.toml optimise writes); repeatable.")
def app(port: int, host: str, open_browser: bool, scenario_files: tuple[Path, ...]) -> None:
    """Start the browser app (Explore, Compare and Calibration pages) at http://HOST:P/."""
    import socket

    from egov_abm.scenarios.scenario import EXTRA_SCENARIOS, load_scenario, shipped_scenarios

    for path in scenario_files:
        if path.stem in shipped_scenarios():
            raise InputError(f"--scenario {path}: '{path.stem}' is a shipped scenario's name; rename the file")
        load_scenario(path)  # a bad file is one line now, not an error in the browser later
    if len({p.stem for p in scenario_files}) != len(scenario_files):
        raise InputError("--scenario: two files have the same name")
    if scenario_files:
        os.environ[EXTRA_SCENARIOS] = os.pathsep.join(str(p.absolute()) for p in scenario_files)

    if not host.strip():
        raise click.BadParameter("expected a host name or address, got an empty string", param_hint="'--host'")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise click.BadParameter(f"{host!r} is not a known host name or address", param_hint="'--host'") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            raise click.BadParameter(f"cannot listen on {host}:{port} ({exc.strerror}); choose another with --port",
                                     param_hint="'--port'") from None
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")  # no calls home
    os.environ.setdefault("SOLARA_CHECK_HOOKS", "off")  # Mesa 3.3.1's own components trip this check
    os.environ.setdefault("SOLARA_THEME_SHOW_BANNER", "False")  # its corner badge covered charts' legends
    os.environ.setdefault("SOLARA_THEME_TITLE", "egov-abm")  # the browser tab's title
    from solara.__main__ import cli as solara_cli

    click.echo(f"egov-abm app: serving http://{host}:{port}/ (Ctrl-C to stop)", err=True)
    solara_cli.main(args=["run", "egov_abm.viz.app", "--host", host, "--port", str(port), "--production",
                           "--open" if open_browser else "--no-open"], standalone_mode=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code.

    During the command, Ctrl-C also sets :data:`_CTRL_C` (:func:`_on_interrupt`); the process's own handler is
    put back after.
    """
    _CTRL_C.clear()
    previous = None
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
        previous = signal.signal(signal.SIGINT, _on_interrupt)
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _main(argv: list[str] | None) -> int:
    try:
        result = cli.main(args=argv, prog_name="egov-abm", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        message = " ".join(exc.format_message().split())
        cmd = exc.ctx.command_path if exc.ctx is not None else "egov-abm"
        click.echo(f"{cmd}: error: {message} (see '{cmd} --help')", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"egov-abm: error: {' '.join(exc.format_message().split())}", err=True)
        return exc.exit_code or 1
    except InputError as exc:
        click.echo(f"egov-abm: error: {exc}", err=True)
        return 2
    except (KeyboardInterrupt, click.Abort, _Interrupted):
        click.echo("egov-abm: interrupted; results already written are kept", err=True)
        _forget_handled_interrupt()
        return 130
    except WorkerLost as exc:
        click.echo(f"egov-abm: error: {exc}", err=True)
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"egov-abm: error: {where}{exc.strerror or exc}", err=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
