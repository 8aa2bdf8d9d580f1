"""Budget levers: what a sum of money buys on each kind of intervention, and allocations of a budget.

The lever table (``scenarios/data/levers.csv``) states, for each lever a
budget can be spent on, how a monthly spend becomes an intervention. Every
row is an assumption, anchored on the shipped policies so that a shipped
package is a point of the optimiser's search space with exactly its doses:

- ``dose`` levers (infrastructure, trust, awareness, service quality): the
  dose at a monthly spend ``s`` on a group holding a share ``g`` of adults is
  ``efficiency * dose_reference * (s / (spend_reference * g)) ** returns``, at
  most ``dose_cap``. At the reference spend on everyone the dose is the
  reference, whatever ``returns`` is; half as much money on a group of half
  the adults buys the same dose there.
- ``places`` levers (skills courses, places at public service centres): money
  buys places at ``price_per_place`` a month (paid whether filled or not), so
  ``capacity = efficiency * s / price`` citizens a month, each at the reference dose. Their
  diminishing returns are the model's own: the citizens left to reach.

Two things about what money buys are not known, so they are uncertain inputs
with priors (:data:`PRIORS`), not fixed: ``returns`` (:data:`RETURNS`), the
returns to scale of spending on a dose lever, and each lever's efficiency
(:data:`EFFICIENCY`: ``efficiency_<lever>``), a factor on the dose (or on the
places) its money buys, since no costed evaluation of these programmes in
Kazakhstan is at hand. At the ``full`` level of uncertainty replicate ``r`` of
every allocation takes the same draw (:func:`lever_draws`), so allocations,
the packages among them, stay paired; at the other levels each is held at its
prior's middle (:data:`MIDDLE`: returns 0.7, every efficiency 1, where a
package has exactly its shipped doses).

A lever also has a most useful monthly spend (``spend_max_per_month_kzt``):
more money than that cannot be spent on it in a month (absorptive capacity,
an assumption). An allocation that puts more on a lever is repaired by moving
the excess to levers with room (:func:`repair`); a budget larger than every
chosen lever can take is refused.

An :class:`Allocation` is a budget, a window of months and shares of the
budget by lever, each with a target group. A scenario file states one as::

    [allocation]
    budget_kzt = 48000000000
    start = "2025-01"
    end = "2029-12"
    levers = { infrastructure = { share = 0.4, target = "rural" }, trust = { share = 0.6, target = "all" } }

and the scenario's interventions are the allocation's (:mod:`.scenario`).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
from importlib import resources
from pathlib import Path

import numpy as np

from egov_abm.model import InputError
from egov_abm.model.calendar import is_month, month_date, month_index
from egov_abm.model.uncertainty import Prior

LEVERS_FILE = Path(str(resources.files("egov_abm.scenarios"))) / "data" / "levers.csv"

#: The returns to scale of spending on a dose lever: dose grows as spend ** returns (1: in proportion).
RETURNS = Prior("returns_to_spend", 0.4, 1.0,
                meaning="returns to scale of spending on a lever: dose grows as spend to this power "
                        "(assumption; 1 = in proportion, 0.5 = four times the money for twice the dose)")
RETURNS_MIDDLE = 0.5 * (RETURNS.low + RETURNS.high)
#: Spawn key of the stream of lever draws (apart from every model stream, which the run's seed spawns).
RETURNS_STREAM = 0x5E7D
#: Range of a lever's efficiency: what its money buys is between half and twice the assumed dose (or places).
EFFICIENCY_RANGE = (0.5, 2.0)
#: A share below this is no spend at all (so that "this lever off" is a point the search reaches).
MIN_SHARE = 0.02

#: Target groups a lever may aim at: name -> (scenario ``target`` table, outcome group of its share of adults).
TARGETS = {"all": ({}, None), "rural": ({"urban": False}, "rural"), "60+": ({"age_bands": ["60+"]}, "age_60plus"),
           "school": ({"education": ["secondary"]}, "education_secondary")}
TARGET_MEANING = {"all": "all adults", "rural": "rural adults", "60+": "adults aged 60+",
                  "school": "adults with school education only"}


class AllocationError(InputError):
    """An allocation (a scenario's ``[allocation]``, or the optimiser's options) is not one the levers allow."""


@dataclasses.dataclass(frozen=True)
class Lever:
    """One row of the lever table."""

    name: str
    kind: str
    mode: str  # "dose" or "places"
    spend_reference: float  # KZT a month
    dose_reference: float
    price_per_place: float | None
    dose_cap: float | None
    spend_max: float  # KZT a month
    targets: tuple[str, ...]
    source: str

    def intervention(self, spend: float, target: str, beta: float, group_share: float,
                     efficiency: float = 1.0) -> dict:
        """The scenario ``[[interventions]]`` table (without window and name) ``spend`` KZT a month buys."""
        entry: dict = {"kind": self.kind, "cost_fixed_per_month_kzt": float(spend)}
        if self.mode == "places":
            entry["dose"] = self.dose_reference
            entry["capacity"] = int(efficiency * spend // self.price_per_place)
        else:
            dose = efficiency * self.dose_reference * (spend / (self.spend_reference * group_share)) ** beta
            entry["dose"] = float(min(dose, self.dose_cap) if self.dose_cap is not None else dose)
        if TARGETS[target][0]:
            entry["target"] = dict(TARGETS[target][0])
        return entry


@functools.cache
def load_levers(path: Path = LEVERS_FILE) -> dict[str, Lever]:
    """The lever table, by name."""
    out = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out[row["lever"]] = Lever(
                name=row["lever"], kind=row["kind"], mode=row["mode"],
                spend_reference=float(row["spend_reference_per_month_kzt"]),
                dose_reference=float(row["dose_reference"]),
                price_per_place=float(row["price_per_place_kzt"]) if row["price_per_place_kzt"] else None,
                dose_cap=float(row["dose_cap"]) if row["dose_cap"] else None,
                spend_max=float(row["spend_max_per_month_kzt"]), targets=tuple(row["targets"].split("|")),
                source=row["source"])
    return out


@functools.cache
def group_share(target: str) -> float:
    """Share of adults in a target group (population margins); 1 for everyone."""
    from egov_abm.calibration.defaults import population_spec
    from egov_abm.scenarios.decisions import group_shares

    group = TARGETS[target][1]
    return 1.0 if group is None else group_shares(population_spec())[group]


def _efficiency_prior(lever: str) -> Prior:
    return Prior(f"efficiency_{lever}", *EFFICIENCY_RANGE, log=True,
                 meaning=f"what money spent on {lever.replace('_', ' ')} buys, times the assumed dose or places "
                         f"(assumption: half to twice)")


@functools.cache
def priors() -> tuple[Prior, ...]:
    """The uncertain inputs of what money buys: the returns to spending, then each lever's efficiency."""
    return (RETURNS, *(_efficiency_prior(k) for k in load_levers()))


