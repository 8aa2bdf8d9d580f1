"""Calibrate the dynamics to Kazakhstan's record 2006-2021 by ABC-SMC, with pyabc.

The SEM fixes how attitude, trust, readiness and intention relate; the rates
at which access, skill, awareness and use spread, the intention-behaviour
slope and the SEM ensemble member are fitted here to what was recorded from
the portal's launch (April 2006) to 2021 (the figures, their observation
model and their blocks: :mod:`calibration.targets`; the priors:
:mod:`calibration.priors`). Figures after 2021 never enter: the targets file
refuses them.

Estimation: approximate Bayesian computation with sequential Monte Carlo
(Toni et al. 2009; Beaumont et al. 2009) as pyabc runs it (Schälte et al.
2022): generation 0 samples the prior; each later generation's tolerance is
the weighted median distance of the one before; proposals perturb particles
with a multivariate normal kernel fitted to the last generation (in the unit
cube of the priors, truncated to it: :class:`UnitCubeTransition`) and, for
the SEM member, a discrete jump kernel. The
distance is :func:`calibration.targets.block_distance`: the root mean square
of the residuals in noise units, each block (internet, literacy, portal use,
patterns) weighted equally, so a tolerance of 1 means "within the stated
noise on average" and no single long series dominates.

All model runs of a calibration share one seed (:data:`MODEL_SEED`): the
same population, graph and draws (common random numbers), so differences
between particles come from their parameters, and every model run is
reproducible from its parameters. The sampler itself is **not**
seed-reproducible: pyabc's worker processes reseed NumPy's global generator
from the operating system, and its proposals draw from it. The record is
therefore pyabc's history database (SQLite), kept beside the posterior file
(:func:`history_path`): an interrupted calibration started again with the
same arguments continues from it, and the posterior names it.

Locally the runs go to all cores (pyabc's multicore sampler, which forks
this process, so each worker starts with the simulator and graph already
built); with ``scheduler`` (``tcp://host:port``) they go to a Dask cluster
(pyabc's Dask sampler), whose workers build their simulator once each.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyabc
import scipy.stats as st

from egov_abm.calibration.posterior import Posterior, write_posterior
from egov_abm.calibration.priors import PRIORS, Prior, theta_from_unit, values_from_theta
from egov_abm.calibration.simulate import SimConfig, simulator_for
from egov_abm.calibration.targets import (
    END_MONTH,
    START_MONTH,
    Observation,
    block_distance,
    load_observations,
    observation_key,
)
from egov_abm.model import InputError

#: Seed of every model run of a calibration (common random numbers).
MODEL_SEED = 2006
#: Name of the SEM ensemble member among the sampled parameters.
MEMBER = "sem_member"
#: Probability that a proposal keeps its parent's SEM member (pyabc's discrete jump kernel).
MEMBER_STAY = 0.7
#: Model runs sent to a Dask worker at a time (a run of 5,000 citizens takes about 0.1 s).
DASK_BATCH = 8
#: Fixed draws per generation that estimate each kernel's mass inside the unit cube.
TRUNCATION_DRAWS = 2000
#: SD of the ridge added to the kernel's covariance, in unit-cube units.
RIDGE = 0.01
NOT_REPRODUCIBLE = ("pyabc's sampler is not seed-reproducible (its workers reseed NumPy from the operating "
                    "system); every model run inside it is (one model seed, common random numbers). The history "
                    "database is the record.")


def n_members() -> int:
    """Members of the shipped SEM ensemble."""
    from egov_abm.calibration.sem_ensemble import load_sem_ensemble

    return len(load_sem_ensemble())


class AbcModel:
    """The model as pyabc sees it: a point of the unit cube and a member in, the figures out (picklable)."""

    def __init__(self, config: SimConfig, priors: Sequence[Prior], observations: Sequence[Observation]) -> None:
        self.config = config
        self.priors = tuple(priors)
        self.observations = tuple(observations)

    def values(self, par) -> tuple[dict[str, float], int]:
        """Parameter values and SEM member of a pyabc parameter (a point of the priors' unit cube)."""
        theta = theta_from_unit(self.priors, [float(par[p.name]) for p in self.priors])
        return values_from_theta(self.priors, theta), int(round(float(par[MEMBER])))

    def simulate(self, values: dict[str, float], member: int) -> np.ndarray:
        """Simulated figures (model only, no observation noise), in the order of the observations."""
        config = dataclasses.replace(self.config, sem_member=member)
        return simulator_for(config, self.priors, self.observations).observe(values)

    def __call__(self, par) -> dict[str, float]:
        """The simulated figures of one pyabc parameter, by :func:`observation_key`."""
        values, member = self.values(par)
        sims = self.simulate(values, member)
        return {observation_key(o): float(s) for o, s in zip(self.observations, sims, strict=True)}


class BlockDistance:
    """pyabc distance: :func:`calibration.targets.block_distance` between two dictionaries of figures."""

    def __init__(self, observations: Sequence[Observation]) -> None:
        self.observations = tuple(observations)
        self.keys = [observation_key(o) for o in self.observations]

    def __call__(self, x: dict, x0: dict) -> float:
        """Distance of simulated figures ``x`` from data ``x0``."""
        sim = np.array([x[k] for k in self.keys], dtype=float)
        return block_distance(sim, self.observations, np.array([x0[k] for k in self.keys], dtype=float))


def history_path(out_path: Path) -> Path:
    """Where the calibration writing ``out_path`` keeps pyabc's history (SQLite)."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.stem + ".abc.db")


def _fingerprint(config: SimConfig, priors: Sequence[Prior], observations: Sequence[Observation],
                 population: int) -> dict:
    return {"config": {k: v for k, v in dataclasses.asdict(config).items() if k != "sem_member"},
            "priors": [[p.name, p.low, p.high, p.log] for p in priors],
            "observations": [observation_key(o) for o in observations],
            "values": [o.value for o in observations], "population": population, "members": n_members()}


def _unit_bandwidth(ess: float, d: int) -> float:
    """Bandwidth factor 1, so that with ``scaling=2`` the kernel's covariance is twice the last generation's.

    That is the kernel of Beaumont et al. (2009). Silverman's rule, pyabc's default, is narrower in 12 dimensions: each
    proposal's density then rests on its parent alone, and the weights left an effective sample size of a
    twentieth of the particles by the third generation in trials.
    """
    return 1.0


class UnitCubeTransition(pyabc.MultivariateNormalTransition):
    """pyabc's normal kernel, truncated to the unit cube of the priors.

    Proposals that leave the cube are drawn again here, in numpy, instead of
    being proposed and refused by pyabc one at a time (in 12 dimensions about
    60 proposals were made for every one inside the cube, which took as long
    as the model runs). The density is that of the truncated kernel: each
    parent's kernel divided by its mass inside the cube, estimated once per
    generation from :data:`TRUNCATION_DRAWS` fixed draws, so the importance
    weights stay correct.
    """

    def fit(self, X, w) -> None:
        """Fit the kernel to the last generation and estimate each parent's mass inside the cube."""
        super().fit(X, w)
        # a ridge of SD 0.01 (in unit-cube units) keeps the kernel proper when a generation has fewer particles
        # than dimensions, or all on one line: without it, proposals off that subspace have density 0
        self.cov = self.cov + RIDGE ** 2 * np.eye(self.cov.shape[0])
        self.normal = st.multivariate_normal(cov=self.cov)
        self._chol = np.linalg.cholesky(self.cov)
        steps = np.random.default_rng(0).standard_normal((TRUNCATION_DRAWS, self.cov.shape[0])) @ self._chol.T
        mass = np.array([np.mean(np.all((x + steps >= 0.0) & (x + steps <= 1.0), axis=1)) for x in self._X_arr])
        self._mass = np.maximum(mass, 1.0 / TRUNCATION_DRAWS)

    def rvs_single(self):
        """One proposal inside the cube: a parent by weight, a normal step, again until inside."""
        d = self._X_arr.shape[1]
        for _ in range(100_000):
            j = np.random.choice(self._range, p=self.w)
            x = self._X_arr[j] + self._chol @ np.random.standard_normal(d)
            if np.all((x >= 0.0) & (x <= 1.0)):
                return pyabc.Parameter(dict(zip(self.X.columns, x, strict=True)))
        raise RuntimeError("no proposal inside the unit cube in 100,000 tries")

    def pdf(self, x):
        """Density of the truncated kernel mixture at ``x`` (a parameter or a frame of them)."""
        if isinstance(x, pyabc.Parameter | pd.Series):
            arr = np.array([x[key] for key in self.X.columns], dtype=float)
            return float((self.normal.pdf(arr - self._X_arr) * self.w / self._mass).sum())
        arr = x[self.X.columns].to_numpy(dtype=float)
        return np.array([float((self.normal.pdf(xi - self._X_arr) * self.w / self._mass).sum()) for xi in arr])


class ResumableQuantileEpsilon(pyabc.QuantileEpsilon):
    """pyabc's median tolerance, generation 0 accepting every prior draw, and correct after a resume.

    pyabc's own, with a fixed initial tolerance, forgets the tolerance of the
    history's last generation when a run is loaded from its database, and
    takes the initial one (here: accept everything) for the first new
    generation. This one takes the weighted median distance of the history's
    last generation, as an uninterrupted run would.
    """

    def initialize(self, t, get_weighted_distances, get_all_records, max_nr_populations, acceptor_config):
        """At a resumed generation ``t > 0``, the weighted median distance of generation ``t - 1``."""
        if t > 0 and t not in self._look_up:
            self._update(t, get_weighted_distances())


def _pyabc_setup(model: AbcModel, population: int):

    prior = pyabc.Distribution(**{p.name: pyabc.RV("uniform", 0.0, 1.0) for p in model.priors},
                               **{MEMBER: pyabc.RV("randint", 0, n_members())})
    transitions = pyabc.AggregatedTransition(mapping={
        tuple(p.name for p in model.priors): UnitCubeTransition(scaling=2.0, bandwidth_selector=_unit_bandwidth),
        MEMBER: pyabc.DiscreteJumpTransition(domain=np.arange(n_members()), p_stay=MEMBER_STAY)})
    return dict(models=model, parameter_priors=prior, distance_function=BlockDistance(model.observations),
                population_size=population, transitions=transitions,
                eps=ResumableQuantileEpsilon(initial_epsilon=math.inf, alpha=0.5))


@contextlib.contextmanager
def _sampler(workers: int, scheduler: str | None) -> Iterator:
    """Pyabc's sampler: a Dask cluster's (``scheduler``), all local cores, or this process (``workers=1``)."""
    from pyabc import sampler as samplers

    if scheduler is not None:
        from egov_abm.scenarios.experiments.sweep import check_workers, connect

        client = connect(scheduler)
        try:
            check_workers(client)
            yield samplers.DaskDistributedSampler(dask_client=client, batch_size=DASK_BATCH)
        finally:
            client.close()
    elif workers > 1:
        yield samplers.MulticoreEvalParallelSampler(n_procs=workers, check_max_eval=True)
    else:
        yield samplers.SingleCoreSampler(check_max_eval=True)


def _read_history(db: Path) -> tuple[object, dict] | None:
    """Pyabc's history in ``db`` and the fingerprint stored with it, or None if ``db`` does not exist."""
    if not db.exists():
        return None

    try:
        history = pyabc.History(f"sqlite:///{db}", create=False)
        history.id = 1
        options = ast.literal_eval(history.get_abc().json_parameters)
        stored = options.get("egov_abm")
    except Exception as exc:  # noqa: BLE001 - any failure to read the database is one line to the user
        reason = " ".join(str(exc).split("\n")[0].split())[:80]
        raise InputError(f"{db}: not a readable calibration history ({type(exc).__name__}: {reason}); "
                         "delete it to start afresh") from None
    if not isinstance(stored, dict):
        raise InputError(f"{db}: not a history written by 'egov-abm calibrate dynamics'; delete it or choose "
                         "another --out")
    return history, stored


def abc_smc(config: SimConfig, db: Path, *, budget: int, population: int = 200, workers: int = 1,
            scheduler: str | None = None, priors: Sequence[Prior] = PRIORS,
            observations: Sequence[Observation] | None = None, min_tolerance: float = 1.0,
            max_generations: int = 30, seed: int = 1, log: Callable[[str], object] = lambda s: None) -> Posterior:
    """Run (or continue) ABC-SMC until the tolerance reaches ``min_tolerance`` or ``budget`` runs are spent.

    The history is kept in ``db`` (SQLite); if it exists and holds a
    calibration with the same configuration, priors, figures and population,
    the run continues from its last generation. A generation that would
    overrun the budget is not started past it: pyabc stops it and the last
    complete generation is kept. The posterior's ``meta["stopped"]`` says
    plainly whether the target was reached or the budget ended first.

    Raises:
        InputError: the budget is too small for one generation, the history is unreadable or of another
            calibration, or the scheduler cannot be reached.
    """
    priors = tuple(priors)
    observations = tuple(observations if observations is not None else load_observations())
    model = AbcModel(config, priors, observations)
    fingerprint = _fingerprint(config, priors, observations, population)
    found = _read_history(db)
    if found is not None and found[1] != fingerprint:
        raise InputError(f"{db}: history of a different calibration (figures, priors, size or population "
                         "differ); delete it or choose another --out")
    if found is None and budget < population:
        raise InputError(f"--budget {budget}: too small for one generation of {population} runs")
    logging.getLogger("ABC").setLevel(logging.ERROR)  # pyabc's per-generation lines and weight warnings:
    # the lines printed here say the same
    logging.getLogger("Sampler").setLevel(logging.WARNING)
    # what pyabc's proposals draw from in this process (its workers reseed themselves from the system)
    np.random.seed(np.random.SeedSequence(seed).generate_state(1)[0])
    if workers > 1 and scheduler is None:
        model.simulate(values_from_theta(priors, theta_from_unit(priors, [0.5] * len(priors))), 0)  # build once,
        # before the workers fork, so each starts with the simulator and graph
    start = time.perf_counter()
    with _sampler(workers, scheduler) as sampler:
        abc = pyabc.ABCSMC(sampler=sampler, **_pyabc_setup(model, population))
        if found is None:
            x0 = {observation_key(o): o.value for o in observations}
            abc.new(f"sqlite:///{db}", x0, meta_info={"egov_abm": fingerprint})
        else:
            abc.load(f"sqlite:///{db}", 1)
            log(f"continuing from {db}: {abc.history.n_populations} generation(s), "
                f"{abc.history.total_nr_simulations} runs done")
        stopped = None
        while stopped is None:
            h = abc.history
            done = h.n_populations
            used = h.total_nr_simulations if done else 0
            last_eps = float(h.get_all_populations()["epsilon"].iloc[-1]) if done else math.inf
            if done and last_eps <= min_tolerance:
                stopped = "target"
                break
            if done >= max_generations:
                stopped = "generations"
                break
            left = budget - used
            if left < population:
                stopped = "budget"
                break
            abc.run(minimum_epsilon=0.0, max_nr_populations=1, min_acceptance_rate=population / left,
                    max_total_nr_simulations=budget)
            if abc.history.n_populations == done:  # pyabc stopped the generation at its evaluation limit
                stopped = "budget"
                break
            g = _generation_rows(abc.history)[-1]
            tol = "none (the prior)" if g["tolerance"] is None else f"{g['tolerance']:.3g}"
            log(f"generation {g['generation']}: tolerance {tol}, acceptance {g['acceptance']:.3f}, "
                f"ESS {g['ess']:.0f}, {g['simulations']} runs ({abc.history.total_nr_simulations} in all), "
                f"{g['wall_seconds']:.0f} s")
        posterior = posterior_from_history(abc.history, model)
    posterior.meta.update({
        "stopped": stopped, "min_tolerance": min_tolerance, "budget": budget, "population": population,
        "wall_seconds_this_session": round(time.perf_counter() - start, 1),
        "sampler": f"pyabc {pyabc.__version__} ABCSMC ({'Dask ' + scheduler if scheduler else f'{workers} core(s)'})",
        "history": db.name, "seed_note": NOT_REPRODUCIBLE, "sampler_seed": seed})
    return posterior


def _generation_rows(history) -> list[dict]:
    """One row per generation: tolerance, runs, acceptance, effective sample size, wall time, runs per second."""
    pops = history.get_all_populations()
    pops = pops[pops["t"] >= 0]
    rows = []
    for _, r in pops.iterrows():
        t = int(r["t"])
        weighted = history.get_weighted_distances(t)
        w = weighted["w"].to_numpy()
        runs = int(r["samples"])
        wall = float(r["wall_time"]) if r["wall_time"] is not None and np.isfinite(r["wall_time"]) else float("nan")
        rows.append({"generation": t, "tolerance": None if not np.isfinite(r["epsilon"]) else float(r["epsilon"]),
                     "simulations": runs, "acceptance": int(r["particles"]) / runs if runs else float("nan"),
                     "ess": float(w.sum() ** 2 / np.sum(w ** 2)),
                     "median_distance": float(np.median(weighted["distance"])),
                     "wall_seconds": round(wall, 2), "runs_per_second": round(runs / wall, 2) if wall > 0 else None})
    return rows


def posterior_from_history(history, model: AbcModel) -> Posterior:
    """The last generation of a pyabc history as a :class:`Posterior` (parameter values, members, distances)."""
    particles_ = history.get_population(history.max_t).particles
    z = np.array([[float(q.parameter[p.name]) for p in model.priors] for q in particles_])
    particles = np.array([theta_from_unit(model.priors, zz) for zz in z])
    members = np.array([int(round(float(q.parameter[MEMBER]))) for q in particles_])
    w = np.array([q.weight for q in particles_], dtype=float)
    distances = np.array([q.distance for q in particles_], dtype=float)
    meta = {"n_agents": model.config.n_agents, "sim_seed": model.config.seed, "start_month": START_MONTH,
            "end_month": END_MONTH, "base_params": model.config.base_params,
            "priors": [dataclasses.asdict(p) for p in model.priors],
            "observations": [dataclasses.asdict(o) for o in model.observations],
            "simulations": int(history.total_nr_simulations), "members": members.tolist()}
    return Posterior([p.name for p in model.priors], particles, np.asarray(w, dtype=float) / np.sum(w), distances,
                     _generation_rows(history), meta)


def calibration_config(agents: int) -> SimConfig:
    """What every run of a calibration of the baseline shares: its parameters less the calibrated ones."""
    from egov_abm.scenarios.scenario import load_scenario

    base = load_scenario("baseline", apply_posterior=False).params.to_dict()
    for name in ("n_agents", "start_month", *(p.name for p in PRIORS)):
        base.pop(name, None)
    return SimConfig(base_params=base, n_agents=agents, seed=MODEL_SEED)


def calibrate_dynamics(budget: int, out_path: Path, *, population: int = 300, agents: int = 5_000,
                       workers: int = 1, scheduler: str | None = None, min_tolerance: float = 1.0,
                       holdout_from: int | None = None, draws: int = 100, seed: int = 1,
                       observations: Sequence[Observation] | None = None,
                       log: Callable[[str], object] = lambda s: None) -> Posterior:
    """``egov-abm calibrate dynamics``: calibrate the baseline's dynamics and write the posterior to ``out_path``.

    With ``holdout_from``, only the figures before that year are fitted; the
    others are then predicted by ``draws`` posterior draws and the check
    (:func:`calibration.validation.holdout_check`) is stored in the
    posterior's ``holdout``. The history is :func:`history_path` of
    ``out_path``, so a rerun with the same arguments continues. The posterior
    file is written whole at the end, or not at all.

    Raises:
        InputError: ``out_path`` is a folder, ``holdout_from`` leaves too few figures, the budget is too small,
            the history is unreadable or of another calibration, or the scheduler cannot be reached.
    """
    from egov_abm.calibration.targets import split_holdout

    out_path = Path(out_path)
    if out_path.is_dir():
        raise InputError(f"--out {out_path}: is a folder; expected a file name")
    observations = list(observations if observations is not None else load_observations())
    held: list[Observation] = []
    if holdout_from is not None:
        observations, held = split_holdout(observations, holdout_from)
    config = calibration_config(agents)
    start = time.perf_counter()
    posterior = abc_smc(config, history_path(out_path), budget=budget, population=population, workers=workers,
                        scheduler=scheduler, observations=observations, min_tolerance=min_tolerance, seed=seed,
                        log=log)
    command = (f"egov-abm calibrate dynamics --budget {budget} --population {population} --agents {agents} "
               f"--tolerance {min_tolerance}" + (f" --holdout-from {holdout_from}" if holdout_from else ""))
    posterior.meta.update({"command": command, "holdout_from": holdout_from,
                           "held_out": [observation_key(o) for o in held]})
    if held:
        from egov_abm.calibration.validation import holdout_check

        log(f"predicting the {len(held)} held-out figures from {draws} posterior draws")
        posterior.meta["holdout"] = holdout_check(posterior, held, draws=draws, agents=agents, seed=seed,
                                                  workers=None if scheduler else workers)
    posterior.meta["wall_seconds_this_session"] = round(time.perf_counter() - start, 1)
    write_posterior(posterior, out_path)
    return posterior
