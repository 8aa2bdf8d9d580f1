"""Policy interventions: small objects the model applies at the start of every month.

Each intervention has a kind, an active window of months ``[start, end)``
(months after the run's first month), a target group, a dose, an optional
monthly capacity (citizens reached per month at most) and a cost model in
KZT: ``cost_per_person_kzt`` for every citizen reached (counted once per
person and month it reaches them) plus ``cost_fixed_per_month_kzt`` while
active. Per-person costs are for the simulated citizens reached, and the
runner scales them to the country; fixed costs are national as given.

Kinds and effects (dose units in brackets):

``infrastructure``   targeted citizens without internet access gain it with an
                     extra hazard ``dose`` [1/year]; reached = newly connected.
``skills``           up to ``capacity`` targeted citizens a month who are online
                     without digital skill are trained: they gain skill and
                     their attitude rises by ``dose`` [latent SD], so readiness
                     and intention follow through the SEM; reached = trainees.
``trust``            trust of targeted citizens rises by ``dose`` [latent SD per
                     month]; reached = targeted citizens.
``awareness``        targeted citizens get ``dose`` [1/year] more external
                     influence: added to the awareness hazard and to Bass p;
                     reached = targeted citizens.
``service_quality``  uses by targeted citizens succeed with ``p_success + dose``
                     [probability, capped at 1]; reached = targeted users.
``mandate``          each month a targeted citizen who is aware, online and
                     skilled but not a user must use the portal for a service
                     with probability ``dose``: success makes a user, failure
                     costs trust like any failed use; reached = forced attempts.
``assisted``         up to ``capacity`` targeted aware non-users a month get a
                     supported first use in a public service centre (no access
                     or skill needed); reached = supported citizens.

Randomness comes from the run's ``interventions`` stream only, so adding an
intervention never moves the draws of the model's own processes.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from egov_abm.model.calendar import DT_YEARS
from egov_abm.model.population import AGE_BANDS, EDUCATION_LEVELS

KINDS = ("infrastructure", "skills", "trust", "awareness", "service_quality", "mandate", "assisted")
CAPACITY_KINDS = ("skills", "assisted")


@dataclasses.dataclass(frozen=True)
class Target:
    """A group of citizens: every given criterion must hold (empty = everyone)."""

    regions: tuple[str, ...] = ()
    urban: bool | None = None
    age_bands: tuple[str, ...] = ()
    education: tuple[str, ...] = ()

    def validate(self, region_names, where: str = "target") -> None:
        """Raise ``ValueError`` naming the first unknown group value."""
        for field, values, known in (("regions", self.regions, region_names), ("age_bands", self.age_bands, AGE_BANDS),
                                     ("education", self.education, EDUCATION_LEVELS)):
            for v in values:
                if v not in known:
                    raise ValueError(f"{where}.{field}: unknown value {v!r} (known: {', '.join(known)})")

    def mask(self, model) -> np.ndarray:
        """Boolean array: which citizens of ``model`` are in the group."""
        pop = model.pop
        m = np.ones(model.n, dtype=bool)
        if self.regions:
            m &= np.isin(pop.region, [model.region_names.index(r) for r in self.regions])
        if self.urban is not None:
            m &= pop.urban == self.urban
        if self.age_bands:
            m &= np.isin(pop.age_band, [AGE_BANDS.index(a) for a in self.age_bands])
        if self.education:
            m &= np.isin(pop.education, [EDUCATION_LEVELS.index(e) for e in self.education])
        return m


@dataclasses.dataclass(frozen=True)
class Intervention:
    """One policy instrument (see the module docstring for kinds and doses)."""

    kind: str
    start: int
    end: int
    dose: float
    target: Target = Target()
    capacity: int | None = None
    cost_per_person_kzt: float = 0.0
    cost_fixed_per_month_kzt: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        where = f"intervention {self.name or self.kind}"
        if self.kind not in KINDS:
            raise ValueError(f"{where}: kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.start < 0:
            raise ValueError(f"{where}: start: expected a month >= 0, got {self.start}")
        if self.end <= self.start:
            raise ValueError(f"{where}: end ({self.end}) must come after start ({self.start})")
        for field in ("dose", "cost_per_person_kzt", "cost_fixed_per_month_kzt"):
            value = getattr(self, field)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{where}: {field}: expected a non-negative number, got {value!r}")
        if self.kind in ("service_quality", "mandate") and self.dose > 1:
            raise ValueError(f"{where}: dose: expected a probability in [0, 1], got {self.dose}")
        if self.capacity is not None and self.capacity < 0:
            raise ValueError(f"{where}: capacity: expected a non-negative whole number, got {self.capacity}")

    def scaled(self, factor: float) -> Intervention:
        """A copy with the dose times ``factor`` (doses that are probabilities stay at most 1)."""
        dose = self.dose * factor
        if self.kind in ("service_quality", "mandate"):
            dose = min(dose, 1.0)
        return dataclasses.replace(self, dose=dose)

    def active(self, month: int) -> bool:
        """True in the months ``start <= month < end`` (months after the run's start)."""
        return self.start <= month < self.end


def _limit(candidates: np.ndarray, capacity: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``capacity`` candidates, chosen at random."""
    idx = np.flatnonzero(candidates)
    if capacity is not None and len(idx) > capacity:
        idx = np.sort(rng.choice(idx, size=capacity, replace=False))
    return idx


def apply_all(model, month: int) -> None:
    """Apply every active intervention of ``model`` for ``month`` (step 0 of the month).

    Sets the month's per-citizen modifiers (``extra_access``, ``extra_external``,
    ``p_success_i``) and changes state directly where a kind does so; adds
    reach and cost to ``model.intervention_log`` and ``model.month_cost_kzt``.
    """
    p = model.params
    dt = DT_YEARS
    rng = model.streams["interventions"]
    model.extra_access[:] = 0.0
    model.extra_external[:] = 0.0
    model.p_success_i[:] = p.p_success
    model.month_cost_kzt = 0.0
    model.month_cost_variable_kzt = 0.0
    for k, iv in enumerate(model.interventions):
        if not iv.active(month):
            continue
        target = model.target_masks[k]
        u = rng.random(model.n)  # one full draw per active intervention and month
        if iv.kind == "infrastructure":
            model.extra_access[target] += iv.dose
            reached = target & ~model.access & (u < -np.expm1(-iv.dose * dt))
            model.access |= reached
            n_reached = int(reached.sum())
        elif iv.kind == "skills":
            idx = _limit(target & model.access & ~model.skill, iv.capacity, rng)
            model.skill[idx] = True
            model.attitude[idx] += iv.dose
            model.recompute_constructs(idx)
            n_reached = len(idx)
        elif iv.kind == "trust":
            model.trust[target] += iv.dose
            model.recompute_constructs(np.flatnonzero(target))
            n_reached = int(target.sum())
        elif iv.kind == "awareness":
            model.extra_external[target] += iv.dose
            n_reached = int(target.sum())
        elif iv.kind == "service_quality":
            model.p_success_i[target] = np.minimum(1.0, model.p_success_i[target] + iv.dose)
            n_reached = int((target & model.user).sum())
        elif iv.kind == "mandate":
            forced = target & model.aware & model.access & model.skill & ~model.user & (u < iv.dose)
            success = forced & (rng.random(model.n) < model.p_success_i)
            model.user |= success
            model.ever_user |= success
            model.trust[forced & ~success] -= p.trust_loss_failure
            model.recompute_constructs(np.flatnonzero(forced))
            n_reached = int(forced.sum())
        else:  # assisted
            idx = _limit(target & model.aware & ~model.user, iv.capacity, rng)
            model.user[idx] = True
            model.ever_user[idx] = True
            n_reached = len(idx)
        variable = n_reached * iv.cost_per_person_kzt
        cost = variable + iv.cost_fixed_per_month_kzt
        model.month_cost_kzt += cost
        model.month_cost_variable_kzt += variable
        model.intervention_log.append({"month": month, "intervention": iv.name or iv.kind, "kind": iv.kind,
                                       "reached": n_reached, "cost_kzt": cost})
