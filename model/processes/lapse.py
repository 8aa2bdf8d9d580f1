"""Lapse: users drop the portal, more often when they are dissatisfied and distrustful.

A user stops counting the portal among their channels with probability
``1 - exp(-h_i * dt)``, ``h_i = lapse_per_year * exp(-lapse_on_satisfaction * S_i
- lapse_on_trust * trust_i)``: discontinuance falls with satisfaction (the
expectation-confirmation model, Bhattacherjee 2001) and with trust. A lapsed
citizen needs the centres again, and may take the portal up again
(:mod:`model.processes.adoption`).
"""

from __future__ import annotations

from egov_abm.model.fields import ASSUMPTION, parameter
from egov_abm.model.processes import Process

PARAMETERS = {
    "lapse_per_year": parameter(0.08, unit="1/year", range=(0.0, 10.0),
                                doc="hazard of dropping the portal for a user with neutral satisfaction and the "
                                    "survey's mean trust",
                                prior=(0.01, 0.4, True, "users dropping the portal (discontinuance)")),
    "lapse_on_satisfaction": parameter(1.0, unit="log hazard per unit satisfaction", range=(0.0, 10.0),
                                       doc="fall of the lapse hazard with satisfaction (in [-1, 1])",
                                       source=ASSUMPTION + ": direction from the expectation-confirmation model "
                                              "(Bhattacherjee 2001); size not measured for Kazakhstan"),
    "lapse_on_trust": parameter(0.5, unit="log hazard per latent SD", range=(0.0, 10.0),
                                doc="fall of the lapse hazard with trust", source=ASSUMPTION),
}


def init(model) -> None:
    """Nothing to set up: lapse reads the users, their satisfaction and trust."""


PROCESS = Process(
    name="lapse", title="Lapse",
    summary="users drop the portal with hazard lapse_per_year x exp(-lapse_on_satisfaction x S_i - lapse_on_trust x "
            "trust_i); lapsed citizens may take it up again.",
    parameters=PARAMETERS, states=(), streams=("experience",), init=init, counts=("n_lapses",))
