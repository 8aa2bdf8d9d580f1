"""Calibrate the dynamic parameters to Kazakhstan's record 2006-2021 by ABC-SMC.

The SEM fixes how attitude, trust, readiness and intention relate; the rates
at which access, skill, awareness and use spread are fitted here to what was
recorded from the portal's launch (April 2006) to 2021.

Observation model (``calibration/data/dynamics_targets.csv``, one row per
figure, with its source and noise):

``internet_access``
    share of simulated adults online in July of the year, against the ITU /
    World Bank share of individuals using the internet (noise 3 points; 6 in
    2007-2011, when the survey method changed).
``digital_literacy``
    share of simulated adults with basic digital skill in July, against the
    Bureau of National Statistics series for ages 6-74 (2018, 2019, 2021;
    noise 3 points). Base 6-74 rather than 6+ because it is one consistent
    series from one source; adults are taken to stand for ages 6-74
    (assumption).
``registered_users``
    share of simulated adults who ever used the portal in May 2012, times the
    adult population of 2012 (assumption in ``demographics.csv``), against the
    154,120 registered users reported then; noise on the log scale (SD 0.35),
    since registering and using differ.
``households_using``
    ``1 - (1 - u)^h`` with ``u`` the share of adults who are current users in
    July and ``h`` adults per household (assumption), against the share of
    households that used e-government services 2018-2020 (secondary source,
    noise 5 points).

Estimation: approximate Bayesian computation with sequential Monte Carlo
(ABC-SMC; Toni et al. 2009, Beaumont et al. 2009). It needs only forward
runs of the stochastic model, gives a weighted posterior ensemble rather
than a point, and its tolerance has a plain meaning here: the distance of a
run from the data is the root mean square of the residuals in units of each
figure's noise, so a tolerance of 1 means "within the stated noise on
average". Generation 0 samples the prior; each later generation's tolerance
is the median distance of the previous one; particles are perturbed with a
Gaussian kernel of twice the weighted posterior covariance (in the unit
space of the prior) and weighted by prior / proposal density. All particles
of a calibration run on one seed (common random numbers: the same population,
graph and draws), so differences between particles come from their
parameters; the noise model absorbs the model's own sampling noise, which at
10,000 citizens is below half a point for a share.

Every generation is written to a checkpoint; a run started again with the
same arguments resumes after the last completed generation and ends with the
same result as an uninterrupted run (each generation's proposals come from a
generator seeded by (seed, generation)).
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import dataclasses
import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
from egov_abm.calibration.defaults import demographic_constants
from egov_abm.model import InputError, Params, month_index
from egov_abm.model.uncertainty import Prior as Prior  # re-exported: the calibration builds its own priors too

DATA_DIR = Path(str(resources.files("egov_abm.calibration") / "data"))
PARAMS_DIR = Path(str(resources.files("egov_abm.calibration") / "params"))
TARGETS_FILE = DATA_DIR / "dynamics_targets.csv"
DEFAULT_POSTERIOR = PARAMS_DIR / "dynamics_posterior.json"
START_MONTH = "2006-04"
END_MONTH = "2021-12"


#: The uncertain inputs the record decides: declared once, with their priors, on the parameters (model.params).
PRIORS = Params.uncertainties()


@dataclasses.dataclass(frozen=True)
class Observation:
    """One published figure and how a model run is turned into it."""

    target: str
    month: int  # months after START_MONTH
    date: str
    value: float
    sd: float
    source: str


def load_observations(path: Path = TARGETS_FILE) -> list[Observation]:
    """The calibration targets, validated."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    out = []
    for i, r in enumerate(rows, start=2):
        if r.get("target") not in OBSERVERS:
            raise InputError(f"{path}: line {i}, target: expected one of {', '.join(OBSERVERS)}, "
                             f"got {r.get('target')!r}")
        try:
            value, sd = float(r["value"]), float(r["sd"])
        except (TypeError, ValueError):
            raise InputError(f"{path}: line {i}: value and sd must be numbers") from None
        if sd <= 0:
            raise InputError(f"{path}: line {i}, sd: expected a positive number, got {sd}")
        out.append(Observation(r["target"], month_index(r["date"], START_MONTH), r["date"], value, sd, r["source"]))
    return out