@functools.cache
def middle() -> dict[str, float]:
    """Each input of :func:`priors` at its prior's middle (returns 0.7; efficiencies 1: the shipped doses)."""
    return {p.name: p.from_unit(0.5) for p in priors()}


def lever_draws(replicates: int, seed: int) -> list[dict[str, float]]:
    """Per replicate ``0..replicates-1``, the inputs of :func:`priors` at the ``full`` level.

    Seeded by ``seed`` on a stream of their own; replicate r's draw does not depend on ``replicates``.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(RETURNS_STREAM,)))
    units = rng.random((replicates, len(priors())))
    return [{p.name: p.from_unit(u) for p, u in zip(priors(), row, strict=True)} for row in units]


def returns_draws(replicates: int, seed: int) -> np.ndarray:
    """The returns to spending of :func:`lever_draws`, per replicate."""
    return np.array([d[RETURNS.name] for d in lever_draws(replicates, seed)])


@dataclasses.dataclass(frozen=True)
class Allocation:
    """A budget over a window of months, in shares by lever, each lever aimed at one target group."""

    budget_kzt: float
    start: str  # YYYY-MM, first month
    end: str  # YYYY-MM, last month (inclusive)
    shares: tuple[tuple[str, float, str], ...]  # (lever, share of the budget, target), shares summing to 1

    @property
    def months(self) -> int:
        """Months in the window."""
        return month_index(self.end, start=self.start) + 1

    def entries(self, draw: dict[str, float] | None = None) -> list[dict]:
        """The allocation as scenario ``[[interventions]]`` tables at a lever draw (default :func:`middle`)."""
        draw = middle() if draw is None else draw
        levers = load_levers()
        out = []
        for lever, share, target in self.shares:
            if share <= 0:
                continue
            spend = share * self.budget_kzt / self.months
            entry = levers[lever].intervention(spend, target, draw[RETURNS.name], group_share(target),
                                               draw[f"efficiency_{lever}"])
            out.append({"name": f"{lever} (allocation)", **entry, "start": self.start, "end": self.end})
        return out

    def policies(self, start_month: str, draw: dict[str, float] | None, where: str) -> list:
        """The allocation's :class:`~.policy.PolicySpec` objects at a lever draw (``where: allocation.LEVER``)."""
        import dataclasses as dc

        from egov_abm.calibration.defaults import population_spec
        from egov_abm.scenarios.policy import parse_interventions

        entries = self.entries(draw)
        try:
            specs = parse_interventions([(where, k, e) for k, e in enumerate(entries)], start_month,
                                        population_spec().region_names)
        except ValueError as exc:
            raise AllocationError(str(exc).replace("interventions[", "allocation entry [")) from None
        return [dc.replace(s, source=f"{where}: allocation.{e['name'].split(' ')[0]}")
                for s, e in zip(specs, entries, strict=True)]

    def describe(self) -> list[str]:
        """One line per lever: share, KZT a month, target."""
        return [f"{lever}: {share:.0%} of the budget, {share * self.budget_kzt / self.months / 1e6:,.0f} M KZT a "
                f"month, {TARGET_MEANING[target]}" for lever, share, target in self.shares if share > 0]

    def table(self) -> dict:
        """The ``[allocation]`` table of a scenario file."""
        return {"budget_kzt": self.budget_kzt, "start": self.start, "end": self.end,
                "levers": {lever: {"share": round(share, 6), "target": target}
                           for lever, share, target in self.shares if share > 0}}

    def toml(self) -> str:
        """The ``[allocation]`` table as TOML text."""
        t = self.table()
        levers = ", ".join(f'{k} = {{ share = {v["share"]!r}, target = "{v["target"]}" }}'
                           for k, v in t["levers"].items())
        return (f"[allocation]\nbudget_kzt = {t['budget_kzt']!r}\nstart = \"{t['start']}\"\nend = \"{t['end']}\"\n"
                f"levers = {{ {levers} }}\n")


