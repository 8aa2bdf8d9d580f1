"""The budget optimiser: the mix of levers that does most with a budget, under uncertainty, on common random numbers.

Given a budget, a window of months and the levers it may be spent on
(:mod:`.levers`), :func:`optimise` searches allocations (the share of the
budget on each lever and, where a lever allows it, the group it aims at) for
the best expected objective:

- ``users``: extra adults who used the portal in the last 12 months at the
  horizon, national, against the baseline;
- ``equity``: the mean, over the rural, 60+ and school-education-only adults,
  of the gain in each group's share of users, in points.

Every allocation is scored on the same paired draws as the baseline: draw
``r`` is replicate ``r`` with the same random streams and, at the ``full``
level of uncertainty, the same posterior draw, SEM member, intention slope
and returns to spending. Differences between allocations are therefore
paired and the search compares like with like.

The search uses Optuna's TPE sampler through its ask-and-tell interface:
each batch of trials is asked for, their runs are sent to the same worker
pool (or Dask cluster) the comparisons use, and the results are told back.
Optuna keeps the study in SQLite beside the output folder, so an interrupted
search resumes where it stopped. Optuna, not a hand-written search, because
its TPE handles the mix of continuous shares and categorical targets, and its
storage gives resuming for free; its own Dask integration is not used, because
one trial is many model runs that the project's runner already spreads.

The shipped packages the levers can express (:func:`.levers.package_allocation`)
are asked first, moved to the window and scaled to the budget, so they are
points of the search. The last step checks: the best few allocations of the
search and those packages run again on fresh paired draws (another seed), and
the best of them there is the answer. The answer is therefore at least as good
in expectation as each package on those draws, and its P(beats) and intervals
are read from draws the search did not select on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from egov_abm.model import InputError
from egov_abm.model.calendar import month_index
from egov_abm.scenarios.levers import (
    TARGETS,
    Allocation,
    AllocationError,
    check_budget,
    check_levers,
    check_window,
    load_levers,
    package_allocation,
    repair,
)
from egov_abm.scenarios.scenario import Scenario, uncertainty_level

OBJECTIVES = {"users": "extra adults using the portal (12-month measure) at the horizon, national",
              "equity": "mean gain, in points, of the share of users among rural, 60+ and school-education-only "
                        "adults at the horizon"}
EQUITY_COLUMNS = ("adoption_rural", "adoption_age_60plus", "adoption_education_secondary")
#: Allocations of the search run again on the fresh draws of the check, besides the packages.
CHECKED = 3
#: The check's draws: the run's seed plus this (so they are not the draws the search selected on).
CHECK_SEED_OFFSET = 1_000_003


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the optimiser searches and how."""

    budget_kzt: float
    start: str
    end: str
    levers: tuple[str, ...]
    objective: str = "users"
    targets: tuple[str, ...] = tuple(TARGETS)  # groups a lever may aim at
    trials: int = 48
    replicates: int = 16  # paired draws per trial
    check_replicates: int = 40  # paired draws of the check
    seed: int = 1
    uncertainty: str = "full"
    name: str = "optimised"

    @property
    def months(self) -> int:
        """Months in the window."""
        return month_index(self.end, start=self.start) + 1

    def key(self, baseline: Scenario) -> str:
        """Name of the study: what fixes the trials' values (the number of trials may grow on resume).

        A change of settings, baseline, version, lever table or priors starts a new study in the same file.
        """
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("trials", "check_replicates", "name")}
        from egov_abm.scenarios.levers import LEVERS_FILE, priors

        fields.update(baseline=baseline.name, agents=baseline.params.n_agents, months=baseline.months,
                      start_month=baseline.params.start_month, version=_version(),
                      levers=hashlib.sha256(LEVERS_FILE.read_bytes()).hexdigest(),  # what money buys, and
                      priors=[dataclasses.astuple(p) for p in priors()])  # its uncertainty
        return "optimise-" + hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _version() -> str:
    from egov_abm.scenarios.runner import package_version

    return package_version()


