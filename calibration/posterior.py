"""The calibrated posterior: a weighted ensemble of parameter sets, and its file.

Scenarios with a ``posterior`` (the baseline) read it with
:func:`load_posterior` and run on its medians or its draws;
``egov-abm calibrate dynamics`` writes it with :func:`write_posterior`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from egov_abm.calibration import userfiles
from egov_abm.model import InputError

PARAMS_DIR = Path(str(resources.files("egov_abm.calibration") / "params"))
DEFAULT_POSTERIOR = PARAMS_DIR / "dynamics_posterior.json"
#: The shipped hold-out calibration (fitted on the figures before 2018) and synthetic check.
DEFAULT_HOLDOUT = PARAMS_DIR / "dynamics_posterior_holdout2018.json"
DEFAULT_SYNTHETIC = PARAMS_DIR / "synthetic_check.json"


@dataclasses.dataclass
class Posterior:
    """A weighted ensemble of parameter sets and the record of how it was found."""

    names: list[str]
    particles: np.ndarray  # P x d, parameter values
    weights: np.ndarray  # P, sum 1
    distances: np.ndarray  # P
    generations: list[dict]
    meta: dict

    @property
    def members(self) -> np.ndarray | None:
        """The SEM ensemble member of each particle, or None for a posterior without members."""
        members = self.meta.get("members")
        return None if members is None else np.asarray(members, dtype=int)

    def to_json(self) -> dict:
        """JSON-safe dictionary."""
        return {"method": "ABC-SMC", "names": self.names, "particles": self.particles.tolist(),
                "weights": self.weights.tolist(), "distances": self.distances.tolist(),
                "generations": self.generations, **self.meta}

    @classmethod
    def from_json(cls, doc: dict) -> Posterior:
        """Inverse of :meth:`to_json`, validated.

        Raises:
            ValueError: one line saying what is wrong: names that are not
                parameters, particles of the wrong shape, not finite, outside
                a parameter's range or its prior, weights not finite,
                negative or summing to zero.
        """
        if not isinstance(doc, dict):
            raise ValueError("expected a JSON object")
        missing = [k for k in ("names", "particles", "weights", "distances", "generations") if k not in doc]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        names = _names(doc["names"])
        particles = _numbers(doc["particles"], "particles", ndim=2)
        if particles.shape[0] == 0 or particles.shape[1] != len(names):
            raise ValueError(f"particles: expected rows of {len(names)} values (one per name), "
                             f"got shape {particles.shape[0]} x {particles.shape[1] if particles.ndim == 2 else 0}")
        if not np.isfinite(particles).all():
            row, col = np.argwhere(~np.isfinite(particles))[0]
            raise ValueError(f"particles: row {row}, {names[col]}: expected a finite number, got {particles[row, col]}")
        _check_bounds(names, particles)
        weights = _numbers(doc["weights"], "weights", ndim=1)
        distances = _numbers(doc["distances"], "distances", ndim=1)
        for label, arr in (("weights", weights), ("distances", distances)):
            if len(arr) != len(particles):
                raise ValueError(f"{label}: expected {len(particles)} values (one per particle), got {len(arr)}")
        if not np.isfinite(weights).all() or (weights < 0).any():
            i = int(np.flatnonzero(~np.isfinite(weights) | (weights < 0))[0])
            raise ValueError(f"weights: entry {i}: expected a finite number >= 0, got {weights[i]}")
        total = float(weights.sum())
        if not (total > 0 and math.isfinite(total)):
            raise ValueError(f"weights: expected a positive finite sum, got {total}")
        if abs(total - 1.0) > 1e-9:
            weights = weights / total
        if np.isnan(distances).any():
            raise ValueError("distances: expected numbers, got NaN")
        if not isinstance(doc["generations"], list):
            raise ValueError("generations: expected a list")
        meta = {k: v for k, v in doc.items()
                if k not in ("method", "names", "particles", "weights", "distances", "generations")}
        if meta.get("members") is not None:
            members = meta["members"]
            if (not isinstance(members, list) or len(members) != len(particles)
                    or not all(isinstance(m, int) and not isinstance(m, bool) and m >= 0 for m in members)):
                raise ValueError(f"members: expected {len(particles)} SEM ensemble member numbers (integers >= 0), "
                                 "one per particle")
        return cls(names, particles, weights, distances, list(doc["generations"]), meta)

    def draw_indices(self, k: int, seed: int) -> np.ndarray:
        """Indices of ``k`` particles resampled by weight (systematic resampling, seeded)."""
        rng = np.random.default_rng(seed)
        positions = (rng.random() + np.arange(k)) / k
        return np.searchsorted(np.cumsum(self.weights), positions).clip(0, len(self.weights) - 1)

    def values(self, i: int) -> dict[str, float]:
        """Parameter name -> value of particle ``i``."""
        return dict(zip(self.names, map(float, self.particles[i]), strict=True))

    def member(self, i: int) -> int | None:
        """SEM ensemble member of particle ``i`` (None for a posterior without members)."""
        members = self.members
        return None if members is None else int(members[i])

    def draws(self, k: int, seed: int) -> list[dict]:
        """``k`` parameter sets resampled by weight (systematic resampling, seeded)."""
        return [self.values(i) for i in self.draw_indices(k, seed)]

    def draws_with_members(self, k: int, seed: int) -> list[tuple[dict, int | None]]:
        """As :meth:`draws`, each with its particle's SEM member."""
        return [(self.values(i), self.member(i)) for i in self.draw_indices(k, seed)]

    @property
    def best_index(self) -> int:
        """The particle closest to the data (smallest distance)."""
        return int(np.argmin(self.distances))

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
    """Read a posterior written by :func:`write_posterior`.

    Raises:
        InputError: the file cannot be read or is not a posterior.
    """
    path = Path(path)
    doc = userfiles.read_json(path, "the posterior")
    try:
        return Posterior.from_json(doc)
    except ValueError as exc:
        raise InputError(f"{path}: not a posterior written by 'egov-abm calibrate dynamics': {exc}") from None


