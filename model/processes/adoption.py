"""Adoption: a Bass hazard on the network, with intention as a proportional-hazards term.

Non-users who are aware, online and skilled (the facilitating conditions the
portal needs) take it up with probability ``1 - exp(-h_i * dt)``::

    h_i = (p + q * u_i) * exp(c * d * intention_i),    c = pi / sqrt(6)

``u_i`` is the share of their neighbours who were users at the start of the
month. ``d = intention_slope`` is the effect of one SD of intention on the
latent propensity to act, in SD of that propensity (a probit slope); ``c * d``
puts it on the complementary log-log (discrete-time proportional hazards)
scale, whose latent error has SD ``pi / sqrt(6)``. That conversion is an
approximation (assumption): the factor that gives the same effect at a given
base rate runs from about 1.15 (rate .5) to 2.1 (rate .05). Intention is in units of the survey respondents
(mean 0), so ``p`` and ``q`` are the hazards of a citizen with the survey's
mean intention. The slope carries a prior from the intention-behaviour
literature (:data:`SLOPE_EVIDENCE`); with ``d = 0`` and the constructs held
fixed on a complete graph this is the Bass (1969) model (docs/ODD.md, III.4.9).

Trust reaches adoption through intention (the SEM), not through a gate.
At month 0 users are drawn among the eligible so that their share of all
citizens is ``share_adopters_initial``.
"""

from __future__ import annotations

import math

import numpy as np

from egov_abm.model.fields import parameter
from egov_abm.model.processes import Process

#: Scale of the complementary log-log link: SD of the standard Gumbel latent error.
CLOGLOG_SCALE = math.pi / math.sqrt(6.0)

#: Where the prior of intention_slope comes from (each figure checked against its source).
SLOPE_EVIDENCE = (
    "Webb & Sheeran (2006), Psychol. Bull. 132(2):249-268, doi:10.1037/0033-2909.132.2.249, 47 experiments: "
    "a change in intention of d = .66 produced a change in behaviour of d = .36; the ratio .545 is itself "
    "correlation-like (both d are scaled by the within-group SD), so the probit slope is "
    ".545/sqrt(1-.545^2) = 0.65 (causal, attenuated by imperfect manipulation); "
    "Sheeran (2002), Eur. Rev. Soc. Psychol. 12(1):1-36, 10 meta-analyses of 422 studies, N = 82,107: "
    "intention-behaviour r = .53, a probit slope of r/sqrt(1-r^2) = 0.63, about 0.89 after correcting for "
    "behaviour recorded as yes/no (correlational: overstates the causal effect); "
    "prior uniform on [0.3, 1.0] latent SD per SD of intention, centred near 0.6 where the two meet"
)

PARAMETERS = {
    "share_adopters_initial": parameter(0.0, unit="share of adults", range=(0.0, 1.0),
                                        doc="share using the portal at step 0 (drawn among the eligible)",
                                        source="assumption: the portal opened in the first month"),
    "p_external_per_year": parameter(0.03, unit="1/year", range=(0.0, 10.0),
                                     doc="Bass innovation coefficient p (external influence: media, offices)",
                                     prior=(0.001, 0.5, True, "Bass p: adoption from outside influence")),
    "q_social_per_year": parameter(0.38, unit="1/year", range=(0.0, 10.0),
                                   doc="Bass imitation coefficient q, times the share of neighbours using the portal",
                                   prior=(0.0, 2.0, False, "Bass q: adoption from neighbours' use")),
    "intention_slope": parameter(0.6, unit="latent SD per SD of intention", range=(0.0, 3.0),
                                 doc="effect of intention on the propensity to take up and to keep using the "
                                     "portal: x pi/sqrt(6) in the adoption hazard, a probit slope in continued use",
                                 source="prior from " + SLOPE_EVIDENCE,
                                 prior=(0.3, 1.0, False, "intention-behaviour slope")),
}


def init(model) -> None:
    """Users at month 0, drawn among the eligible."""
    n = model.n
    eligible = model.aware & model.access & model.skill
    n_eligible = int(np.count_nonzero(eligible))
    p_initial = min(1.0, model.params.share_adopters_initial * n / n_eligible) if n_eligible else 0.0
    model.user = eligible

    def work(g: np.random.Generator, lo: int, hi: int) -> None:
        model.user[lo:hi] &= g.random(hi - lo) < p_initial

    model.each_chunk("initial", work)
    del eligible
    model.ever_user = model.user.copy()


PROCESS = Process(
    name="adoption", title="Adoption",
    summary="non-users who are aware, online and skilled take up the portal with probability 1 - exp(-h_i dt), "
            "h_i = (p + q x u_i) x exp(pi/sqrt(6) x intention_slope x intention_i): a Bass hazard with intention "
            "as a proportional-hazards term; an intervention's extra external influence adds to p.",
    parameters=PARAMETERS, states=("user", "ever_user"), streams=("awareness",), init=init,
    counts=("n_new_users",))
