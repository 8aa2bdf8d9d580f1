"""Run scenarios: one pure function per run, and the writer of results.

``run_one(scenario, seed, replicate)`` is the unit every caller uses (the CLI
now; comparisons, sweeps and the app later): it builds the model from the
scenario, the shipped population margins and the SEM parameters file, runs
the horizon and returns a tidy table, one row per month.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import platform
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from egov_abm.calibration.defaults import DEFAULT_SEM_FILE, demographic_constants, load_sem, population_spec
from egov_abm.model import AdoptionModel, PopulationSpec, SEMParams
from egov_abm.model.network import Adjacency
from egov_abm.scenarios.output import naming, results_folder
from egov_abm.scenarios.scenario import Scenario

ID_COLUMNS = ("scenario", "replicate", "seed", "month", "date")


def package_version() -> str:
    """Installed version of egov-abm."""
    try:
        return metadata.version("egov-abm")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def sem_for(scenario: Scenario) -> SEMParams:
    """The SEM parameters a scenario runs with: its ensemble member, its ``sem_file`` or the shipped default."""
    if scenario.sem_member is not None:
        from egov_abm.calibration.sem_ensemble import load_sem_ensemble

        return load_sem_ensemble()[scenario.sem_member]
    return load_sem(scenario.sem_file or DEFAULT_SEM_FILE)


def model_arguments(scenario: Scenario, seed: int, replicate: int = 0, *, sem: SEMParams | None = None,
                    population: PopulationSpec | None = None, create_agents: bool = False, dose_scale: float = 1.0,
                    adjacency: Adjacency | None = None) -> dict:
    """Keyword arguments of :class:`~model.AdoptionModel` for one replicate of ``scenario``.

    The one place where a scenario becomes a model: :func:`build_model` calls
    it, and so does a subclass that must construct itself (the app's
    Explore model). Every intervention dose is multiplied by ``dose_scale``;
    ``adjacency`` reuses a social graph built for the same seed and
    population (the calibration runs many parameter sets on one graph).
    """
    return {"params": scenario.params, "sem": sem or sem_for(scenario), "population": population or population_spec(),
            "seed": seed, "replicate": replicate, "create_agents": create_agents, "adjacency": adjacency,
            "interventions": scenario.interventions(dose_scale=dose_scale)}


def build_model(scenario: Scenario, seed: int, replicate: int = 0, *, model_class: type[AdoptionModel] = AdoptionModel,
                **options) -> AdoptionModel:
    """The model for one replicate of ``scenario``: the only constructor callers use.

    ``options`` are those of :func:`model_arguments`.
    """
    return model_class(**model_arguments(scenario, seed, replicate, **options))


def national_cost(cost_kzt, per_person_part_kzt, n_agents: int):
    """A month's cost for the country: per-person costs scale from the simulated citizens; fixed costs are national."""
    scale = demographic_constants()["adult_population_2021"] / n_agents
    return per_person_part_kzt * scale + (cost_kzt - per_person_part_kzt)


#: From this many citizens a finished run's model is collected at once (:func:`release`); a smaller one is left to
#: Python's own collector, as a full collection in a large process costs about 80 ms, more than a small run.
COLLECT_FROM = 200_000


def release(scenario: Scenario) -> None:
    """Free the memory of a finished run of ``scenario`` now if it was large (Mesa holds a model in cycles)."""
    if scenario.params.n_agents >= COLLECT_FROM:
        import gc

        gc.collect()


def run_one(scenario: Scenario, seed: int, replicate: int = 0, *, months: int | None = None,
            sem: SEMParams | None = None, population: PopulationSpec | None = None,
            progress: Callable[[int], object] | None = None, dose_scale: float = 1.0) -> pd.DataFrame:
    """Run one replicate and return its monthly outcomes with id columns first."""
    model = build_model(scenario, seed, replicate, sem=sem, population=population, dose_scale=dose_scale)
    model.run(scenario.months if months is None else months, progress=progress)
    # every column first, then one frame (inserting and adding columns one by one took twice as long)
    columns = model.outcome_columns()
    n = scenario.params.n_agents
    national = national_cost(columns["cost_kzt"], columns["cost_per_person_part_kzt"], n)
    data = {"scenario": scenario.name, "replicate": np.int64(replicate), "seed": np.int64(seed), **columns}
    data["date"] = pd.to_datetime(columns["date"])
    data["cost_kzt_national"] = national
    data["cumulative_cost_kzt_national"] = np.cumsum(national)
    # this month's portal uses, scaled to the adults of 2021
    data["uses_national"] = columns["n_uses"] * (demographic_constants()["adult_population_2021"] / n)
    return pd.DataFrame(data)


