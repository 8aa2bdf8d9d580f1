"""The model the Explore page drives: a scenario plus the few knobs the page shows.

:class:`ExploreModel` is an :class:`~model.AdoptionModel` built from a shipped
scenario (the calibrated posterior's best point and its SEM member, the shipped population) with
keyword arguments only (the page rebuilds it from its settings on Reset).

Values from the page are never trusted: each is checked against the range its
control shows (:mod:`viz.controls`: the parameter's metadata or a declared UI
limit); a value out of range or of the wrong type is replaced by the nearest
allowed value (or the default) and a plain-language note, naming the control
as its label reads, says so (``model.input_notes``), so a bad value never
stops the page. The model itself is built by
:func:`scenarios.runner.model_arguments`, like every other run.

This module holds no Solara code; the app module holds no model code.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from egov_abm.model import AdoptionModel, Params, month_date
from egov_abm.scenarios.runner import model_arguments
from egov_abm.scenarios.scenario import Scenario, extra_scenarios, load_scenario, shipped_scenarios
from egov_abm.viz.controls import control

#: Most citizens drawn in the network picture; above this a random sample is drawn.
MAX_DRAWN = 2_000
START_CHOICES = ("scenario start", "2012-01", "2016-01", "2020-01", "2024-01")


def scenario_names() -> list[str]:
    """Scenarios the pages offer: the baseline, the shipped policies, then the files the app was started with.

    Validation cases are not offered; the files are those of ``egov-abm app --scenario FILE``.
    """
    names = [k for k, path in shipped_scenarios().items() if "/" not in k and path.parent.name != "validation"]
    return ["baseline"] + sorted(n for n in names if n != "baseline") + list(extra_scenarios())


@functools.lru_cache(maxsize=32)
def _scenario(name: str) -> Scenario:
    return load_scenario(name)


def _number(value, name: str, default, notes: list[str]):
    """``value`` as a number within the page's range of control ``name``; other values are replaced and noted."""
    c = control(name)
    lo, hi = c.allowed
    try:
        number = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        notes.append(f"{c.label}: {value!r} is not a number; used {default}.")
        return default
    if not math.isfinite(number):
        notes.append(f"{c.label}: {value!r} is not a finite number; used {default}.")
        return default
    if c.integer and number != int(number):
        notes.append(f"{c.label}: {value!r} is not a whole number; used {int(number)}.")
        number = float(int(number))
    if number < lo or number > hi:
        clamped = min(max(number, lo), hi)
        clamped = int(clamped) if c.integer else clamped
        fmt = "{:,}" if c.integer else "{:g}"
        notes.append(f"{c.label}: {value!r} is outside {fmt.format(lo)} to {fmt.format(hi)}; "
                     f"used {fmt.format(clamped)}.")
        return clamped
    return int(number) if c.integer else number


def _choice(value, choices, default, label: str, notes: list[str]):
    """``value`` if it is one of ``choices``, else ``default`` with a note."""
    if value in choices:
        return value
    notes.append(f"{label}: {value!r} is not one of {', '.join(map(str, choices))}; used {default!r}.")
    return default


class ExploreModel(AdoptionModel):
    """A shipped scenario at interactive size, built from page values (validated, see module docstring).

    Args:
        scenario: name of a shipped scenario (``baseline`` or a policy file).
        n_agents: simulated citizens.
        network: social graph kind.
        mean_degree: mean number of contacts per citizen.
        dose_scale: every intervention's dose times this (service quality and
            mandate doses are probabilities and stay at most 1).
        p_success: probability that a use of the portal succeeds (service quality).
        start_at: ``"scenario start"`` or a month ``YYYY-MM``: the model is run
            silently up to that month when built, so a policy can be watched
            from its start.
        seed: run seed (whole number; text is accepted, as typed on the page).
    """

    def __init__(self, *, scenario: str = "baseline", n_agents=2000, network: str = "homophily", mean_degree=10,
                 dose_scale=1.0, p_success=None, start_at: str = "scenario start", seed=1) -> None:
        notes: list[str] = []
        names = scenario_names()
        scenario = _choice(scenario, names, "baseline", "Scenario", notes)
        base = _scenario(scenario)
        n = _number(n_agents, "n_agents", 2000, notes)
        kinds = control("network")
        network = _choice(network, kinds.choices, Params.network, kinds.label, notes)
        degree = _number(mean_degree, "mean_degree", Params.mean_degree, notes)
        dose = _number(dose_scale, "dose_scale", 1.0, notes)
        success = base.params.p_success if p_success is None else _number(
            p_success, "p_success", base.params.p_success, notes)
        start_at = _choice(start_at, START_CHOICES, "scenario start", "Start at", notes)
        seed = _number(seed, "seed", 1, notes)
        degree = min(degree, n - 1)

        params = Params.from_mapping({"n_agents": n, "network": network, "mean_degree": degree,
                                      "p_success": success}, base=base.params, where="explore page")
        sized = dataclasses.replace(base, params=params)
        super().__init__(**model_arguments(sized, seed, create_agents=True, dose_scale=dose))
        self.readiness0 = self.readiness.copy()  # for the 'at the start' outline of the distributions
        self.scenario = base
        self.scenario_name = scenario
        self.dose_scale = dose
        self.input_notes = notes
        self.horizon = base.months
        self._drawing = None
        if start_at != "scenario start":
            while self.date < month_date(start_at, 0) and self.month < self.horizon:
                self.step()
        self.running = self.month < self.horizon

    def step(self) -> None:
        """One month; the model stops at the scenario's horizon."""
        super().step()
        self.running = self.month < self.horizon

    def drawing(self) -> NetworkDrawing:
        """Positions and edges of the drawn citizens, computed once per model."""
        if self._drawing is None:
            self._drawing = network_drawing(self)
        return self._drawing



