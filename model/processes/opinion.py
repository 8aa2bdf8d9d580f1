"""Opinion: attitude and trust move toward a bounded target; nothing accumulates without bound.

Each month a citizen's attitude (and likewise trust) moves a share
``opinion_rate_per_month`` of the way toward a **target**::

    target_i = clip((1 - w) * anchor_i + w * neighbours_i + wom * wom_i + experience * S_i, low, high)
    x_i     <- x_i + rate * (target_i - x_i)

``anchor_i`` is the citizen's own standing view (the initial draw, moved only
by programmes that persuade: :mod:`model.interventions`); ``neighbours_i`` the
mean of the neighbours at the start of the month; ``w`` is
``conformity_weight``; ``wom_i`` in [-1, 1] is the share of neighbours whose
last use succeeded minus the share whose use failed (word of mouth); ``S_i`` in
[-1, 1] the citizen's own satisfaction with the portal (:mod:`model.processes.use`).
``low`` and ``high`` are the construct's bounds on the survey's items
(:func:`model.measurement.bounds`: where the mean expected item score reaches
1.1 and 4.9). Because the new value is a weighted mean of the old value and a
target inside the bounds, attitude and trust never move outward beyond them,
and a value inside stays inside; because the evidence terms are bounded
(``|wom_i|, |S_i| <= 1``), the target is the anchor plus at most ``wom +
experience`` latent SD, not a running sum.

Readiness and intention are not state at all: they are computed through the
structural equations (:class:`model.sem.SEMParams`) from attitude, trust and
the citizen's disturbances whenever they are needed (by the monthly kernel,
and by :attr:`AdoptionModel.readiness` and ``.intention`` when read).

At month 0 (attitude, trust) are drawn from the SEM's joint distribution,
shifted by group (:func:`model.population.construct_shift`), with the SEM's
disturbances ``zeta_r``, ``zeta_i``: the SEM's normal distribution, whose
upper tail (about 8 % of survey respondents) lies beyond the items' upper
bound. Those citizens answer at the scale's end either way; their values move
toward the bound as their targets are held inside it. State is float32.
"""

from __future__ import annotations

import numpy as np

from egov_abm.model.fields import FIXED, parameter
from egov_abm.model.measurement import bounds
from egov_abm.model.population import construct_shift
from egov_abm.model.processes import Process

PARAMETERS = {
    "opinion_rate_per_month": parameter(0.1, unit="share per month", range=(0.0, 1.0),
                                        doc="share of the way attitude and trust move toward their target each "
                                            "month (0.1: half-way in about 6.6 months)",
                                        source=FIXED),
    "conformity_weight": parameter(0.3, unit="weight", range=(0.0, 1.0),
                                   doc="weight of the neighbours' mean in the target (the rest is the citizen's "
                                       "own anchor: Friedkin-Johnsen)",
                                   source=FIXED),
    "wom_trust": parameter(0.2, unit="latent SD per unit share", range=(0.0, 2.0),
                           doc="trust target shift per unit (success share - failure share) of neighbours' last "
                               "uses (word of mouth)",
                           prior=(0.0, 0.5, False, "trust moved by neighbours' experiences (word of mouth)")),
    "wom_attitude": parameter(0.1, unit="latent SD per unit share", range=(0.0, 2.0),
                              doc="attitude target shift per unit (success share - failure share) of neighbours' "
                                  "last uses",
                              source=FIXED),
    "experience_trust": parameter(0.3, unit="latent SD per unit satisfaction", range=(0.0, 2.0),
                                  doc="trust target shift per unit of the citizen's own satisfaction with the "
                                      "portal (in [-1, 1])",
                                  prior=(0.0, 0.6, False, "trust moved by one's own experience of the portal")),
    "experience_attitude": parameter(0.15, unit="latent SD per unit satisfaction", range=(0.0, 2.0),
                                     doc="attitude target shift per unit of the citizen's own satisfaction",
                                     source=FIXED),
}


def readiness(model, idx=None) -> np.ndarray:
    """Readiness through the structural equations from attitude and trust (all citizens, or ``idx``)."""
    sel = slice(None) if idx is None else idx
    return model.sem.readiness(model.attitude[sel], model.trust[sel], model.zeta_r[sel])


def intention(model, idx=None) -> np.ndarray:
    """Intention through the structural equations from attitude and trust (all citizens, or ``idx``)."""
    sel = slice(None) if idx is None else idx
    return model.sem.intention(readiness(model, idx), model.attitude[sel], model.trust[sel], model.zeta_i[sel])


def init(model) -> None:
    """Constructs at month 0 from the SEM, shifted by group; float32."""
    n = model.n
    model.attitude_bounds, model.trust_bounds = bounds("attitude"), bounds("trust")
    model.attitude, model.trust = np.empty(n, dtype=np.float32), np.empty(n, dtype=np.float32)
    model.zeta_r, model.zeta_i = np.empty(n, dtype=np.float32), np.empty(n, dtype=np.float32)

    def work(g: np.random.Generator, lo: int, hi: int) -> None:
        shift_att, shift_trust = construct_shift(model.spec, model.pop, slice(lo, hi))
        draws = model.sem.draw(hi - lo, g, shift_att, shift_trust)
        for name, values in zip(("attitude", "trust", "zeta_r", "zeta_i"), draws, strict=True):
            getattr(model, name)[lo:hi] = values

    model.each_chunk("constructs", work)
    model.attitude0, model.trust0 = model.attitude.copy(), model.trust.copy()  # the anchors


PROCESS = Process(
    name="opinion", title="Opinion",
    summary="attitude and trust each move a share opinion_rate_per_month of the way toward a target: "
            "(1 - conformity_weight) x own anchor + conformity_weight x neighbours' mean + wom x (success share - "
            "failure share of neighbours' last uses) + experience x own satisfaction, held inside the construct's "
            "bounds on the survey items (mean expected item score 1.1 to 4.9). Readiness and intention follow "
            "through the structural equations.",
    parameters=PARAMETERS,
    states=("attitude", "trust", "attitude0", "trust0", "zeta_r", "zeta_i"),
    streams=(), init=init)