def _households(frame_row, constants):
    return 1.0 - (1.0 - frame_row["share_users"]) ** constants["adults_per_household"]


OBSERVERS: dict[str, Callable] = {
    "internet_access": lambda row, c: row["internet_access"],
    "digital_literacy": lambda row, c: row["digital_literacy"],
    "registered_users": lambda row, c: row["share_ever_used"] * c["adult_population_2012"],
    "households_using": _households,
}


def observe(outcomes: list[dict], observations: list[Observation], constants: dict[str, float]) -> np.ndarray:
    """Simulated value of every observation from a run's monthly outcome rows."""
    return np.array([OBSERVERS[o.target](outcomes[o.month], constants) for o in observations], dtype=float)


def residuals(simulated: np.ndarray, observations: list[Observation]) -> np.ndarray:
    """Residuals in units of each figure's noise (log scale for counts)."""
    out = np.empty(len(observations))
    for k, o in enumerate(observations):
        if o.target == "registered_users":
            out[k] = (np.log(max(simulated[k], 1.0)) - np.log(o.value)) / o.sd
        else:
            out[k] = (simulated[k] - o.value) / o.sd
    return out


def distance(simulated: np.ndarray, observations: list[Observation]) -> float:
    """Root mean square of the scaled residuals."""
    return float(np.sqrt(np.mean(residuals(simulated, observations) ** 2)))


# --------------------------------------------------------------------------------- simulator
@dataclasses.dataclass(frozen=True)
class SimConfig:
    """What every calibration run shares: base parameters, population, seed, horizon."""

    base_params: dict
    n_agents: int = 10_000
    seed: int = 2006
    months: int = month_index(END_MONTH, START_MONTH)
    sem_file: str | None = None


class Simulator:
    """Runs the model for one parameter vector; builds the shared graph once."""

    def __init__(self, config: SimConfig, priors=PRIORS, observations=None) -> None:
        from egov_abm.calibration.defaults import DEFAULT_SEM_FILE, load_sem, population_spec
        from egov_abm.model import AdoptionModel, Params

        self.config = config
        self.priors = priors
        self.observations = observations if observations is not None else load_observations()
        self.constants = demographic_constants()
        self.sem = load_sem(config.sem_file or DEFAULT_SEM_FILE)
        self.spec = population_spec()
        self.params = Params.from_mapping({**config.base_params, "n_agents": config.n_agents,
                                           "start_month": START_MONTH})
        self._model_cls = AdoptionModel
        self.adjacency = None

    def model(self, values: dict, replicate: int | None = None):
        """A model with the calibrated values set: on the shared graph, or as replicate ``replicate``."""
        if replicate is not None:
            return self._model_cls(params=self.params.replace(**values), sem=self.sem, population=self.spec,
                                   seed=self.config.seed, replicate=replicate, create_agents=False)
        m = self._model_cls(params=self.params.replace(**values), sem=self.sem, population=self.spec,
                            seed=self.config.seed, create_agents=False, adjacency=self.adjacency)
        self.adjacency = m.adjacency
        return m

    def run(self, values: dict, months: int | None = None, replicate: int | None = None) -> list[dict]:
        """Monthly outcome rows of one run (shared graph, or an independent replicate)."""
        m = self.model(values, replicate)
        m.run(self.config.months if months is None else months)
        return m.outcomes

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        """Observables for a vector of parameter values (in prior order)."""
        values = {p.name: float(v) for p, v in zip(self.priors, theta, strict=True)}
        return observe(self.run(values), self.observations, self.constants)


_WORKER: Simulator | None = None


def _init_worker(config: SimConfig, priors, observations) -> None:
    global _WORKER
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER = Simulator(config, priors, observations)


def _simulate(theta: np.ndarray) -> np.ndarray:
    return _WORKER(theta)


