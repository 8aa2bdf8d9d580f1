"""Ranges, units and labels of the app's controls, and the facts its texts state.

A control for a model parameter takes its range (or choices), unit and meaning
from the parameter's metadata (:meth:`~model.Params.fields`); its label is a
short name (:data:`SHORT_NAMES`) with that unit, and the meaning is shown under
the page's figures (:meth:`Control.describe`). An input that is
not a parameter (replicates, seed) takes its limits from the matching option of
the ``egov-abm compare`` command. Where a page needs a smaller range, the
narrower limit is declared once, in :data:`UI_LIMITS`, with its reason, and must
lie inside the full range. The page's controls and the checks of page values
both read :func:`control`, so they cannot disagree.

This module holds no Solara code.
"""

from __future__ import annotations

import dataclasses
import functools
import math

from egov_abm.calibration.defaults import demographic_constants
from egov_abm.model import Params, month_date
from egov_abm.scenarios.scenario import load_scenario

#: Where a page's control needs a smaller range than the parameter or the command line allows:
#: control name -> ((low, high), reason). Each range lies inside the full one (checked on import).
UI_LIMITS: dict[str, tuple[tuple[float, float], str]] = {
    "n_agents": ((200, 20_000),
                 "Explore redraws every month, and computing a step with its three figures takes about 0.3 s "
                 "at 20,000 citizens before the browser's round trip; "
                 "below 200, the 20 regions of the network picture hold a handful of citizens each"),
    "dose_scale": ((0.0, 3.0),
                   "the shipped policies' doses and unit costs are assumptions for one dose; three times that is "
                   "already far outside what they describe"),
    "compare_agents": ((500, 20_000),
                       "the page waits for every run on this machine's cores, so larger studies belong to "
                       "egov-abm compare; below 500, the age and urban-rural groups behind the table's gaps hold "
                       "too few citizens"),
    "replicates": ((1, 50),
                   "the page waits for every run on this machine's cores, so larger studies belong to "
                   "egov-abm compare"),
    "seed": ((0, 2**31 - 1),
             "a seed typed on the page fits a 32-bit signed integer, so it can be given to any other tool"),
}


#: Short names the controls show beside their unit: a parameter's ``doc`` is too long for a sidebar
#: slider (the label wraps and squeezes the slider away); the page shows the ``doc`` below the figures.
SHORT_NAMES = {
    "n_agents": "Population",
    "network": "Social network kind",
    "mean_degree": "Mean degree",
    "p_success": "Service quality",
    "dose_scale": "Policy dose",
    "seed": "Seed",
    "compare_agents": "Population per run",
    "replicates": "Replicates per scenario",
}


@dataclasses.dataclass(frozen=True)
class Control:
    """One control of a page: what it shows and which values it accepts."""

    name: str
    text: str  # short name (SHORT_NAMES)
    doc: str  # what the value means (the parameter's doc, or the command line's help)
    unit: str | None
    full: tuple[float, float] | None  # what the model or the command line accepts
    allowed: tuple[float, float] | None  # what the page accepts (the full range or a declared UI limit)
    choices: tuple[str, ...] | None = None
    reason: str | None = None  # why ``allowed`` is narrower than ``full``
    integer: bool = False
    full_from: str = "the model"  # who accepts ``full``

    @property
    def label(self) -> str:
        """The control's label, also used in notes and messages: its short name and unit, if it has one."""
        return f"{self.text} ({self.unit})" if self.unit else self.text

    def describe(self) -> str:
        """One line for the page: label, meaning, the range the page accepts and, if narrower, why."""
        if self.choices:
            return f"{self.label}: {self.doc}; one of {', '.join(self.choices)}."
        line = f"{self.label}: {self.doc}. Here {_span(self.allowed, self.integer)}"
        if self.reason:
            line += f" ({self.full_from} takes {_span(self.full, self.integer)}) because {self.reason}"
        return line + "."


def _span(limits: tuple[float, float], integer: bool) -> str:
    lo, hi = (f"{int(x):,}" if integer and math.isfinite(x) else f"{x:g}" for x in limits)
    return f"{lo} or more" if math.isinf(limits[1]) else f"{lo} to {hi}"


def _cli_range(option: str) -> tuple[float, float]:
    """Limits of an integer option of ``egov-abm compare`` (a missing limit is infinite)."""
    from egov_abm.scenarios.cli import compare

    kind = next(p for p in compare.params if p.name == option).type
    return (-math.inf if kind.min is None else kind.min, math.inf if kind.max is None else kind.max)


def _parameter(name: str, *, control_name: str | None = None) -> Control:
    f = Params.fields()[name]
    meta = f.metadata
    full = tuple(meta["range"]) if meta["range"] is not None else None
    key = control_name or name
    allowed, reason = UI_LIMITS.get(key, (full, None))
    choices = tuple(meta["choices"]) if meta["choices"] is not None else None
    return Control(key, SHORT_NAMES[key], meta["doc"], None if choices else meta["unit"], full,
                   None if allowed is None else tuple(allowed), choices, reason, integer=f.type in ("int", int))


@functools.cache
def controls() -> dict[str, Control]:
    """Every control of the Explore and Compare pages whose values are checked, by name."""
    def limit(name):
        allowed, reason = UI_LIMITS[name]
        return {"allowed": allowed, "reason": reason}

    out = [
        _parameter("n_agents"),
        _parameter("network"),
        _parameter("mean_degree"),
        _parameter("p_success"),
        Control("dose_scale", SHORT_NAMES["dose_scale"], "every intervention's dose times this (doses that are "
                "probabilities stay at most 1)", "× scenario dose", (0.0, math.inf), **limit("dose_scale")),
        Control("seed", SHORT_NAMES["seed"], "root seed of the run's random streams", None, _cli_range("seed"),
                **limit("seed"), integer=True, full_from="egov-abm compare"),
        _parameter("n_agents", control_name="compare_agents"),
        Control("replicates", SHORT_NAMES["replicates"], "independent runs of every scenario, on common random "
                "numbers", None, _cli_range("replicates"), **limit("replicates"), integer=True,
                full_from="egov-abm compare"),
    ]
    for c in out:
        if c.full is not None and c.reason is None and c.allowed != c.full:
            raise ValueError(f"control {c.name}: allowed range {c.allowed} differs from {c.full} without a reason")
        if c.full is not None and not c.full[0] <= c.allowed[0] <= c.allowed[1] <= c.full[1]:
            raise ValueError(f"control {c.name}: page range {c.allowed} is not inside {c.full}")
    return {c.name: c for c in out}


def control(name: str) -> Control:
    """The control called ``name`` (a key of :func:`controls`)."""
    return controls()[name]


# ------------------------------------------------------------------------------ facts the pages state
def adults_text() -> str:
    """The adult population the simulated citizens stand for, e.g. ``"13.0 M adults"``."""
    return f"{demographic_constants()['adult_population_2021'] / 1e6:.1f} M adults"


def horizon_text(scenario: str = "baseline") -> str:
    """First and last month a scenario runs, e.g. ``"April 2006 to December 2030"``."""
    s = load_scenario(scenario)
    start, end = month_date(s.params.start_month, 0), month_date(s.params.start_month, s.months)
    return f"{start:%B %Y} to {end:%B %Y}"


def calibration_window_text() -> str:
    """Years of the record the shipped dynamics posterior was calibrated to, e.g. ``"2006-2021"``."""
    from egov_abm.calibration.posterior import load_posterior

    meta = load_posterior().meta
    return f"{meta['start_month'][:4]}-{meta['end_month'][:4]}"
