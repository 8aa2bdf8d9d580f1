"""The decision layer: which policy, how sure, on paired draws.

Every output here is computed per *draw*: replicate ``r`` of every policy
and of the baseline shares the random streams and, at the ``calibration``
and ``full`` levels of uncertainty, the posterior draw (:mod:`.compare`), so
the difference between two policies in draw ``r`` is paired: the spread
that all policies share cancels, and what is left is how much the ranking
depends on what we do not know.

The measure is the one official statistics use: adults who used the portal
in the last 12 months (``adoption``), scaled to the adult population.

Per policy:

- extra users against the baseline at the programme's end, two years later
  and at the horizon: median, 50 % and 90 % intervals over draws;
- P(beats): the share of draws in which the policy has at least ``margin``
  more users than the baseline at the horizon;
- cost per extra user: national cost beyond the baseline over extra users at
  the horizon, per draw (median and 90 % interval of the draws with a gain;
  the share of draws without one is given beside it);
- months gained to reach ``target`` share: the months from the policy's
  start until the baseline reaches it, less the same for the policy, whole
  months, per draw; "not reached" when the policy does not reach it by the
  horizon;
- expected regret: in each draw, the shortfall of the policy's users against
  the best option of that draw (the baseline included), averaged over draws.

Between policies: the matrix of P(row beats column) at the horizon (a tie
counts half).

What would change the answer (:func:`value_of_information`,
:func:`flip_points`): the expected value of partial perfect information of
each uncertain input, the expected reduction in regret if that input were
known, estimated by regression on the paired draws (Strong, Oakley & Brennan
2014: a smooth fit of each option's users on the input, then ``E[max fitted]
- max E[users]``); and, for each pair of equal-budget packages, the value of
an input at which the fitted difference between them changes sign.

Equity (:func:`equity_table`): per policy and group (rural, 60+, general
secondary education or less ("school education only"), each region), the extra users within the group
at the horizon and the adults of the group left behind (not using the portal
in the last 12 months), both national. A group's size is its share of adults
in the population margins (``calibration/data``), so the counts are national
estimates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: How much the answer carries: chance only, plus the calibration's posterior, plus the SEM ensemble and the
#: intention-behaviour slope (:meth:`scenarios.scenario.Scenario.variants`).
UNCERTAINTY_LEVELS = ("chance", "calibration", "full")
UNCERTAINTY_TEXT = {
    "chance": "chance only: replicates of the model on one parameter set (the posterior's best particle)",
    "calibration": "chance and the calibrated rates: each replicate a posterior draw, the SEM member and the "
                   "intention-behaviour slope held at the best particle's",
    "full": "chance, the calibrated rates, the SEM ensemble member and the intention-behaviour slope: each "
            "replicate a whole posterior draw",
}
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MEASURE = "adoption"  # used the portal in the last 12 months


def programme_window(scenario) -> tuple[int, int] | None:
    """First month and the month after the last of a scenario's interventions (model months), or None."""
    if not scenario.policies:
        return None
    return (min(p.intervention.start for p in scenario.policies), max(p.intervention.end for p in scenario.policies))


def _users(runs: pd.DataFrame, month: int, adults: float) -> pd.DataFrame:
    """Users (12-month measure, national) per (replicate, scenario) at ``month`` (clipped to the horizon)."""
    month = min(month, int(runs["month"].max()))
    at = runs[runs["month"] == month]
    return at.pivot(index="replicate", columns="scenario", values=MEASURE) * adults


def horizon_users(runs: pd.DataFrame, adults: float) -> pd.DataFrame:
    """Users (12-month measure, national) at the horizon: one row per draw, one column per scenario."""
    return _users(runs, int(runs["month"].max()), adults)


def uncertain_inputs(baseline, replicates: int, seed: int, level: str, *, allocations: bool = False) -> pd.DataFrame:
    """The value of each uncertain input in each draw (one row per replicate).

    The level of uncertainty decides which vary: none at ``chance``; the calibrated rates at ``calibration``;
    those, the intention-behaviour slope and the SEM member at ``full``, and what money buys (the returns to
    spending, each lever's efficiency) when ``allocations`` (some option is a budget allocation, :mod:`.levers`).
    """
    if level == "chance" or baseline.posterior is None:
        return pd.DataFrame(index=range(replicates))
    frame = pd.DataFrame([draw for _, draw in baseline.ensemble(replicates, seed)])
    if level == "calibration":
        return frame.drop(columns=["intention_slope"], errors="ignore")
    members = baseline.sem_members(replicates, seed)
    if any(m is not None for m in members):
        frame["sem_member"] = members
    if allocations:
        from egov_abm.scenarios.levers import lever_draws

        frame = pd.concat([frame, pd.DataFrame(lever_draws(replicates, seed))], axis=1)
    return frame


