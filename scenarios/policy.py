"""Interventions as scenario data: the ``[[interventions]]`` tables of a scenario file.

::

    [[interventions]]
    name = "rural broadband"            # optional label
    kind = "infrastructure"             # see model.interventions
    start = "2024-01"                   # first month, YYYY-MM
    end = "2028-12"                     # last month (inclusive), YYYY-MM
    dose = 0.5                          # unit depends on the kind (none for assisted)
    capacity = 20000                    # citizens a month, nationally (skills and assisted only)
    cost_per_person_kzt = 120000        # per citizen reached
    cost_fixed_per_month_kzt = 0        # while active
    target = { urban = false, regions = ["Turkistan"], age_bands = ["60+"], education = ["secondary"] }

Capacities and costs are national. The simulated population stands for the
adult population of 2021 (``calibration/data/demographics.csv``): a national
capacity is scaled down to the simulated citizens (rounded, at least 1 when
the national capacity is positive), and the runner scales simulated costs
back up (``cost_kzt_national``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from egov_abm.model import INTERVENTION_KINDS, Intervention, Target
from egov_abm.model.calendar import is_month, month_date, month_index
from egov_abm.model.interventions import EFFECTS

FIELDS = {"name": str, "kind": str, "start": str, "end": str, "dose": (int, float), "capacity": int,
          "cost_per_person_kzt": (int, float), "cost_fixed_per_month_kzt": (int, float), "target": dict}
TARGET_FIELDS = {"regions": list, "urban": bool, "age_bands": list, "education": list}


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """An intervention as the scenario states it (national capacity, calendar months)."""

    intervention: Intervention  # capacity here is national
    source: str  # "file: interventions[k]"

    def for_model(self, n_agents: int, adult_population: float) -> Intervention:
        """The intervention with its capacity scaled to ``n_agents`` simulated citizens."""
        cap = self.intervention.capacity
        if cap is not None:
            cap = max(1, round(cap * n_agents / adult_population)) if cap > 0 else 0
        return dataclasses.replace(self.intervention, capacity=cap)


def parse_interventions(entries: list[tuple[str, int, Any]], start_month: str, region_names) -> list[PolicySpec]:
    """Validate ``(file, index, table)`` entries; raise ``ValueError`` with one line naming file, entry and field."""
    out = []
    for where, k, entry in entries:
        label = f"{where}: interventions[{k}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{label}: expected a table")
        for key, value in entry.items():
            if key not in FIELDS:
                raise ValueError(f"{label}: unknown field '{key}' (known: {', '.join(FIELDS)})")
            if isinstance(value, bool) or not isinstance(value, FIELDS[key]):
                raise ValueError(f"{label}: {key}: wrong type, got {value!r}")
        for key in ("kind", "start", "end"):
            if key not in entry:
                raise ValueError(f"{label}: {key}: required field is missing")
        if entry["kind"] not in INTERVENTION_KINDS:
            raise ValueError(f"{label}: kind: expected one of {', '.join(INTERVENTION_KINDS)}, got {entry['kind']!r}")
        if "dose" not in entry and EFFECTS[entry["kind"]].uses_dose:
            raise ValueError(f"{label}: dose: required field is missing")
        months = {}
        for key in ("start", "end"):
            if not is_month(entry[key]):
                raise ValueError(f"{label}: {key}: expected a month as YYYY-MM, got {entry[key]!r}")
            months[key] = month_index(entry[key], start=start_month)
        if months["start"] < 0:
            raise ValueError(f"{label}: start: {entry['start']} is before the scenario's start {start_month}")
        if months["end"] < months["start"]:
            raise ValueError(f"{label}: end {entry['end']} is before start {entry['start']}")
        target = entry.get("target", {})
        for key, value in target.items():
            if key not in TARGET_FIELDS:
                raise ValueError(f"{label}: target: unknown field '{key}' (known: {', '.join(TARGET_FIELDS)})")
            if not isinstance(value, TARGET_FIELDS[key]) or (isinstance(value, list)
                                                             and not all(isinstance(v, str) for v in value)):
                raise ValueError(f"{label}: target.{key}: wrong type, got {value!r}")
        tgt = Target(regions=tuple(target.get("regions", ())), urban=target.get("urban"),
                     age_bands=tuple(target.get("age_bands", ())), education=tuple(target.get("education", ())))
        try:
            tgt.validate(region_names, where="target")
            iv = Intervention(kind=entry["kind"], start=months["start"], end=months["end"] + 1,
                              dose=float(entry.get("dose", 0.0)), target=tgt, capacity=entry.get("capacity"),
                              cost_per_person_kzt=float(entry.get("cost_per_person_kzt", 0.0)),
                              cost_fixed_per_month_kzt=float(entry.get("cost_fixed_per_month_kzt", 0.0)),
                              name=entry.get("name", f"{entry['kind']} {k + 1}"))
        except ValueError as exc:
            raise ValueError(f"{label}: {_strip(exc)}") from None
        out.append(PolicySpec(iv, label))
    return out


def _strip(exc: ValueError) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if text.startswith("intervention ") else text



def describe(spec: PolicySpec, start_month: str) -> str:
    """One line: name, kind, window, dose, target."""
    iv = spec.intervention
    first = month_date(start_month, iv.start).strftime("%Y-%m")
    last = month_date(start_month, iv.end - 1).strftime("%Y-%m")
    tgt = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(iv.target).items() if v not in ((), None)) or "everyone"
    return f"{iv.name}: {iv.kind} {first}..{last}, dose {iv.dose:g}, target {tgt}"