def run_replicates(scenario: Scenario, seed: int, replicates: int, *, months: int | None = None,
                   ensemble: bool | str = False, progress: Callable[[int], object] | None = None) -> pd.DataFrame:
    """Run ``replicates`` independent replicates (streams spawned from ``seed``) and stack them.

    ``ensemble`` is the level of uncertainty (:meth:`Scenario.variants`): at
    ``full`` (or ``True``) replicate ``r`` also takes posterior draw ``r`` of
    the calibrated parameters and its SEM member, so the spread over replicates
    carries chance, calibration and SEM uncertainty.
    """
    population = population_spec()
    variants = scenario.variants(replicates, seed, ensemble)
    frames = [run_one(variant, seed, r, months=months, sem=sem_for(variant), population=population,
                      progress=progress)
              for r, variant in enumerate(variants)]
    return pd.concat(frames, ignore_index=True)


def _posterior_point(scenario: Scenario) -> dict:
    """The posterior particle a single-point run takes: its index in the file, distance and SEM member."""
    from egov_abm.calibration.posterior import load_posterior

    post = load_posterior(scenario.posterior)
    i = post.best_index
    return {"particle": i, "what": "best particle (smallest distance)", "distance": float(post.distances[i]),
            "sem_member": post.member(i)}


def run_metadata(scenario: Scenario, seed: int, replicates: int, months: int, ensemble: bool | str = False) -> dict:
    """Everything needed to reproduce a run: parameters, SEM, posterior draws, seed, versions.

    ``ensemble`` is the level of uncertainty (:meth:`Scenario.variants`): at ``calibration`` the draws are
    recorded without the intention-behaviour slope, which stays at the best particle's, as does the SEM member.
    """
    from egov_abm.scenarios.scenario import uncertainty_level

    level = uncertainty_level(ensemble)
    drawn = level != "chance"
    draws = [draw for _, draw in scenario.ensemble(replicates, seed)] if drawn else None
    if level == "calibration":
        draws = [{k: v for k, v in d.items() if k != "intention_slope"} for d in draws]
    return {
        "posterior_file": str(scenario.posterior) if scenario.posterior else None,
        "uncertainty": level,
        "ensemble": level == "full",
        "posterior_draws": draws,
        "posterior_particles": scenario.posterior_particles(replicates, seed) if drawn else None,
        "posterior_point": _posterior_point(scenario) if scenario.posterior and level != "full" else None,
        "sem_members": scenario.sem_members(replicates, seed) if level == "full" else None,
        "sem_member": None if level == "full" else scenario.sem_member,
        "scenario": scenario.name,
        "description": scenario.description,
        "scenario_file": str(scenario.path) if scenario.path else None,
        "seed": seed,
        "replicates": replicates,
        "months": months,
        "seed_scheme": "numpy SeedSequence(seed, spawn_key=(replicate,)), one child stream per model process",
        "parameters": scenario.params.to_dict(),
        "interventions": [dataclasses.asdict(p.intervention) | {"defined_in": p.source} for p in scenario.policies],
        "overrides": scenario.overrides,
        "sem_file": str(scenario.sem_file or DEFAULT_SEM_FILE),
        "sem": sem_for(scenario).to_dict(),
        "version": package_version(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def write_results(out_dir: Path, frame: pd.DataFrame, meta: dict) -> tuple[Path, Path]:
    """Write ``timeseries.parquet`` and ``run.json`` into ``out_dir`` (a run folder, replaced whole).

    The files are written to a temporary folder beside ``out_dir`` and swapped
    in at the end (:func:`output.results_folder`), so an interrupted or failed
    write never leaves a half file or destroys an earlier result.
    """
    out_dir = Path(out_dir)
    with results_folder(out_dir, "run") as tmp:
        with naming(out_dir / "timeseries.parquet"):
            frame.to_parquet(tmp / "timeseries.parquet", index=False)
        with naming(out_dir / "run.json"):
            (tmp / "run.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    return out_dir / "timeseries.parquet", out_dir / "run.json"


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-replicate summary at the horizon plus the mean over replicates."""
    last = frame[frame["month"] == frame["month"].max()]
    cols = ["adoption", "share_active_month", "share_ever_used", "share_assisted", "internet_access",
            "digital_literacy", "adoption_urban", "adoption_rural", "adoption_age_18_29", "adoption_age_60plus"]
    table = last[["replicate", *cols]].set_index("replicate")
    if len(table) > 1:
        table.loc["mean"] = table.mean()
    return table
