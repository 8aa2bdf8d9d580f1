"""Diagnostics of a dynamics posterior, and the baseline projection to 2030.

Posterior predictive check: ``draws`` parameter sets resampled by weight
(each with its SEM member) are run from April 2006 to December 2030, each
replicate on its own seed, so the bands carry both the calibration's
uncertainty and the model's chance. The check is in-sample (the figures were
fitted); the hold-out and synthetic checks (:mod:`calibration.validation`)
are the ones that can fail. Bands are given model-only and with the
figures' bounded observation noise (:func:`calibration.targets.noisy`).

Identification: a parameter is *identified* when its posterior 90 % interval
is under half as wide as its prior's (in the prior's unit scale), *weakly
identified* under 80 %, and *not identified* otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from egov_abm.calibration.defaults import demographic_constants
from egov_abm.calibration.posterior import Posterior
from egov_abm.calibration.priors import PRIORS
from egov_abm.calibration.simulate import SimConfig, simulator_for
from egov_abm.calibration.targets import BLOCKS, OBSERVERS, START_MONTH, distance, load_observations, observe
from egov_abm.calibration.validation import coverage_summary, coverage_table
from egov_abm.model import month_index
from egov_abm.scenarios.output import check_out_dir, results_folder
from egov_abm.scenarios.parallel import map_runs

END_PROJECTION = "2030-12"
#: The measures projected, as official statistics count them (column, label).
PROJECTION_MEASURES = (("adoption", "used the portal in the last 12 months"),
                       ("share_active_month", "used it that month (monthly active)"),
                       ("share_ever_used", "ever used (registered)"),
                       ("share_assisted", "served at a centre in the last 12 months"),
                       ("internet_access", "internet access"), ("digital_literacy", "digital literacy"))
PROJECTION_COLUMNS = tuple(c for c, _ in PROJECTION_MEASURES)
IN_SAMPLE_HEAD = ("| target | date | published | model 90 % band | model median | model in 50 / 90 % "
                  "| with noise, 90 % band | with noise in 50 / 90 % | PIT |\n|---|---|---|---|---|---|---|---|---|")
HOLDOUT_HEAD = ("| target | date | published | model 90 % band | model in 50 / 90 % | with noise, 90 % band "
                "| with noise in 50 / 90 % | PIT |\n|---|---|---|---|---|---|---|---|")
#: Within-household correlations of portal use tried in the report (the shipped value is in demographics.csv).
HOUSEHOLD_ICC = (0.0, 0.3, 0.6)


def _run(task: tuple[SimConfig, int, dict]) -> pd.DataFrame:
    """Monthly outcomes to END_PROJECTION of posterior draw ``replicate`` (its own seed), with a ``draw`` column.

    The rows also carry the urban and rural internet access the pattern target observes.
    """
    config, replicate, values = task
    outcomes = simulator_for(config).run(values, months=month_index(END_PROJECTION, START_MONTH), replicate=replicate)
    frame = pd.DataFrame(outcomes)
    frame.insert(0, "draw", replicate)
    return frame


def ensemble_runs(posterior: Posterior, *, draws: int, agents: int, seed: int, workers: int | None = None,
                  client=None) -> pd.DataFrame:
    """Monthly outcomes 2006-04..2030-12 of ``draws`` posterior draws, one seed each (replicate = draw)."""
    base = {k: v for k, v in posterior.meta["base_params"].items()}
    tasks = [(SimConfig(base_params=base, n_agents=agents, seed=seed, sem_member=member), replicate, values)
             for replicate, (values, member) in enumerate(posterior.draws_with_members(draws, seed))]
    return pd.concat(map_runs(_run, tasks, workers=workers, client=client), ignore_index=True)


def predictive_table(runs: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Per published figure: observed value, model-only and with-noise quantiles, coverage and PIT (in-sample)."""
    observations = load_observations()
    constants = demographic_constants()
    by_draw = [g.sort_values("month").to_dict("records") for _, g in runs.groupby("draw")]
    sims = np.array([observe(rec, observations, constants) for rec in by_draw])
    return coverage_table(sims, observations, seed)


