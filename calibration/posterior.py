"""The calibrated posterior: a weighted ensemble of parameter sets, and its file.

Scenarios with a ``posterior`` (the baseline) read it with
:func:`load_posterior` and run on its medians or its draws;
``egov-abm calibrate dynamics`` writes it with :func:`write_posterior`.
"""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from pathlib import Path

import numpy as np

from egov_abm.model import InputError

PARAMS_DIR = Path(str(resources.files("egov_abm.calibration") / "params"))
DEFAULT_POSTERIOR = PARAMS_DIR / "dynamics_posterior.json"


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
    """Read a posterior written by :func:`write_posterior`.

    Raises:
        InputError: the file cannot be read or is not a posterior.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return Posterior.from_json(doc)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: not a posterior written by 'egov-abm calibrate dynamics' ({exc})") from None


def write_posterior(posterior: Posterior, path: Path | str) -> Path:
    """Write ``posterior`` as JSON to ``path`` atomically (a temporary file moved into place); return the path."""
    from egov_abm.scenarios.output import atomic_file

    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(posterior.to_json(), indent=1) + "\n", encoding="utf-8")
    return path
