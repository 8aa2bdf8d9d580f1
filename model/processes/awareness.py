"""Awareness: citizens hear of the portal from media and offices, and from neighbours who use it.

Unaware citizens become aware with hazard
``awareness_external + awareness_social * u_i`` (plus any intervention's extra
external influence), ``u_i`` the share of their neighbours who were users at
the start of the month. At month 0 a share ``share_aware_initial`` is aware.
"""

from __future__ import annotations

import numpy as np

from egov_abm.model.fields import FIXED, parameter
from egov_abm.model.processes import Process

PARAMETERS = {
    "share_aware_initial": parameter(0.02, unit="share of adults", range=(0.0, 1.0),
                                     doc="share aware of the portal at step 0", source=FIXED),
    "awareness_external_per_year": parameter(0.15, unit="1/year", range=(0.0, 10.0),
                                             doc="hazard of hearing of the portal from media and offices",
                                             prior=(0.005, 1.0, True, "awareness from media and offices")),
    "awareness_social_per_year": parameter(1.0, unit="1/year", range=(0.0, 20.0),
                                           doc="extra hazard per unit share of neighbours who use the portal",
                                           prior=(0.0, 3.0, False, "awareness from neighbours who use the portal")),
}


def init(model) -> None:
    """Who is aware at month 0 (uniformly at ``share_aware_initial``)."""
    model.aware = np.empty(model.n, dtype=bool)
    share = model.params.share_aware_initial

    def work(g: np.random.Generator, lo: int, hi: int) -> None:
        model.aware[lo:hi] = g.random(hi - lo) < share

    model.each_chunk("initial", work)


PROCESS = Process(
    name="awareness", title="Awareness",
    summary="unaware citizens hear of the portal with hazard awareness_external + awareness_social x u_i (plus any "
            "intervention's extra external influence), u_i the share of their neighbours who were users at the "
            "start of the month.",
    parameters=PARAMETERS, states=("aware",), streams=("awareness",), init=init)