def household_sensitivity(runs: pd.DataFrame) -> pd.DataFrame:
    """Median distance over draws, and the households figures' median, at each within-household correlation."""
    observations = load_observations()
    constants = demographic_constants()
    by_draw = [g.sort_values("month").to_dict("records") for _, g in runs.groupby("draw")]
    rows = []
    for rho in HOUSEHOLD_ICC:
        c = {**constants, "household_icc": rho}
        sims = np.array([observe(rec, observations, c) for rec in by_draw])
        hh = [k for k, o in enumerate(observations) if o.target == "households_using"]
        rows.append({"household_icc": rho, "shipped": rho == constants["household_icc"],
                     "median_distance": float(np.median([distance(x, observations) for x in sims])),
                     **{f"households_{observations[k].date[:4]}": float(np.median(sims[:, k])) for k in hh}})
    return pd.DataFrame(rows)


def projection_table(runs: pd.DataFrame, start: str = "2022", end: str = "2030") -> pd.DataFrame:
    """Median and 50 %/90 % bands of the projected observables in July of each year."""
    july = runs[pd.to_datetime(runs["date"]).dt.month == 7].copy()
    july["year"] = pd.to_datetime(july["date"]).dt.year
    july = july[(july["year"] >= int(start)) & (july["year"] <= int(end))]
    rows = []
    for year, g in july.groupby("year"):
        row = {"year": int(year)}
        for col in PROJECTION_COLUMNS:
            q = np.quantile(g[col], [0.05, 0.25, 0.5, 0.75, 0.95])
            row.update({f"{col}_q05": q[0], f"{col}_q25": q[1], f"{col}_median": q[2], f"{col}_q75": q[3],
                        f"{col}_q95": q[4]})
        rows.append(row)
    return pd.DataFrame(rows)


def identification(posterior: Posterior) -> pd.DataFrame:
    """Posterior summary with the 90 % interval's width relative to the prior's, and a verdict."""
    priors = {p.name: p for p in PRIORS}
    rows = []
    for row in posterior.summary():
        prior = priors.get(row["parameter"])
        if prior is None:
            continue
        width = prior.to_unit(row["q95"]) - prior.to_unit(row["q05"])
        ratio = width / 0.9
        verdict = "identified" if ratio < 0.5 else "weakly identified" if ratio < 0.8 else "not identified"
        rows.append({**row, "prior": f"{'log-' if prior.log else ''}uniform [{prior.low}, {prior.high}]",
                     "width_vs_prior": ratio, "verdict": verdict, "meaning": prior.meaning})
    return pd.DataFrame(rows)


def posterior_correlations(posterior: Posterior) -> pd.DataFrame:
    """Weighted correlation matrix of the parameters (in the prior's unit scale)."""
    priors = {p.name: p for p in PRIORS}
    z = np.column_stack([[priors[n].to_unit(v) for v in posterior.particles[:, j]]
                         for j, n in enumerate(posterior.names)])
    cov = np.cov(z, rowvar=False, aweights=posterior.weights)
    sd = np.sqrt(np.diag(cov))
    return pd.DataFrame(cov / np.outer(sd, sd), index=posterior.names, columns=posterior.names)


def write_report(posterior: Posterior, out_dir: Path, *, draws: int = 100, agents: int = 10_000, seed: int = 7,
                 workers: int | None = None, holdout: Posterior | None = None, synthetic: dict | None = None) -> dict:
    """Run the ensemble and write report.md, plots and tables into ``out_dir``; return key figures.

    ``holdout`` is a posterior fitted with ``--holdout-from`` (its check is in
    its ``holdout``); ``synthetic`` the result of ``calibrate synthetic``.
    ``out_dir`` is checked before the ensemble runs, written beside under a
    temporary name and swapped in whole (:func:`output.results_folder`).
    """
    out_dir = check_out_dir(out_dir, "report")
    runs = ensemble_runs(posterior, draws=draws, agents=agents, seed=seed, workers=workers)
    with results_folder(out_dir, "report") as tmp:
        return _write_files(posterior, runs, tmp, draws=draws, agents=agents, seed=seed, holdout=holdout,
                            synthetic=synthetic)


