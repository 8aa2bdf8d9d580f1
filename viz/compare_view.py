"""What the Compare page runs and shows: scenarios against the baseline, validated form values.

The page's form is checked by :func:`check_form` (one plain message per bad
field, nothing is run); :func:`run_comparison` runs the scenarios and the
baseline on common random numbers through
:func:`egov_abm.scenarios.compare.compare_scenarios`, the same function as
``egov-abm compare`` (worker processes, progress and cancellation), and
returns the monthly runs and the cost-effectiveness table.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from egov_abm.scenarios.compare import compare_scenarios
from egov_abm.scenarios.resources import check_memory, pool_workers
from egov_abm.scenarios.scenario import load_scenario
from egov_abm.viz.controls import control

BASELINE = "baseline"


@dataclasses.dataclass(frozen=True)
class CompareForm:
    """Checked values of the Compare page's form."""

    scenarios: tuple[str, ...]  # without the baseline, which always runs
    replicates: int
    n_agents: int
    seed: int
    ensemble: bool

    @property
    def n_runs(self) -> int:
        """Simulations the comparison needs (the baseline included)."""
        return (len(self.scenarios) + 1) * self.replicates


@dataclasses.dataclass(frozen=True)
class CompareResult:
    """Monthly outcomes of every run, per-replicate metrics and the summary table."""

    form: CompareForm
    runs: pd.DataFrame
    per_replicate: pd.DataFrame
    table: pd.DataFrame


def _whole(value, name: str) -> tuple[int | None, str | None]:
    """``value`` as a whole number within the page's range of control ``name``, or None and a message."""
    c = control(name)
    lo, hi = c.allowed
    label = c.label
    try:
        number = float(str(value).strip().replace(",", ""))
    except (TypeError, ValueError):
        return None, f"{label}: {value!r} is not a whole number."
    if not np.isfinite(number) or number != int(number):
        return None, f"{label}: {value!r} is not a whole number."
    if not lo <= number <= hi:
        return None, f"{label}: {int(number):,} is outside {lo:,} to {hi:,}."
    return int(number), None


def check_form(scenarios, replicates, n_agents, seed, ensemble, available) -> tuple[CompareForm | None, list[str]]:
    """Validate the form; return the checked form, or None and one message per bad field."""
    errors = []
    chosen = tuple(dict.fromkeys(s for s in (scenarios or []) if s != BASELINE))
    unknown = [s for s in chosen if s not in available]
    if unknown:
        errors.append(f"Scenarios: {', '.join(unknown)} not shipped (choose from {', '.join(available)}).")
    if not chosen:
        errors.append("Scenarios: choose at least one policy scenario to compare with the baseline.")
    reps, e1 = _whole(replicates, "replicates")
    agents, e2 = _whole(n_agents, "compare_agents")
    seed_value, e3 = _whole(seed, "seed")
    errors += [e for e in (e1, e2, e3) if e]
    if errors:
        return None, errors
    return CompareForm(chosen, reps, agents, seed_value, bool(ensemble)), []


def run_comparison(form: CompareForm, *, workers: int | None = None, progress=None,
                   should_stop=None) -> CompareResult:
    """Run the baseline and the chosen scenarios (same seeds) and summarise them against the baseline."""
    baseline, *chosen = [load_scenario(name).with_overrides(n_agents=form.n_agents)
                         for name in (BASELINE, *form.scenarios)]
    check_memory("the comparison", [baseline, *chosen], workers=pool_workers(workers, form.n_runs),
                 remedy="choose fewer citizens")
    result = compare_scenarios(chosen, baseline, seed=form.seed, replicates=form.replicates, ensemble=form.ensemble,
                               workers=workers, progress=progress, should_stop=should_stop)
    return CompareResult(form, result.runs, result.replicates, result.table)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The summary table with plain-language column names and rounded values."""

    def months(v):
        return "not reached" if np.isnan(v) else f"{v:.0f}"

    out = pd.DataFrame({
        "Scenario": table["scenario"],
        "Adoption at horizon (%)": (100 * table["adoption"]).round(1),
        "Extra adopters vs baseline": table["extra_adopters"].map("{:,.0f}".format),
        "Extra adopters, 90 % interval": [f"{lo:,.0f} to {hi:,.0f}" for lo, hi in
                                          zip(table["extra_q05"], table["extra_q95"], strict=True)],
        "Months to 50 % (from the start)": table["months_to_50"].map(months),
        "Months to 70 % (from the start)": table["months_to_70"].map(months),
        "Urban-rural gap (pp)": (100 * table["gap_urban_rural"]).round(1),
        "Young-old gap (pp)": (100 * table["gap_young_old"]).round(1),
        "Cost (bn KZT)": (table["cost_kzt"] / 1e9).round(2),
        "KZT per extra adopter": table["cost_per_extra_adopter_kzt"].map(
            lambda v: "-" if np.isnan(v) else f"{v:,.0f}"),
    })
    return out
