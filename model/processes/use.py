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
from egov_abm.model.processes import Process, SliceWork

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


def step(model, work: SliceWork) -> None:
    """Success or failure of this month's uses, satisfaction, and new users from forced uses."""
    p, s, sl, m = model.params, model.streams, work.sl, work.size
    used = model.used[sl]
    u_success = s["experience"].random(m)
    quality = model.p_success_i[sl] if work.extra else p.p_success
    if model.emergency > 0.0:  # share of the month's days under the 2020 emergency
        quality = quality - model.emergency * max(0.0, p.p_success - p.emergency_p_success)
    success = used & (u_success < quality)
    outcome = model.last_outcome[sl]
    np.subtract(success.view(np.int8), (used & ~success).view(np.int8), out=outcome)
    users = np.flatnonzero(used)
    sat = model.satisfaction[sl]
    sat[users] += p.satisfaction_rate * (outcome[users] - sat[users])
    model.last_use[sl][users] = model.month
    user = model.user[sl]
    new = users[success[users] & ~user[users]]
    user[new] = True
    model.ever_user[sl][users] = True
    work.counts["n_new_users"] += len(new)
    work.counts["n_uses"] += len(users)
    work.counts["n_failures"] += len(users) - int(np.count_nonzero(success[users]))


PROCESS = Process(
    name="use", title="Use and experience",
    summary="each portal use succeeds with p_success (or the quality an intervention sets for the citizen's group; "
            "emergency_p_success on the days of the 2020 emergency). Satisfaction moves satisfaction_rate of the "
            "way toward +1 after a success, -1 after a failure; a non-user whose forced use succeeds becomes a "
            "user.",
    parameters=PARAMETERS, states=("satisfaction", "last_outcome"), streams=("experience",), init=init, step=step,
    counts=("n_uses", "n_failures"))