def validate(settings: Settings, baseline: Scenario) -> None:
    """Refuse settings no search can run: one line naming the option (:class:`AllocationError`)."""
    check_levers(list(settings.levers), "--levers")
    if not settings.levers:
        raise AllocationError("--levers: name at least one lever")
    if settings.objective not in OBJECTIVES:
        raise AllocationError(f"--objective: expected one of {', '.join(OBJECTIVES)}, got {settings.objective!r}")
    for t in settings.targets:
        if t not in TARGETS:
            raise AllocationError(f"--target: unknown group {t!r} (known: {', '.join(TARGETS)})")
    if "all" not in settings.targets and not any(
            set(load_levers()[k].targets) & set(settings.targets) for k in settings.levers):
        raise AllocationError(f"--target: none of {', '.join(settings.levers)} can aim at "
                              f"{', '.join(settings.targets)}")
    if settings.uncertainty not in ("chance", "calibration", "full"):
        raise AllocationError(f"--uncertainty: expected one of chance, calibration, full, got "
                              f"{settings.uncertainty!r}")
    check_window(settings.start, settings.end, baseline.params.start_month, baseline.months, "--start/--end")
    check_budget(settings.budget_kzt, list(settings.levers), settings.months, "--budget-kzt")
    if settings.uncertainty != "chance" and baseline.posterior is None:
        raise AllocationError(f"--uncertainty {settings.uncertainty}: the baseline {baseline.name!r} has no "
                              f"posterior; use --uncertainty chance")


