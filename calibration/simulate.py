"""Forward runs of the model for the calibration: one parameter vector in, observables out.

Every run of a calibration shares one configuration (:class:`SimConfig`:
base parameters, population size, seed, horizon), so all particles run on
one seed with the same population and social graph (common random numbers),
and differences between particles come from their parameters. The model is
built by :func:`~scenarios.runner.build_model` from a :class:`Scenario`
without interventions; the graph is built by the first run and reused.

:func:`simulate` is the picklable function the sampler hands to
:func:`~scenarios.parallel.map_runs`: it keeps one :class:`Simulator` per
configuration in each worker process (:func:`simulator_for`), so a worker
builds the shared graph once, however many runs it is given.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from egov_abm.calibration.defaults import DEFAULT_SEM_FILE, demographic_constants, load_sem, population_spec
from egov_abm.calibration.priors import PRIORS, Prior, values_from_theta
from egov_abm.calibration.targets import END_MONTH, START_MONTH, Observation, load_observations, observe
from egov_abm.model import AdoptionModel, Params, month_index
from egov_abm.scenarios.runner import build_model
from egov_abm.scenarios.scenario import Scenario


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """What every calibration run shares: base parameters, population, seed, horizon."""

    base_params: dict
    n_agents: int = 10_000
    seed: int = 2006
    months: int = month_index(END_MONTH, START_MONTH)
    sem_file: str | None = None
    sem_member: int | None = None  # member of the SEM ensemble (None: the SEM file)


class Simulator:
    """Runs the model for one parameter vector; builds the shared graph once."""

    def __init__(self, config: SimConfig, priors: Sequence[Prior] = PRIORS,
                 observations: Sequence[Observation] | None = None) -> None:
        self.config = config
        self.priors = priors
        self.observations = observations if observations is not None else load_observations()
        self.constants = demographic_constants()
        if config.sem_member is not None:
            from egov_abm.calibration.sem_ensemble import load_sem_ensemble

            self.sem = load_sem_ensemble()[config.sem_member]
        else:
            self.sem = load_sem(config.sem_file or DEFAULT_SEM_FILE)
        self.spec = population_spec()
        self.params = Params.from_mapping({**config.base_params, "n_agents": config.n_agents,
                                           "start_month": START_MONTH})
        self.adjacency = None

    def scenario(self, values: dict) -> Scenario:
        """The scenario of one run: the base parameters with ``values`` set, no interventions."""
        return Scenario(name="calibration", description="dynamics calibration run",
                        params=self.params.replace(**values), months=self.config.months,
                        sem_file=Path(self.config.sem_file) if self.config.sem_file else None)

    def model(self, values: dict, replicate: int | None = None) -> AdoptionModel:
        """A model with the calibrated values set: on the shared graph, or as replicate ``replicate``."""
        scenario = self.scenario(values)
        if replicate is not None:
            return build_model(scenario, self.config.seed, replicate, sem=self.sem, population=self.spec)
        m = build_model(scenario, self.config.seed, sem=self.sem, population=self.spec, adjacency=self.adjacency)
        self.adjacency = m.adjacency
        return m

    def run(self, values: dict, months: int | None = None, replicate: int | None = None) -> list[dict]:
        """Monthly outcome rows of one run (shared graph, or an independent replicate).

        Besides the model's outcomes, each row has ``internet_access_urban`` and
        ``internet_access_rural``: the share of urban and of rural adults online
        (what the urban-rural pattern target observes).
        """
        m = self.model(values, replicate)
        urban = m.pop.urban
        n_urban = max(int(np.count_nonzero(urban)), 1)
        n_rural = max(m.n - int(np.count_nonzero(urban)), 1)

        def places() -> tuple[float, float]:
            online_urban = int(np.count_nonzero(m.access & urban))
            return online_urban / n_urban, (int(np.count_nonzero(m.access)) - online_urban) / n_rural

        split = [places()]
        for _ in range(self.config.months if months is None else months):
            m.step()
            split.append(places())
        rows = m.outcomes
        for row, (u, r) in zip(rows, split, strict=True):
            row["internet_access_urban"], row["internet_access_rural"] = u, r
        return rows

    def observe(self, values: dict) -> np.ndarray:
        """The simulated figures of one run with ``values`` (model only, no observation noise)."""
        return observe(self.run(values), self.observations, self.constants)

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        """Observables for a vector of parameter values (in prior order)."""
        return self.observe(values_from_theta(self.priors, theta))


_CACHE: dict[tuple, Simulator] = {}
_CACHE_SIZE = 16  # one per SEM member and configuration in use


def simulator_for(config: SimConfig, priors: Sequence[Prior] = PRIORS,
                  observations: Sequence[Observation] | None = None) -> Simulator:
    """The simulator of this process for ``config`` (made on first use, then reused with its graph)."""
    key = (json.dumps(dataclasses.asdict(config), sort_keys=True, default=str), tuple(priors),
           None if observations is None else tuple(observations))
    sim = _CACHE.get(key)
    if sim is None:
        if len(_CACHE) >= _CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]
        sim = _CACHE[key] = Simulator(config, priors, observations)
    return sim


@dataclasses.dataclass(frozen=True)
class SimTask:
    """One run of a calibration, small enough to send to a worker.

    Attributes:
        config: what all runs share.
        theta: parameter values in the order of ``priors``.
        priors: the calibrated parameters.
        observations: the targets (default: the shipped ones).
    """

    config: SimConfig
    theta: tuple[float, ...]
    priors: tuple[Prior, ...] = PRIORS
    observations: tuple[Observation, ...] | None = None


def simulate(task: SimTask) -> np.ndarray:
    """Observables of one run (module level, so it can be sent to worker processes)."""
    return simulator_for(task.config, task.priors, task.observations)(np.asarray(task.theta, dtype=float))