@dataclasses.dataclass(frozen=True)
class NetworkDrawing:
    """What the network picture needs, fixed for the life of a model."""

    index: np.ndarray  # the drawn citizens (all, or a sample of MAX_DRAWN)
    xy: np.ndarray  # (len(index), 2) positions
    segments: np.ndarray  # (n_edges, 2, 2) edge end points among the drawn citizens
    sampled: bool
    edges_shown: bool
    centres: np.ndarray  # (R, 2) centre of each region's disc
    extent: tuple[float, float]  # width and height of the drawing


def network_drawing(model: AdoptionModel, max_drawn: int = MAX_DRAWN, max_edges: int = 4000) -> NetworkDrawing:
    """A fast deterministic layout: one disc per region on a grid, urban citizens at the core, rural at the rim.

    Regions fill a grid of ``ceil(sqrt(R))`` columns in the order of the
    population file; a region's disc has an area proportional to its share
    of the drawn citizens. Positions within a disc and the sample of citizens
    come from a generator seeded by the run's seed (they never touch the
    model's streams). No force-directed layout: it takes seconds at 2,000 nodes.
    """
    rng = np.random.default_rng(np.random.SeedSequence(model.seed_value, spawn_key=(model.replicate, 9_999)))
    n = model.n
    sampled = n > max_drawn
    index = np.sort(rng.choice(n, size=max_drawn, replace=False)) if sampled else np.arange(n)
    region = model.pop.region[index].astype(np.int64)
    urban = model.pop.urban[index]
    n_regions = len(model.region_names)
    columns = math.ceil(math.sqrt(n_regions))
    grid_rows = math.ceil(n_regions / columns)
    counts = np.bincount(region, minlength=n_regions)
    centres = np.array([[(r % columns) + 0.5, grid_rows - (r // columns) - 0.5] for r in range(n_regions)])
    disc = 0.42 * np.sqrt(counts / max(counts.max(), 1))
    u = rng.random(len(index))
    radius = np.where(urban, 0.6 * np.sqrt(u), 0.65 + 0.35 * np.sqrt(u)) * disc[region]
    theta = 2 * np.pi * rng.random(len(index))
    xy = centres[region] + np.column_stack([radius * np.cos(theta), radius * np.sin(theta)])

    adj = model.adjacency
    edges_shown = not adj.complete
    segments = np.empty((0, 2, 2))
    if edges_shown:
        position = np.full(n, -1, dtype=np.int64)
        position[index] = np.arange(len(index))
        indptr, cols = adj.matrix.indptr, adj.matrix.indices
        rows = np.repeat(np.arange(n), np.diff(indptr))
        keep = (position[rows] >= 0) & (position[cols] >= 0) & (rows < cols)
        a, b = position[rows[keep]], position[cols[keep]]
        if len(a) > max_edges:
            pick = np.sort(rng.choice(len(a), size=max_edges, replace=False))
            a, b = a[pick], b[pick]
        segments = np.stack([xy[a], xy[b]], axis=1)
    return NetworkDrawing(index=index, xy=xy, segments=segments, sampled=sampled, edges_shown=edges_shown,
                          centres=centres, extent=(float(columns), float(grid_rows)))
