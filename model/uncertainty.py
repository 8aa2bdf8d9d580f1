"""Uncertain inputs: what the model does not know, declared once with its prior.

A parameter whose value the record must decide carries a :class:`Prior` in
its field metadata (:mod:`model.params`); :meth:`Params.uncertainties` lists
them in declaration order. The calibration samples exactly these, and the
parameter table labels them "calibrated" from the same declaration, so the
two cannot drift apart. Policy levers (intervention doses, capacities and
budgets) are not uncertainties: they are what a scenario chooses.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class Prior:
    """A uniform prior on ``[low, high]``, or log-uniform when ``log``.

    Attributes:
        name: the parameter it belongs to (filled in from the field's name).
        low: lower bound, in the parameter's unit.
        high: upper bound (``> low``).
        log: uniform on the log scale (``low > 0``).
        meaning: what the parameter stands for, in a few words.
    """

    name: str
    low: float
    high: float
    log: bool = False
    meaning: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"prior {self.name}: expected finite low < high, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise ValueError(f"prior {self.name}: a log-uniform prior needs low > 0, got {self.low}")

    def from_unit(self, u) -> float:
        """Map ``u`` in [0, 1] to the parameter."""
        if self.log:
            return float(np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low))))
        return float(self.low + u * (self.high - self.low))

    def to_unit(self, x: float) -> float:
        """Inverse of :meth:`from_unit`."""
        if self.log:
            return float((np.log(x) - np.log(self.low)) / (np.log(self.high) - np.log(self.low)))
        return float((x - self.low) / (self.high - self.low))

    def describe(self) -> str:
        """``log-uniform on [0.001, 0.2]`` and the like."""
        return f"{'log-uniform' if self.log else 'uniform'} on [{self.low:g}, {self.high:g}]"