def lever_targets(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Per lever, the groups the search may aim it at (the lever's own, within ``--target``; at least one)."""
    table = load_levers()
    out = {}
    for k in settings.levers:
        allowed = tuple(t for t in table[k].targets if t in settings.targets)
        out[k] = allowed or ("all",)
    return out


def allocation_of(params: dict, settings: Settings) -> Allocation:
    """The allocation a trial's parameters stand for (weights repaired into shares, :func:`.levers.repair`)."""
    targets = lever_targets(settings)
    weights = {k: float(params.get(f"w_{k}", 0.0)) for k in settings.levers}
    shares = repair(weights, settings.budget_kzt, settings.months)
    chosen = {k: params.get(f"target_{k}", targets[k][0]) for k in settings.levers}
    return Allocation(settings.budget_kzt, settings.start, settings.end,
                      tuple((k, shares[k], chosen[k]) for k in settings.levers if shares[k] > 0))


def trial_params(allocation: Allocation, settings: Settings) -> dict:
    """Parameters of the trial that stands for ``allocation`` (to enqueue it)."""
    targets = lever_targets(settings)
    by_lever = {k: (s, t) for k, s, t in allocation.shares}
    params = {f"w_{k}": by_lever.get(k, (0.0, ""))[0] for k in settings.levers}
    for k in settings.levers:
        if len(targets[k]) > 1:
            params[f"target_{k}"] = by_lever[k][1] if k in by_lever and by_lever[k][1] in targets[k] else targets[k][0]
    return params


def _suggest(trial, settings: Settings) -> dict:
    targets = lever_targets(settings)
    params = {f"w_{k}": trial.suggest_float(f"w_{k}", 0.0, 1.0) for k in settings.levers}
    for k in settings.levers:
        if len(targets[k]) > 1:
            params[f"target_{k}"] = trial.suggest_categorical(f"target_{k}", list(targets[k]))
    return params


def allocation_scenario(baseline: Scenario, allocation: Allocation, name: str, description: str) -> Scenario:
    """``baseline`` with ``allocation`` added (what money buys at its priors' middle; variants draw it)."""
    scenario = dataclasses.replace(baseline, name=name, description=description, allocation=allocation)
    return dataclasses.replace(scenario, policies=(*baseline.policies, *allocation.policies(
        baseline.params.start_month, None, name)))


def packages(baseline: Scenario, settings: Settings) -> dict[str, Allocation]:
    """The shipped policies that are allocations of the chosen levers, moved to the window and scaled to the budget."""
    from egov_abm.scenarios.scenario import SCENARIO_DIR, load_scenario

    out = {}
    for path in sorted((SCENARIO_DIR / "policies").glob("*.toml")):
        alloc = package_allocation(load_scenario(path), settings.budget_kzt, settings.start, settings.end)
        if alloc is None or any(k not in settings.levers for k, _, _ in alloc.shares):
            continue
        if any(t not in lever_targets(settings)[k] for k, _, t in alloc.shares):
            continue
        try:
            shares = repair({k: s for k, s, _ in alloc.shares}, settings.budget_kzt, settings.months)
        except AllocationError:
            continue
        if any(not math.isclose(shares[k], s, abs_tol=1e-9) for k, s, _ in alloc.shares):
            continue  # the budget would put more on a lever than it can take: not a point of the search
        out[path.stem] = alloc
    return out


def _metrics_job(args) -> dict:
    """One run's horizon figures the objectives need (small, to send back from a worker)."""
    from egov_abm.scenarios.runner import release, run_one

    scenario, seed, replicate = args
    try:
        frame = run_one(scenario, seed, replicate)
    finally:
        release(scenario)
    last = frame.iloc[-1]
    return {"adoption": float(last["adoption"]), **{c: float(last[c]) for c in EQUITY_COLUMNS if c in frame},
            "cost_kzt": float(last["cumulative_cost_kzt_national"])}


def objective_values(metrics: list[dict], base: list[dict], objective: str, adults: float) -> np.ndarray:
    """Per paired draw, the objective of an allocation against the baseline."""
    if objective == "users":
        return np.array([(m["adoption"] - b["adoption"]) * adults for m, b in zip(metrics, base, strict=True)])
    return np.array([100 * np.mean([m[c] - b[c] for c in EQUITY_COLUMNS]) for m, b in zip(metrics, base, strict=True)])


@dataclasses.dataclass
class Result:
    """The optimiser's answer and what it rests on."""

    best: Allocation
    best_name: str
    comparison: object  # compare.Comparison of the best allocation and the packages on the check draws
    trials: pd.DataFrame  # one row per completed trial
    check: pd.DataFrame  # per candidate of the check: objective mean, interval, P(beats each package)
    meta: dict


def _storage(path: Path):
    import optuna

    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(f"sqlite:///{path.absolute()}", engine_kwargs={"connect_args": {"timeout": 60}})


def study_path(out_dir: Path) -> Path:
    """The SQLite file that keeps the search's trials: beside the output folder, so a rerun resumes."""
    out_dir = Path(out_dir)
    return out_dir.with_name(f"{out_dir.name}.study.db")


def optimise(baseline: Scenario, settings: Settings, out_dir: Path, *, workers: int | None = None, client=None,
             progress: Callable[[str, int, int], object] | None = None) -> Result:
    """Search allocations, check the best on fresh draws, and return the answer (see the module's text).

    ``progress(stage, done, total)`` is called as trials (stage ``search``) and check runs (``check``) finish.
    The study is kept in :func:`study_path` of ``out_dir``; trials a stopped search left unfinished are run
    again.
    """
    import optuna

    from egov_abm.calibration.defaults import demographic_constants
    from egov_abm.scenarios.parallel import default_workers, map_runs, process_pool

    validate(settings, baseline)
    level = uncertainty_level(settings.uncertainty)
    adults = demographic_constants()["adult_population_2021"]
    started = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _storage(study_path(out_dir))
    sampler = optuna.samplers.TPESampler(seed=settings.seed % 2**32, multivariate=True, n_startup_trials=10)
    key = settings.key(baseline)
    study = optuna.create_study(study_name=key, storage=storage, direction="maximize", sampler=sampler,
                                load_if_exists=True)
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)  # left by a stopped search
    shipped = packages(baseline, settings)
    if not study.trials:
        for alloc in shipped.values():
            study.enqueue_trial(trial_params(alloc, settings))
        for k in settings.levers:  # each lever alone, on everyone
            study.enqueue_trial(trial_params(Allocation(settings.budget_kzt, settings.start, settings.end,
                                                        ((k, 1.0, lever_targets(settings)[k][0]),)), settings))
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)):
        if not t.user_attrs.get("requeued"):
            study.enqueue_trial(t.params, skip_if_exists=False)
            storage.set_trial_user_attr(t._trial_id, "requeued", True)
    R = settings.replicates
    base_variants = baseline.variants(R, settings.seed, level)
    done = lambda: len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))  # noqa: E731
    own_pool = client is None and (workers or default_workers()) > 1

    def search(pool) -> None:
        base = map_runs(_metrics_job, [(v, settings.seed, r) for r, v in enumerate(base_variants)], client=pool,
                        workers=workers)
        batch = max(2, workers or 2)
        while done() < settings.trials:
            asked = [study.ask() for _ in range(min(batch, settings.trials - done()))]
            allocations, jobs = [], []
            for trial in asked:
                alloc = allocation_of(_suggest(trial, settings), settings)
                scen = allocation_scenario(baseline, alloc, settings.name, "")
                allocations.append(alloc)
                jobs.extend((v, settings.seed, r) for r, v in enumerate(scen.variants(R, settings.seed, level)))
            results = map_runs(_metrics_job, jobs, client=pool, workers=workers)
            for k, (trial, alloc) in enumerate(zip(asked, allocations, strict=True)):
                values = objective_values(results[k * R:(k + 1) * R], base, settings.objective, adults)
                trial.set_user_attr("allocation", [list(s) for s in alloc.shares])
                trial.set_user_attr("values", [float(v) for v in values])
                trial.set_user_attr("cost_kzt", float(np.mean([m["cost_kzt"] for m in results[k * R:(k + 1) * R]])
                                    - np.mean([m["cost_kzt"] for m in base])))
                study.tell(trial, float(values.mean()))
            if progress is not None:
                progress("search", done(), settings.trials)

    if own_pool:
        with process_pool(workers) as pool:
            search(pool)
            result = _check(study, baseline, settings, shipped, level, adults, pool, workers, progress)
    else:
        search(client)
        result = _check(study, baseline, settings, shipped, level, adults, client, workers, progress)
    result.meta["seconds"] = round(time.perf_counter() - started, 1)
    result.meta["study"] = {"file": str(study_path(out_dir)), "name": key}
    return result


