"""Policy interventions: small objects the model applies at the start of every month.

Each intervention has a kind, an active window of months ``[start, end)``
(months after the run's first month), a target group, a dose, an optional
monthly capacity (citizens reached per month at most) and a cost model in
KZT: ``cost_per_person_kzt`` for every citizen reached (counted once per
person and month it reaches them) plus ``cost_fixed_per_month_kzt`` while
active. Per-person costs are for the simulated citizens reached, and the
runner scales them to the country; fixed costs are national as given.

What a kind does is one row of :data:`EFFECTS`: its effect function, the
unit of its dose, whether the dose is a probability, and whether it uses a
capacity. Validation reads the table (a capacity on a kind that ignores it is
refused), and so do the docs (:func:`effects_table`).

Randomness: each intervention draws from a generator of its own, spawned
from the run's seed and a stable key made of its kind and name
(:func:`intervention_stream`). Adding, removing or reordering interventions
therefore never moves another intervention's draws, nor the draws of the
model's own processes: two portfolios are compared on common random numbers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable

import numpy as np

from egov_abm.model.calendar import DT_YEARS
from egov_abm.model.measurement import bounds
from egov_abm.model.population import AGE_BANDS, EDUCATION_LEVELS


def _limit(candidates: np.ndarray, capacity: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``capacity`` candidates, chosen at random."""
    idx = np.flatnonzero(candidates)
    if capacity is not None and len(idx) > capacity:
        idx = np.sort(rng.choice(idx, size=capacity, replace=False))
    return idx


# Each effect applies one intervention for one month and returns the number of citizens it reached.
def _infrastructure(model, iv, target, rng) -> int:
    # One draw of its own with the extra hazard, before the access process (which draws the model's own hazard):
    # the two are independent, so a targeted citizen offline stays offline with exp(-(h + dose) dt).
    reached = target & ~model.access & (rng.random(model.n) < -np.expm1(-iv.dose * DT_YEARS))
    model.access |= reached
    return int(reached.sum())


def _persuade(model, construct: str, idx, shift: float) -> None:
    """Move the construct and its anchor of citizens ``idx`` by ``shift`` latent SD, never out past a bound."""
    lo, hi = getattr(model, f"{construct}_bounds")
    for name in (construct, f"{construct}0"):
        values = getattr(model, name)
        x = values[idx]
        if shift >= 0:
            values[idx] = np.minimum(x + np.float32(shift), np.maximum(x, np.float32(hi)))
        else:
            values[idx] = np.maximum(x + np.float32(shift), np.minimum(x, np.float32(lo)))


def _skills(model, iv, target, rng) -> int:
    idx = _limit(target & model.access & ~model.skill, iv.capacity, rng)
    model.skill[idx] = True
    _persuade(model, "attitude", idx, iv.dose)
    return len(idx)


def _trust(model, iv, target, rng) -> int:
    # The dose is reached by the programme's end: an equal share of it each month it runs.
    idx = np.flatnonzero(target)
    _persuade(model, "trust", idx, iv.dose / (iv.end - iv.start))
    return len(idx)


def _awareness(model, iv, target, rng) -> int:
    model.extra_external[target] += iv.dose
    return int(target.sum())


def _service_quality(model, iv, target, rng) -> int:
    model.p_success_i[target] = np.minimum(1.0, model.p_success_i[target] + iv.dose)
    return int((target & model.user).sum())


def _mandate(model, iv, target, rng) -> int:
    share = model.mandate_share
    share[target] = 1.0 - (1.0 - share[target]) * (1.0 - iv.dose)
    return int(target.sum())


def _assisted(model, iv, target, rng) -> int:
    # A centre serves a need not met online with a = p_assisted + extra; the dose is the share of the rest
    # (1 - a: a household member or unserved) it serves: a' = a + dose (1 - a), so doses compose.
    idx = _limit(target & ~model.user, iv.capacity, rng)
    rest = np.float32(1.0 - model.params.p_assisted) - model.assisted_extra[idx]
    model.assisted_extra[idx] += np.float32(iv.dose) * np.maximum(rest, np.float32(0.0))
    return len(idx)


