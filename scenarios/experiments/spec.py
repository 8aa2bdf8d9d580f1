"""Sweep files (TOML data) and the designs sampled from them: the *sample* step of an experiment.

As EMA Workbench keeps them apart, a sweep file declares what is uncertain
(``[parameters]``: model parameters) apart from what policy chooses
(``[levers]``: ``dose_scale``); the design crosses the two.

A sweep file has these fields::

    name = "smoke"                  # required: letters, digits, _ and - (it names the results folder)
    description = "..."             # text
    scenario = "baseline"           # base scenario: a shipped name or a path relative to this file
    seed = 1                        # root seed (whole number >= 0)
    replicates = 2                  # runs per design point (1 to 10,000)
    months = 60                     # optional: horizon in months (default: the scenario's)
    ensemble = false                # replicate r also takes posterior draw r of the calibrated parameters

    [fixed]                         # model parameters set in every run
    n_agents = 500

    [design]
    method = "grid"                 # grid, lhs (Latin hypercube), sobol (Saltelli) or morris
    samples = 16                    # lhs: points; sobol: base sample N, a power of 2; morris: trajectories
    second_order = false            # sobol: also second-order indices (2D+2 instead of D+2 points per N)
    levels = 4                      # morris: levels of the grid (even, >= 2)

    [parameters]                    # what varies, one entry per parameter
    p_external_per_year = { min = 0.005, max = 0.05, scale = "log" }
    q_social_per_year = { min = 0.2, max = 0.6, steps = 3 }       # grid: evenly spaced values
    network = { values = ["homophily", "small_world"] }            # grid: listed values

    [levers]                        # what policy chooses: varied like [parameters], or one number to fix it
    dose_scale = { values = [0.5, 1.0, 2.0] }                       # or: dose_scale = 2.0 (every run)

    [outcomes]
    summary = ["adoption", "months_to_50", "gap_urban_rural"]      # one number per run
    series = ["adoption"]                                           # monthly columns kept per run
    every = 12                                                      # keep every 12th month (and the last)

Levers (:data:`LEVERS`): ``dose_scale`` multiplies the dose of every
intervention of the base scenario (doses that are probabilities stay at
most 1; default 1). A lever is refused under ``[parameters]`` or
``[fixed]``, and a model parameter under ``[levers]``. Whole-number
parameters take sampled values rounded to the nearest whole number. Text
parameters (``network``) can vary only in a grid, by ``values``.

Summary outcomes come from :mod:`egov_abm.scenarios.outcomes`: any monthly
outcome column (its value in the last month), ``gap_urban_rural`` and
``gap_young_old`` (adoption differences in the last month) and
``months_to_NN`` (first month in which adoption reaches NN %, empty if
never). Series are monthly columns.

Every problem is a :class:`SweepError` with one line naming the file and
the field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from egov_abm.model import SEED_MAX, InputError, Params
from egov_abm.scenarios import outcomes as registry

METHODS = ("grid", "lhs", "sobol", "morris")
TOP_FIELDS = {"name": str, "description": str, "scenario": str, "seed": int, "replicates": int, "months": int,
              "ensemble": bool, "fixed": dict, "design": dict, "parameters": dict, "levers": dict, "outcomes": dict}
DESIGN_FIELDS = {"method": str, "samples": int, "second_order": bool, "levels": int}
PARAM_FIELDS = {"min", "max", "steps", "values", "scale"}
OUTCOME_FIELDS = {"summary": list, "series": list, "every": int}
DOSE_SCALE = "dose_scale"
DOSE_RANGE = (0.0, 10.0)
#: Levers a sweep may set or vary: name -> (lowest, highest, default, what it is).
LEVERS = {DOSE_SCALE: (*DOSE_RANGE, 1.0, "multiplier of every intervention's dose")}
DEFAULT_SUMMARY = ("adoption", "share_ever_used", "months_to_50", "gap_urban_rural", "gap_young_old")
DESIGN_STREAM = (0x5EED, 0)  # spawn key of the design's random stream, apart from the replicates' (r,)
ANALYSIS_STREAM = (0x5EED, 1)  # spawn key of the analysis bootstrap's stream
#: Most runs (design points x replicates) a sweep may hold: the plan keeps one task of a few kB per run.
#: Checked from the factors (:func:`design_size`) before any design is built.
MAX_RUNS = 100_000


class SweepError(InputError):
    """A sweep file is missing, malformed or has a bad value."""


@dataclasses.dataclass(frozen=True)
class Factor:
    """One varied parameter."""

    name: str
    kind: str  # "int", "float" or "str"
    low: float | None = None
    high: float | None = None
    steps: int | None = None
    values: tuple | None = None
    log: bool = False
    lever: bool = False  # a policy lever ([levers]) rather than an uncertain model parameter

    def bounds(self) -> list[float]:
        """Bounds in the space SALib samples (natural log for ``scale = "log"``)."""
        lo, hi = float(self.low), float(self.high)
        return [math.log(lo), math.log(hi)] if self.log else [lo, hi]

    def value(self, raw: float) -> Any:
        """The parameter value for a sampled number (exp for log scale; rounded for whole numbers)."""
        v = math.exp(raw) if self.log else float(raw)
        v = min(max(v, float(self.low)), float(self.high))
        return int(round(v)) if self.kind == "int" else v

    def grid_values(self) -> list:
        """The values a grid takes for this parameter."""
        if self.values is not None:
            return list(self.values)
        raw = np.linspace(*self.bounds(), self.steps)
        return [self.value(x) for x in raw]


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file."""

    name: str
    description: str
    scenario: str  # resolved path of the base scenario
    seed: int
    replicates: int
    months: int | None
    ensemble: bool
    fixed: dict[str, Any]
    method: str
    samples: int | None
    second_order: bool
    levels: int
    factors: tuple[Factor, ...]
    summary: tuple[str, ...]
    series: tuple[str, ...]
    every: int
    path: Path | None = None
    raw: dict = dataclasses.field(default_factory=dict, compare=False)
    fixed_levers: dict[str, float] = dataclasses.field(default_factory=dict)  # levers set to one value

    @property
    def names(self) -> list[str]:
        """Names of the varied inputs: parameters then levers, each in file order."""
        return [f.name for f in self.factors]

    def lever_value(self, name: str, values: dict[str, Any]) -> float:
        """A lever's value at a design point: varied, else fixed in the file, else its default."""
        return float(values.get(name, self.fixed_levers.get(name, LEVERS[name][2])))

    def problem(self) -> dict:
        """The SALib problem (names and bounds in the sampled space)."""
        return {"num_vars": len(self.factors), "names": self.names, "bounds": [f.bounds() for f in self.factors]}

    def digest(self) -> str:
        """Hash of everything in the file that decides the runs (not name or description)."""
        keep = {k: v for k, v in self.raw.items() if k not in ("name", "description", "scenario")}
        keep["scenario"] = self.scenario
        return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Design:
    """The design points: parameter values per point, and the sampled matrix SALib needs."""

    points: pd.DataFrame  # one row per point, one column per varied parameter
    raw: np.ndarray | None  # (points, D) in the sampled space, for sobol/morris/lhs; None for a grid