def _trials_frame(study, settings: Settings) -> pd.DataFrame:
    import optuna

    rows = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        shares = {k: (s, g) for k, s, g in t.user_attrs["allocation"]}
        values = np.asarray(t.user_attrs["values"])
        row = {"trial": t.number, "objective_mean": t.value,
               "objective_se": float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else np.nan,
               "cost_kzt": t.user_attrs.get("cost_kzt", np.nan)}
        for k in settings.levers:
            row[f"share_{k}"] = shares.get(k, (0.0, ""))[0]
            row[f"target_{k}"] = shares.get(k, (0.0, ""))[1] or None
        rows.append(row)
    return pd.DataFrame(rows).sort_values("objective_mean", ascending=False, ignore_index=True)


def _check(study, baseline, settings, shipped, level, adults, pool, workers, progress) -> Result:
    """Run the best allocations of the search and the packages on fresh paired draws; the best there wins."""
    from egov_abm.scenarios.compare import comparison_from_runs, run_all

    trials = _trials_frame(study, settings)
    seen, candidates = set(), []
    package_keys = {tuple(sorted((k, round(s, 6), t) for k, s, t in a.shares)) for a in shipped.values()}
    ordered = sorted((t for t in study.trials if t.value is not None), key=lambda t: -t.value)
    for t in ordered:
        shares = tuple((k, float(s), g) for k, s, g in t.user_attrs["allocation"])
        key = tuple(sorted((k, round(s, 6), g) for k, s, g in shares))
        if key in seen or key in package_keys:
            continue
        seen.add(key)
        candidates.append((f"{settings.name}_{len(candidates) + 1}",
                           Allocation(settings.budget_kzt, settings.start, settings.end, shares), t.number))
        if len(candidates) == CHECKED:
            break
    window = f"{settings.start} to {settings.end}"
    budget = f"{settings.budget_kzt / 1e9:,.1f} bn KZT"
    scenarios = {}
    for name, alloc, number in candidates:
        text = f"A best allocation of the search (trial {number}): {budget} over {window}: "
        scenarios[name] = allocation_scenario(baseline, alloc, name, text + "; ".join(alloc.describe()) + ".")
    for name, alloc in shipped.items():
        scenarios[name] = allocation_scenario(
            baseline, alloc, name, f"The shipped {name} package's levers and shares, moved to {window} and set to "
                                   f"{budget}: " + "; ".join(alloc.describe()) + ".")
    seed = settings.seed + CHECK_SEED_OFFSET
    R = settings.check_replicates
    total = (len(scenarios) + 1) * R
    count = [0]

    def tick(n: int) -> None:
        count[0] += n
        if progress is not None:
            progress("check", count[0], total)

    runs = run_all([baseline, *scenarios.values()], seed, R, ensemble=level, client=pool, workers=workers,
                   progress=tick)
    last = runs[runs["month"] == runs["month"].max()]
    base = last[last["scenario"] == baseline.name].sort_values("replicate")
    values = {}
    for name in scenarios:
        cur = last[last["scenario"] == name].sort_values("replicate")
        values[name] = objective_values(cur.to_dict("records"), base.to_dict("records"), settings.objective, adults)
    best_name = max((n for n, _, _ in candidates), key=lambda n: values[n].mean(), default=None)
    best_pkg = max(shipped, key=lambda n: values[n].mean(), default=None)
    if best_name is None or (best_pkg is not None and values[best_pkg].mean() > values[best_name].mean()):
        best_name = best_pkg  # no allocation of the search beats the best package on the fresh draws
    final_name = settings.name
    won_package = best_name if best_name in shipped else None
    what = (f"the shipped {won_package} package's levers and shares (no allocation of the search did better on "
            f"fresh draws)" if won_package else "the best allocation found")
    final = dataclasses.replace(scenarios[best_name], name=final_name, description=(
        f"{what[0].upper()}{what[1:]}: {budget} over {window} ({settings.objective} objective, {level} "
        f"uncertainty): " + "; ".join(scenarios[best_name].allocation.describe()) + "."))
    runs = runs.assign(scenario=runs["scenario"].replace({best_name: final_name}))
    values[final_name] = values.pop(best_name)
    others = [scenarios[n] for n in shipped if n != best_name]
    comparison = comparison_from_runs(runs, [final, *others], baseline, seed=seed, replicates=R, ensemble=level)
    rows = []
    for name, v in values.items():
        row = {"allocation": name, "objective_mean": float(v.mean()),
               **{f"objective_q{q:02d}": float(np.quantile(v, q / 100)) for q in (5, 25, 50, 75, 95)},
               "chosen": name == final_name,
               "package": name in shipped or (name == final_name and won_package is not None)}
        for p in shipped:
            if p != name and p in values:
                d = v - values[p]
                row[f"p_beats_{p}"] = float(np.mean(d > 0) + 0.5 * np.mean(d == 0))
        rows.append(row)
    check = pd.DataFrame(rows).sort_values("objective_mean", ascending=False, ignore_index=True)
    v = values[final_name]
    gain = {"mean": float(v.mean()), **{f"q{q:02d}": float(np.quantile(v, q / 100)) for q in (5, 25, 50, 75, 95)}}
    meta = {"settings": {**dataclasses.asdict(settings), "levers": list(settings.levers),
                         "targets": list(settings.targets)},
            "objective_means": OBJECTIVES[settings.objective],
            "unit": "users" if settings.objective == "users" else "points",
            "best": {"name": final_name, "allocation": final.allocation.table(), "lines": final.allocation.describe(),
                     "is_package": won_package, "gain": gain,
                     "p_beats": {p: float(np.mean(v - values[p] > 0) + 0.5 * np.mean(v == values[p]))
                                 for p in shipped if p in values}},
            "packages": {n: {"allocation": a.table(), "lines": a.describe()} for n, a in shipped.items()},
            "trials": len(trials), "search_draws": settings.replicates, "check_draws": R,
            "search_seed": settings.seed, "check_seed": seed, "uncertainty": level}
    return Result(best=final.allocation, best_name=final_name, comparison=comparison, trials=trials, check=check,
                  meta=meta)