@dataclasses.dataclass(frozen=True)
class Effect:
    """What one kind of intervention does: a row of :data:`EFFECTS`."""

    apply: Callable  # (model, intervention, target mask, generator) -> citizens reached
    dose_unit: str  # "" when the kind has no dose
    dose_is_probability: bool
    uses_capacity: bool
    doc: str  # the effect and what counts as reached
    construct: str = ""  # the bounded construct the dose moves, if any (its range limits the dose)

    @property
    def uses_dose(self) -> bool:
        """True if the kind's effect reads its dose."""
        return bool(self.dose_unit)


#: The kinds of intervention and their effects (dose units in the ``dose_unit`` column).
EFFECTS: dict[str, Effect] = {
    "infrastructure": Effect(_infrastructure, "extra access hazard, 1/year", False, False,
                             "targeted citizens without internet access gain it with an extra hazard `dose` on top "
                             "of the model's own (a share 1 - exp(-dose x T) of those who would otherwise stay "
                             "offline over T years); reached = newly connected"),
    "skills": Effect(_skills, "latent SD of attitude among trainees, at training", False, True,
                     "up to `capacity` targeted citizens a month who are online without digital skill are trained: "
                     "they gain skill, and their attitude and its anchor rise by `dose` (inside the bounds), so "
                     "readiness and intention follow through the SEM; conformity with untrained neighbours takes "
                     "back up to conformity_weight of it in the months after (a tenth of the way a month); "
                     "reached = trainees", "attitude"),
    "trust": Effect(_trust, "latent SD of trust among all of the target, by the programme's end", False, False,
                    "trust of targeted citizens and its anchor rise by `dose` over the programme, an equal share each "
                    "month (inside the bounds, so citizens at the top of the scale gain less); delivered in full "
                    "when the target is everyone: with a partial target, conformity with untargeted neighbours "
                    "takes back up to conformity_weight of it; reached = targeted citizens", "trust"),
    "awareness": Effect(_awareness, "extra external influence, 1/year", False, False,
                        "targeted citizens get `dose` more external influence: added to the awareness hazard of the "
                        "unaware (a share 1 - exp(-dose x T) of those who would otherwise stay unaware over T "
                        "years hear of the portal) and to Bass p; reached = targeted citizens"),
    "service_quality": Effect(_service_quality, "probability of success, added", True, False,
                              "uses by targeted citizens succeed with p_success + `dose` (capped at 1); "
                              "reached = targeted users"),
    "mandate": Effect(_mandate, "share of service needs made online-only", True, False,
                      "a share `dose` of targeted citizens' service needs can only be met online (with a dated "
                      "online-only share e: 1 - (1 - e)(1 - dose)); no centre serves them: users who are online "
                      "and skilled use the portal; others ask a household member (p_proxy), else try the portal "
                      "if able (success makes a user), else go without; reached = targeted citizens"),
    "assisted": Effect(_assisted, "share of needs otherwise met by a household member or unserved", True, True,
                       "public service centres serve a share `dose` of the needs of up to `capacity` targeted "
                       "non-users a month (places, staff, opening hours) that would otherwise go to a household "
                       "member or unserved: a centre takes a need not met online with p_assisted + dose x "
                       "(1 - p_assisted); staff do the e-service, counted as assisted; reached = citizens given "
                       "a place"),
}
KINDS = tuple(EFFECTS)


