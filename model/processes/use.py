"""Use and experience: users use the portal; each use succeeds with the service quality; trust follows.

Each user uses the portal in a month with ``p_use_per_month``; a use succeeds
with ``p_success`` (or the intervention-set quality of the citizen's group).
Success adds ``trust_gain_success`` to trust, failure removes
``trust_loss_failure``; readiness and intention are recomputed. The outcome
(+1 success, -1 failure, 0 no use) is what neighbours hear next month.
"""

from __future__ import annotations

import numpy as np

from egov_abm.model.fields import ASSUMPTION, FIXED, parameter
from egov_abm.model.processes import Process, SliceWork, opinion

PARAMETERS = {
    "p_use_per_month": parameter(1.0, unit="probability", range=(0.0, 1.0),
                                 doc="probability that a current user uses the portal in a month", source=ASSUMPTION),
    "p_success": parameter(0.85, unit="probability", range=(0.0, 1.0),
                           doc="probability that a use succeeds (service quality)", source=FIXED),
    "trust_gain_success": parameter(0.02, unit="latent SD per use", range=(0.0, 5.0),
                                    doc="trust gained by a successful use", source=FIXED),
    "trust_loss_failure": parameter(0.15, unit="latent SD per use", range=(0.0, 5.0),
                                    doc="trust lost by a failed use",
                                    prior=(0.0, 0.5, False, "trust lost by a failed use (service-quality feedback)")),
}


def init(model) -> None:
    """No use yet at month 0."""
    model.used = np.zeros(model.n, dtype=bool)  # used the portal this month
    model.last_outcome = np.zeros(model.n, dtype=np.int8)  # +1 success, -1 failure, 0 no use


def step(model, work: SliceWork) -> None:
    """Use, success or failure, and the trust it moves, for one slice."""
    p, s, sl, m = model.params, model.streams, work.sl, work.size
    used = model.used[sl]
    np.less(s["use"].random(m), p.p_use_per_month, out=used)
    used &= model.user[sl]
    u_success = s["experience"].random(m)
    success = used & (u_success < (model.p_success_i[sl] if work.extra else p.p_success))
    failure = used & ~success
    outcome = model.last_outcome[sl]
    np.subtract(success.view(np.int8), failure.view(np.int8), out=outcome)
    users = np.flatnonzero(used)  # only their trust changes
    trust = model.trust[sl]
    trust[users] += p.trust_gain_success * success[users] - p.trust_loss_failure * failure[users]
    opinion.recompute(model, users + sl.start if 3 * len(users) < m else sl)
    work.counts["n_uses"] += len(users)
    work.counts["n_failures"] += int(np.count_nonzero(failure))


PROCESS = Process(
    name="use", title="Use and experience",
    summary="each user uses the portal with p_use_per_month; a use succeeds with p_success (or the quality an "
            "intervention sets for the citizen's group). Success adds trust_gain_success to trust, failure removes "
            "trust_loss_failure; readiness and intention are recomputed.",
    parameters=PARAMETERS, states=("used", "last_outcome"), streams=("use", "experience"), init=init, step=step,
    counts=("n_uses", "n_failures"))