def _write_files(posterior: Posterior, runs: pd.DataFrame, out_dir: Path, *, draws: int, agents: int,
                 seed: int, holdout: Posterior | None = None, synthetic: dict | None = None) -> dict:
    """The report's tables, plots and report.md, written into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ppc = predictive_table(runs, seed)
    proj = projection_table(runs)
    ident = identification(posterior)
    corr = posterior_correlations(posterior)
    ppc.to_csv(out_dir / "posterior_predictive.csv", index=False)
    proj.to_csv(out_dir / "projection_2022_2030.csv", index=False, float_format="%.4f")
    ident.to_csv(out_dir / "posterior_parameters.csv", index=False, float_format="%.5g")
    corr.to_csv(out_dir / "posterior_correlations.csv", float_format="%.3f")

    # 1. posterior predictive, one panel per target
    dates = pd.to_datetime(runs.groupby("month")["date"].first())
    constants = demographic_constants()
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5))
    colors = {"band90": "#c6dbef", "band50": "#6baed6", "median": "#08519c", "obs": "#d94801"}
    for ax in axes.ravel()[len(OBSERVERS):]:
        ax.axis("off")
    for ax, target in zip(axes.ravel(), OBSERVERS, strict=False):
        sub = ppc[ppc.target == target]
        x = pd.to_datetime(sub["date"])
        observable = OBSERVERS[target](runs, constants)  # the observer works on whole columns too
        q = observable.groupby(runs["month"]).quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack()
        ax.fill_between(dates, q[0.05], q[0.95], color=colors["band90"], label="model 90 %")
        ax.fill_between(dates, q[0.25], q[0.75], color=colors["band50"], label="model 50 %")
        ax.plot(dates, q[0.5], color=colors["median"], lw=1.5, label="model median")
        ax.set_xlim(pd.Timestamp("2006-01-01"), pd.Timestamp("2022-06-01"))
        ax.vlines(x, sub["pred_q05"], sub["pred_q95"], color="#636363", lw=6, alpha=0.35,
                  label="predictive 90 % (with noise)")
        ax.errorbar(x, sub["observed"], yerr=None if target == "registered_users" else sub["noise_sd"],
                    fmt="o", color=colors["obs"], ms=5, label="published figure (± noise SD)")
        ax.set_title(target.replace("_", " "))
        if target == "registered_users":
            ax.set_yscale("log")
            ax.set_ylim(1e3, None)
            ax.set_ylabel("users (ever used x adult population)")
        else:
            ax.set_ylabel("share (urban less rural)" if target == "internet_gap_urban_rural" else "share")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Posterior predictive check, 2006-2021")
    fig.tight_layout()
    fig.savefig(out_dir / "posterior_predictive.png", dpi=110)
    plt.close(fig)

    # 2. marginals
    n = len(posterior.names)
    cols = 4
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(13, 2.6 * ((n + cols - 1) // cols)))
    priors = {p.name: p for p in PRIORS}
    for ax, (j, name) in zip(axes.ravel(), enumerate(posterior.names), strict=False):
        p = priors[name]
        vals = posterior.particles[:, j]
        bins = np.geomspace(p.low, p.high, 25) if p.log else np.linspace(p.low, p.high, 25)
        ax.hist(vals, bins=bins, weights=posterior.weights, color="#6baed6")
        if p.log:
            ax.set_xscale("log")
        ax.set_title(name, fontsize=8)
        ax.set_yticks([])
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle("Posterior marginals (x axis spans the prior)")
    fig.tight_layout()
    fig.savefig(out_dir / "posterior_marginals.png", dpi=110)
    plt.close(fig)

    # 3. correlations
    fig, ax = plt.subplots(figsize=(8, 7))
    im = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(n), posterior.names, rotation=90, fontsize=7)
    ax.set_yticks(range(n), posterior.names, fontsize=7)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{corr.iat[i, j]:.1f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title("Posterior correlations")
    fig.tight_layout()
    fig.savefig(out_dir / "posterior_correlations.png", dpi=110)
    plt.close(fig)

    # 4. projection
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, col, title in zip(axes, ("adoption", "internet_access", "digital_literacy"),
                              ("used the portal in the last 12 months", "internet access", "digital literacy"),
                              strict=True):
        q = runs.groupby("month")[col].quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack()
        ax.fill_between(dates, q[0.05], q[0.95], color=colors["band90"], label="90 %")
        ax.fill_between(dates, q[0.25], q[0.75], color=colors["band50"], label="50 %")
        ax.plot(dates, q[0.5], color=colors["median"], label="median")
        ax.axvline(pd.Timestamp("2022-01-01"), color="#636363", ls="--", lw=1)
        ax.set_title(f"{title} (share of adults)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Baseline 2006-2030 from the posterior ensemble (dashed: end of calibration data)")
    fig.tight_layout()
    fig.savefig(out_dir / "projection.png", dpi=110)
    plt.close(fig)

    figures = {"draws": draws, "agents": agents, "seed": seed, "coverage_90": coverage_by_target(ppc),
               "median_distance": posterior.generations[-1]["median_distance"]}
    if holdout is not None and holdout.meta.get("holdout"):
        pd.DataFrame(holdout.meta["holdout"]["figures"]).to_csv(out_dir / "holdout.csv", index=False,
                                                                float_format="%.5g")
    text = _markdown(posterior, ppc, proj, ident, {**figures, "runs": runs}) + _holdout_markdown(holdout) \
        + _synthetic_markdown(synthetic) + _projection_markdown(proj)
    (out_dir / "report.md").write_text(text, encoding="utf-8")
    return figures


def _yes(flag) -> str:
    return "yes" if flag else "no"


def _markdown(posterior: Posterior, ppc: pd.DataFrame, proj: pd.DataFrame, ident: pd.DataFrame,
              figures: dict) -> str:
    meta = posterior.meta
    gens = "\n".join(
        f"| {g['generation']} | {_tol(g['tolerance'])} | {g['simulations']:,} | {g['acceptance']:.2f} "
        f"| {g.get('ess', float('nan')):.0f} | {g['median_distance']:.3f} | {g.get('wall_seconds', float('nan')):.0f} "
        f"| {g.get('runs_per_second') or float('nan'):.1f} |" for g in posterior.generations)
    total_wall = sum(g.get("wall_seconds") or 0.0 for g in posterior.generations)
    stopped = {"target": f"It reached its tolerance target ({meta.get('min_tolerance', 1.0):g}).",
               "budget": "**The budget ended first**: the last tolerance, "
                         f"{_tol(posterior.generations[-1]['tolerance'])}, did not reach the target "
                         f"{meta.get('min_tolerance', 1.0):g}.",
               "generations": "It stopped at its most generations."}.get(meta.get("stopped"), "")
    summary = coverage_summary(ppc)
    ppc_lines = "\n".join(
        f"| {r.target} | {r.date} | {r.observed:.4g} | {r.model_q05:.4g} – {r.model_q95:.4g} | {r.model_q50:.4g} "
        f"| {_yes(r.model_covered_50)} / {_yes(r.model_covered_90)} | {r.pred_q05:.4g} – {r.pred_q95:.4g} "
        f"| {_yes(r.covered_50)} / {_yes(r.covered_90)} | {r.pit:.2f} |" for r in ppc.itertuples())
    n_ident = int((ident["verdict"] == "identified").sum())
    n_weak = int((ident["verdict"] == "weakly identified").sum())
    id_lines = "\n".join(
        f"| {r.parameter} | {r.q50:.4g} | {r.q05:.4g} – {r.q95:.4g} | {r.prior} | {r.width_vs_prior:.2f} "
        f"| {r.verdict} |" for r in ident.itertuples())
    members = posterior.members
    member_line = ""
    if members is not None:
        mass = {int(m): float(posterior.weights[members == m].sum()) for m in np.unique(members)}
        member_line = ("\nPosterior mass of each SEM ensemble member (prior: equal): "
                       + ", ".join(f"member {m}: {v:.2f}" for m, v in sorted(mass.items())) + ".\n")
    hh = household_sensitivity(figures["runs"])
    hh_cols = [c for c in hh.columns if c.startswith("households_")]
    hh_lines = "\n".join(
        f"| {r['household_icc']:.1f}{' (shipped)' if r['shipped'] else ''} | {r['median_distance']:.3f} | "
        + " | ".join(f"{r[c]:.3f}" for c in hh_cols) + " |" for _, r in hh.iterrows())
    hh_head = "| within-household correlation | median distance | " + " | ".join(
        f"households {c[-4:]}" for c in hh_cols) + " |\n|---|---|" + "---|" * len(hh_cols)
    blocks = ", ".join(f"{b} ({n})" for b, n in pd.Series([BLOCKS[o["target"]] for o in meta.get("observations", [])])
                       .value_counts(sort=False).items())
    return f"""# Calibration of the dynamics to Kazakhstan 2006-2021