def shipped_sweeps() -> dict[str, Path]:
    """Name → path of the sweep files shipped in ``scenarios/sweeps/``."""
    from egov_abm.scenarios.scenario import SCENARIO_DIR

    return {p.stem: p for p in sorted((SCENARIO_DIR / "sweeps").glob("*.toml"))}


def resolve_sweep(ref: str | Path) -> Path:
    """A sweep file path, or the shipped sweep of that name (``smoke``, ``sobol_dynamics``)."""
    path = Path(ref)
    if path.exists() or path.suffix == ".toml" or str(ref) not in shipped_sweeps():
        if not path.exists() and path.suffix != ".toml":
            raise SweepError(f"{ref}: no such file or shipped sweep (shipped: {', '.join(shipped_sweeps())})")
        return path
    return shipped_sweeps()[str(ref)]


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file (a path, or the name of a shipped sweep)."""
    from egov_abm.scenarios.scenario import SIMPLE_NAME, ScenarioError, read_toml, resolve_path

    path = resolve_sweep(path)
    raw = read_toml(path, SweepError)
    _check_fields(raw, TOP_FIELDS, str(path))
    for key in ("name", "parameters"):
        if key not in raw:
            raise SweepError(f"{path}: {key}: required field is missing")
    if not SIMPLE_NAME.fullmatch(raw["name"]):
        raise SweepError(f"{path}: name: expected a simple name (letters, digits, _ and -, not empty), "
                         f"got {raw['name']!r}")
    seed = raw.get("seed", 1)
    if not 0 <= seed <= SEED_MAX:
        raise SweepError(f"{path}: seed: expected a whole number in [0, 2**63 - 1], got {seed}")
    replicates = raw.get("replicates", 1)
    if not 1 <= replicates <= 10_000:
        raise SweepError(f"{path}: replicates: expected a whole number in [1, 10000], got {replicates}")
    months = raw.get("months")
    if months is not None and not 0 <= months <= 2400:
        raise SweepError(f"{path}: months: expected a whole number in [0, 2400], got {months}")
    try:
        scenario = str(resolve_path(raw.get("scenario", "baseline"), relative_to=path.parent))
    except ScenarioError as exc:
        raise SweepError(f"{path}: scenario: {exc}") from None

    design = raw.get("design", {})
    _check_fields(design, DESIGN_FIELDS, f"{path}: design")
    method = design.get("method", "grid")
    if method not in METHODS:
        raise SweepError(f"{path}: design.method: expected one of {', '.join(METHODS)}, got {method!r}")
    samples = design.get("samples")
    if method == "grid":
        for key in ("samples", "second_order", "levels"):
            if key in design:
                raise SweepError(f"{path}: design.{key}: not used by a grid (values come from [parameters])")
    else:
        if samples is None:
            raise SweepError(f"{path}: design.samples: required for method {method!r}")
        if not 1 <= samples <= 1_000_000:
            raise SweepError(f"{path}: design.samples: expected a whole number in [1, 1000000], got {samples}")
        if method == "sobol" and samples & (samples - 1):
            raise SweepError(f"{path}: design.samples: Sobol' sampling needs a power of 2 (such as 64, 128, 256),"
                             f" got {samples}")
    if method != "sobol" and "second_order" in design:
        raise SweepError(f"{path}: design.second_order: only used by method 'sobol'")
    levels = design.get("levels", 4)
    if method != "morris" and "levels" in design:
        raise SweepError(f"{path}: design.levels: only used by method 'morris'")
    if levels < 2 or levels % 2:
        raise SweepError(f"{path}: design.levels: expected an even whole number >= 2, got {levels}")

    fixed = raw.get("fixed", {})
    params = raw["parameters"]
    for table, entries in (("fixed", fixed), ("parameters", params)):
        for name in entries:
            if name in LEVERS:
                raise SweepError(f"{path}: {table}.{name}: a policy lever, not a model parameter; "
                                 f"put it under [levers]")
    _check_param_values(fixed, f"{path}: fixed")
    levers = raw.get("levers", {})
    varied_levers = {k: v for k, v in levers.items() if isinstance(v, dict)}
    fixed_levers = {}
    for name, value in levers.items():
        if name not in LEVERS:
            hint = "; model parameters go under [parameters] or [fixed]" if name in Params.fields() else ""
            raise SweepError(f"{path}: levers.{name}: unknown lever (known: {', '.join(LEVERS)}){hint}")
        if name not in varied_levers:
            _check_lever(name, value, f"{path}: levers.{name}")
            fixed_levers[name] = float(value)
    if not params and not varied_levers:
        raise SweepError(f"{path}: parameters: expected at least one parameter (or lever) to vary")
    factors = tuple(_factor(name, entry, method, f"{path}: parameters.{name}") for name, entry in params.items())
    factors += tuple(_factor(name, entry, method, f"{path}: levers.{name}", lever=True)
                     for name, entry in varied_levers.items())
    both = sorted(set(fixed) & set(params))
    if both:
        raise SweepError(f"{path}: fixed: {', '.join(both)} also varies in [parameters]; set it in one place")

    outcomes = raw.get("outcomes", {})
    _check_fields(outcomes, OUTCOME_FIELDS, f"{path}: outcomes")
    summary = tuple(outcomes.get("summary", DEFAULT_SUMMARY))
    series = tuple(outcomes.get("series", ("adoption",)))
    for key, names in (("summary", summary), ("series", series)):
        if not all(isinstance(n, str) for n in names):
            raise SweepError(f"{path}: outcomes.{key}: expected a list of outcome names (text)")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SweepError(f"{path}: outcomes.{key}: {', '.join(dup)} listed twice")
    if not summary and not series:
        raise SweepError(f"{path}: outcomes: expected at least one summary or series outcome")
    every = outcomes.get("every", 1)
    if not 1 <= every <= 2400:
        raise SweepError(f"{path}: outcomes.every: expected a whole number of months in [1, 2400], got {every}")

    spec = SweepSpec(name=raw["name"], description=raw.get("description", ""), scenario=scenario, seed=seed,
                     replicates=replicates, months=months, ensemble=raw.get("ensemble", False), fixed=dict(fixed),
                     method=method, samples=samples, second_order=design.get("second_order", False),
                     levels=levels, factors=factors, summary=summary, series=series, every=every, path=path,
                     raw=raw, fixed_levers=fixed_levers)
    points = design_size(spec)
    if points * replicates > MAX_RUNS:
        raise SweepError(f"{path}: design: {points:,} points x {replicates:,} replicate(s) = "
                         f"{points * replicates:,} runs, more than the {MAX_RUNS:,} a sweep may hold "
                         f"(use fewer steps, values or samples, or split the sweep)")
    return spec


def check_outcomes(spec: SweepSpec, columns: list[str]) -> None:
    """Check the outcome names against the model's monthly ``columns`` (numeric ones)."""
    where = f"{spec.path}: outcomes"
    for name in spec.summary:
        try:
            registry.get(name, columns)
        except InputError as exc:
            raise SweepError(f"{where}.summary: {exc}") from None
    for name in spec.series:
        if name not in columns:
            raise SweepError(f"{where}.series: unknown outcome {name!r} (known: {', '.join(columns)})")