def _names(names: Any) -> list[str]:
    from egov_abm.model import Params

    known = Params.fields()
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"names: expected a non-empty list of parameter names, got {names!r:.80}")
    for name in names:
        if name not in known:
            raise ValueError(f"names: unknown parameter {name!r}")
        if known[name].type not in ("float", float):
            raise ValueError(f"names: {name} is not a numeric parameter that a posterior can draw")
    if len(set(names)) != len(names):
        raise ValueError(f"names: {next(n for n in names if names.count(n) > 1)!r} appears twice")
    return list(names)


def _numbers(value: Any, label: str, ndim: int) -> np.ndarray:
    def ok(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    if not isinstance(value, list) or (ndim == 2 and not all(isinstance(r, list) for r in value)):
        raise ValueError(f"{label}: expected {'a list of lists' if ndim == 2 else 'a list'} of numbers")
    rows = value if ndim == 2 else [value]
    if len({len(r) for r in rows}) > 1:
        raise ValueError(f"{label}: rows of different lengths")
    if not all(ok(x) for r in rows for x in r):
        raise ValueError(f"{label}: expected numbers only")
    arr = np.asarray(value, dtype=float)
    return arr.reshape(len(value), -1) if ndim == 2 else arr


def _check_bounds(names: list[str], particles: np.ndarray) -> None:
    """Every particle inside its parameter's declared range and inside its prior."""
    from egov_abm.model import Params

    fields = Params.fields()
    priors = {p.name: p for p in Params.uncertainties()}
    for j, name in enumerate(names):
        col = particles[:, j]
        bounds = []
        if fields[name].metadata.get("range") is not None:
            bounds.append(("range", *fields[name].metadata["range"]))
        if name in priors:
            bounds.append(("prior", priors[name].low, priors[name].high))
        for what, lo, hi in bounds:
            slack = 1e-9 * max(1.0, abs(lo), abs(hi))
            bad = np.flatnonzero((col < lo - slack) | (col > hi + slack))
            if len(bad):
                raise ValueError(f"particles: row {bad[0]}, {name} = {col[bad[0]]:g} is outside its {what} "
                                 f"[{lo:g}, {hi:g}]")


def write_posterior(posterior: Posterior, path: Path | str) -> Path:
    """Write ``posterior`` as JSON to ``path`` atomically (a temporary file moved into place); return the path."""
    from egov_abm.scenarios.output import atomic_file

    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(posterior.to_json(), indent=1) + "\n", encoding="utf-8")
    return path


def load_synthetic(path: Path | str) -> dict:
    """Read the result of ``egov-abm calibrate synthetic``.

    Raises:
        InputError: the file cannot be read or is not such a result.
    """
    path = Path(path)
    doc = userfiles.read_json(path, "the synthetic check")
    required = ("sets", "budget", "population", "agents", "seed", "coverage", "overall_in50", "overall_in90",
                "sets_detail")
    missing = [k for k in required if not isinstance(doc, dict) or k not in doc]
    if missing:
        raise InputError(f"{path}: not written by 'egov-abm calibrate synthetic' (missing {', '.join(missing)})")
    return doc
