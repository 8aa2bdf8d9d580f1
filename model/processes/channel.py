"""Channel: how a citizen who needs a public service this month gets it.

Each month citizen ``i`` needs a public service with probability ``nu_i``
(heterogeneous: Beta with mean ``need_per_month`` and concentration
``need_concentration``, drawn once). A need is met through one channel:

1. **online only**: with probability ``m_i`` the service can only be had
   online that month: a digital-only mandate (:mod:`model.interventions`) or
   a dated event such as the 2020 state of emergency (:mod:`model.events`). A
   user who is online and skilled uses the portal; anyone else first asks a
   household member (proxy, ``p_proxy``: non-users lean on family for online
   errands, assumption); failing that, a non-user who is aware, online and
   skilled must try the portal (a forced first use), and others go without;
2. otherwise a **user** who is online and skilled uses the portal with the
   continued-use probability ``Phi(use_intercept + intention_slope *
   intention_i + use_on_satisfaction * S_i)`` (a probit in intention and
   satisfaction: the expectation-confirmation model of IS continuance,
   Bhattacherjee 2001);
3. a need not met online goes to a **public service centre** with probability
   ``p_assisted`` (plus an ``assisted`` intervention's extra), where staff do
   the service, often as an e-service on the citizen's behalf: counted as
   assisted, not as the citizen's own portal use. Being served there makes the
   citizen aware of the portal (assumption). Otherwise a household member does
   it (``p_proxy``), or the need goes unserved.

One uniform per citizen and month (the second half of stream ``use``, in index
order; :mod:`model.kernel`) decides the channel by successive conditioning, so
adding a channel's probability moves no other stream.
"""

from __future__ import annotations

import numpy as np

from egov_abm.model.events import month_effects
from egov_abm.model.fields import ASSUMPTION, FIXED, parameter
from egov_abm.model.processes import Process

NEED_SOURCE = ("derived: 35 million transactions a year went through the public service centres in 2018, 76 % of "
               "public services (smartgov.consulting case study, calibration/data/egov_usage.csv), so about 46 "
               "million services a year, or 0.30 a month for each of 13 million adults (assumption: one service is "
               "one adult's need)")

PARAMETERS = {
    "need_per_month": parameter(0.30, unit="probability", range=(0.0, 1.0),
                                doc="mean monthly probability that a citizen needs a public service",
                                source=NEED_SOURCE),
    "need_concentration": parameter(2.0, unit="Beta concentration", range=(0.01, 1e6),
                                    doc="how alike citizens' needs are (Beta(mean x c, (1 - mean) x c)); "
                                        "small = very unequal",
                                    source=FIXED),
    "use_intercept": parameter(1.0, unit="probit", range=(-10.0, 10.0),
                               doc="continued-use probit intercept: a user with the survey's mean intention and no "
                                   "experience uses the portal for a need with Phi(1.0) = 0.84",
                               source=FIXED),
    "use_on_satisfaction": parameter(0.5, unit="probit per unit satisfaction", range=(0.0, 10.0),
                                     doc="continued-use probit slope on satisfaction (in [-1, 1])",
                                     source=ASSUMPTION + ": sign and role from the expectation-confirmation model "
                                            "(Bhattacherjee 2001, MIS Quarterly 25(3):351-370); size not measured "
                                            "for Kazakhstan"),
    "p_assisted": parameter(0.85, unit="probability", range=(0.0, 1.0),
                            doc="probability that a need not met online is met at a public service centre",
                            source=ASSUMPTION + ": consistent with 76 % of public services through the centres "
                                   "in 2018 (calibration/data/egov_usage.csv)"),
    "p_proxy": parameter(0.5, unit="probability", range=(0.0, 1.0),
                         doc="probability that a need met neither online nor at a centre is met by a household "
                             "member", source=ASSUMPTION),
    "dated_events": parameter("kazakhstan", unit="events", choices=("kazakhstan", "none"),
                              doc="apply the baseline's dated events (model/events.py: the 2020 state of "
                                  "emergency), or none", source="model/events.py"),
}


def init(model) -> None:
    """Each citizen's need rate; no use or assisted service yet."""
    p, n = model.params, model.n
    mean, conc = p.need_per_month, p.need_concentration
    if 0.0 < mean < 1.0:
        model.need_rate = np.empty(n, dtype=np.float32)

        def work(g: np.random.Generator, lo: int, hi: int) -> None:
            model.need_rate[lo:hi] = g.beta(mean * conc, (1.0 - mean) * conc, hi - lo)

        model.each_chunk("need", work)
    else:
        model.need_rate = np.full(n, mean, dtype=np.float32)
    never = np.iinfo(np.int16).min
    model.last_use = np.full(n, never, dtype=np.int16)  # month of the last own portal use
    model.last_use[model.user] = -1  # users at month 0 used it the month before
    model.last_assisted = np.full(n, never, dtype=np.int16)  # month of the last service at a centre
    model.used = np.zeros(n, dtype=bool)  # used the portal this month
    model.online_only = 0.0  # share of this month's needs that dated events make online-only
    model.emergency = 0.0  # share of this month's days under a dated event


def set_month(model) -> None:
    """This month's dated events: ``model.online_only`` (share of needs) and ``model.emergency`` (share of days)."""
    if model.params.dated_events == "none":
        model.online_only, model.emergency = 0.0, 0.0
    else:
        model.online_only, model.emergency = month_effects(model.params.start_month, model.month)


PROCESS = Process(
    name="channel", title="Channel",
    summary="each citizen needs a public service with probability nu_i (Beta-distributed around need_per_month). "
            "A need that can only be met online (a digital-only mandate, or a dated event such as the 2020 state "
            "of emergency) takes users who are online and skilled to the portal; others ask a household member "
            "(p_proxy) and, failing that, try the portal themselves if they are aware, online and skilled; "
            "otherwise a user who is online and skilled uses the portal with probability Phi(use_intercept + "
            "intention_slope x intention_i + use_on_satisfaction x S_i). A need not met online goes to a public "
            "service centre (p_assisted: counted as assisted, not as own use; the citizen becomes aware of the "
            "portal), else to a household member (p_proxy), else unserved.",
    parameters=PARAMETERS, states=("need_rate", "last_use", "last_assisted", "used"), streams=("use",),
    init=init, counts=("n_needs", "n_assisted", "n_proxy", "n_unserved", "n_forced"))
