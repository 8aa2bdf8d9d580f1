"""Lapse: users whose trust has fallen below a threshold stop using the portal.

Lapsed citizens may adopt again (Adoption) once their trust is back above
``trust_lapse_threshold``.
"""

from __future__ import annotations

import math

import numpy as np

from egov_abm.model.fields import parameter
from egov_abm.model.processes import Process, SliceWork

PARAMETERS = {
    "trust_lapse_threshold": parameter(-2.0, unit="latent SD", range=(-math.inf, math.inf),
                                       doc="users whose trust falls below this stop using the portal; "
                                           "lapsed citizens may adopt again once trust is back above it",
                                       prior=(-3.0, -0.5, False, "trust below which users stop (lapse)")),
}


def init(model) -> None:
    """Nothing to set up: lapse reads the users and their trust."""


def step(model, work: SliceWork) -> None:
    """Lapse for one slice."""
    user = model.user[work.sl]
    lapse = user & (model.trust[work.sl] < model.params.trust_lapse_threshold)
    user &= ~lapse
    work.counts["n_lapses"] += int(np.count_nonzero(lapse))


PROCESS = Process(
    name="lapse", title="Lapse",
    summary="users whose trust is now below trust_lapse_threshold stop using the portal (they are lapsed, and may "
            "adopt again once their trust recovers).",
    parameters=PARAMETERS, states=(), streams=(), init=init, step=step, counts=("n_lapses",))