Posterior: `{meta.get('command', 'egov-abm calibrate dynamics')}` — {meta.get('sampler', 'ABC-SMC')},
{meta['population']} particles, {meta['simulations']:,} model runs of {meta['n_agents']:,} citizens, model seed
{meta['sim_seed']}, {total_wall / 60:.0f} min of sampling. {stopped}
Report: {figures['draws']} posterior draws at {figures['agents']:,} citizens, seed {figures['seed']}.

Distance = root mean square of the residuals in units of each figure's noise, each block weighted equally
(blocks and figures: {blocks}); 1 = within the stated noise on average. Only figures up to 2021 are fitted.

{meta.get('seed_note', '')} History: `{meta.get('history', '-')}`.

## Generations

| generation | tolerance | runs | acceptance | effective sample size | median distance | wall s | runs / s |
|---|---|---|---|---|---|---|---|
{gens}

## Parameters: what the data identify

{n_ident} of {len(ident)} parameters are identified and {n_weak} weakly identified. Identified: posterior 90 %
interval under half the prior's width (unit scale); weakly: under 80 %.

| parameter | median | 90 % interval | prior | width / prior | verdict |
|---|---|---|---|---|---|
{id_lines}
{member_line}
![marginals](posterior_marginals.png)

![correlations](posterior_correlations.png)