def check_window(start: str, end: str, scenario_start: str, scenario_months: int, where: str) -> None:
    """Refuse a window that is not months, ends before it starts, or lies outside the scenario."""
    for key, value in (("start", start), ("end", end)):
        if not isinstance(value, str) or not is_month(value):
            raise AllocationError(f"{where}: {key}: expected a month as YYYY-MM, got {value!r}")
    if month_index(end, start=start) < 0:
        raise AllocationError(f"{where}: end {end} is before start {start}")
    last = str(month_date(scenario_start, scenario_months - 1))[:7]
    if month_index(start, start=scenario_start) < 0 or month_index(end, start=scenario_start) >= scenario_months:
        raise AllocationError(f"{where}: the window {start} to {end} is outside the scenario's months "
                              f"{scenario_start} to {last}")


def check_budget(budget: float, levers: list[str], months: int, where: str) -> None:
    """Refuse a budget that is not positive or more than the chosen levers can take in ``months``."""
    if not (isinstance(budget, int | float) and not isinstance(budget, bool) and math.isfinite(budget) and budget > 0):
        raise AllocationError(f"{where}: expected a budget in KZT above 0, got {budget!r}")
    table = load_levers()
    most = sum(table[k].spend_max for k in levers) * months
    if budget > most * (1 + 1e-9):
        raise AllocationError(f"{where}: {budget:,.0f} KZT cannot be spent on {', '.join(levers)} in {months} months: "
                              f"at most {most:,.0f} KZT (each lever's most useful monthly spend, "
                              f"scenarios/data/levers.csv)")


def check_levers(names: list[str], where: str) -> None:
    """Refuse unknown or repeated lever names."""
    table = load_levers()
    for name in names:
        if name not in table:
            raise AllocationError(f"{where}: unknown lever {name!r} (known: {', '.join(table)})")
    if len(set(names)) != len(names):
        raise AllocationError(f"{where}: a lever is named twice in {', '.join(names)}")


def repair(weights: dict[str, float], budget: float, months: int) -> dict[str, float]:
    """Shares summing to 1 from non-negative ``weights``: tiny shares dropped, no lever over its most useful spend.

    A share below :data:`MIN_SHARE` becomes 0; then spend above a lever's
    most useful monthly spend moves to the levers with room, in proportion to
    their shares (or equally, when none of them has a share).
    """
    table = load_levers()
    total = sum(max(0.0, w) for w in weights.values())
    shares = {k: max(0.0, w) / total if total > 0 else 1.0 / len(weights) for k, w in weights.items()}
    kept = {k: v for k, v in shares.items() if v >= MIN_SHARE}
    if not kept:
        kept = {max(shares, key=shares.get): 1.0}
    total = sum(kept.values())
    shares = {k: kept.get(k, 0.0) / total for k in weights}
    cap = {k: table[k].spend_max * months / budget for k in weights}  # most share each lever can take
    for _ in range(len(weights) + 1):
        excess = sum(max(0.0, shares[k] - cap[k]) for k in weights)
        if excess <= 1e-12:
            break
        shares = {k: min(shares[k], cap[k]) for k in weights}
        room = {k: cap[k] - shares[k] for k in weights if cap[k] - shares[k] > 1e-12}
        if not room:
            raise AllocationError(f"a budget of {budget:,.0f} KZT cannot be spent on {', '.join(weights)} "
                                  f"in {months} months")
        with_share = {k: shares[k] for k in room if shares[k] > 0}
        basis = with_share or {k: 1.0 for k in room}
        norm = sum(basis.values())
        for k, b in basis.items():
            shares[k] += min(room[k], excess * b / norm)
    total = sum(shares.values())
    return {k: v / total for k, v in shares.items()}