def effects_table() -> str:
    """The kinds of intervention as a Markdown table (docs/ODD.md pastes it)."""
    lines = ["| kind | dose unit | capacity | effect |", "|---|---|---|---|"]
    for kind, e in EFFECTS.items():
        unit = (e.dose_unit + (" (at most 1)" if e.dose_is_probability else "")) if e.uses_dose else "no dose"
        lines.append(f"| `{kind}` | {unit} | {'used' if e.uses_capacity else '-'} | {e.doc} |")
    return "\n".join(lines)


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
        effect = EFFECTS[self.kind]
        if not effect.uses_dose and self.dose != 0:
            raise ValueError(f"{where}: dose: the {self.kind} kind has no dose; remove the field")
        if effect.dose_is_probability and self.dose > 1:
            raise ValueError(f"{where}: dose: expected a probability in [0, 1], got {self.dose}")
        if effect.construct:
            lo, hi = bounds(effect.construct)
            if self.dose > hi - lo:
                raise ValueError(f"{where}: dose: {effect.construct} can move at most {hi - lo:.2f} latent SD on its "
                                 f"bounded scale (from the lowest answer on every item to the highest), "
                                 f"got {self.dose}")
        if self.capacity is not None:
            if not effect.uses_capacity:
                users = ", ".join(k for k, e in EFFECTS.items() if e.uses_capacity)
                raise ValueError(f"{where}: capacity: the {self.kind} kind has no capacity "
                                 f"(only {users} have one); remove the field")
            if self.capacity < 0:
                raise ValueError(f"{where}: capacity: expected a non-negative whole number, got {self.capacity}")

    def scaled(self, factor: float) -> Intervention:
        """A copy with the dose times ``factor`` (doses that are probabilities stay at most 1)."""
        dose = self.dose * factor
        if EFFECTS[self.kind].dose_is_probability:
            dose = min(dose, 1.0)
        return dataclasses.replace(self, dose=dose)

    @property
    def key(self) -> str:
        """Stable key of its random stream: kind and name."""
        return f"{self.kind}:{self.name}"

    def active(self, month: int) -> bool:
        """True in the months ``start <= month < end`` (months after the run's start)."""
        return self.start <= month < self.end


def intervention_stream(root: np.random.SeedSequence, key: str, occurrence: int = 0) -> np.random.Generator:
    """The generator of one intervention: spawned from the run's root sequence and a hash of ``key``.

    The child's spawn key is the root's followed by a tag and four 32-bit words
    of the BLAKE2b digest of ``key`` (and ``occurrence``, which tells apart
    interventions that share kind and name): it depends on nothing else in the
    scenario, and cannot coincide with the model's own streams (whose spawn
    keys are one word longer than the root's).
    """
    digest = hashlib.blake2b(f"{key}#{occurrence}".encode(), digest_size=16).digest()
    words = tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))
    child = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, _INTERVENTION_TAG, *words))
    return np.random.default_rng(child)


_INTERVENTION_TAG = 0x1A7E  # marks the spawn keys of intervention streams


def intervention_streams(root: np.random.SeedSequence, interventions) -> list[np.random.Generator]:
    """One generator per intervention (see :func:`intervention_stream`)."""
    seen: dict[str, int] = {}
    out = []
    for iv in interventions:
        occurrence = seen.get(iv.key, 0)
        seen[iv.key] = occurrence + 1
        out.append(intervention_stream(root, iv.key, occurrence))
    return out


def apply_all(model, month: int) -> None:
    """Apply every active intervention of ``model`` for ``month`` (step 0 of the month).

    Resets and then sets the month's per-citizen modifiers (``extra_external``,
    ``p_success_i``, ``mandate_share``, ``assisted_extra``); kinds that change
    state directly (infrastructure, skills, trust) do so. Adds reach and cost to
    ``model.intervention_log`` and ``model.month_cost_kzt``.
    """
    model.extra_external[:] = 0.0
    model.p_success_i[:] = model.params.p_success
    model.mandate_share[:] = 0.0
    model.assisted_extra[:] = 0.0
    model.month_cost_kzt = 0.0
    model.month_cost_variable_kzt = 0.0
    for iv, target, rng in zip(model.interventions, model.target_masks, model.intervention_rngs, strict=True):
        if not iv.active(month):
            continue
        n_reached = EFFECTS[iv.kind].apply(model, iv, target, rng)
        variable = n_reached * iv.cost_per_person_kzt
        cost = variable + iv.cost_fixed_per_month_kzt
        model.month_cost_kzt += cost
        model.month_cost_variable_kzt += variable
        model.intervention_log.append({"month": month, "intervention": iv.name or iv.kind, "kind": iv.kind,
                                       "reached": n_reached, "cost_kzt": cost})
