"""Compare policy scenarios with a baseline on common random numbers.

Every scenario and the baseline run the same replicates: replicate ``r``
uses the same seed stream (and, with ``ensemble``, the same posterior draw)
in each, so a scenario that changes nothing differs from the baseline by
exactly zero, and differences come from the policy, not from chance.

Per scenario and replicate, at the horizon (last simulated month): adoption
(share of adults who used the portal in the last 12 months, the measure
official statistics use), extra adopters against the baseline (the
difference in that share, scaled to the adult population),
months until adoption first reaches 50 %, 70 % and 90 %, the urban-rural and
young-old (18-29 minus 60+) gaps in adoption, total national cost and cost
per extra adopter. The table gives the mean over replicates and a 90 %
interval (5th-95th percentile over replicates) for extra adopters.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from egov_abm.model import InputError
from egov_abm.model.calendar import month_date
from egov_abm.scenarios import outcomes
from egov_abm.scenarios.decisions import (
    MIN_DRAWS_VOI,
    UNCERTAINTY_TEXT,
    decision_table,
    equal_budget_pairs,
    equity_table,
    flip_points,
    format_decisions,
    format_equity,
    group_shares,
    horizon_users,
    information_text,
    input_meanings,
    programme_window,
    uncertain_inputs,
    value_of_information,
)
from egov_abm.scenarios.output import naming, results_folder
from egov_abm.scenarios.parallel import Cancelled, map_runs
from egov_abm.scenarios.runner import release, run_one
from egov_abm.scenarios.scenario import Scenario, uncertainty_level

__all__ = ["Cancelled", "Comparison", "compare_scenarios", "format_table", "per_replicate", "run_all", "summary",
           "write_comparison", "write_report"]

THRESHOLDS = (0.5, 0.7, 0.9)
MONTHS_TO = tuple(f"months_to_{int(t * 100)}" for t in THRESHOLDS)
GAPS = ("gap_urban_rural", "gap_young_old")


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A finished comparison: monthly runs, per-replicate metrics, the summary table and metadata."""

    runs: pd.DataFrame  # one row per (scenario, replicate, month)
    replicates: pd.DataFrame  # one row per (scenario, replicate): the horizon metrics
    table: pd.DataFrame  # one row per scenario: means over replicates and intervals, and the decision outputs
    meta: dict  # baseline, scenarios, replicates, agents, seed, uncertainty, adult population, version, horizon
    pairwise: pd.DataFrame | None = None  # P(row beats column) at the horizon, over paired draws
    equity: pd.DataFrame | None = None  # per (scenario, group): extra users and adults left behind


def _job(args) -> pd.DataFrame:
    scenario, seed, replicate = args
    try:
        return run_one(scenario, seed, replicate)
    finally:
        release(scenario)  # a large finished model is freed before the worker's next run


def run_all(scenarios: list[Scenario], seed: int, replicates: int, *, ensemble: bool | str = False,
            workers: int | None = 1, client=None, progress=None, should_stop=None) -> pd.DataFrame:
    """Monthly outcomes of every (scenario, replicate), computed through :func:`parallel.map_runs`.

    ``ensemble`` is the level of uncertainty (:meth:`Scenario.variants`).

    ``progress(1)`` is called as each run finishes. ``should_stop()``, if
    given, is asked between runs; when it returns True the remaining runs are
    cancelled and :class:`Cancelled` is raised.
    """
    jobs = []
    for s in scenarios:
        jobs.extend((v, seed, r) for r, v in enumerate(s.variants(replicates, seed, ensemble)))
    frames = map_runs(_job, jobs, workers=workers, client=client, progress=progress, should_stop=should_stop)
    return pd.concat(frames, ignore_index=True)


