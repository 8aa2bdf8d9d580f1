"""Access and skill: internet access and digital skill spread, slower for disadvantaged groups.

Citizens without internet access gain it with hazard
``(access_external + access_social * national access share) * g_i`` (plus any
intervention's extra hazard); citizens online without digital skill acquire
it with hazard ``skill_per_year * g_i``. ``g_i = exp(divide_i) / mean(exp(divide))``
is the citizen's group factor: rural, older and less educated citizens are
slower (``calibration/data/group_effects.csv``).

At month 0, access is Bernoulli with ``P = logistic(c + divide_i)``, ``c``
solved so the population mean equals ``share_access_initial``; skill likewise
among those with access (``share_skill_initial``).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit

from egov_abm.model.calendar import DT_YEARS
from egov_abm.model.fields import parameter
from egov_abm.model.processes import Process

PARAMETERS = {
    "share_access_initial": parameter(0.0327, unit="share of adults", range=(0.0, 1.0),
                                      doc="share with internet access at step 0",
                                      source="ITU via World Bank IT.NET.USER.ZS, 2006: 3.27 %"),
    "access_external_per_year": parameter(0.01, unit="1/year", range=(0.0, 10.0),
                                          doc="hazard of gaining access independent of others",
                                          prior=(0.001, 0.2, True, "access growth independent of others")),
    "access_social_per_year": parameter(0.45, unit="1/year", range=(0.0, 10.0),
                                        doc="extra hazard of gaining access per unit national access share",
                                        prior=(0.0, 1.5, False, "access growth with the national access share")),
    "share_skill_initial": parameter(0.8, unit="share of those with access", range=(0.0, 1.0),
                                     doc="share of citizens with access who also have digital skill at step 0",
                                     prior=(0.2, 1.0, False,
                                            "share of the 2006 online population with digital skill")),
    "skill_per_year": parameter(0.3, unit="1/year", range=(0.0, 10.0),
                                doc="hazard of acquiring digital skill once online",
                                prior=(0.01, 5.0, True, "hazard of acquiring digital skill once online")),
}


def calibrated_probabilities(share: float, levels: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """P per level, ``logistic(c + levels)``, with ``c`` set so the mean P over ``counts`` citizens equals ``share``.

    The offsets take few distinct ``levels`` (with ``counts`` citizens each),
    so the constant is solved on the levels, not on every citizen.
    """
    if share <= 0.0:
        return np.zeros(len(levels))
    if share >= 1.0:
        return np.ones(len(levels))
    weights = counts / counts.sum()
    c = brentq(lambda c: (expit(c + levels) * weights).sum() - share, -50.0, 50.0, xtol=1e-12)
    return expit(c + levels)


def init(model) -> None:
    """Group factor and monthly skill probability by level, each citizen's level, and who has access and skill."""
    p, n = model.params, model.n
    # The group factor takes one value per (rural, age band, education) group: levels from the groups' table.
    spec, pop = model.spec, model.pop
    combo = (np.asarray(pop.urban, dtype=np.int64) * len(spec.divide_age) + pop.age_band) * len(
        spec.divide_education) + pop.education
    table = (np.where(np.arange(2)[:, None, None] == 1, 0.0, spec.divide_rural)
             + np.asarray(spec.divide_age)[None, :, None]
             + np.asarray(spec.divide_education)[None, None, :]).astype(np.float32).reshape(-1)
    levels, table_level = np.unique(table, return_inverse=True)  # the same float32 values as pop.divide
    model.level = table_level.astype(np.uint8 if len(levels) <= 256 else np.int32)[combo]  # each citizen's level
    del combo
    level_counts = np.bincount(model.level, minlength=len(levels))
    g = np.exp(levels.astype(np.float64))
    g /= (g * level_counts).sum() / n
    model.group_levels = g  # the group factor of each level
    model.p_skill_levels = -np.expm1(-p.skill_per_year * g * DT_YEARS)  # monthly, fixed
    p_access = calibrated_probabilities(p.share_access_initial, levels.astype(np.float64), level_counts)
    p_skill = calibrated_probabilities(p.share_skill_initial, levels.astype(np.float64), level_counts)
    model.access = np.empty(n, dtype=bool)
    model.skill = np.empty(n, dtype=bool)

    def work(g: np.random.Generator, lo: int, hi: int) -> None:
        level = model.level[lo:hi]
        access = model.access[lo:hi]
        access[:] = g.random(hi - lo) < p_access[level]
        model.skill[lo:hi] = access & (g.random(hi - lo) < p_skill[level])

    model.each_chunk("initial", work)

PROCESS = Process(
    name="access", title="Access and skill",
    summary="citizens without internet access gain it with hazard (access_external + access_social x national "
            "access share) x g_i, plus any intervention's extra hazard; citizens online without digital skill "
            "acquire it with hazard skill_per_year x g_i, where g_i = exp(divide_i) / mean(exp(divide)) is the "
            "citizen's group factor (rural, older and less educated citizens are slower).",
    parameters=PARAMETERS, states=("access", "skill", "level"), streams=("access",),
    init=init)