def make_design(spec: SweepSpec) -> Design:
    """The design points of ``spec`` (deterministic given its seed)."""
    if spec.method == "grid":
        rows = list(itertools.product(*(f.grid_values() for f in spec.factors)))
        return Design(points=_frame(spec, rows), raw=None)
    from SALib.sample import latin, morris, sobol

    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=DESIGN_STREAM))
    problem = spec.problem()
    if spec.method == "lhs":
        raw = latin.sample(problem, spec.samples, seed=rng)
    elif spec.method == "sobol":
        raw = sobol.sample(problem, spec.samples, calc_second_order=spec.second_order, seed=rng)
    else:
        raw = morris.sample(problem, spec.samples, num_levels=spec.levels, seed=rng)
    rows = [tuple(f.value(x) for f, x in zip(spec.factors, row, strict=True)) for row in raw]
    return Design(points=_frame(spec, rows), raw=np.asarray(raw, dtype=float))


def design_size(spec: SweepSpec) -> int:
    """Number of design points, without sampling."""
    d = len(spec.factors)
    if spec.method == "grid":
        return math.prod(len(f.values) if f.values is not None else f.steps for f in spec.factors)
    if spec.method == "sobol":
        return spec.samples * (2 * d + 2 if spec.second_order else d + 2)
    if spec.method == "morris":
        return spec.samples * (d + 1)
    return spec.samples


