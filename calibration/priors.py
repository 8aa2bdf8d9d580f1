"""The priors of the calibrated parameters, and the unit cube the sampler works in.

The priors are declared once, on the parameters (``prior=`` in
:mod:`model.params`); this module only collects them. The sampler proposes
points ``z`` in the unit cube ``[0, 1]^d`` and maps them to parameter values
through each prior (:meth:`Prior.from_unit`), so a uniform ``z`` is a draw
from the prior.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from egov_abm.model import Params
from egov_abm.model.uncertainty import Prior

__all__ = ["PRIORS", "Prior", "theta_from_unit", "values_from_theta"]

#: The uncertain inputs the record decides, in the parameters' declaration order.
PRIORS: tuple[Prior, ...] = Params.uncertainties()


def theta_from_unit(priors: Sequence[Prior], z: Sequence[float]) -> np.ndarray:
    """Parameter values (in prior order) of one point ``z`` of the unit cube."""
    return np.array([p.from_unit(u) for p, u in zip(priors, z, strict=True)])


def values_from_theta(priors: Sequence[Prior], theta: Sequence[float]) -> dict[str, float]:
    """Parameter name -> value for a vector of values in prior order."""
    return {p.name: float(v) for p, v in zip(priors, theta, strict=True)}