def parse_allocation(table: dict, where: str, scenario_start: str, scenario_months: int) -> Allocation:
    """Validate a scenario's ``[allocation]`` table; one line naming the file and field on error."""
    known = {"budget_kzt", "start", "end", "levers"}
    for key in table:
        if key not in known:
            raise AllocationError(f"{where}: allocation: unknown field '{key}' (known: {', '.join(sorted(known))})")
    for key in known:
        if key not in table:
            raise AllocationError(f"{where}: allocation.{key}: required field is missing")
    check_window(table["start"], table["end"], scenario_start, scenario_months, f"{where}: allocation")
    months = month_index(table["end"], start=table["start"]) + 1
    levers = table["levers"]
    if not isinstance(levers, dict) or not levers:
        raise AllocationError(f"{where}: allocation.levers: expected a table of levers, got {levers!r}")
    check_levers(list(levers), f"{where}: allocation.levers")
    check_budget(table["budget_kzt"], list(levers), months, f"{where}: allocation.budget_kzt")
    lever_table = load_levers()
    shares = []
    for name, entry in levers.items():
        field = f"{where}: allocation.levers.{name}"
        if not isinstance(entry, dict) or set(entry) - {"share", "target"} or "share" not in entry:
            raise AllocationError(f"{field}: expected {{ share = S, target = \"GROUP\" }}, got {entry!r}")
        share, target = entry["share"], entry.get("target", "all")
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise AllocationError(f"{field}.share: expected a share in (0, 1], got {share!r}")
        if target not in lever_table[name].targets:
            raise AllocationError(f"{field}.target: expected one of {', '.join(lever_table[name].targets)}, "
                                  f"got {target!r}")
        spend = share * table["budget_kzt"] / months
        if spend > lever_table[name].spend_max * (1 + 1e-9):
            raise AllocationError(f"{field}.share: {spend:,.0f} KZT a month is more than the lever's most useful "
                                  f"spend, {lever_table[name].spend_max:,.0f}")
        shares.append((name, float(share), target))
    total = sum(s for _, s, _ in shares)
    if abs(total - 1.0) > 1e-4:
        raise AllocationError(f"{where}: allocation.levers: the shares must sum to 1, got {total:.6g}")
    return Allocation(float(table["budget_kzt"]), table["start"], table["end"], tuple(shares))


def package_allocation(scenario, budget: float, start: str, end: str) -> Allocation | None:
    """A scenario's interventions as an allocation of ``budget`` over ``start``..``end``, or None if they are not one.

    A scenario is an allocation when each intervention is a lever of the table
    with a fixed monthly cost only, aimed at one of the lever's target groups,
    at the lever's reference dose: for a dose lever, bought by its reference
    spend on that group (so at any returns); for places, as many as the cost buys;
    its shares are the shares of its monthly costs. The package keeps those
    shares at another budget or window.
    """
    table = load_levers()
    by_kind = {lever.kind: lever for lever in table.values()}
    costs: dict[str, float] = {}
    targets: dict[str, str] = {}
    for spec in scenario.policies:
        iv = spec.intervention
        lever = by_kind.get(iv.kind)
        if lever is None or iv.cost_per_person_kzt or iv.cost_fixed_per_month_kzt <= 0 or lever.name in costs:
            return None
        target = next((t for t, (fields, _) in TARGETS.items() if _target_matches(iv.target, fields)), None)
        if target is None or target not in lever.targets:
            return None
        if not math.isclose(iv.dose, lever.dose_reference, rel_tol=1e-6):
            return None
        if lever.mode == "places":
            if iv.capacity != int(iv.cost_fixed_per_month_kzt // lever.price_per_place):
                return None
        elif not math.isclose(iv.cost_fixed_per_month_kzt, lever.spend_reference * group_share(target), rel_tol=1e-6):
            return None  # a dose lever at its reference dose for its reference spend: the same at any returns
        costs[lever.name] = iv.cost_fixed_per_month_kzt
        targets[lever.name] = target
    if not costs:
        return None
    total = sum(costs.values())
    return Allocation(float(budget), start, end, tuple((k, c / total, targets[k]) for k, c in costs.items()))


def _target_matches(target, fields: dict) -> bool:
    want = {"regions": (), "urban": None, "age_bands": (), "education": ()}
    for key, value in fields.items():
        want[key] = tuple(value) if isinstance(value, list) else value
    return all(getattr(target, key) == value for key, value in want.items())
