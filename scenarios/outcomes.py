"""Outcomes declared once: name, label, unit, direction and how to compute them from a run.

As EMA Workbench declares ``ScalarOutcome(name, kind=MAXIMIZE, function=...)``
on its model, every outcome that compare, sweeps, their analysis and the
plots report is an :class:`Outcome` here, so a gap or a threshold month is
computed in one place.

Three families:

- **monthly columns**: any numeric column of a run's monthly frame
  (``adoption``, ``share_users``, ``mean_trust``, ``cumulative_cost_kzt`` …);
  its value is the one in the last simulated month (the horizon).
- **derived per month**: ``gap_urban_rural`` (urban minus rural adoption) and
  ``gap_young_old`` (adoption aged 18-29 minus aged 60+); computed row by row,
  so they can be plotted over time, and read at the horizon like a column.
- **whole-run**: ``months_to_NN`` (NN in 1..99), the first month (counted from
  the start, month 0) in which adoption reaches NN %; NaN if never.

Use :func:`get` to look an outcome up by name (with the run frame's columns,
for the generic column outcomes) and :meth:`Outcome.value` for its number at
the horizon of one run.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from egov_abm.model import InputError

DIRECTIONS = ("max", "min", None)
MONTHS_TO = re.compile(r"^months_to_([1-9][0-9]?)$")
#: Columns of a run frame that identify the run rather than measure it.
ID_COLUMNS = ("scenario", "replicate", "seed", "month", "date")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One outcome of a run.

    Attributes:
        name: column name in results tables.
        label: plain-language label for tables and plots.
        unit: unit of the value (``share of adults``, ``months``, ``KZT`` …).
        direction: ``"max"`` if more is better, ``"min"`` if less is better, None if neither.
        function: of a monthly frame: a per-month Series (``per_month``) or one number for the whole run.
        per_month: True if ``function`` gives a value per row (any frame, several runs included).
    """

    name: str
    label: str
    unit: str
    direction: str | None
    function: Callable[[pd.DataFrame], pd.Series | float]
    per_month: bool = True

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"outcome {self.name}: direction must be 'max', 'min' or None, got {self.direction!r}")

    def value(self, frame: pd.DataFrame) -> float:
        """The outcome of one run, from its monthly frame sorted by month: its value at the horizon."""
        if self.per_month:
            return float(np.asarray(self.function(frame), dtype=float)[-1])
        return float(self.function(frame))

    def series(self, frame: pd.DataFrame) -> pd.Series:
        """The outcome month by month (per-month outcomes only), aligned with ``frame``'s rows."""
        if not self.per_month:
            raise ValueError(f"outcome {self.name}: one number per run, not per month")
        return self.function(frame)


def _gap(a: str, b: str) -> Callable[[pd.DataFrame], pd.Series]:
    def gap(frame: pd.DataFrame) -> pd.Series:
        return frame[a] - frame[b]

    gap.__doc__ = f"{a} minus {b}, per month."
    return gap


def months_to(level: float) -> Callable[[pd.DataFrame], float]:
    """Function of a run's frame: first month (from the start) with adoption >= ``level``; NaN if never."""

    def first(frame: pd.DataFrame) -> float:
        hit = np.flatnonzero(frame["adoption"].to_numpy() >= level)
        return float(frame["month"].iloc[hit[0]]) if len(hit) else np.nan

    return first


#: Derived outcomes (beyond the frame's own columns and ``months_to_NN``).
DERIVED: dict[str, Outcome] = {o.name: o for o in (
    Outcome("gap_urban_rural", "Urban minus rural adoption", "share of adults", "min",
            _gap("adoption_urban", "adoption_rural")),
    Outcome("gap_young_old", "Aged 18-29 minus aged 60+ adoption", "share of adults", "min",
            _gap("adoption_age_18_29", "adoption_age_60plus")),
)}

#: Labels, units and directions of the monthly columns most often reported; others get generic ones.
_COLUMNS = {
    "adoption": ("Adoption (used the portal in the last 12 months)", "share of adults", "max"),
    "share_active_month": ("Used the portal this month", "share of adults", "max"),
    "share_ever_used": ("Ever used the portal (registered)", "share of adults", "max"),
    "share_assisted": ("Served at a public service centre in the last 12 months", "share of adults", None),
    "share_users": ("Portal among their channels (current users)", "share of adults", "max"),
    "n_uses": ("Portal uses this month (simulated citizens)", "uses", "max"),
    "uses_national": ("Portal uses this month, national", "uses", "max"),
    "n_unserved": ("Service needs unmet this month (simulated citizens)", "needs", "min"),
    "attitude_score": ("Mean attitude, item score", "1-5", "max"),
    "trust_score": ("Mean trust, item score", "1-5", "max"),
    "share_lapsed": ("Lapsed users", "share of adults", "min"),
    "share_aware": ("Aware of the portal", "share of adults", "max"),
    "internet_access": ("Internet access", "share of adults", "max"),
    "digital_literacy": ("Digital literacy", "share of adults", "max"),
    "mean_attitude": ("Mean attitude", "SD of the survey", "max"),
    "mean_trust": ("Mean trust", "SD of the survey", "max"),
    "mean_readiness": ("Mean readiness", "SD of the survey", "max"),
    "mean_intention": ("Mean intention", "SD of the survey", "max"),
    "cost_kzt": ("Cost this month (simulated population)", "KZT", "min"),
    "cumulative_cost_kzt": ("Cumulative cost (simulated population)", "KZT", "min"),
    "cost_kzt_national": ("Cost this month, national", "KZT", "min"),
    "cumulative_cost_kzt_national": ("Cumulative cost, national", "KZT", "min"),
}


def _unit(name: str) -> str:
    if name.startswith(("share_", "adoption")):
        return "share of adults"
    if name.startswith("n_"):
        return "citizens"
    if "_kzt" in name:
        return "KZT"
    return ""


def column(name: str) -> Outcome:
    """The generic outcome of a monthly column: its value at the horizon."""
    label, unit, direction = _COLUMNS.get(name, (name.replace("_", " ").capitalize(), _unit(name), None))
    return Outcome(name, label, unit, direction, lambda frame: frame[name])


def get(name: str, columns: Iterable[str] | None = None) -> Outcome:
    """The outcome called ``name``: derived, ``months_to_NN``, or a monthly column.

    Args:
        name: outcome name.
        columns: the run frame's numeric columns; if given, a column outcome must be one of them.

    Raises:
        InputError: unknown name (one line listing what is known).
    """
    if name in DERIVED:
        return DERIVED[name]
    m = MONTHS_TO.match(name)
    if m is not None:
        level = int(m.group(1))
        return Outcome(name, f"Months until adoption reaches {level} %", "months", "min",
                       months_to(level / 100), per_month=False)
    if columns is None or name in columns:
        return column(name)
    raise InputError(f"unknown outcome {name!r} (known: {', '.join(columns)}, {', '.join(DERIVED)}, "
                     "months_to_NN with NN in 1..99)")


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of a run frame that are outcomes (numeric, not the run's identifiers)."""
    return [c for c in frame.columns if c not in ID_COLUMNS and pd.api.types.is_numeric_dtype(frame[c])]


def values(frame: pd.DataFrame, names: Iterable[str]) -> dict[str, float]:
    """Outcomes of one run (its monthly frame, sorted by month) at the horizon."""
    return {n: get(n).value(frame) for n in names}