def scenario_text(result: Result, baseline: Scenario, baseline_ref: str) -> str:
    """The answer as a scenario file that ``compare`` and the app run (the allocation, not its doses)."""
    from egov_abm.scenarios.scenario import shipped_scenarios

    include = baseline_ref if baseline_ref in shipped_scenarios() else str(Path(baseline.path).absolute())
    m = result.meta
    gain = m["best"]["gain"]
    unit = m["unit"]
    lines = [f"# Written by egov-abm optimise: the best allocation of {m['settings']['budget_kzt']:,.0f} KZT over "
             f"{m['settings']['start']} to {m['settings']['end']}",
             f"# objective: {m['objective_means']}; uncertainty {m['uncertainty']}; {m['trials']} trials on "
             f"{m['search_draws']} paired draws, checked on {m['check_draws']} fresh draws",
             f"# expected gain {_fmt(gain['mean'], unit)} {unit} (90 % interval {_fmt(gain['q05'], unit)} to "
             f"{_fmt(gain['q95'], unit)})",
             *[f"# P(beats {p}) = {v:.0%}" for p, v in m["best"]["p_beats"].items()],
             "# each lever's dose follows from its share of the budget (scenarios/data/levers.csv, assumptions)",
             f'name = "{result.best_name}"',
             f'description = """{_toml_text(_description(result))}"""',
             f'include = "{include}"', "", result.best.toml()]
    return "\n".join(lines)