# ---------------------------------------------------------------------------------- ABC-SMC
@dataclasses.dataclass
class Posterior:
    """A weighted ensemble of parameter sets and the record of how it was found."""

    names: list[str]
    particles: np.ndarray  # P x d, parameter values
    weights: np.ndarray  # P, sum 1
    distances: np.ndarray  # P
    generations: list[dict]
    meta: dict

    def to_json(self) -> dict:
        """JSON-safe dictionary."""
        return {"method": "ABC-SMC", "names": self.names, "particles": self.particles.tolist(),
                "weights": self.weights.tolist(), "distances": self.distances.tolist(),
                "generations": self.generations, **self.meta}

    @classmethod
    def from_json(cls, doc: dict) -> Posterior:
        """Inverse of :meth:`to_json`."""
        meta = {k: v for k, v in doc.items()
                if k not in ("method", "names", "particles", "weights", "distances", "generations")}
        return cls(list(doc["names"]), np.asarray(doc["particles"], dtype=float), np.asarray(doc["weights"]),
                   np.asarray(doc["distances"]), list(doc["generations"]), meta)

    def draws(self, k: int, seed: int) -> list[dict]:
        """``k`` parameter sets resampled by weight (systematic resampling, seeded)."""
        rng = np.random.default_rng(seed)
        positions = (rng.random() + np.arange(k)) / k
        idx = np.searchsorted(np.cumsum(self.weights), positions).clip(0, len(self.weights) - 1)
        return [dict(zip(self.names, map(float, self.particles[i]), strict=True)) for i in idx]

    def summary(self) -> list[dict]:
        """Weighted median and 5/50/95 % quantiles of every parameter."""
        rows = []
        order = self.particles.argsort(axis=0)
        for j, name in enumerate(self.names):
            x = self.particles[order[:, j], j]
            cw = np.cumsum(self.weights[order[:, j]])
            q = {f"q{int(p * 100):02d}": float(x[min(np.searchsorted(cw, p), len(x) - 1)])
                 for p in (0.05, 0.25, 0.5, 0.75, 0.95)}
            mean = float(np.sum(self.weights * self.particles[:, j]))
            rows.append({"parameter": name, "mean": mean, **q})
        return rows

    def median_values(self) -> dict[str, float]:
        """Weighted posterior median of every parameter."""
        return {r["parameter"]: r["q50"] for r in self.summary()}