## In-sample check (the fitted figures)

![posterior predictive](posterior_predictive.png)

These figures were fitted, so covering them proves little; the hold-out and synthetic checks below can fail.
Covered, model only: {summary['model_covered_50']:.0%} of figures inside the 50 % band,
{summary['model_covered_90']:.0%} inside the 90 % band; with observation noise: {summary['covered_50']:.0%} and
{summary['covered_90']:.0%}. PIT: share of noisy predictive draws below the figure (uniform if calibrated).

{IN_SAMPLE_HEAD}
{ppc_lines}

## Households: the within-household correlation of use

The households figures count homes where at least one adult used e-government
services; the model gives the share of adults who used the portal in the last
12 months. Members' use is taken as exchangeable with an intra-class
correlation (assumption in `calibration/data/demographics.csv`). The fit at
other values, on the same posterior draws:

{hh_head}
{hh_lines}
"""


def _holdout_markdown(holdout: Posterior | None) -> str:
    if holdout is None or not holdout.meta.get("holdout"):
        return "\n## Hold-out check\n\nNo hold-out posterior was given (`calibrate report --holdout FILE`).\n"
    h = holdout.meta["holdout"]
    s = h["summary"]
    lines = "\n".join(
        f"| {r['target']} | {r['date']} | {r['observed']:.4g} | {r['model_q05']:.4g} – {r['model_q95']:.4g} "
        f"| {_yes(r['model_covered_50'])} / {_yes(r['model_covered_90'])} | {r['pred_q05']:.4g} – {r['pred_q95']:.4g} "
        f"| {_yes(r['covered_50'])} / {_yes(r['covered_90'])} | {r['pit']:.2f} |" for r in h["figures"])
    last = holdout.generations[-1]
    return f"""
