"""The structural equations that tie attitude and trust to readiness and intention.

The survey's final (citizen-centric) model, Amirova (2021):
personal attitude and trust drive e-government readiness, which drives the
intention to use the portal::

    readiness = r0 + b_ra * attitude + b_rt * trust + zeta_r
    intention = i0 + b_ir * readiness + b_ia * attitude + b_it * trust + zeta_i

Attitude and trust are exogenous latents with means and a covariance matrix.
Each citizen keeps its own disturbances ``zeta_r`` and ``zeta_i`` (drawn once);
readiness and intention are never free state: they are recomputed from
attitude and trust through these equations after every change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class SEMParams:
    """Latent distribution and structural coefficients (latent units, standardised scale)."""

    mean_attitude: float = 0.0
    mean_trust: float = 0.0
    var_attitude: float = 1.0
    var_trust: float = 1.0
    cov_attitude_trust: float = 0.0
    readiness_intercept: float = 0.0
    readiness_on_attitude: float = 0.0
    readiness_on_trust: float = 0.0
    readiness_resid_var: float = 1.0
    intention_intercept: float = 0.0
    intention_on_readiness: float = 0.0
    intention_on_attitude: float = 0.0
    intention_on_trust: float = 0.0
    intention_resid_var: float = 1.0

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if not np.isfinite(value):
                raise ValueError(f"SEM parameters: {name} must be a finite number, got {value!r}")
        for name in ("var_attitude", "var_trust", "readiness_resid_var", "intention_resid_var"):
            if getattr(self, name) < 0:
                raise ValueError(f"SEM parameters: {name} must be >= 0, got {getattr(self, name)}")
        if self.cov_attitude_trust**2 > self.var_attitude * self.var_trust + 1e-12:
            raise ValueError("SEM parameters: cov_attitude_trust is larger than the variances allow "
                             "(the attitude-trust covariance matrix is not positive semi-definite)")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "SEM parameters") -> SEMParams:
        """Build from a mapping; unknown or non-numeric entries raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        out = {}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"{where}: unknown SEM parameter '{key}' (known: {', '.join(sorted(known))})")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{where}: {key}: expected a number, got {value!r}")
            out[key] = float(value)
        return cls(**out)

    def to_dict(self) -> dict[str, float]:
        """Plain dictionary of every coefficient."""
        return dataclasses.asdict(self)

    @property
    def exogenous_cov(self) -> np.ndarray:
        """2x2 covariance of (attitude, trust)."""
        return np.array([[self.var_attitude, self.cov_attitude_trust],
                         [self.cov_attitude_trust, self.var_trust]])

    def implied_cov(self) -> np.ndarray:
        """Model-implied 4x4 covariance of (attitude, trust, readiness, intention)."""
        # Express every construct as a linear map of (attitude, trust, zeta_r, zeta_i).
        a = np.zeros((4, 4))
        a[0, 0] = 1.0
        a[1, 1] = 1.0
        a[2] = [self.readiness_on_attitude, self.readiness_on_trust, 1.0, 0.0]
        a[3] = self.intention_on_readiness * a[2] + [self.intention_on_attitude, self.intention_on_trust, 0.0, 1.0]
        src = np.zeros((4, 4))
        src[:2, :2] = self.exogenous_cov
        src[2, 2] = self.readiness_resid_var
        src[3, 3] = self.intention_resid_var
        return a @ src @ a.T

    def readiness(self, attitude: np.ndarray, trust: np.ndarray, zeta_r: np.ndarray) -> np.ndarray:
        """Readiness from attitude, trust and each citizen's own disturbance."""
        return (self.readiness_intercept + self.readiness_on_attitude * attitude
                + self.readiness_on_trust * trust + zeta_r)

    def intention(self, readiness: np.ndarray, attitude: np.ndarray, trust: np.ndarray,
                  zeta_i: np.ndarray) -> np.ndarray:
        """Intention from readiness (and any direct paths) and each citizen's disturbance."""
        return (self.intention_intercept + self.intention_on_readiness * readiness
                + self.intention_on_attitude * attitude + self.intention_on_trust * trust + zeta_i)

    def draw(self, n: int, rng: np.random.Generator, shift_attitude=0.0, shift_trust=0.0):
        """Draw attitude, trust and the two disturbances for ``n`` citizens.

        Returns ``(attitude, trust, zeta_r, zeta_i)`` as float64 arrays. The
        shifts move each citizen's latent means (population vs survey sample).
        """
        chol = np.linalg.cholesky(self.exogenous_cov + 1e-12 * np.eye(2))
        z = rng.standard_normal((n, 2)) @ chol.T
        attitude = self.mean_attitude + shift_attitude + z[:, 0]
        trust = self.mean_trust + shift_trust + z[:, 1]
        zeta_r = np.sqrt(self.readiness_resid_var) * rng.standard_normal(n)
        zeta_i = np.sqrt(self.intention_resid_var) * rng.standard_normal(n)
        return attitude, trust, zeta_r, zeta_i
