"""Use and experience: a portal use succeeds with the service quality; satisfaction follows.

A use (chosen or forced, :mod:`model.processes.channel`) succeeds with
``p_success`` (or the intervention-set quality of the citizen's group; during
the 2020 state of emergency, on the days it covers, ``emergency_p_success``).
Satisfaction ``S_i`` in [-1, 1] moves a share ``satisfaction_rate`` of the way
toward +1 after a success and -1 after a failure: it is the confirmation of
expectations in the expectation-confirmation model (Bhattacherjee 2001), and
feeds continued use (:mod:`model.processes.channel`), lapse
(:mod:`model.processes.lapse`) and the citizen's own trust and attitude
(:mod:`model.processes.opinion`). A non-user whose forced use succeeds becomes
a user. The outcome (+1 success, -1 failure, 0 no use) is what neighbours hear
next month.
"""

from __future__ import annotations

import numpy as np

from egov_abm.model.fields import ASSUMPTION, FIXED, parameter
from egov_abm.model.processes import Process

PARAMETERS = {
    "p_success": parameter(0.85, unit="probability", range=(0.0, 1.0),
                           doc="probability that a use succeeds (service quality)", source=FIXED),
    "emergency_p_success": parameter(0.6, unit="probability", range=(0.0, 1.0),
                                     doc="probability that a use succeeds on the days of the 2020 state of "
                                         "emergency (the portal failed under the load)",
                                     source=ASSUMPTION + ": the failures are reported, their rate is not published"),
    "satisfaction_rate": parameter(0.3, unit="share per use", range=(0.0, 1.0),
                                   doc="share of the way satisfaction moves toward +1 (success) or -1 (failure) "
                                       "after a use", source=FIXED),
}


def init(model) -> None:
    """No experience yet at month 0."""
    model.satisfaction = np.zeros(model.n, dtype=np.float32)  # in [-1, 1]
    model.last_outcome = np.zeros(model.n, dtype=np.int8)  # +1 success, -1 failure, 0 no use


PROCESS = Process(
    name="use", title="Use and experience",
    summary="each portal use succeeds with p_success (or the quality an intervention sets for the citizen's group; "
            "emergency_p_success on the days of the 2020 emergency). Satisfaction moves satisfaction_rate of the "
            "way toward +1 after a success, -1 after a failure; a non-user whose forced use succeeds becomes a "
            "user.",
    parameters=PARAMETERS, states=("satisfaction", "last_outcome"), streams=("experience",), init=init,
    counts=("n_uses", "n_failures"))