## Hold-out check: fit before {holdout.meta['holdout_from']}, predict the rest

`{holdout.meta.get('command')}`: {holdout.meta['simulations']:,} runs, {len(holdout.generations)} generations, last
tolerance {_tol(last['tolerance'])} ({holdout.meta.get('stopped')}). {len(h['figures'])} figures from
{holdout.meta['holdout_from']} on were not fitted; {h['draws']} posterior draws at {h['agents']:,} citizens predict
them.

Covered, model only: **{s['model_covered_50']:.0%}** inside the 50 % band and **{s['model_covered_90']:.0%}** inside
the 90 % band; with observation noise: **{s['covered_50']:.0%}** and **{s['covered_90']:.0%}** (nominal 50 % and
90 %).

{HOLDOUT_HEAD}
{lines}
"""


def _synthetic_markdown(doc: dict | None) -> str:
    if not doc:
        return "\n## Synthetic check\n\nNo synthetic check was given (`calibrate report --synthetic FILE`).\n"
    rows = "\n".join(f"| {c['parameter']} | {c['in50']:.0%} | {c['in90']:.0%} |" for c in doc["coverage"]
                      if c.get("in50") is not None)
    member = next((c for c in doc["coverage"] if c.get("in50") is None), None)
    member_line = (f"The posterior put on average {member['mean_mass_on_true']:.2f} of its mass on the true SEM member "
                   f"(prior: {1 / 7:.2f}).\n") if member else ""
    stopped = pd.Series([d["stopped"] for d in doc["sets_detail"]]).value_counts().to_dict()
    return f"""
## Synthetic check (simulation-based calibration at reduced budget)

`egov-abm calibrate synthetic --sets {doc['sets']} --budget {doc['budget']} --population {doc['population']}
--agents {doc['agents']} --seed {doc['seed']}`: {doc['sets']} data sets, each simulated from a point drawn from the
prior (with observation noise) and calibrated like the real one, at {doc['budget']} runs each (stopped:
{', '.join(f'{k} {v}' for k, v in stopped.items())}). Share of true values inside their posterior intervals:
**{doc['overall_in50']:.0%}** inside 50 % intervals and **{doc['overall_in90']:.0%}** inside 90 % intervals
(nominal 50 % and 90 %; less means overconfident, more means the reduced budget left wide posteriors).

| parameter | inside 50 % | inside 90 % |
|---|---|---|
{rows}

{member_line}"""


def _projection_markdown(proj: pd.DataFrame) -> str:
    head = "| year | " + " | ".join(label for _, label in PROJECTION_MEASURES) + " |\n|---|" + "---|" * len(
        PROJECTION_MEASURES)
    lines = "\n".join(
        f"| {int(r['year'])} | " + " | ".join(
            f"{r[f'{c}_median']:.3f} ({r[f'{c}_q25']:.3f}–{r[f'{c}_q75']:.3f}; {r[f'{c}_q05']:.3f}–{r[f'{c}_q95']:.3f})"
            for c, _ in PROJECTION_MEASURES) + " |" for _, r in proj.iterrows())
    return f"""
## Baseline projection 2022-2030

July of each year: median (50 % band; 90 % band), shares of the simulated adult population. No figure after 2021
was fitted.

{head}
{lines}

![projection](projection.png)
"""


def _tol(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def coverage_by_target(ppc: pd.DataFrame) -> dict[str, float]:
    """Share of figures inside the predictive 90 % band, per target."""
    return {t: float(g["covered_90"].mean()) for t, g in ppc.groupby("target")}
