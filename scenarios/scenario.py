"""Scenario files: TOML data (never code) that set up a run.

A scenario file has these fields::

    name = "baseline"                 # required: letters, digits, _ and - (it names the results folder)
    description = "..."               # text
    include = "other"                 # optional: a scenario name or a path relative to this file
    start = "2006-04"                 # first simulated month, YYYY-MM
    months = 297                      # horizon, in months
    sem_file = "../calibration/..."   # optional: SEM parameters file (relative to this file)
    posterior = "../calibration/..."  # optional: calibrated posterior ensemble (relative to this file)

    [parameters]                      # any field of model.Params by name
    p_external_per_year = 0.03

    [allocation]                      # optional: a budget spent by lever (scenarios.levers), as optimise writes
    budget_kzt = 48000000000
    start = "2025-01"
    end = "2029-12"
    levers = { trust = { share = 0.6, target = "all" }, skills = { share = 0.4, target = "60+" } }

With a ``posterior``, the calibrated parameters default to the posterior's
best particle (and its SEM ensemble member), and ``run --ensemble`` gives
replicate ``r`` the posterior draw ``r`` and its member; parameters a
scenario file or the command line sets stay as set.

An included scenario is read first; this file's fields and parameters
override it. Unknown fields, unknown parameters, wrong types, values out of
range and include cycles are errors (:class:`ScenarioError`, one line).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from egov_abm.model import InputError, Params

SCENARIO_DIR = Path(str(resources.files("egov_abm.scenarios")))
SIMPLE_NAME = re.compile(r"[A-Za-z0-9_-]+")  # a name is also a folder under results/, so it cannot leave it
TOP_FIELDS = {"name": str, "description": str, "include": str, "start": str, "months": int,
              "sem_file": str, "posterior": str, "parameters": dict, "interventions": list, "allocation": dict}


class ScenarioError(InputError):
    """A scenario file is missing, malformed or has a bad value."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A resolved scenario: validated parameters, horizon and provenance."""

    name: str
    description: str
    params: Params
    months: int
    path: Path | None = None
    sem_file: Path | None = None
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    posterior: Path | None = None
    policies: tuple = ()  # scenarios.policy.PolicySpec, national capacities
    sem_member: int | None = None  # member of the SEM ensemble this run takes (None: the SEM file)
    allocation: Any = None  # scenarios.levers.Allocation: a budget by lever, its interventions among ``policies``

    def with_lever_draw(self, draw: dict[str, float]) -> Scenario:
        """A copy whose allocation's interventions take a draw of what money buys (:func:`~.levers.lever_draws`).

        A scenario without an allocation is returned as it is.
        """
        if self.allocation is None:
            return self
        kept = [p for p in self.policies if ": allocation." not in p.source]
        where = str(self.path) if self.path is not None else self.name
        return dataclasses.replace(self, policies=(*kept, *self.allocation.policies(self.params.start_month, draw,
                                                                                     where)))

    def interventions(self, n_agents: int | None = None, dose_scale: float = 1.0) -> list:
        """The scenario's interventions for a model of ``n_agents`` citizens (capacities scaled).

        ``dose_scale`` multiplies every dose (probability doses stay at most 1).
        """
        from egov_abm.calibration.defaults import demographic_constants

        adults = demographic_constants()["adult_population_2021"]
        out = [spec.for_model(n_agents or self.params.n_agents, adults) for spec in self.policies]
        return out if dose_scale == 1.0 else [iv.scaled(dose_scale) for iv in out]

    def with_overrides(self, **changes: Any) -> Scenario:
        """A copy with some model parameters changed (validated)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        params = Params.from_mapping(changes, base=self.params, where="command line")
        return dataclasses.replace(self, params=params, overrides={**self.overrides, **changes})

    def variants(self, replicates: int, seed: int, ensemble: bool | str = False) -> list[Scenario]:
        """The scenario each replicate runs, at a level of uncertainty (:data:`~.decisions.UNCERTAINTY_LEVELS`).

        ``chance`` (or ``False``): every replicate runs this scenario (the
        posterior's best particle); only the random streams differ.
        ``calibration``: replicate ``r`` also takes posterior draw ``r`` of the
        calibrated rates, the SEM member and the intention-behaviour slope held
        at this scenario's. ``full`` (or ``True``): replicate ``r`` takes the
        whole posterior draw ``r``, its SEM member included (or member ``r mod
        N`` of the SEM ensemble for a posterior without members), unless the
        scenario names its own SEM file, and, for an allocation, draw ``r`` of
        what money buys (returns to spending, each lever's efficiency:
        :func:`~.levers.lever_draws`). A scenario and its baseline take the
        same draws and members, so their difference is paired.
        """
        level = uncertainty_level(ensemble)
        if level == "chance":
            return [self] * replicates
        if level == "calibration":
            held = "intention_slope"
            return [dataclasses.replace(self, params=Params.from_mapping(
                        {k: v for k, v in draw.items() if k != held}, base=self.params, where=str(self.posterior)))
                    for _, draw in self.ensemble(replicates, seed)]
        if level != "full":
            raise ScenarioError(f"uncertainty: expected one of chance, calibration, full, got {level!r}")
        members = self.sem_members(replicates, seed)
        out = [dataclasses.replace(self, params=params, sem_member=member)
               for (params, _), member in zip(self.ensemble(replicates, seed), members, strict=True)]
        if self.allocation is not None:
            from egov_abm.scenarios.levers import lever_draws

            out = [v.with_lever_draw(d) for v, d in zip(out, lever_draws(replicates, seed), strict=True)]
        return out

    def sem_members(self, replicates: int, seed: int) -> list[int | None]:
        """The SEM ensemble member of each replicate of an ensemble run.

        ``None`` when the scenario names its own SEM file; else the member of
        posterior draw ``r`` when the posterior was calibrated with members
        (:meth:`ensemble`), or member ``r mod N``.
        """
        if self.sem_file is not None:
            return [None] * replicates
        if self.posterior is not None:
            from egov_abm.calibration.posterior import load_posterior

            post = load_posterior(self.posterior)
            if post.members is not None:
                return [post.member(i) for i in post.draw_indices(replicates, seed)]
        from egov_abm.calibration.sem_ensemble import load_sem_ensemble

        n = len(load_sem_ensemble())
        return [r % n for r in range(replicates)]

    def posterior_particles(self, replicates: int, seed: int) -> list[int]:
        """Which particle of the posterior each replicate of an ensemble run takes (its index in the file)."""
        from egov_abm.calibration.posterior import load_posterior

        return [int(i) for i in load_posterior(self.posterior).draw_indices(replicates, seed)]

    def ensemble(self, replicates: int, seed: int) -> list[tuple[Params, dict[str, float]]]:
        """Per replicate: parameters with posterior draw ``r`` applied, and the draw itself.

        Draws are resampled by weight from the scenario's posterior, seeded by
        ``seed`` (so a scenario and its baseline get the same draws); names the
        scenario sets explicitly are not replaced.
        """
        if self.posterior is None:
            raise ScenarioError(f"scenario {self.name!r}: uncertainty beyond 'chance' needs a 'posterior' in the "
                                f"scenario file")
        from egov_abm.calibration.posterior import load_posterior

        out = []
        for draw in load_posterior(self.posterior).draws(replicates, seed):
            kept = {k: v for k, v in draw.items() if k not in self.overrides}
            out.append((Params.from_mapping(kept, base=self.params, where=str(self.posterior)), kept))
        return out


def uncertainty_level(value: bool | str | None) -> str:
    """The level of uncertainty a flag or name stands for: ``True`` is ``full``, ``False`` or ``None`` ``chance``."""
    return {True: "full", False: "chance", None: "chance"}.get(value, value)


def shipped_scenarios() -> dict[str, Path]:
    """Name → path of every scenario file shipped in the package (``scenarios/**/*.toml``)."""
    found = {}
    for path in sorted(SCENARIO_DIR.rglob("*.toml")):
        if "sweeps" in path.relative_to(SCENARIO_DIR).parts:
            continue
        found[path.stem] = path
        found[str(path.relative_to(SCENARIO_DIR).with_suffix(""))] = path
    return found


#: Environment variable naming scenario files (``os.pathsep``-separated) that resolve by their file name's stem,
#: as shipped ones do: how ``egov-abm app --scenario FILE`` offers a user's file (an ``optimise`` answer) in the app.
EXTRA_SCENARIOS = "EGOV_ABM_SCENARIOS"


def extra_scenarios() -> dict[str, Path]:
    """Name (file stem) → path of the scenario files named by :data:`EXTRA_SCENARIOS`."""
    import os

    paths = [Path(p) for p in os.environ.get(EXTRA_SCENARIOS, "").split(os.pathsep) if p]
    return {p.stem: p for p in paths}


def resolve_path(ref: str, relative_to: Path | None = None) -> Path:
    """Turn a scenario name or path into a file path; raise :class:`ScenarioError` if none exists."""
    candidates = []
    if ref.endswith(".toml"):
        path = Path(ref)
        if not path.is_absolute() and relative_to is not None:
            candidates.append(relative_to / path)
        candidates.append(path)
    else:
        shipped = shipped_scenarios()
        if ref in shipped:
            return shipped[ref]
        extra = extra_scenarios()
        if ref in extra:
            return extra[ref]
        if relative_to is not None:
            candidates.append(relative_to / f"{ref}.toml")
    for c in candidates:
        if c.exists():  # a folder or special file named *.toml is refused by the reader, naming what it is
            return c
    names = sorted(k for k in shipped_scenarios() if "/" not in k)
    raise ScenarioError(f"scenario {ref!r}: no such file or shipped scenario (shipped: {', '.join(names)})")


def load_scenario(ref: str | Path, *, apply_posterior: bool = True) -> Scenario:
    """Read, merge (includes) and validate a scenario by name or path.

    With ``apply_posterior`` (default) and a ``posterior`` in the file, the
    calibrated parameters start from the posterior's best point (the particle
    closest to the data; marginal medians need not be a point the data
    support), and, unless the file names a ``sem_file``, the run takes that
    particle's SEM ensemble member.
    """
    path = resolve_path(str(ref))
    raw = _read_chain(path, chain=())
    where = str(path)
    posterior = Path(raw["posterior"]) if "posterior" in raw else None
    base = None
    member = None
    if posterior is not None and apply_posterior:
        from egov_abm.calibration.posterior import load_posterior

        post = load_posterior(posterior)
        base = Params.from_mapping(post.values(post.best_index), where=str(posterior))
        member = post.member(post.best_index) if raw.get("sem_file") is None else None
    params = Params.from_mapping(raw.get("parameters", {}), base=base, where=f"{where}: parameters")
    if "start" in raw:
        params = Params.from_mapping({"start_month": raw["start"]}, base=params, where=f"{where}: start")
    if "name" not in raw:
        raise ScenarioError(f"{where}: name: required field is missing")
    sem_file = raw.get("sem_file")
    from egov_abm.calibration.defaults import population_spec
    from egov_abm.scenarios.policy import parse_interventions

    try:
        policies = parse_interventions(raw.get("interventions", []), params.start_month,
                                       population_spec().region_names)
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    allocation = None
    if "allocation" in raw:
        from egov_abm.scenarios.levers import parse_allocation

        months = raw.get("months", 120)
        allocation = parse_allocation(raw["allocation"], raw.get("allocation_from", where), params.start_month, months)
        policies = [*policies, *allocation.policies(params.start_month, None, where)]
    return Scenario(name=raw["name"], description=raw.get("description", ""), params=params,
                    months=raw.get("months", 120), path=path,
                    sem_file=Path(sem_file) if sem_file is not None else None,
                    overrides=dict(raw.get("parameters", {})),
                    posterior=posterior if apply_posterior else None, policies=tuple(policies), sem_member=member,
                    allocation=allocation)


def _read_chain(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """Read ``path`` and everything it includes; later files override earlier ones."""
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ScenarioError(f"{path}: include: cycle {cycle}")
    raw = _read_toml(path)
    base: dict[str, Any] = {}
    if "include" in raw:
        try:
            inc = resolve_path(raw["include"], relative_to=path.parent)
        except ScenarioError as exc:
            raise ScenarioError(f"{path}: include: {exc}") from None
        base = _read_chain(inc, (*chain, resolved))
    merged = {**base, **{k: v for k, v in raw.items() if k not in ("parameters", "include", "interventions")}}
    merged["parameters"] = {**base.get("parameters", {}), **raw.get("parameters", {})}
    merged["interventions"] = [*base.get("interventions", []),
                               *((str(path), k, entry) for k, entry in enumerate(raw.get("interventions", [])))]
    if "allocation" in raw:
        merged["allocation_from"] = str(path)
    for key in ("sem_file", "posterior"):
        if key in raw:
            merged[key] = str((path.parent / raw[key]).resolve())
    return merged


def read_toml(path: Path, error: type[InputError] = ScenarioError) -> dict[str, Any]:
    """A TOML file as a dict; an unreadable or malformed file raises ``error`` with one line."""
    from egov_abm.calibration import userfiles

    try:
        return tomllib.loads(userfiles.read_text(path, "the file"))
    except InputError as exc:
        raise error(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML ({exc})") from None


def _read_toml(path: Path) -> dict[str, Any]:
    raw = read_toml(path)
    for key, value in raw.items():
        if key not in TOP_FIELDS:
            raise ScenarioError(f"{path}: unknown field '{key}' (known: {', '.join(TOP_FIELDS)})")
        expected = TOP_FIELDS[key]
        if isinstance(value, bool) or not isinstance(value, expected):
            kind = {str: "text", int: "a whole number", dict: "a table", list: "an array of tables"}[expected]
            raise ScenarioError(f"{path}: {key}: expected {kind}, got {value!r}")
    if "name" in raw and not SIMPLE_NAME.fullmatch(raw["name"]):
        raise ScenarioError(f"{path}: name: expected a simple name (letters, digits, _ and -, not empty), "
                            f"got {raw['name']!r}")
    if "months" in raw and not 0 <= raw["months"] <= 12 * 200:
        raise ScenarioError(f"{path}: months: expected a whole number in [0, 2400], got {raw['months']}")
    if "parameters" in raw:
        Params.check_values(raw["parameters"], where=f"{path}: parameters")
    return raw