def per_replicate(runs: pd.DataFrame, baseline: str, adult_population: float) -> pd.DataFrame:
    """One row per (scenario, replicate) with the horizon metrics (outcomes from :mod:`outcomes`)."""
    horizon = runs["month"].max()
    last = runs[runs["month"] == horizon].set_index(["scenario", "replicate"])
    base = last.xs(baseline, level="scenario")
    frames = {key: g.sort_values("month") for key, g in runs.groupby(["scenario", "replicate"])}
    rows = []
    for (name, rep), row in last.iterrows():
        frame = frames[(name, rep)]
        extra = (row["adoption"] - base.loc[rep, "adoption"]) * adult_population  # 12-month users, national
        cost = row["cumulative_cost_kzt_national"] - base.loc[rep, "cumulative_cost_kzt_national"]
        rows.append({"scenario": name, "replicate": rep, **outcomes.values(frame, ["adoption"]),
                     "extra_adopters": extra, **outcomes.values(frame, (*MONTHS_TO, *GAPS)), "cost_kzt": cost})
    return pd.DataFrame(rows)


def _median_months(months: pd.Series) -> float:
    """Median over replicates of a months-to-level outcome; a replicate that never reaches the level counts as last.

    The result is NaN (never) unless more than half of the replicates reach the level. ``Series.median`` would
    skip those replicates and could report the 70 % level reached before the 50 % one.
    """
    value = float(np.median(months.fillna(np.inf).to_numpy()))
    return value if np.isfinite(value) else np.nan


