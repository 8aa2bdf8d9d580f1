"""Checks that a calibration can fail: predictive coverage, the hold-out, and a synthetic (SBC-style) check.

**Predictive draws.** ``draws`` parameter sets resampled by weight from the
posterior (each with its SEM member) are run from April 2006, each on its own
seed (replicate = draw), so the spread carries the calibration's uncertainty
and the model's chance. The *model-only* band of a figure is the spread of
the simulated figure; the band *with noise* adds the figure's observation
noise (:func:`calibration.targets.noisy`: bounded, so never a negative
share). A band covers a figure when the figure lies inside it. The PIT value
of a figure is the share of noisy predictive draws below it (ties split at
random): for a calibrated forecast, PIT values are uniform on [0, 1].

**Hold-out.** ``egov-abm calibrate dynamics --holdout-from YEAR`` fits only
the figures before YEAR; :func:`holdout_check` then predicts the others.

**Synthetic check** (simulation-based calibration, Talts et al. 2018, at
reduced budget): true parameters are drawn from the prior, a data set is
simulated from them with observation noise, and the calibration is run on
it. Over many data sets, a true value should fall inside its posterior 50 %
interval about half of the time and inside its 90 % interval about 90 % of
the time; much less means overconfident posteriors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from egov_abm.calibration.abc import MEMBER, MODEL_SEED, AbcModel, abc_smc, n_members
from egov_abm.calibration.defaults import demographic_constants
from egov_abm.calibration.posterior import Posterior
from egov_abm.calibration.priors import PRIORS, Prior, theta_from_unit, values_from_theta
from egov_abm.calibration.simulate import SimConfig, simulator_for
from egov_abm.calibration.targets import Observation, noisy, observe
from egov_abm.scenarios.parallel import map_runs

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _draw_figures(task: tuple[SimConfig, int, dict, tuple[Observation, ...]]) -> np.ndarray:
    """Model-only figures of one posterior draw on its own seed (module level: sent to worker processes)."""
    config, replicate, values, observations = task
    sim = simulator_for(config)
    months = max(o.month for o in observations)
    rows = sim.run(values, months=months, replicate=replicate)
    return observe(rows, list(observations), demographic_constants())


def predictive_figures(posterior: Posterior, observations: Sequence[Observation], *, draws: int, agents: int,
                       seed: int, workers: int | None = None, client=None) -> np.ndarray:
    """``draws`` x figures: the model-only figures of posterior draws, each on its own seed."""
    base = dict(posterior.meta["base_params"])
    tasks = [(SimConfig(base_params=base, n_agents=agents, seed=seed, sem_member=member), replicate, values,
              tuple(observations))
             for replicate, (values, member) in enumerate(posterior.draws_with_members(draws, seed))]
    return np.array(map_runs(_draw_figures, tasks, workers=workers, client=client))


def coverage_table(sims: np.ndarray, observations: Sequence[Observation], seed: int) -> pd.DataFrame:
    """Per figure: observed value, model-only and with-noise quantiles, coverage of the 50/90 % bands, PIT."""
    rng = np.random.default_rng([seed, 1])
    pred = np.array([noisy(row, list(observations), rng) for row in sims])
    rows = []
    for k, o in enumerate(observations):
        qm = np.quantile(sims[:, k], QUANTILES)
        qp = np.quantile(pred[:, k], QUANTILES)
        below, ties = np.sum(pred[:, k] < o.value), np.sum(pred[:, k] == o.value)
        pit = (below + rng.random() * ties) / len(pred)
        rows.append({"target": o.target, "block": o.block, "date": o.date, "observed": o.value, "noise_sd": o.sd,
                     **{f"model_q{int(q * 100):02d}": v for q, v in zip(QUANTILES, qm, strict=True)},
                     **{f"pred_q{int(q * 100):02d}": v for q, v in zip(QUANTILES, qp, strict=True)},
                     "model_covered_50": bool(qm[1] <= o.value <= qm[3]),
                     "model_covered_90": bool(qm[0] <= o.value <= qm[4]),
                     "covered_50": bool(qp[1] <= o.value <= qp[3]), "covered_90": bool(qp[0] <= o.value <= qp[4]),
                     "pit": float(pit)})
    return pd.DataFrame(rows)


def coverage_summary(table: pd.DataFrame) -> dict[str, float]:
    """Shares of figures covered: model-only and with noise, 50 % and 90 %."""
    return {c: float(table[c].mean()) for c in ("model_covered_50", "model_covered_90", "covered_50", "covered_90")}


def holdout_check(posterior: Posterior, held: Sequence[Observation], *, draws: int, agents: int, seed: int,
                  workers: int | None = None, client=None) -> dict:
    """Coverage and PIT of the held-out figures under a posterior fitted without them (JSON-safe)."""
    sims = predictive_figures(posterior, held, draws=draws, agents=agents, seed=seed, workers=workers,
                              client=client)
    table = coverage_table(sims, held, seed)
    return {"draws": draws, "agents": agents, "seed": seed, "summary": coverage_summary(table),
            "figures": table.to_dict("records")}


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    order = np.argsort(x)
    cw = np.cumsum(w[order]) / np.sum(w)
    return np.array([x[order][min(np.searchsorted(cw, q), len(x) - 1)] for q in qs])


def synthetic_check(config: SimConfig, workdir: Path, *, sets: int, budget: int, population: int,
                    observations: Sequence[Observation], workers: int = 1, seed: int = 11,
                    priors: Sequence[Prior] = PRIORS, min_tolerance: float = 1.0,
                    log: Callable[[str], object] = lambda s: None) -> dict:
    """Calibrate ``sets`` synthetic data sets drawn from the prior; coverage of the true values (JSON-safe).

    Data set ``s`` draws its true point from a generator seeded ``(seed, s)``,
    simulates the figures on the calibration's model seed and adds observation
    noise. Each calibration keeps its history in ``workdir`` (``set_<s>.db``),
    so an interrupted check continues where it stopped.
    """
    priors = tuple(priors)
    observations = tuple(observations)
    model = AbcModel(config, priors, observations)
    rows = []
    for s in range(sets):
        rng = np.random.default_rng([seed, s])
        z = rng.random(len(priors))
        member = int(rng.integers(n_members()))
        true = values_from_theta(priors, theta_from_unit(priors, z))
        data = noisy(model.simulate(true, member), list(observations), rng)
        synthetic = tuple(dataclasses.replace(o, value=float(v)) for o, v in zip(observations, data, strict=True))
        post = abc_smc(config, workdir / f"set_{s}.db", budget=budget, population=population, workers=workers,
                       priors=priors, observations=synthetic, min_tolerance=min_tolerance, seed=seed + s)
        row = {"set": s, "generations": len(post.generations), "runs": post.meta["simulations"],
               "final_tolerance": post.generations[-1]["tolerance"], "stopped": post.meta["stopped"],
               "true_member": member, "member_posterior_mass": float(
                   post.weights[np.asarray(post.meta["members"]) == member].sum())}
        for j, p in enumerate(priors):
            zz = np.array([p.to_unit(v) for v in post.particles[:, j]])
            q = _weighted_quantiles(zz, post.weights, (0.05, 0.25, 0.75, 0.95))
            row[f"{p.name}_in50"] = bool(q[1] <= z[j] <= q[2])
            row[f"{p.name}_in90"] = bool(q[0] <= z[j] <= q[3])
            row[f"{p.name}_rank"] = float(np.sum(post.weights[zz < z[j]]))
        rows.append(row)
        log(f"synthetic set {s + 1} of {sets}: {row['runs']} runs, tolerance {row['final_tolerance']:.3g}, "
            f"{row['stopped']}")
    frame = pd.DataFrame(rows)
    coverage = [{"parameter": p.name, "in50": float(frame[f"{p.name}_in50"].mean()),
                 "in90": float(frame[f"{p.name}_in90"].mean())} for p in priors]
    coverage.append({"parameter": MEMBER, "in50": None, "in90": None,
                     "mean_mass_on_true": float(frame["member_posterior_mass"].mean())})
    return {"sets": sets, "budget": budget, "population": population, "agents": config.n_agents,
            "model_seed": config.seed or MODEL_SEED, "seed": seed, "coverage": coverage,
            "overall_in50": float(np.mean([c["in50"] for c in coverage if c["in50"] is not None])),
            "overall_in90": float(np.mean([c["in90"] for c in coverage if c["in90"] is not None])),
            "sets_detail": frame.to_dict("records")}