def load_posterior(path: Path | str = DEFAULT_POSTERIOR) -> Posterior:
    """Read a posterior written by :func:`abc_smc`."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return Posterior.from_json(doc)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: not a posterior written by 'egov-abm calibrate dynamics' ({exc})") from None


def abc_smc(config: SimConfig, *, budget: int, population: int = 200, seed: int = 1, workers: int = 2,
            priors=PRIORS, observations=None, checkpoint: Path | None = None, min_tolerance: float = 1.0,
            max_generations: int | None = None, batch: int = 32, progress: Callable[[int], object] | None = None,
            log: Callable[[str], object] = lambda s: None) -> Posterior:
    """Run ABC-SMC with at most ``budget`` model runs; return the last complete generation.

    Stops when a generation's tolerance reaches ``min_tolerance``, after
    ``max_generations`` generations, or when the budget cannot complete the
    next generation.
    """
    observations = observations if observations is not None else load_observations()
    d = len(priors)
    state = _load_checkpoint(checkpoint, config, priors, population, seed) if checkpoint else None
    generations = state["generations"] if state else []
    used = sum(g["simulations"] for g in generations)
    if state:
        z, w, dist = (np.asarray(state[k], dtype=float) for k in ("z", "weights", "distances"))
        log(f"resuming after generation {len(generations) - 1} ({used} runs done)")
    start = time.perf_counter()
    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                initargs=(config, priors, observations)) as pool:
        def evaluate(zs):
            thetas = [np.array([p.from_unit(u) for p, u in zip(priors, zz, strict=True)]) for zz in zs]
            sims = list(pool.map(_simulate, thetas, chunksize=max(1, len(thetas) // (4 * workers))))
            return np.array([distance(s, observations) for s in sims])

        while True:
            g = len(generations)
            last_tol = generations[-1]["tolerance"] if generations else None
            if (last_tol is not None and last_tol <= min_tolerance) or (
                    max_generations is not None and len(generations) >= max_generations):
                break
            rng = np.random.default_rng([seed, g])
            if g == 0:
                if used + population > budget:
                    raise InputError(f"--budget {budget}: too small for one generation of {population} runs")
                z = rng.random((population, d))
                dist = evaluate(z)
                w = np.full(population, 1.0 / population)
                used += population
                if progress:
                    progress(population)
                generations.append({"generation": 0, "tolerance": None, "simulations": population,
                                    "acceptance": 1.0, "median_distance": float(np.median(dist))})
            else:
                tol = max(float(np.quantile(dist, 0.5)), min_tolerance)
                cov = 2.0 * np.cov(z, rowvar=False, aweights=w) + 1e-10 * np.eye(d)
                chol = np.linalg.cholesky(cov)
                inv = np.linalg.inv(cov)
                new_z, new_d, sims = [], [], 0
                while len(new_z) < population:
                    if used + sims + batch > budget:
                        break
                    parents = rng.choice(len(z), size=batch * 3, p=w)
                    cand = z[parents] + rng.standard_normal((batch * 3, d)) @ chol.T
                    cand = cand[np.all((cand >= 0) & (cand <= 1), axis=1)][:batch]
                    if len(cand) == 0:
                        continue
                    dd = evaluate(cand)
                    sims += len(cand)
                    if progress:
                        progress(len(cand))
                    for c, di in zip(cand, dd, strict=True):
                        if di <= tol and len(new_z) < population:
                            new_z.append(c)
                            new_d.append(di)
                if len(new_z) < population:
                    log(f"budget reached during generation {g}; keeping generation {g - 1}")
                    used += sims
                    break
                new_z = np.array(new_z)
                diff = new_z[:, None, :] - z[None, :, :]
                kern = np.exp(-0.5 * np.einsum("ijk,kl,ijl->ij", diff, inv, diff))
                new_w = 1.0 / (kern @ w)
                z, w, dist = new_z, new_w / new_w.sum(), np.array(new_d)
                used += sims
                generations.append({"generation": g, "tolerance": tol, "simulations": sims,
                                    "acceptance": population / sims, "median_distance": float(np.median(dist))})
            tol_text = "none" if generations[-1]["tolerance"] is None else f"{generations[-1]['tolerance']:.3g}"
            log(f"generation {g}: tolerance {tol_text}, median distance "
                f"{generations[-1]['median_distance']:.3g}, {generations[-1]['simulations']} runs ({used} in all)")
            if checkpoint:
                _save_checkpoint(checkpoint, config, priors, population, seed, generations, z, w, dist)
    particles = np.array([[p.from_unit(u) for p, u in zip(priors, zz, strict=True)] for zz in z])
    meta = {"seed": seed, "budget": budget, "population": population, "simulations": used,
            "n_agents": config.n_agents, "sim_seed": config.seed, "start_month": START_MONTH,
            "end_month": END_MONTH, "base_params": config.base_params,
            "priors": [dataclasses.asdict(p) for p in priors],
            "observations": [dataclasses.asdict(o) for o in observations],
            "wall_seconds_this_session": round(time.perf_counter() - start, 1)}
    return Posterior([p.name for p in priors], particles, w, dist, generations, meta)


def _fingerprint(config: SimConfig, priors, population: int, seed: int) -> dict:
    return {"config": dataclasses.asdict(config), "priors": [dataclasses.asdict(p) for p in priors],
            "population": population, "seed": seed}


def _save_checkpoint(path: Path, config, priors, population, seed, generations, z, w, dist) -> None:
    doc = {"fingerprint": _fingerprint(config, priors, population, seed), "generations": generations,
           "z": z.tolist(), "weights": w.tolist(), "distances": dist.tolist()}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)


def _load_checkpoint(path: Path, config, priors, population, seed) -> dict | None:
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise InputError(f"{path}: checkpoint unreadable; delete it to start afresh") from None
    if doc.get("fingerprint") != json.loads(json.dumps(_fingerprint(config, priors, population, seed))):
        raise InputError(f"{path}: checkpoint of a different calibration (seed, size or priors differ); "
                         "delete it or choose another --out")
    return doc