def _fmt(value: float, unit: str) -> str:
    return f"{value:,.0f}" if unit == "users" else f"{value:.2f}"


def _description(result: Result) -> str:
    return result.comparison.meta["descriptions"].get(result.best_name, "")


def _toml_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def write_result(result: Result, baseline: Scenario, baseline_ref: str, out_dir: Path, *, pdf: bool = False) -> Path:
    """Write the answer: the comparison's files and brief, ``optimise.json``, ``trials.parquet``, the scenario file."""
    from egov_abm.scenarios.compare import write_comparison
    from egov_abm.scenarios.output import naming

    out_dir = Path(out_dir)
    comparison = result.comparison
    comparison.meta["optimise"] = result.meta

    def extra(tmp: Path) -> None:
        for name, frame in (("trials.parquet", result.trials), ("check.parquet", result.check)):
            with naming(out_dir / name):
                frame.to_parquet(tmp / name, index=False)
        with naming(out_dir / "optimise.json"):
            (tmp / "optimise.json").write_text(json.dumps(result.meta, indent=2) + "\n", encoding="utf-8")
        with naming(out_dir / f"{result.best_name}.toml"):
            (tmp / f"{result.best_name}.toml").write_text(scenario_text(result, baseline, baseline_ref) + "\n",
                                                          encoding="utf-8")

    return write_comparison(comparison, out_dir, kind="optimise", extra=extra, pdf=pdf)


def format_result(result: Result) -> str:
    """The answer in a few lines for the terminal."""
    m = result.meta
    s = m["settings"]
    unit = m["unit"]
    gain = m["best"]["gain"]
    def fmt(v: float) -> str:
        return _fmt(v, unit)

    lines = [f"Best allocation of {s['budget_kzt'] / 1e9:,.1f} bn KZT over {s['start']} to {s['end']} "
             f"({m['trials']} trials on {m['search_draws']} paired draws; checked on {m['check_draws']} fresh draws, "
             f"uncertainty {m['uncertainty']}): {result.best_name}"]
    lines += [f"  {line}" for line in m["best"]["lines"]]
    lines.append(f"Expected gain over the baseline: {fmt(gain['mean'])} {unit} (50 %: {fmt(gain['q25'])} to "
                 f"{fmt(gain['q75'])}; 90 %: {fmt(gain['q05'])} to {fmt(gain['q95'])})")
    for p, v in m["best"]["p_beats"].items():
        pkg = result.check.set_index("allocation").loc[p, "objective_mean"]
        lines.append(f"P(beats {p}, same budget and window) = {v:.0%}   ({p}: {fmt(pkg)} {unit} expected)")
    if m["best"]["is_package"]:
        lines.append(f"This is the shipped {m['best']['is_package']} package's allocation: no allocation of the "
                     f"search did better on the fresh draws.")
    return "\n".join(lines)


__all__ = ["OBJECTIVES", "InputError", "Result", "Settings", "format_result", "optimise", "validate",
           "write_result"]
