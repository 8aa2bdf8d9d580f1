"""Adoption: a Bass hazard on the network, scaled by intention, gated by awareness, access, skill and trust.

Non-users who are aware, online, skilled and whose trust is above
``trust_lapse_threshold`` start using the portal with probability
``1 - exp(-(p + q * u_i) * m_i * dt)``, ``u_i`` the share of their neighbours
who were users at the start of the month, ``m_i = 2 * logistic(slope *
(intention_i - threshold))`` (``m_i = 1`` when ``slope = 0``). On a complete
graph with the constructs held fixed this is the Bass (1969) model
(docs/ODD.md, section 7.7).

At month 0 users are drawn among the eligible (aware, online, skilled) so
that their share of all citizens is ``share_adopters_initial``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from egov_abm.model.calendar import DT_YEARS
from egov_abm.model.fields import ASSUMPTION, FIXED, parameter
from egov_abm.model.processes import Process, SliceWork

PARAMETERS = {
    "share_adopters_initial": parameter(0.0, unit="share of adults", range=(0.0, 1.0),
                                        doc="share using the portal at step 0 (drawn among the eligible)",
                                        source=ASSUMPTION),
    "p_external_per_year": parameter(0.03, unit="1/year", range=(0.0, 10.0),
                                     doc="Bass innovation coefficient p (external influence)",
                                     prior=(0.001, 0.5, True, "Bass p: adoption from outside influence")),
    "q_social_per_year": parameter(0.38, unit="1/year", range=(0.0, 10.0),
                                   doc="Bass imitation coefficient q, times the share of neighbours using the portal",
                                   prior=(0.0, 2.0, False, "Bass q: adoption from neighbours' use")),
    "intention_slope": parameter(1.0, unit="1/latent SD", range=(0.0, 20.0),
                                 doc="steepness of the intention multiplier 2*logistic(slope*(intention-threshold)); "
                                     "0 makes it 1",
                                 source=FIXED),
    "intention_threshold": parameter(0.0, unit="latent SD", range=(-10.0, 10.0),
                                     doc="intention at which the multiplier is 1", source=FIXED),
}


def intention_multiplier(model, idx=None) -> np.ndarray:
    """``m_i = 2 * logistic(slope * (intention_i - threshold))`` (all citizens, or ``idx``); 1 when slope is 0."""
    p = model.params
    intention = model.intention if idx is None else model.intention[idx]
    if p.intention_slope == 0.0:
        return np.ones(len(intention), dtype=np.float32)
    return 2.0 * expit(p.intention_slope * (intention - p.intention_threshold))


def init(model) -> None:
    """Users at month 0, drawn among the eligible."""
    n = model.n
    eligible = model.aware & model.access & model.skill
    n_eligible = int(np.count_nonzero(eligible))
    p_initial = min(1.0, model.params.share_adopters_initial * n / n_eligible) if n_eligible else 0.0
    model.user = eligible & (model.streams["initial"].random(n) < p_initial)
    del eligible
    model.ever_user = model.user.copy()


def step(model, work: SliceWork) -> None:
    """Adoption for one slice.

    The hazard is computed for the eligible only; the draw stays full-length
    (one number per citizen, in index order) for common random numbers.
    """
    p, sl = model.params, work.sl
    user = model.user[sl]
    eligible = np.flatnonzero(~user & model.aware[sl] & model.access[sl] & model.skill[sl]
                              & (model.trust[sl] > p.trust_lapse_threshold))
    u_adopt = model.streams["adoption"].random(work.size)
    h_adopt = p.p_external_per_year + p.q_social_per_year * work.share_users_nb[eligible]
    if work.extra:
        h_adopt += model.extra_external[sl][eligible]
    h_adopt *= intention_multiplier(model, eligible + sl.start)
    new_users = eligible[u_adopt[eligible] < -np.expm1(-h_adopt * DT_YEARS)]
    user[new_users] = True
    model.ever_user[sl][new_users] = True
    work.counts["n_new_users"] += len(new_users)


PROCESS = Process(
    name="adoption", title="Adoption",
    summary="non-users who are aware, online, skilled and whose trust is above trust_lapse_threshold start using "
            "the portal with probability 1 - exp(-(p + q x u_i) x m_i x dt), m_i = 2 x logistic(slope x "
            "(intention_i - threshold)) (m_i = 1 when slope = 0); an intervention's extra external influence adds "
            "to p.",
    parameters=PARAMETERS, states=("user", "ever_user"), streams=("adoption",), init=init, step=step,
    counts=("n_new_users",))
