"""Doses mean what they say: each intervention kind's delivered effect, measured in its dose's unit.

:func:`measure_doses` runs, for every kind of :data:`model.interventions.EFFECTS`,
the same model twice on common random numbers (same seed, with and without
one intervention of a representative dose) and measures what the
intervention delivered in the unit its dose is stated in. The model is the
shipped one (the SEM of ``calibration.defaults.DEFAULT_SEM_FILE``, the shipped
population margins); only the start state and a few feedbacks are set so the
kind can act and its direct effect can be read:

- ``online`` setting (infrastructure, awareness, skills, trust,
  service_quality): half the adults online, 30 % aware, 5 % users; no dated
  events; the national-access and neighbour-use feedbacks on access and
  awareness are off (``access_social_per_year = awareness_social_per_year =
  0``), so the extra hazard is read without what it sets off;
- ``users`` setting (service_quality): as ``online`` with 60 % online, 60 %
  aware and 40 % users, so there are many uses to count;
- ``offline`` setting (mandate, assisted): nobody online at any time, so no
  portal use moves the channels of needs and the share of needs a mandate or a
  centre moves is read from the counts of needs by channel.

These settings are assumptions of the measurement, not of the model. A kind
delivers its dose when the ratio delivered / stated is within 20 %.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from egov_abm.calibration.defaults import DEFAULT_SEM_FILE, load_sem, population_spec
from egov_abm.model import AdoptionModel, Intervention, Target
from egov_abm.model.calendar import DT_YEARS
from egov_abm.model.interventions import EFFECTS

#: Start states of the measurement (model parameters set on top of the defaults).
SETTINGS: dict[str, dict] = {
    "online": dict(share_access_initial=0.5, share_aware_initial=0.3, share_adopters_initial=0.05,
                   access_social_per_year=0.0, awareness_social_per_year=0.0, dated_events="none"),
    "users": dict(share_access_initial=0.6, share_aware_initial=0.6, share_adopters_initial=0.4,
                  access_social_per_year=0.0, awareness_social_per_year=0.0, dated_events="none"),
    "offline": dict(share_access_initial=0.0, access_external_per_year=0.0, access_social_per_year=0.0,
                    share_aware_initial=0.3, share_adopters_initial=0.0, dated_events="none"),
}

TOLERANCE = 0.2  # delivered within 20 % of the stated dose


@dataclasses.dataclass(frozen=True)
class Case:
    """How one kind is measured."""

    dose: float  # representative stated dose (the shipped policies' value where one ships)
    setting: str
    months: int  # the programme runs months [0, months); measured at its end
    measured: str  # what is measured, in plain words
    delivered: Callable  # (base, scen, context) -> delivered dose
    target: Target = Target()
    capacity: Callable[[int], int | None] = lambda n: None  # noqa: E731 - capacity for n citizens
    watch: Callable | None = None  # (scenario model, intervention, context) before each programme month


def _hazard(base, scen, at_risk: np.ndarray, state: str, months: int) -> float:
    """Extra hazard [1/year] among ``at_risk``: -ln(S_scen / S_base) / T, S the share still without ``state``."""
    s_base = 1.0 - getattr(base, state)[at_risk].mean()
    s_scen = 1.0 - getattr(scen, state)[at_risk].mean()
    return -math.log(s_scen / s_base) / (months * DT_YEARS)


def _totals(model, *columns: str) -> int:
    return int(sum(row[c] for row in model.outcomes for c in columns))


def _success_rate(model) -> float:
    return 1.0 - _totals(model, "n_failures") / _totals(model, "n_uses")


def _infrastructure(base, scen, ctx) -> float:
    return _hazard(base, scen, ctx["target"] & ~ctx["access0"], "access", ctx["months"])


def _awareness(base, scen, ctx) -> float:
    return _hazard(base, scen, ctx["target"] & ~ctx["aware0"], "aware", ctx["months"])


def _watch_trainees(model, iv, ctx) -> None:
    # with no capacity every targeted citizen online without skill at the start of a month is trained
    ctx.setdefault("trainees", np.zeros(model.n, dtype=bool))
    ctx["trainees"] |= ctx["target"] & model.access & ~model.skill


def _skills(base, scen, ctx) -> float:
    t = ctx["trainees"]
    return float((scen.attitude[t].astype(np.float64) - base.attitude[t]).mean())


def _trust(base, scen, ctx) -> float:
    t = ctx["target"]
    return float((scen.trust[t].astype(np.float64) - base.trust[t]).mean())


def _service_quality(base, scen, ctx) -> float:
    return _success_rate(scen) - _success_rate(base)


def _mandate(base, scen, ctx) -> float:
    if _totals(base, "n_needs") != _totals(scen, "n_needs"):
        raise RuntimeError("mandate: the needs differ between the runs (common random numbers broken)")
    return 1.0 - _totals(scen, "n_assisted") / _totals(base, "n_assisted")


def _assisted(base, scen, ctx) -> float:
    fall = 1.0 - _totals(scen, "n_proxy", "n_unserved") / _totals(base, "n_proxy", "n_unserved")
    reached = [r["reached"] for r in scen.intervention_log]
    placed = float(np.mean(reached)) / scen.n  # share of the (all non-user) citizens given a place a month
    return fall / placed


CASES: dict[str, Case] = {
    "infrastructure": Case(0.5, "online", 12, "extra access hazard among targeted citizens offline at the start: "
                           "-ln(S_scen/S_base)/T, S the share still offline", _infrastructure),
    "awareness": Case(0.3, "online", 12, "extra awareness hazard among citizens unaware at the start: "
                      "-ln(S_scen/S_base)/T, S the share still unaware", _awareness),
    "skills": Case(0.3, "online", 3, "trainees' mean attitude at the programme's end (3 months, citizens 60+, "
                   "no capacity limit) minus the same citizens' in the baseline", _skills,
                   target=Target(age_bands=("60+",)), watch=_watch_trainees),
    "trust": Case(0.6, "online", 12, "mean trust of the target (all adults) at the programme's end (12 months) "
                  "minus the baseline's", _trust),
    "service_quality": Case(0.1, "users", 12, "success rate of the target's (all adults') portal uses, "
                            "scenario minus baseline", _service_quality),
    "mandate": Case(0.05, "offline", 12, "share of needs made online-only: 1 - centre-served needs (scenario / "
                    "baseline), nobody online so nothing else moves", _mandate),
    "assisted": Case(0.5, "offline", 12, "relative fall of needs met by a household member or unserved, per "
                     "unit share of citizens given a place (capacity: half the citizens a month)", _assisted,
                     capacity=lambda n: n // 2),
}


def _run_pair(kind: str, case: Case, dose: float, n_agents: int, seed: int, sem, spec,
              baselines: dict) -> float:
    """Delivered dose of one kind: scenario minus baseline on common random numbers."""
    overrides = dict(SETTINGS[case.setting], n_agents=n_agents)

    def build(interventions=()):
        return AdoptionModel(sem=sem, population=spec, seed=seed, create_agents=False,
                             interventions=interventions, **overrides)

    key = (case.setting, case.months)
    if key not in baselines:
        base = build()
        base.run(case.months)
        baselines[key] = base
    base = baselines[key]
    iv = Intervention(kind=kind, start=0, end=case.months, dose=dose, target=case.target,
                      capacity=case.capacity(n_agents) if EFFECTS[kind].uses_capacity else None,
                      name=f"dose check {kind}")
    scen = build([iv])
    ctx = {"target": case.target.mask(scen), "access0": scen.access.copy(), "aware0": scen.aware.copy(),
           "months": case.months}
    for _ in range(case.months):
        if case.watch is not None:
            case.watch(scen, iv, ctx)
        scen.step()
    return case.delivered(base, scen, ctx)


def measure_doses(n_agents: int = 20000, seed: int = 1, *, doses: dict[str, float] | None = None,
                  kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One row per intervention kind: stated dose, its unit, what is measured, delivered, ratio, within 20 %.

    ``doses`` replaces the representative dose of some kinds (the stated value
    of the row stays the representative one, so a dose that is not the stated
    one shows as a miss); ``kinds`` measures only those kinds.
    """
    sem, spec = load_sem(DEFAULT_SEM_FILE), population_spec()
    baselines: dict = {}
    rows = []
    for kind in kinds or tuple(EFFECTS):
        case = CASES[kind]
        delivered = _run_pair(kind, case, (doses or {}).get(kind, case.dose), n_agents, seed, sem, spec, baselines)
        ratio = delivered / case.dose
        rows.append({"kind": kind, "stated": case.dose, "unit": EFFECTS[kind].dose_unit, "measured": case.measured,
                     "delivered": delivered, "ratio": ratio, "within_20pct": bool(abs(ratio - 1.0) <= TOLERANCE)})
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned plain text (the measure's description below the numbers)."""
    head = ("kind", "stated", "delivered", "ratio", "ok", "unit")
    body = [(r.kind, f"{r.stated:g}", f"{r.delivered:.4f}", f"{r.ratio:.3f}", "yes" if r.within_20pct else "NO",
             r.unit) for r in table.itertuples()]
    widths = [max(len(str(x[i])) for x in (head, *body)) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (head, *body)]
    lines.append("")
    lines += [f"{r.kind}: {r.measured}" for r in table.itertuples()]
    return "\n".join(lines)
