"""The survey's measurement model: what a latent attitude or trust means on the 5-point items.

Attitude and trust are latent, in units of the survey respondents' standard
deviation (Amirova 2021, 422 portal users). Each is measured by three
5-point items (PA1-PA3, TR1-TR3). Read as an ordinal probit measurement model,
item ``j`` of a construct ``eta`` is answered in category ``k`` or above when
``lambda_j * eta + sqrt(1 - lambda_j^2) * e > tau_{j,k-1}``, ``e`` standard
normal, so a citizen's expected item score is::

    E[item_j | eta] = 1 + sum_k Phi((lambda_j * eta - tau_{j,k}) / sqrt(1 - lambda_j^2))

``lambda_j`` is the standardised loading of the fitted SEM
(``calibration/params/sem_default.json``) and ``tau_{j,k}`` the normal
quantiles of the item's cumulative answer shares in the reconstructed survey
(``calibration/data/survey_reconstructed.csv``). ``model/data/item_scales.json``
holds them; ``python -m egov_abm.calibration.item_scales`` rebuilds it.

The construct's **score** is the mean expected item score, on 1-5. It
saturates: beyond the latent value where it reaches 4.9 (or falls to 1.1),
a respondent gives the scale's end answer on every item with near certainty,
so the items cannot tell such citizens apart. Those two values are the
construct's **bounds** (:func:`bounds`): the model keeps attitude and trust
inside them (:mod:`model.processes.opinion`).
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from importlib import resources

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr

ITEM_SCALES_FILE = resources.files("egov_abm.model") / "data" / "item_scales.json"
#: Mean expected item score at the bounds: within 0.1 of the scale's ends.
SCORE_EDGE = 0.1
_GRID = np.linspace(-8.0, 8.0, 3201)  # latent values of the score table (step 0.005)


@dataclasses.dataclass(frozen=True)
class ItemScale:
    """The items of one construct: standardised loadings and the thresholds between answer categories."""

    construct: str
    items: tuple[str, ...]
    loadings: tuple[float, ...]
    thresholds: tuple[tuple[float, ...], ...]  # per item, the 4 thresholds between categories 1..5

    def expected_score(self, eta) -> np.ndarray:
        """Mean expected item score (1-5) at latent value(s) ``eta`` (exact, float64)."""
        eta = np.asarray(eta, dtype=np.float64)
        total = np.zeros(eta.shape)
        for lam, taus in zip(self.loadings, self.thresholds, strict=True):
            theta = np.sqrt(1.0 - lam * lam)
            total += 1.0 + sum(ndtr((lam * eta - tau) / theta) for tau in taus)
        return total / len(self.items)

    @property
    def bounds(self) -> tuple[float, float]:
        """Latent values where the score is 1 + :data:`SCORE_EDGE` and 5 - :data:`SCORE_EDGE`."""
        return _bounds(self)

    @property
    def grid(self) -> np.ndarray:
        """The latent values of :attr:`table` (evenly spaced)."""
        return _GRID

    @property
    def table(self) -> np.ndarray:
        """The score on :data:`_GRID` (float32), for a fast lookup over many citizens."""
        return _table(self)

    def score_sum(self, eta: np.ndarray) -> float:
        """Sum over citizens of the expected score (linear interpolation in the table: error < 1e-4)."""
        return float(np.interp(eta, _GRID, self.table).sum(dtype=np.float64))


@cache
def _bounds(scale: ItemScale) -> tuple[float, float]:
    lo = brentq(lambda e: float(scale.expected_score(e)) - (1.0 + SCORE_EDGE), -20.0, 20.0, xtol=1e-9)
    hi = brentq(lambda e: float(scale.expected_score(e)) - (5.0 - SCORE_EDGE), -20.0, 20.0, xtol=1e-9)
    return float(lo), float(hi)


@cache
def _table(scale: ItemScale) -> np.ndarray:
    return scale.expected_score(_GRID)


@cache
def item_scales() -> dict[str, ItemScale]:
    """The shipped measurement model of attitude and trust (``model/data/item_scales.json``)."""
    doc = json.loads(ITEM_SCALES_FILE.read_text(encoding="utf-8"))
    return {name: ItemScale(name, tuple(s["items"]), tuple(s["loadings"]), tuple(map(tuple, s["thresholds"])))
            for name, s in doc["constructs"].items()}


def bounds(construct: str) -> tuple[float, float]:
    """(low, high) latent bounds of ``attitude`` or ``trust``."""
    return item_scales()[construct].bounds