def summary(reps: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Mean over replicates; 90 % interval of extra adopters; cost per extra adopter."""
    rows = []
    for name, g in reps.groupby("scenario", sort=False):
        extra = g["extra_adopters"]
        mean_extra = extra.mean()
        cost = g["cost_kzt"].mean()
        per_extra = cost / mean_extra if name != baseline and mean_extra > 0 else np.nan
        rows.append({"scenario": name, "adoption": g["adoption"].mean(),
                     "extra_adopters": mean_extra, "extra_q05": extra.quantile(0.05), "extra_q95": extra.quantile(0.95),
                     **{c: _median_months(g[c]) for c in MONTHS_TO},
                     **{c: g[c].mean() for c in GAPS},
                     "cost_kzt": cost,
                     "cost_per_extra_adopter_kzt": per_extra})
    return pd.DataFrame(rows)


def compare_scenarios(scenarios: list[Scenario], baseline: Scenario, *, seed: int, replicates: int,
                      ensemble: bool | str = False, workers: int | None = None, client=None,
                      margin: float = 0.0, target: float = 0.5,
                      progress: Callable[[int], object] | None = None,
                      should_stop: Callable[[], bool] | None = None) -> Comparison:
    """Run ``baseline`` and ``scenarios`` on common random numbers and summarise them against the baseline.

    Args:
        scenarios: the policy scenarios (the baseline is added first).
        baseline: the scenario every other is compared with.
        seed: root seed; replicate ``r`` uses the same stream in every scenario.
        replicates: runs per scenario.
        ensemble: the level of uncertainty, ``chance``, ``calibration`` or ``full`` (``True``: ``full``):
            replicate ``r`` takes the same draw in every scenario (:meth:`Scenario.variants`).
        margin: extra users at the horizon a policy needs to count as beating the baseline.
        target: share of adults (12-month use) whose reaching is timed (months gained).
        workers: processes (default :func:`parallel.default_workers`); ignored with ``client``.
        client: a ``distributed.Client`` to run on instead.
        progress: called with 1 after each finished run.
        should_stop: asked between runs; True cancels the rest (:class:`Cancelled`).

    Raises:
        InputError: two scenarios share a name, or differ from the baseline in start or horizon.
        Cancelled: ``should_stop()`` returned True.
    """
    chosen = [baseline, *scenarios]
    names = [s.name for s in chosen]
    if len(set(names)) != len(names):
        raise InputError(f"compare: scenario names must differ, got {', '.join(names)}")
    if len({s.months for s in chosen}) != 1 or len({s.params.start_month for s in chosen}) != 1:
        raise InputError("compare: every scenario must have the baseline's start and horizon")
    start = time.perf_counter()
    runs = run_all(chosen, seed, replicates, ensemble=ensemble, workers=workers, client=client, progress=progress,
                   should_stop=should_stop)
    return comparison_from_runs(runs, scenarios, baseline, seed=seed, replicates=replicates, ensemble=ensemble,
                                margin=margin, target=target, seconds=time.perf_counter() - start)


def comparison_from_runs(runs: pd.DataFrame, scenarios: list[Scenario], baseline: Scenario, *, seed: int,
                         replicates: int, ensemble: bool | str, margin: float = 0.0, target: float = 0.5,
                         seconds: float = float("nan")) -> Comparison:
    """The comparison of ``scenarios`` with ``baseline`` from their runs (:func:`run_all`).

    As :func:`compare_scenarios` gives it; ``runs`` may hold other scenarios too, which are left out.
    """
    from egov_abm.calibration.defaults import demographic_constants, population_spec
    from egov_abm.scenarios.runner import package_version

    chosen = [baseline, *scenarios]
    names = [s.name for s in chosen]
    runs = runs[runs["scenario"].isin(names)].reset_index(drop=True)
    adults = demographic_constants()["adult_population_2021"]
    reps = per_replicate(runs, baseline.name, adults)
    level = uncertainty_level(ensemble)
    decisions, pairwise = decision_table(runs, scenarios, baseline.name, adults, margin=margin, target=target)
    equity = equity_table(runs, baseline.name, adults, group_shares(population_spec()))
    users = horizon_users(runs, adults)[names]
    inputs = uncertain_inputs(baseline, replicates, seed, level,
                              allocations=any(s.allocation is not None for s in scenarios))
    voi = value_of_information(users, inputs, input_meanings())
    pairs = equal_budget_pairs(decisions, baseline.name)
    tried = ["intention_slope", *[n for n in voi["input"] if n not in ("intention_slope", "sem_member")][:1]]
    flips = flip_points(users, inputs, pairs, tried)
    table = summary(reps, baseline.name).merge(decisions, on="scenario", how="left")
    meta = {"baseline": baseline.name, "scenarios": names, "replicates": replicates,
            "agents": baseline.params.n_agents, "seed": seed, "ensemble": level != "chance",
            "uncertainty": level, "uncertainty_means": UNCERTAINTY_TEXT[level], "margin_users": margin,
            "target_share": target, "adult_population": adults,
            "version": package_version(), "horizon": str(runs["date"].max().date()),
            "seconds": round(seconds, 1),
            "descriptions": {s.name: " ".join(s.description.split()) for s in chosen},
            "interventions": {s.name: _interventions(s) for s in scenarios},
            "programme_start": {s.name: str(month_date(s.params.start_month, programme_window(s)[0]))
                                for s in scenarios if programme_window(s)},
            "decision": {"measure": "adults who used the portal in the last 12 months, national",
                         "table": json.loads(decisions.to_json(orient="records")),
                         "pairwise": json.loads(pairwise.to_json(orient="index")),
                         "pairwise_means": "P(row beats column): share of paired draws with more users at the "
                                           "horizon (ties count half)",
                         "equity": json.loads(equity.to_json(orient="records")),
                         "evpi_users": voi.attrs.get("evpi_users"),
                         "voi_note": None if len(voi) or level == "chance" else
                         f"Too few paired draws ({replicates}) to tell which input matters: the value of "
                         f"information needs at least {MIN_DRAWS_VOI}; use --replicates 40 or more.",
                         "value_of_information": json.loads(voi.to_json(orient="records")),
                         "flip_points": json.loads(flips.to_json(orient="records"))}}
    return Comparison(runs=runs, replicates=reps, table=table, meta=meta, pairwise=pairwise, equity=equity)


def _interventions(scenario: Scenario) -> list[dict]:
    """A scenario's interventions as stated (calendar months, national figures) with the notes its file gives."""
    import re

    from egov_abm.scenarios.brief import field_notes

    out = []
    for spec in scenario.policies:
        iv = spec.intervention
        where = re.match(r"(.*): interventions\[(\d+)\]$", spec.source)
        notes = field_notes(Path(where.group(1))) if where else []
        k = int(where.group(2)) if where else -1
        first, last = (str(month_date(scenario.params.start_month, m))[:7] for m in (iv.start, iv.end - 1))
        out.append({"name": iv.name, "kind": iv.kind, "start": first, "end": last, "dose": iv.dose,
                    "capacity": iv.capacity, "cost_fixed_per_month_kzt": iv.cost_fixed_per_month_kzt,
                    "cost_per_person_kzt": iv.cost_per_person_kzt, "defined_in": spec.source,
                    "notes": notes[k] if 0 <= k < len(notes) else {}})
    return out


def write_comparison(comparison: Comparison, out_dir: Path, *, kind: str = "compare",
                     extra: Callable[[Path], object] | None = None, pdf: bool = False) -> Path:
    """Write the comparison's tables (Parquet), ``compare.json`` and the report; return the report's path.

    Every file goes to a temporary folder beside ``out_dir``, which replaces
    ``out_dir`` whole once all are written (:func:`output.results_folder`):
    an interrupted or failed write leaves the earlier comparison as it was.
    ``kind`` is the folder's kind; ``extra(folder)`` writes more files into it
    before it is swapped in. With ``pdf``, ``brief.pdf`` is printed from the
    brief by headless Chromium (:func:`.brief.write_pdf`).

    Raises:
        OutputError: ``out_dir`` is a file, cannot be written, or holds results of another kind.
    """
    out_dir = Path(out_dir)
    tables = {"timeseries.parquet": comparison.runs, "replicates.parquet": comparison.replicates,
              "comparison.parquet": comparison.table}
    if comparison.pairwise is not None:
        tables["pairwise.parquet"] = comparison.pairwise.rename_axis("scenario").reset_index()
    if comparison.equity is not None:
        tables["equity.parquet"] = comparison.equity
    with results_folder(out_dir, kind) as tmp:
        for name, frame in tables.items():
            with naming(out_dir / name):
                frame.to_parquet(tmp / name, index=False)
        with naming(out_dir / "compare.json"):
            (tmp / "compare.json").write_text(json.dumps(comparison.meta, indent=2) + "\n", encoding="utf-8")
        if extra is not None:
            extra(tmp)
        report = write_report(comparison.runs, comparison.table, tmp, comparison.meta["baseline"], comparison.meta)
        if pdf and (tmp / "brief.html").exists():
            from egov_abm.scenarios.brief import write_pdf

            with naming(out_dir / "brief.pdf"):
                write_pdf(tmp / "brief.html", tmp / "brief.pdf")
    return out_dir / report.name


def format_table(table: pd.DataFrame) -> str:
    """Plain-text table for the terminal."""
    out = table.copy()
    out["adoption"] = out["adoption"].map("{:.3f}".format)
    out["extra adopters (90 %)"] = [f"{m:,.0f} ({lo:,.0f} to {hi:,.0f})" for m, lo, hi in
                                    zip(table["extra_adopters"], table["extra_q05"], table["extra_q95"], strict=True)]
    for c in MONTHS_TO:
        out[c] = table[c].map(lambda v: "-" if np.isnan(v) else f"{v:.0f}")
    out["gap urban-rural"] = table["gap_urban_rural"].map("{:.3f}".format)
    out["gap young-old"] = table["gap_young_old"].map("{:.3f}".format)
    out["cost bn KZT"] = (table["cost_kzt"] / 1e9).map("{:.1f}".format)
    out["KZT per extra adopter"] = table["cost_per_extra_adopter_kzt"].map(
        lambda v: "-" if np.isnan(v) else f"{v:,.0f}")
    cols = ["scenario", "adoption", "extra adopters (90 %)", "months_to_50", "months_to_70", "months_to_90",
            "gap urban-rural", "gap young-old", "cost bn KZT", "KZT per extra adopter"]
    return out[cols].to_string(index=False)


def write_report(runs: pd.DataFrame, table: pd.DataFrame, out_dir: Path, baseline: str, meta: dict) -> Path:
    """Markdown report with plots: adoption curves with bands, gaps over time, cost-effectiveness."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from egov_abm.scenarios.colours import scenario_colours

    names = list(pd.unique(runs["scenario"]))
    colors = scenario_colours(names, baseline)
    dates = pd.to_datetime(runs.groupby("month")["date"].first())
    starts = meta.get("programme_start", {})
    fig, ax = plt.subplots(figsize=(10, 5.5))
    for n in names:
        q = runs[runs.scenario == n].groupby("month")["adoption"].quantile([0.05, 0.5, 0.95]).unstack()
        ax.fill_between(dates, q[0.05], q[0.95], color=colors[n], alpha=0.15)
        ax.plot(dates, q[0.5], color=colors[n], lw=2 if n == baseline else 1.3, label=n)
        if starts.get(n):
            ax.axvline(pd.Timestamp(starts[n]), color=colors[n], ls=":", lw=1)
    ax.set_ylabel("share of adults who used the portal in the last 12 months")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Adoption: median and 90 % band over the draws (uncertainty: {meta.get('uncertainty', 'chance')}); "
                 "dotted: each policy's start", fontsize=10)
    _save(fig, out_dir / "adoption.png")
    _difference_chart(runs, names, baseline, colors, starts, meta, out_dir)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    runs = runs.assign(**{g: outcomes.get(g).series(runs) for g in GAPS})
    for ax, col in zip(axes, GAPS, strict=True):
        for n in names:
            ax.plot(dates, runs[runs.scenario == n].groupby("month")[col].median(), color=colors[n], label=n)
        ax.set_title(f"Adoption gap: {outcomes.get(col).label.lower()}")
        ax.set_ylabel("difference in the share who used the portal in 12 months")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    _save(fig, out_dir / "gaps.png")

    fig, ax = plt.subplots(figsize=(7, 5))
    for _, r in table[table.scenario != baseline].iterrows():
        mid = r["extra_adopters"] / 1e3
        err = [[mid - r["extra_q05"] / 1e3], [r["extra_q95"] / 1e3 - mid]]
        ax.errorbar(r["cost_kzt"] / 1e9, mid, yerr=err, fmt="o", color=colors[r["scenario"]], label=r["scenario"])
    ax.set_xlim(0, max(1.0, float(table["cost_kzt"].max()) / 1e9 * 1.1))
    ax.set_xlabel("total cost, billion KZT")
    ax.set_ylabel("extra adopters at the horizon, thousands (90 % interval)")
    ax.axhline(0, color="#636363", lw=0.8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Cost-effectiveness")
    _save(fig, out_dir / "cost_effectiveness.png")
    regions = _region_map(meta, baseline, out_dir)

    level = meta.get("uncertainty", "full" if meta.get("ensemble") else "chance")
    decisions = ""
    if "p_beats_baseline" in table.columns and meta.get("decision"):
        pairwise = pd.DataFrame(meta["decision"]["pairwise"]).T
        decisions = f"""
## How sure we are

```
{format_decisions(table, pairwise, baseline, level, meta['replicates'], meta.get('margin_users', 0.0),
                  meta.get('target_share', 0.5))}
```
"""
    if meta.get("decision", {}).get("value_of_information") is not None:
        decisions += f"""
## What would change the answer

```
{information_text(meta["decision"])}
```
"""
    if meta.get("decision", {}).get("equity"):
        decisions += f"""
## Who gains, who is left behind

```
{format_equity(pd.DataFrame(meta["decision"]["equity"]), baseline)}
```
"""
    text = f"""# Scenario comparison

Baseline `{baseline}`; {meta['replicates']} replicates of {meta['agents']:,} citizens, seed {meta['seed']}
(common random numbers); horizon {meta['horizon']}. Uncertainty shown: **{level}** —
{UNCERTAINTY_TEXT[level]}.
Extra adopters are adults who used the portal in the last 12 months beyond the baseline, scaled to
{meta['adult_population']:,.0f} adults;
costs are national, in KZT, beyond the baseline.

```
{format_table(table)}
```
{decisions}
![extra users against the baseline, paired by draw](difference.png)

![adoption](adoption.png)

![gaps](gaps.png)

![cost-effectiveness](cost_effectiveness.png)
""" + ("\n![regions](regions.png)\n" if regions else "")
    path = out_dir / "report.md"
    with naming(path):
        path.write_text(text, encoding="utf-8")
    if "p_beats_baseline" in table.columns and meta.get("decision"):
        from egov_abm.scenarios.brief import write_brief

        with naming(out_dir / "brief.html"):
            write_brief(out_dir, table, meta, colors)
    return path


def _difference_chart(runs: pd.DataFrame, names: list[str], baseline: str, colors: dict, starts: dict, meta: dict,
                      out_dir: Path) -> Path | None:
    """``difference.png``: each policy's extra users over time against the baseline, paired by draw.

    Median and 50 % band of the paired difference (12-month users, national), from two years before the first
    policy starts; the spread all scenarios share cancels, which the adoption chart's bands cannot show.
    """
    import matplotlib.pyplot as plt

    policies = [n for n in names if n != baseline]
    if not policies:
        return None
    adults = meta["adult_population"]
    wide = runs.pivot_table(index=["month", "replicate"], columns="scenario", values="adoption")
    dates = pd.to_datetime(runs.groupby("month")["date"].first())
    first = min((pd.Timestamp(s) for s in starts.values()), default=dates.iloc[0])
    shown = dates[dates >= first - pd.DateOffset(years=2)]
    fig, ax = plt.subplots(figsize=(10, 5))
    for n in policies:
        diff = (wide[n] - wide[baseline]) * adults / 1e3
        q = diff.groupby(level="month").quantile([0.25, 0.5, 0.75]).unstack().loc[shown.index]
        ax.fill_between(shown, q[0.25], q[0.75], color=colors[n], alpha=0.15, lw=0)
        ax.plot(shown, q[0.5], color=colors[n], lw=1.6, label=n)
        if starts.get(n):
            ax.axvline(pd.Timestamp(starts[n]), color=colors[n], ls=":", lw=1)
    ax.axhline(0, color="#000000", lw=1)
    ax.set_ylabel("extra adults using the portal (12-month measure), thousands")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(f"Extra users against the baseline, paired by draw: median and 50 % band "
                 f"(uncertainty: {meta.get('uncertainty', 'chance')}); dotted: each policy's start", fontsize=10)
    path = out_dir / "difference.png"
    _save(fig, path)
    return path


def _region_map(meta: dict, baseline: str, out_dir: Path) -> Path | None:
    """``regions.png``: per policy, a tile map of its extra users as points of each region's adults (median)."""
    import matplotlib.pyplot as plt

    from egov_abm.scenarios import tilemap

    equity = pd.DataFrame(meta.get("decision", {}).get("equity") or [])
    if equity.empty:
        return None
    equity = equity[equity["group"].str.startswith("region_") & (equity["scenario"] != baseline)]
    if equity.empty:
        return None
    equity = equity.assign(points=100 * equity["extra_users_q50"] / equity["adults"],
                           region=equity["group"].str.removeprefix("region_"))
    names = list(dict.fromkeys(equity["scenario"]))
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    height = 2.9 * rows + 1.4  # inches: the maps, then 0.5 above them (the title) and 0.9 below (the colour bar)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, height), squeeze=False)
    top = max(float(equity["points"].abs().max()), 0.1)
    negative = bool((equity["points"] < 0).any())  # a diverging scale only when some region loses users
    mappable = None
    for ax, name in zip(axes.ravel(), names, strict=False):
        values = dict(zip(equity.loc[equity.scenario == name, "region"],
                          equity.loc[equity.scenario == name, "points"], strict=True))
        mappable = tilemap.draw(ax, values, vmin=-top if negative else 0.0, vmax=top,
                                cmap="PuOr" if negative else "Blues", title=name)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.5 / height, bottom=0.9 / height, wspace=0.04, hspace=0.12)
    bar = fig.add_axes([0.3, 0.55 / height, 0.4, 0.1 / height])  # its ticks and label below it, within the figure
    fig.colorbar(mappable, cax=bar, orientation="horizontal",
                 label="extra users, points of the region's adults (median of the draws)")
    fig.suptitle(f"Where each policy adds users by {meta['horizon'][:4]} (12-month use; tile grid, not to scale)",
                 fontsize=10)
    path = out_dir / "regions.png"
    try:
        with naming(path):
            fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return path


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        with naming(path):
            fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
