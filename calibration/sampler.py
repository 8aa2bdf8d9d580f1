"""Calibrate the dynamic parameters to Kazakhstan's record 2006-2021 by ABC-SMC.

The SEM fixes how attitude, trust, readiness and intention relate; the rates
at which access, skill, awareness and use spread are fitted here to what was
recorded from the portal's launch (April 2006) to 2021 (the targets and
their noise: :mod:`calibration.targets`; the priors: :mod:`calibration.priors`).

Estimation: approximate Bayesian computation with sequential Monte Carlo
(ABC-SMC; Toni et al. 2009, Beaumont et al. 2009). It needs only forward
runs of the stochastic model (:mod:`calibration.simulate`), gives a weighted
posterior ensemble rather than a point, and its tolerance has a plain
meaning: a run's distance from the data is the root mean square of its
residuals in noise units, so a tolerance of 1 means "within the stated noise
on average". Generation 0 samples the prior; each later generation's
tolerance is the median distance of the previous one; particles are
perturbed with a Gaussian kernel of twice the weighted posterior covariance
(in the unit space of the prior) and weighted by prior / proposal density.
All particles of a calibration run on one seed (common random numbers: the
same population, graph and draws), so differences between particles come
from their parameters; the noise model absorbs the model's own sampling
noise, which at 10,000 citizens is below half a point for a share.

Runs go through :func:`~scenarios.parallel.map_runs`, a batch of candidates
at a time; with more than one worker and no Dask client given, on a process
pool kept for the whole calibration, so each worker builds the shared graph
once (:func:`~calibration.simulate.simulator_for`).

Every generation is written to a checkpoint; a run started again with the
same arguments resumes after the last completed generation and ends with the
same result as an uninterrupted run (each generation's proposals come from a
generator seeded by (seed, generation)).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from egov_abm.calibration import userfiles
from egov_abm.calibration.posterior import Posterior, write_posterior
from egov_abm.calibration.priors import PRIORS, Prior, theta_from_unit
from egov_abm.calibration.simulate import SimConfig, SimTask, simulate
from egov_abm.calibration.targets import END_MONTH, START_MONTH, Observation, distance, load_observations
from egov_abm.model import InputError
from egov_abm.scenarios.parallel import default_workers, map_runs, process_pool

#: Seed of every model run of a calibration (common random numbers).
MODEL_SEED = 2006


def abc_smc(config: SimConfig, *, budget: int, population: int = 200, seed: int = 1, workers: int | None = None,
            client=None, priors: Sequence[Prior] = PRIORS, observations: Sequence[Observation] | None = None,
            checkpoint: Path | None = None, min_tolerance: float = 1.0, max_generations: int | None = None,
            batch: int = 32, progress: Callable[[int], object] | None = None,
            log: Callable[[str], object] = lambda s: None) -> Posterior:
    """Run ABC-SMC with at most ``budget`` model runs; return the last complete generation.

    Stops when a generation's tolerance reaches ``min_tolerance``, after
    ``max_generations`` generations, or when the budget cannot complete the
    next generation.

    Args:
        config: what every run shares.
        budget: most model runs to count.
        population: particles per generation.
        seed: seed of the sampler.
        workers: worker processes (see :func:`~scenarios.parallel.map_runs`).
        client: a ``distributed.Client`` to run on instead.
        priors: the calibrated parameters.
        observations: the targets (default: the shipped ones).
        checkpoint: file to keep progress in; an existing one is resumed.
        min_tolerance: stop once a generation's tolerance is this small.
        max_generations: stop after this many generations.
        batch: candidates proposed at a time.
        progress: called with the number of runs as they are counted.
        log: called with a line of text per generation.

    Raises:
        InputError: the budget is too small for one generation, or the checkpoint is unreadable or of another
            calibration.
    """
    priors = tuple(priors)
    observations = tuple(observations if observations is not None else load_observations())
    d = len(priors)
    state = _load_checkpoint(checkpoint, config, priors, population, seed) if checkpoint else None
    generations = state["generations"] if state else []
    used = sum(g["simulations"] for g in generations)
    if state:
        z, w, dist = (np.asarray(state[k], dtype=float) for k in ("z", "weights", "distances"))
        log(f"resuming after generation {len(generations) - 1} ({used} runs done)")
    start = time.perf_counter()
    with _runner(workers, client) as run_all:
        def evaluate(zs, report=None):
            tasks = [SimTask(config, tuple(theta_from_unit(priors, zz)), priors, observations) for zz in zs]
            return np.array([distance(s, observations) for s in run_all(tasks, report)])

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
                dist = evaluate(z, progress)
                w = np.full(population, 1.0 / population)
                used += population
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
    particles = np.array([theta_from_unit(priors, zz) for zz in z])
    meta = {"seed": seed, "budget": budget, "population": population, "simulations": used,
            "n_agents": config.n_agents, "sim_seed": config.seed, "start_month": START_MONTH,
            "end_month": END_MONTH, "base_params": config.base_params,
            "priors": [dataclasses.asdict(p) for p in priors],
            "observations": [dataclasses.asdict(o) for o in observations],
            "wall_seconds_this_session": round(time.perf_counter() - start, 1)}
    return Posterior([p.name for p in priors], particles, w, dist, generations, meta)


@contextlib.contextmanager
def _runner(workers: int | None, client) -> Iterator[Callable]:
    """``run_all(tasks, progress)``: the runs of a list of tasks, in order, through :func:`map_runs`.

    Runs in parallel go to ``client`` or, without one, to a pool of ``workers`` processes kept for the
    whole calibration (:func:`~scenarios.parallel.process_pool`): its workers keep their simulator (and
    the graph it built) from one batch to the next.
    """
    workers = default_workers() if workers is None else workers
    if client is not None or workers <= 1:
        yield lambda tasks, progress: map_runs(simulate, tasks, workers=workers, client=client, progress=progress)
        return
    with process_pool(workers) as pool:
        yield lambda tasks, progress: map_runs(simulate, tasks, client=pool, progress=progress)


def checkpoint_path(out_path: Path) -> Path:
    """Where the calibration writing ``out_path`` keeps its progress."""
    return out_path.with_name(out_path.name + ".checkpoint")


def _fingerprint(config: SimConfig, priors, population: int, seed: int) -> dict:
    return {"config": dataclasses.asdict(config), "priors": [dataclasses.asdict(p) for p in priors],
            "population": population, "seed": seed}


def _save_checkpoint(path: Path, config, priors, population, seed, generations, z, w, dist) -> None:
    doc = {"fingerprint": _fingerprint(config, priors, population, seed), "generations": generations,
           "z": z.tolist(), "weights": w.tolist(), "distances": dist.tolist()}
    from egov_abm.scenarios.output import atomic_file

    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(doc), encoding="utf-8")


def _load_checkpoint(path: Path, config, priors, population, seed) -> dict | None:
    if not path.exists():
        return None
    try:
        doc = json.loads(userfiles.read_text(path, "the checkpoint"))
    except (InputError, json.JSONDecodeError):
        raise InputError(f"{path}: checkpoint unreadable; delete it to start afresh") from None
    if doc.get("fingerprint") != json.loads(json.dumps(_fingerprint(config, priors, population, seed))):
        raise InputError(f"{path}: checkpoint of a different calibration (seed, size or priors differ); "
                         "delete it or choose another --out")
    return doc


def calibrate_dynamics(budget: int, out_path: Path, *, population: int = 300, agents: int = 10_000, seed: int = 1,
                       workers: int | None = None, min_tolerance: float = 1.0,
                       progress: Callable[[int], object] | None = None,
                       log: Callable[[str], object] = lambda s: None) -> Posterior:
    """``egov-abm calibrate dynamics``: calibrate the baseline's dynamics and write the posterior to ``out_path``.

    The base parameters are the baseline scenario's (without its posterior);
    progress is kept in :func:`checkpoint_path` of ``out_path``, so a rerun
    with the same arguments resumes.

    Raises:
        InputError: ``out_path`` is a folder, the budget is too small, or the checkpoint is of another calibration.
    """
    from egov_abm.scenarios.scenario import load_scenario

    out_path = Path(out_path)
    if out_path.is_dir():
        raise InputError(f"--out {out_path}: is a folder; expected a file name")
    base = load_scenario("baseline", apply_posterior=False).params.to_dict()
    for name in ("n_agents", "start_month", *(p.name for p in PRIORS)):
        base.pop(name, None)
    config = SimConfig(base_params=base, n_agents=agents, seed=MODEL_SEED)
    start = time.perf_counter()
    posterior = abc_smc(config, budget=budget, population=population, seed=seed, workers=workers,
                        checkpoint=checkpoint_path(out_path), min_tolerance=min_tolerance, progress=progress, log=log)
    posterior.meta["command"] = (f"egov-abm calibrate dynamics --budget {budget} --population {population} "
                                 f"--agents {agents} --seed {seed} --tolerance {min_tolerance}")
    posterior.meta["wall_seconds_this_session"] = round(time.perf_counter() - start, 1)
    write_posterior(posterior, out_path)
    return posterior
