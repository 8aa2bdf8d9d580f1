"""Opinion: attitude and trust move with neighbours, anchors and word of mouth; the SEM follows.

Attitude and trust move toward the neighbours' mean (``conformity_per_month``)
and back toward the citizen's own initial value (``anchoring_per_month``:
Friedkin-Johnsen anchoring), and shift with word of mouth: the share of
neighbours whose use succeeded last month minus the share whose use failed,
times ``wom_attitude`` / ``wom_trust``. Readiness and intention are not free
state: they are recomputed through the structural equations
(:class:`model.sem.SEMParams`) whenever attitude or trust change.

At month 0 (attitude, trust) are drawn from the SEM's joint distribution,
shifted by group (:func:`model.population.construct_shift`), with the SEM's
disturbances ``zeta_r``, ``zeta_i``. State is float32.
"""

from __future__ import annotations

import numpy as np

from egov_abm.model.fields import ASSUMPTION, FIXED, parameter
from egov_abm.model.population import construct_shift
from egov_abm.model.processes import Process, SliceWork

PARAMETERS = {
    "conformity_per_month": parameter(0.02, unit="share per month", range=(0.0, 1.0),
                                      doc="pull of attitude and trust toward the neighbours' mean", source=FIXED),
    "anchoring_per_month": parameter(0.05, unit="share per month", range=(0.0, 1.0),
                                     doc="pull of attitude and trust back to the citizen's own initial value",
                                     source=ASSUMPTION + " (Friedkin-Johnsen anchoring)"),
    "wom_trust": parameter(0.1, unit="latent SD per unit share", range=(0.0, 5.0),
                           doc="trust change per unit (success share - failure share) of neighbours' uses last month",
                           prior=(0.0, 0.5, False, "trust moved by neighbours' experiences (word of mouth)")),
    "wom_attitude": parameter(0.05, unit="latent SD per unit share", range=(0.0, 5.0),
                              doc="attitude change per unit (success share - failure share) "
                                  "of neighbours' uses last month",
                              source=FIXED),
}


def recompute(model, idx=None) -> None:
    """Readiness and intention from attitude and trust through the SEM (all citizens, or ``idx``)."""
    sel = slice(None) if idx is None else idx
    model.readiness[sel] = model.sem.readiness(model.attitude[sel], model.trust[sel], model.zeta_r[sel])
    model.intention[sel] = model.sem.intention(model.readiness[sel], model.attitude[sel], model.trust[sel],
                                               model.zeta_i[sel])


def init(model) -> None:
    """Constructs at month 0 from the SEM, shifted by group; float32 (half the memory traffic of float64)."""
    n = model.n
    shift_att, shift_trust = construct_shift(model.spec, model.pop)
    att, trust, zeta_r, zeta_i = model.sem.draw(n, model.streams["constructs"], shift_att, shift_trust)
    del shift_att, shift_trust
    model.attitude, model.trust = att.astype(np.float32), trust.astype(np.float32)
    model.attitude0, model.trust0 = model.attitude.copy(), model.trust.copy()
    model.zeta_r, model.zeta_i = zeta_r.astype(np.float32), zeta_i.astype(np.float32)
    del att, trust, zeta_r, zeta_i
    model.readiness = np.empty(n, dtype=np.float32)
    model.intention = np.empty(n, dtype=np.float32)
    recompute(model)


def step(model, work: SliceWork) -> None:
    """Conformity, anchoring and word of mouth for one slice; then the SEM."""
    p, sl = model.params, work.sl
    att, trust = model.attitude[sl], model.trust[sl]
    att += (p.conformity_per_month * (work.attitude_nb - att)
            + p.anchoring_per_month * (model.attitude0[sl] - att) + p.wom_attitude * work.wom)
    trust += (p.conformity_per_month * (work.trust_nb - trust)
              + p.anchoring_per_month * (model.trust0[sl] - trust) + p.wom_trust * work.wom)
    recompute(model, sl)


PROCESS = Process(
    name="opinion", title="Opinion",
    summary="attitude and trust move toward the neighbours' mean (conformity_per_month) and back toward the "
            "citizen's own initial value (anchoring_per_month), and shift with word of mouth: the share of "
            "neighbours whose use succeeded last month minus the share whose use failed, times wom_attitude / "
            "wom_trust. Readiness and intention are then recomputed through the structural equations.",
    parameters=PARAMETERS,
    states=("attitude", "trust", "attitude0", "trust0", "zeta_r", "zeta_i", "readiness", "intention"),
    streams=(), init=init, step=step)