def input_meanings() -> dict[str, str]:
    """What each uncertain input stands for (the priors' declarations)."""
    from egov_abm.model import Params
    from egov_abm.scenarios.levers import priors

    out = {p.name: p.meaning for p in Params.uncertainties()}
    out.update({p.name: p.meaning for p in priors()})
    out["sem_member"] = "which SEM ensemble member: how readiness splits between attitude and trust"
    return out


def _first_month(shares: np.ndarray, level: float, start: int) -> float:
    """First month at or after ``start`` at which ``shares`` (indexed by month) reach ``level``; NaN if never."""
    hit = np.flatnonzero(shares[start:] >= level)
    return float(start + hit[0]) if len(hit) else np.nan


def _quantiles(values: np.ndarray, prefix: str) -> dict[str, float]:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return {f"{prefix}_q{int(q * 100):02d}": np.nan for q in QUANTILES}
    return {f"{prefix}_q{int(q * 100):02d}": float(np.quantile(values, q)) for q in QUANTILES}


def decision_table(runs: pd.DataFrame, scenarios: list, baseline: str, adults: float, *, margin: float = 0.0,
                   target: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-policy decision outputs and the pairwise matrix P(row beats column), from paired draws.

    Args:
        runs: monthly outcomes of every (scenario, replicate), replicate ``r`` paired across scenarios.
        scenarios: the policy scenarios (with their interventions), not the baseline.
        baseline: the baseline's name.
        adults: adult population the shares are scaled to.
        margin: extra users a policy must add at the horizon to count as beating the baseline.
        target: share of adults (12-month measure) whose reaching is timed.
    """
    horizon = int(runs["month"].max())
    end_users = _users(runs, horizon, adults)
    names = [baseline, *[s.name for s in scenarios]]
    end_users = end_users[names]
    shares = {key: g.sort_values("month")[MEASURE].to_numpy()
              for key, g in runs.groupby(["scenario", "replicate"])}
    cost = runs[runs["month"] == horizon].pivot(index="replicate", columns="scenario",
                                                values="cumulative_cost_kzt_national")
    best = end_users.max(axis=1)
    rows = []
    for s in [None, *scenarios]:
        name = baseline if s is None else s.name
        window = None if s is None else programme_window(s)
        row = {"scenario": name, "users_horizon_median": float(end_users[name].median()),
               "regret_mean": float((best - end_users[name]).mean()),
               "regret_q95": float((best - end_users[name]).quantile(0.95))}
        if s is not None:
            start, stop = window if window else (0, horizon + 1)
            row.update({"programme_start_month": start, "programme_end_month": stop - 1})
            for label, month in (("end", stop - 1), ("end_plus_2y", stop - 1 + 24), ("horizon", horizon)):
                users = _users(runs, month, adults)
                row[f"{label}_month"] = min(month, horizon)
                row.update(_quantiles((users[name] - users[baseline]).to_numpy(), f"extra_{label}"))
            extra = (end_users[name] - end_users[baseline]).to_numpy()
            row["p_beats_baseline"] = float(np.mean(extra >= margin)) if margin > 0 else float(np.mean(extra > 0))
            spent = (cost[name] - cost[baseline]).to_numpy()
            gain = extra > 0
            row["cost_kzt_median"] = float(np.median(spent))
            row.update(_quantiles(np.where(gain, spent / np.where(gain, extra, 1.0), np.nan), "cost_per_extra_user"))
            row["share_draws_without_gain"] = float(np.mean(~gain))
            gained, reached = [], []
            for r in end_users.index:
                t_policy = _first_month(shares[(name, r)], target, start)
                t_base = _first_month(shares[(baseline, r)], target, start)
                reached.append(np.isfinite(t_policy))
                if np.isfinite(t_policy):
                    # the baseline not reaching it by the horizon counts as reaching it just after
                    gained.append((horizon + 1 if np.isnan(t_base) else t_base) - t_policy)
            row["share_draws_reaching_target"] = float(np.mean(reached))
            row["months_gained_median"] = float(np.median(gained)) if np.mean(reached) >= 0.5 else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    pairwise = pd.DataFrame(index=names, columns=names, dtype=float)
    for a in names:
        for b in names:
            diff = (end_users[a] - end_users[b]).to_numpy()
            pairwise.loc[a, b] = float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0)) if a != b else np.nan
    return table, pairwise


def format_decisions(table: pd.DataFrame, pairwise: pd.DataFrame, baseline: str, level: str, draws: int,
                     margin: float, target: float) -> str:
    """The decision table and the pairwise matrix as plain text for the terminal."""
    lines = [f"How sure: {draws} paired draws, uncertainty '{level}' ({UNCERTAINTY_TEXT[level]})."]
    head = (f"{'policy':<22} {'extra users at horizon, median (90 %)':>40} {'P(beats)':>9} {'regret':>10} "
            f"{'KZT per extra user (median)':>28} {'months gained':>14}")
    lines.append(head)
    for r in table.itertuples():
        if r.scenario == baseline:
            lines.append(f"{r.scenario:<22} {'-':>40} {'-':>9} {r.regret_mean:>10,.0f} {'-':>28} {'-':>14}")
            continue
        extra = f"{r.extra_horizon_q50:,.0f} ({r.extra_horizon_q05:,.0f} to {r.extra_horizon_q95:,.0f})"
        per = "-" if np.isnan(r.cost_per_extra_user_q50) else f"{r.cost_per_extra_user_q50:,.0f}"
        gained = "not reached" if np.isnan(r.months_gained_median) else f"{r.months_gained_median:+.0f}"
        lines.append(f"{r.scenario:<22} {extra:>40} {r.p_beats_baseline:>9.0%} {r.regret_mean:>10,.0f} {per:>28} "
                     f"{gained:>14}")
    lines.append(f"P(beats): share of draws with {'more than 0' if margin <= 0 else f'at least {margin:,.0f}'} extra "
                 f"users at the horizon; months gained to reach {target:.0%} of adults (12-month use).")
    names = list(pairwise.index)
    width = max(len(n) for n in names) + 1
    lines.append("P(row beats column) at the horizon:")
    lines.append(" " * width + "".join(f"{n[:10]:>11}" for n in names))
    for a in names:
        lines.append(f"{a:<{width}}" + "".join(f"{'-' if a == b else f'{pairwise.loc[a, b]:.0%}':>11}"
                                                 for b in names))
    return "\n".join(lines)


#: The groups the equity table reports first, as (column suffix of ``adoption_*``, label).
EQUITY_GROUPS = (("rural", "rural"), ("age_60plus", "aged 60+"), ("education_secondary", "school education only"))


def group_shares(spec) -> dict[str, float]:
    """Share of adults in each group of the outcome columns ``adoption_<group>``, from the population margins."""
    from egov_abm.model.outcomes import slug
    from egov_abm.model.population import AGE_BANDS, EDUCATION_LEVELS

    regions = np.asarray(spec.region_shares, dtype=float) / np.sum(spec.region_shares)
    urban = float(np.sum(regions * np.asarray(spec.region_urban_share)))
    ages = np.asarray(spec.age_shares, dtype=float) / np.sum(spec.age_shares)
    education = np.asarray(spec.education_shares, dtype=float) / np.sum(spec.education_shares)
    out = {"urban": urban, "rural": 1.0 - urban}
    out.update({f"age_{slug(b)}": float(v) for b, v in zip(AGE_BANDS, ages, strict=True)})
    out.update({f"education_{slug(e)}": float(v) for e, v in zip(EDUCATION_LEVELS, education, strict=True)})
    out.update({f"region_{slug(r)}": float(v) for r, v in zip(spec.region_names, regions, strict=True)})
    return out


def equity_table(runs: pd.DataFrame, baseline: str, adults: float, shares: dict[str, float]) -> pd.DataFrame:
    """Per (scenario, group): extra users in the group at the horizon (median, 90 % interval) and adults left behind.

    Only groups with an ``adoption_<group>`` column in ``runs`` are reported; the rural, 60+ and low-education
    groups come first, then the regions.
    """
    horizon = int(runs["month"].max())
    last = runs[runs["month"] == horizon]
    first = [g for g, _ in EQUITY_GROUPS]
    groups = [g for g in [*first, *sorted(k for k in shares if k.startswith("region_"))]
              if f"adoption_{g}" in runs.columns]
    labels = dict(EQUITY_GROUPS)
    names = list(pd.unique(runs["scenario"]))  # in order of first appearance (a loop over the column cost 0.7 s)
    rows = []
    for group in groups:
        users = last.pivot(index="replicate", columns="scenario", values=f"adoption_{group}") * adults * shares[group]
        size = adults * shares[group]
        for name in names:
            extra = (users[name] - users[baseline]).to_numpy()
            rows.append({"scenario": name, "group": group,
                         "label": labels.get(group, group.removeprefix("region_").replace("_", " ")),
                         "adults": size, "extra_users_q50": float(np.median(extra)),
                         "extra_users_q05": float(np.quantile(extra, 0.05)),
                         "extra_users_q95": float(np.quantile(extra, 0.95)),
                         "left_behind_q50": float(np.median(size - users[name].to_numpy()))})
    return pd.DataFrame(rows)


def format_equity(equity: pd.DataFrame, baseline: str) -> str:
    """Extra users and adults left behind in the rural, 60+ and low-education groups, per policy (plain text)."""
    first = [g for g, _ in EQUITY_GROUPS]
    sub = equity[equity["group"].isin(first)]
    lines = ["Who gains, who is left behind (national adults, at the horizon; median of the paired draws):",
             f"{'policy':<22}" + "".join(f"{label[:26]:>28}" for _, label in EQUITY_GROUPS)]
    for name, g in sub.groupby("scenario", sort=False):
        g = g.set_index("group")
        if name == baseline:
            cells = [f"left behind {g.loc[k, 'left_behind_q50']:,.0f}" for k in first if k in g.index]
        else:
            cells = [f"+{g.loc[k, 'extra_users_q50']:,.0f}, behind {g.loc[k, 'left_behind_q50']:,.0f}"
                     for k in first if k in g.index]
        lines.append(f"{name:<22}" + "".join(f"{c:>28}" for c in cells))
    return "\n".join(lines)


VOI_COLUMNS = ["input", "evppi_users", "share_of_evpi", "meaning"]
FLIP_COLUMNS = ["a", "b", "input", "flips_at", "low", "high", "a_ahead_below", "mean_difference"]

#: Highest degree of the polynomial that regresses users on one uncertain input (EVPPI, flip points).
EVPPI_DEGREE = 3
#: Fewest paired draws for the value of information: below, a fit on a handful of points reads noise as signal.
MIN_DRAWS_VOI = 20


def voi_degree(draws: int) -> int:
    """Degree of the regression for ``draws`` draws: linear under 40, quadratic under 80, then cubic."""
    return 1 if draws < 40 else 2 if draws < 80 else EVPPI_DEGREE


def _fit(x: np.ndarray, y: np.ndarray, categorical: bool) -> np.ndarray:
    """Fitted E[y | x] at the draws: group means for a categorical input, else a cubic polynomial (least squares)."""
    if categorical:
        out = np.empty_like(y, dtype=float)
        for value in np.unique(x):
            out[x == value] = y[x == value].mean()
        return out
    z = (x - x.mean()) / (x.std() or 1.0)
    degree = min(voi_degree(len(x)), max(len(np.unique(z)) - 1, 0))
    return np.polyval(np.polyfit(z, y, degree), z) if degree > 0 else np.full_like(y, y.mean(), dtype=float)


def value_of_information(users: pd.DataFrame, inputs: pd.DataFrame, meanings: dict[str, str] | None = None,
                         categorical: frozenset[str] = frozenset({"sem_member"})) -> pd.DataFrame:
    """Expected value of partial perfect information of each uncertain input, in users at the horizon.

    Args:
        users: one row per draw, one column per option (the baseline included): users at the horizon.
        inputs: one row per draw (same index), one column per uncertain input: its value in that draw.
        meanings: input -> what it stands for, for the table.
        categorical: inputs fitted by group means (the SEM member).

    The expected regret of choosing now (the EVPI) is ``E[max_d users_d] - max_d E[users_d]``; knowing input
    ``k`` would reduce it by ``EVPPI_k = E_k[max_d E[users_d | k]] - max_d E[users_d]`` (never negative here:
    a fitted gain below zero is noise and is shown as 0).
    """
    y = users.to_numpy(dtype=float)
    if len(y) < MIN_DRAWS_VOI:
        out = pd.DataFrame(columns=VOI_COLUMNS)
        out.attrs["evpi_users"] = float(y.max(axis=1).mean() - y.mean(axis=0).max()) if len(y) else np.nan
        return out
    best_now = y.mean(axis=0).max()
    evpi = float(y.max(axis=1).mean() - best_now)
    rows = []
    for name in inputs.columns:
        x = inputs[name].to_numpy(dtype=float)
        if len(np.unique(x)) < 2:
            continue
        fitted = np.column_stack([_fit(x, y[:, d], name in categorical) for d in range(y.shape[1])])
        evppi = max(0.0, float(fitted.max(axis=1).mean() - best_now))
        rows.append({"input": name, "evppi_users": evppi, "share_of_evpi": evppi / evpi if evpi > 0 else np.nan,
                     "meaning": (meanings or {}).get(name, "")})
    out = pd.DataFrame(rows, columns=VOI_COLUMNS)
    out = out.sort_values("evppi_users", ascending=False, ignore_index=True)
    out.attrs["evpi_users"] = evpi
    return out


def flip_points(users: pd.DataFrame, inputs: pd.DataFrame, pairs: list[tuple[str, str]],
                names: list[str], categorical: frozenset[str] = frozenset({"sem_member"})) -> pd.DataFrame:
    """For each pair (a, b) and input: where the fitted difference a - b changes sign within the draws' range.

    ``names`` are the inputs to try (the intention slope and the most influential others). The fit is the
    polynomial of :func:`value_of_information`; ``flips_at`` is NaN when the fitted difference keeps one sign over
    the range of the draws.
    """
    rows = []
    if len(users) < MIN_DRAWS_VOI:
        pairs = []
    for a, b in pairs:
        diff = (users[a] - users[b]).to_numpy(dtype=float)
        for name in names:
            if name not in inputs.columns or name in categorical:  # no order along which to flip
                continue
            x = inputs[name].to_numpy(dtype=float)
            if len(np.unique(x)) < 4:
                continue
            grid = np.linspace(x.min(), x.max(), 201)
            mu, sd = x.mean(), x.std() or 1.0
            coef = np.polyfit((x - mu) / sd, diff, min(voi_degree(len(x)), len(np.unique(x)) - 1))
            curve = np.polyval(coef, (grid - mu) / sd)
            change = np.flatnonzero(np.sign(curve[:-1]) * np.sign(curve[1:]) < 0)
            flips = float(grid[change[0]] + (grid[change[0] + 1] - grid[change[0]]) * curve[change[0]]
                          / (curve[change[0]] - curve[change[0] + 1])) if len(change) else np.nan
            rows.append({"a": a, "b": b, "input": name, "flips_at": flips, "low": float(x.min()),
                         "high": float(x.max()), "a_ahead_below": bool(curve[0] > 0),
                         "mean_difference": float(diff.mean())})
    return pd.DataFrame(rows, columns=FLIP_COLUMNS)


def equal_budget_pairs(table: pd.DataFrame, baseline: str, tolerance: float = 0.01) -> list[tuple[str, str]]:
    """Pairs of policies whose median national cost differs by at most ``tolerance`` (relative)."""
    costs = table[table["scenario"] != baseline].set_index("scenario")["cost_kzt_median"]
    names = list(costs.index)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
            if costs[a] > 0 and abs(costs[a] - costs[b]) <= tolerance * max(costs[a], costs[b])]


def format_information(voi: pd.DataFrame, flips: pd.DataFrame) -> str:
    """The value-of-information table, the flip points and the measurement that would most help (plain text)."""
    if voi.empty:
        return ("What would change the answer: nothing uncertain varies at this level of uncertainty, or too few "
                f"draws to tell (at least {MIN_DRAWS_VOI}; use --replicates 40 or more).")
    evpi = voi.attrs.get("evpi_users")
    lines = [f"What would change the answer: expected regret of choosing now (EVPI) "
             f"{float('nan') if evpi is None else evpi:,.0f} users; expected reduction if one input were known:",
             f"{'input':<30} {'users':>10} {'share':>7}  meaning"]
    for r in voi.itertuples():
        share = "-" if pd.isna(r.share_of_evpi) else f"{r.share_of_evpi:.0%}"
        lines.append(f"{r.input:<30} {r.evppi_users:>10,.0f} {share:>7}  {r.meaning}")
    top = voi.iloc[0]
    lines.append(f"The measurement that would most improve the decision: {top['input']}"
                 + (f" ({top['meaning']})" if top["meaning"] else "") + ".")
    for r in flips.itertuples():
        if pd.isna(r.flips_at):
            lines.append(f"{r.a} vs {r.b}: no flip over {r.input} {r.low:.3g}-{r.high:.3g} "
                         f"({r.a if r.mean_difference > 0 else r.b} ahead throughout)")
        else:
            first, second = (r.a, r.b) if r.a_ahead_below else (r.b, r.a)
            lines.append(f"{r.a} vs {r.b}: the ranking flips at {r.input} = {r.flips_at:.3g} ({first} ahead below, "
                         f"{second} above; draws span {r.low:.3g}-{r.high:.3g})")
    return "\n".join(lines)


def information_text(decision: dict) -> str:
    """:func:`format_information` of the value of information and flip points as ``compare.json`` stores them."""
    voi = pd.DataFrame(decision.get("value_of_information") or [], columns=VOI_COLUMNS)
    voi.attrs["evpi_users"] = decision.get("evpi_users")
    return format_information(voi, pd.DataFrame(decision.get("flip_points") or [], columns=FLIP_COLUMNS))