def _frame(spec: SweepSpec, rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=spec.names)
    for f in spec.factors:
        frame[f.name] = frame[f.name].astype({"int": "int64", "float": "float64", "str": "str"}[f.kind])
    frame.insert(0, "point", np.arange(len(frame), dtype=np.int64))
    return frame


def _kind(name: str) -> str:
    if name in LEVERS:
        return "float"
    f = Params.fields()[name]
    return f.type if isinstance(f.type, str) else f.type.__name__


def _check_param_values(values: dict, where: str) -> None:
    """Validate a table of model parameter values."""
    for name in values:
        if name not in Params.fields():
            raise SweepError(f"{where}: unknown parameter '{name}' (known: {', '.join(Params.fields())})")
    Params.check_values(values, where=where)


def _check_lever(name: str, value: Any, where: str) -> None:
    low, high, _, what = LEVERS[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SweepError(f"{where}: expected a number in [{low:g}, {high:g}] ({what}), got {value!r}")


def _factor(name: str, entry: Any, method: str, where: str, lever: bool = False) -> Factor:
    if not lever and name not in Params.fields():
        raise SweepError(f"{where}: unknown parameter (known: {', '.join(Params.fields())})")
    if not isinstance(entry, dict):
        raise SweepError(f"{where}: expected a table such as {{ min = 0.1, max = 0.5 }} or {{ values = [...] }}, "
                         f"got {entry!r}")
    unknown = sorted(set(entry) - PARAM_FIELDS)
    if unknown:
        raise SweepError(f"{where}: unknown field '{unknown[0]}' (known: {', '.join(sorted(PARAM_FIELDS))})")
    kind = _kind(name)
    if name in ("start_month",):
        raise SweepError(f"{where}: cannot vary; set it in [fixed] or in the scenario")

    def check(value: Any, label: str) -> Any:
        if lever:
            _check_lever(name, value, f"{where}.{label}")
            return float(value)
        return Params.check_values({name: value}, where=f"{where}.{label}")[name]

    if "values" in entry:
        if method != "grid":
            raise SweepError(f"{where}.values: only a grid takes listed values; method {method!r} needs min and max")
        extra = sorted(set(entry) - {"values"})
        if extra:
            raise SweepError(f"{where}: give either values or min/max{'/steps' if method == 'grid' else ''}, "
                             f"not both ({extra[0]})")
        values = entry["values"]
        if not isinstance(values, list) or not values:
            raise SweepError(f"{where}.values: expected a non-empty list")
        checked = tuple(check(v, f"values[{k}]") for k, v in enumerate(values))
        if len(set(checked)) != len(checked):
            raise SweepError(f"{where}.values: a value is listed twice")
        return Factor(name=name, kind=kind, values=checked, lever=lever)
    if kind == "str":
        raise SweepError(f"{where}: a text parameter varies only in a grid, by values = [...]")
    for key in ("min", "max"):
        if key not in entry:
            raise SweepError(f"{where}: expected min and max (or values = [...] in a grid); {key} is missing")
    low, high = check(entry["min"], "min"), check(entry["max"], "max")
    if not low < high:
        raise SweepError(f"{where}: expected min < max, got min {low!r} and max {high!r}")
    scale = entry.get("scale", "linear")
    if scale not in ("linear", "log"):
        raise SweepError(f"{where}.scale: expected 'linear' or 'log', got {scale!r}")
    if scale == "log" and low <= 0:
        raise SweepError(f"{where}.scale: a log scale needs min > 0, got {low!r}")
    steps = entry.get("steps")
    if method == "grid":
        if steps is None:
            raise SweepError(f"{where}.steps: a grid needs steps (number of values from min to max) or values")
        if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= 10_000:
            raise SweepError(f"{where}.steps: expected a whole number in [2, 10000], got {steps!r}")
    elif steps is not None:
        raise SweepError(f"{where}.steps: only a grid takes steps; method {method!r} samples between min and max")
    factor = Factor(name=name, kind=kind, low=low, high=high, steps=steps, log=scale == "log", lever=lever)
    if method == "grid":
        values = factor.grid_values()
        if len(set(values)) != len(values):
            raise SweepError(f"{where}.steps: {steps} steps from {low} to {high} repeat a whole number; "
                             f"use fewer steps or values = [...]")
    return factor


def _check_fields(table: dict, fields: dict, where: str) -> None:
    names = {"text": str, "a whole number": int, "true or false": bool, "a table": dict, "a list": list}
    label = {v: k for k, v in names.items()}
    for key, value in table.items():
        if key not in fields:
            raise SweepError(f"{where}: unknown field '{key}' (known: {', '.join(fields)})")
        expected = fields[key]
        ok = isinstance(value, expected) and (expected is bool or not isinstance(value, bool))
        if not ok:
            raise SweepError(f"{where}: {key}: expected {label[expected]}, got {value!r}")
