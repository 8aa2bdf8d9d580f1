"""The vectorised adoption model: state in numpy arrays, Mesa agents as views.

One step is one month. The order of work in a step is fixed:

0. **Interventions.** Every active policy intervention is applied
   (:mod:`model.interventions`): it sets this month's extra access hazard,
   extra external influence and service quality of its target group, or
   changes state directly (training, trust, forced or assisted use).
1. **Access and skill.** Citizens without internet access gain it with hazard
   ``(access_external + access_social * national access share) * g_i``
   (plus any intervention's extra hazard); citizens
   online without digital skill acquire it with hazard ``skill_per_year * g_i``,
   where ``g_i = exp(divide_i) / mean(exp(divide))`` is the citizen's group
   factor (rural, older and less educated citizens are slower).
2. **Awareness.** Unaware citizens hear of the portal with hazard
   ``awareness_external + awareness_social * u_i``, ``u_i`` the share of their
   neighbours who were users at the start of the month.
3. **Opinion.** Attitude and trust move toward the neighbours' mean
   (``conformity_per_month``) and back toward the citizen's own initial value
   (``anchoring_per_month``), and shift with word of mouth: the share of
   neighbours whose use succeeded last month minus the share whose use failed,
   times ``wom_attitude`` / ``wom_trust``. Readiness and intention are then
   recomputed through the structural equations.
4. **Adoption.** Non-users who are aware, online, skilled and whose trust is
   above ``trust_lapse_threshold`` start using the portal with probability
   ``1 - exp(-(p + q * u_i) * m_i * dt)``, ``m_i = 2 * logistic(slope *
   (intention_i - threshold))`` (``m_i = 1`` when ``slope = 0``).
5. **Use and experience.** Each user uses the portal with ``p_use_per_month``;
   a use succeeds with ``p_success``. Success adds ``trust_gain_success`` to
   trust, failure removes ``trust_loss_failure``; readiness and intention are
   recomputed.
6. **Lapse.** Users whose trust is now below ``trust_lapse_threshold`` stop
   using the portal (they are *lapsed*, and may adopt again in step 4 once
   their trust recovers).
7. **Record** the month's outcomes.

All reads of neighbours' state in steps 2-4 use the state at the start of the
month (synchronous update). ``dt = 1/12`` year; every ``*_per_year`` rate is
a hazard per year.
"""

from __future__ import annotations

import datetime as _dt
import math
import re

import mesa
import numpy as np
from scipy.optimize import brentq
from scipy.special import expit

from model.citizen import Citizen
from model.interventions import Intervention, apply_all
from model.network import Adjacency, build_graph, to_adjacency
from model.params import Params
from model.population import AGE_BANDS, PopulationSpec, construct_shift, synth_population
from model.sem import SEMParams
from model.streams import seed_sequence, spawn_streams

DT_YEARS = 1.0 / 12.0


def slug(name: str) -> str:
    """Column-safe lowercase name: 'Almaty city' -> 'almaty_city', '18-29' -> '18_29', '60+' -> '60plus'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("+", "plus")).strip("_")


def month_date(start_month: str, month: int) -> _dt.date:
    """First day of the calendar month ``month`` steps after ``start_month`` (YYYY-MM)."""
    year, mon = (int(x) for x in start_month.split("-"))
    total = year * 12 + (mon - 1) + month
    return _dt.date(total // 12, total % 12 + 1, 1)


def _calibrated_logistic(share: float, offset: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Bernoulli draws with P_i = logistic(c + offset_i), c set so the mean P equals ``share``."""
    if share <= 0.0:
        return np.zeros(offset.shape, dtype=bool)
    if share >= 1.0:
        return np.ones(offset.shape, dtype=bool)
    c = brentq(lambda c: expit(c + offset).mean() - share, -50.0, 50.0, xtol=1e-12)
    return u < expit(c + offset)


class AdoptionModel(mesa.Model):
    """E-government portal adoption on a social graph, one step per month.

    Args:
        params: scalar parameters (defaults: :class:`Params`).
        sem: structural equation parameters (defaults: independent standard
            latents with no paths; pass the calibrated set for real runs).
        population: national margins (default: :meth:`PopulationSpec.uniform`).
        seed: run seed (non-negative int).
        replicate: replicate index; replicate ``r`` draws from an independent
            stream spawned from ``seed``.
        create_agents: create one Mesa :class:`Citizen` view per citizen, so
            ``model.agents`` and ``mesa.DataCollector`` work. Off for batch runs.
        interventions: policy interventions applied at step 0 of every month.
        adjacency: reuse a social graph already built for this seed, population
            and network parameters (calibration runs many parameter sets on one
            graph); by default the graph is built from the ``network`` stream.
        **overrides: any field of :class:`Params` by name (validated).
    """

    def __init__(self, *, params: Params | None = None, sem: SEMParams | None = None,
                 population: PopulationSpec | None = None, seed: int = 0, replicate: int = 0,
                 create_agents: bool = True, adjacency: Adjacency | None = None,
                 interventions: tuple[Intervention, ...] | list[Intervention] = (), **overrides) -> None:
        self.root_seed = seed_sequence(seed, replicate)
        self.streams = spawn_streams(self.root_seed)
        super().__init__(rng=self.streams["mesa"])
        self.seed_value = int(seed)
        self.replicate = int(replicate)
        self.params = Params.from_mapping(overrides, base=params) if overrides else (params or Params())
        self.sem = sem or SEMParams()
        self.spec = population or PopulationSpec.uniform()
        p = self.params
        n = p.n_agents
        self.n = n
        self.month = 0

        # Demographics and social graph.
        self.pop = synth_population(self.spec, n, self.streams["population"])
        if adjacency is not None:  # a graph built earlier for the same seed and population (batch runs)
            if adjacency.n != n:
                raise ValueError(f"adjacency: built for {adjacency.n} citizens, the model has {n}")
            self.graph = None
            self.adjacency: Adjacency = adjacency
        else:
            block = self.pop.region.astype(np.int64) * 2 + self.pop.urban
            self.graph = build_graph(p.network, n, p.mean_degree, self.streams["network"],
                                     p_rewire=p.p_rewire, p_triangle=p.p_triangle, block=block)
            self.adjacency = to_adjacency(self.graph, n)

        # Constructs from the SEM, shifted by group.
        shift_att, shift_trust = construct_shift(self.spec, self.pop)
        att, trust, zeta_r, zeta_i = self.sem.draw(n, self.streams["constructs"], shift_att, shift_trust)
        self.attitude, self.trust = att, trust
        self.attitude0, self.trust0 = att.copy(), trust.copy()
        self.zeta_r, self.zeta_i = zeta_r, zeta_i
        self.readiness = np.empty(n)
        self.intention = np.empty(n)
        self.recompute_constructs()

        # Access, skill, awareness, initial users.
        g = np.exp(self.pop.divide.astype(np.float64))
        self.group_factor = g / g.mean()
        self.p_skill = -np.expm1(-p.skill_per_year * self.group_factor * DT_YEARS)  # monthly, fixed per citizen
        u = self.streams["initial"].random((4, n))
        divide = self.pop.divide.astype(np.float64)
        self.access = _calibrated_logistic(p.share_access_initial, divide, u[0])
        self.skill = self.access & _calibrated_logistic(p.share_skill_initial, divide, u[1])
        self.aware = u[2] < p.share_aware_initial
        eligible = self.aware & self.access & self.skill
        n_eligible = int(eligible.sum())
        p_initial = min(1.0, p.share_adopters_initial * n / n_eligible) if n_eligible else 0.0
        self.user = eligible & (u[3] < p_initial)
        self.ever_user = self.user.copy()
        self.used = np.zeros(n, dtype=bool)  # used the portal this month
        self.last_outcome = np.zeros(n, dtype=np.int8)  # +1 success, -1 failure, 0 no use
        self.n_uses = 0
        self.n_failures = 0
        self.n_new_users = 0
        self.n_lapses = 0

        self.region_names = tuple(self.spec.region_names)
        self.interventions = tuple(interventions)
        for iv in self.interventions:
            iv.target.validate(self.region_names, where=f"intervention {iv.name or iv.kind}: target")
        self.target_masks = [iv.target.mask(self) for iv in self.interventions]
        self.extra_access = np.zeros(n)  # this month's extra access hazard per citizen [1/year]
        self.extra_external = np.zeros(n)  # extra external influence (awareness and Bass p) [1/year]
        self.p_success_i = np.full(n, p.p_success)  # this month's success probability of a use
        self.month_cost_kzt = 0.0
        self.month_cost_variable_kzt = 0.0  # the per-person part of this month's cost
        self.cost_kzt = 0.0
        self.intervention_log: list[dict] = []
        self.outcomes: list[dict] = []
        self._nb_values: np.ndarray | None = None  # reused buffer of the neighbourhood reads
        # outcome groups: one code per (age band, region, urban) so one bincount gives every margin
        n_regions = len(self.region_names)
        self._group_shape = (len(AGE_BANDS), n_regions, 2)
        self._group_code = ((self.pop.age_band.astype(np.int64) * n_regions + self.pop.region) * 2
                            + self.pop.urban)
        counts = np.bincount(self._group_code, minlength=math.prod(self._group_shape)).reshape(self._group_shape)
        self._group_counts = (counts.sum(axis=(0, 1))[::-1], counts.sum(axis=(1, 2)), counts.sum(axis=(0, 2)))
        self._group_columns = (["adoption_urban", "adoption_rural"],
                               [f"adoption_age_{slug(b)}" for b in AGE_BANDS],
                               [f"adoption_region_{slug(r)}" for r in self.region_names])
        self.citizens: list[Citizen] = (
            list(Citizen.create_agents(self, n, index=list(range(n)))) if create_agents else []
        )
        self.record()

    # ------------------------------------------------------------------ helpers
    def recompute_constructs(self, idx=None) -> None:
        """Recompute readiness and intention from attitude and trust (all citizens, or ``idx``)."""
        sel = slice(None) if idx is None else idx
        self.readiness[sel] = self.sem.readiness(self.attitude[sel], self.trust[sel], self.zeta_r[sel])
        self.intention[sel] = self.sem.intention(self.readiness[sel], self.attitude[sel], self.trust[sel],
                                                 self.zeta_i[sel])

    def intention_multiplier(self, idx=None) -> np.ndarray:
        """``m_i = 2 * logistic(slope * (intention_i - threshold))`` (all citizens, or ``idx``); 1 when slope is 0."""
        p = self.params
        intention = self.intention if idx is None else self.intention[idx]
        if p.intention_slope == 0.0:
            return np.ones(len(intention))
        return 2.0 * expit(p.intention_slope * (intention - p.intention_threshold))

    @property
    def state_code(self) -> np.ndarray:
        """0 unaware, 1 aware non-user, 2 adopter (current user), 3 lapsed (former user)."""
        code = np.where(self.aware, 1, 0).astype(np.int8)
        code[self.ever_user & ~self.user] = 3
        code[self.user] = 2
        return code

    @property
    def date(self) -> _dt.date:
        """First day of the current month."""
        return month_date(self.params.start_month, self.month)

    # --------------------------------------------------------------------- step
    def step(self) -> None:
        """Advance one month (order of work: see the module docstring)."""
        p = self.params
        n = self.n
        adj = self.adjacency
        dt = DT_YEARS
        s = self.streams

        # Neighbourhood reads at the start of the month (synchronous update).
        # One sparse product over four columns: users, last month's outcome (+1 success, -1 failure, 0),
        # attitude and trust. The mean outcome is the share of neighbours whose use succeeded minus the
        # share whose use failed.
        buf = self._nb_values
        if buf is None or buf.dtype != adj.dtype:
            buf = self._nb_values = np.empty((n, 4), dtype=adj.dtype)
        buf[:, 0] = self.user
        buf[:, 1] = self.last_outcome
        buf[:, 2] = self.attitude
        buf[:, 3] = self.trust
        # one pass to contiguous rows: the arithmetic below then runs on plain vectors
        share_users_nb, wom, att_nb, trust_nb = np.array(adj.neighbour_mean(buf).T, order="C")

        # 0. Interventions.
        if self.interventions:
            apply_all(self, self.month)
            self.cost_kzt += self.month_cost_kzt

        # 1. Access and skill.
        u_access = s["access"].random((2, n))
        h_access = (p.access_external_per_year + p.access_social_per_year * self.access.mean()) * self.group_factor
        if self.interventions:
            h_access = h_access + self.extra_access
        self.access |= u_access[0] < -np.expm1(-h_access * dt)
        self.skill |= self.access & (u_access[1] < self.p_skill)

        # 2. Awareness.
        h_aware = p.awareness_external_per_year + p.awareness_social_per_year * share_users_nb + self.extra_external
        self.aware |= s["awareness"].random(n) < -np.expm1(-h_aware * dt)

        # 3. Opinion: conformity, anchoring, word of mouth; then the SEM.
        self.attitude += (p.conformity_per_month * (att_nb - self.attitude)
                          + p.anchoring_per_month * (self.attitude0 - self.attitude) + p.wom_attitude * wom)
        self.trust += (p.conformity_per_month * (trust_nb - self.trust)
                       + p.anchoring_per_month * (self.trust0 - self.trust) + p.wom_trust * wom)
        self.recompute_constructs()

        # 4. Adoption: Bass hazard on the network, scaled by intention, gated.
        # The hazard is computed for the eligible only (the draw stays full-length for common random numbers).
        eligible = np.flatnonzero(~self.user & self.aware & self.access & self.skill
                                  & (self.trust > p.trust_lapse_threshold))
        u_adopt = s["adoption"].random(n)
        h_adopt = ((p.p_external_per_year + self.extra_external[eligible]
                    + p.q_social_per_year * share_users_nb[eligible]) * self.intention_multiplier(eligible))
        new_users = np.zeros(n, dtype=bool)
        new_users[eligible[u_adopt[eligible] < -np.expm1(-h_adopt * dt)]] = True
        self.user |= new_users
        self.ever_user |= new_users

        # 5. Use and experience.
        u_use = s["use"].random(n)
        u_success = s["experience"].random(n)
        self.used = self.user & (u_use < p.p_use_per_month)
        success = self.used & (u_success < self.p_success_i)
        failure = self.used & ~success
        self.last_outcome = success.astype(np.int8) - failure.astype(np.int8)
        users = np.flatnonzero(self.used)  # only their trust changes
        self.trust[users] += p.trust_gain_success * success[users] - p.trust_loss_failure * failure[users]
        self.recompute_constructs(users if 3 * len(users) < n else None)

        # 6. Lapse.
        lapse = self.user & (self.trust < p.trust_lapse_threshold)
        self.user &= ~lapse

        self.n_uses = int(self.used.sum())
        self.n_failures = int(failure.sum())
        self.n_new_users = int(new_users.sum())
        self.n_lapses = int(lapse.sum())
        self.month += 1
        # 7. Record.
        self.record()

    def run(self, months: int, progress=None) -> None:
        """Run ``months`` steps; ``progress(1)`` is called after each if given."""
        for _ in range(months):
            self.step()
            if progress is not None:
                progress(1)

    # ----------------------------------------------------------------- outcomes
    def record(self) -> dict:
        """Append and return this month's aggregate outcomes (no per-citizen copies)."""
        n = self.n
        # Month 0 has had no uses yet: report the share of current users.
        active = self.used if self.month > 0 else self.user
        row = {
            "month": self.month,
            "date": self.date,
            "adoption": active.sum() / n,
            "share_users": self.user.sum() / n,
            "share_ever_used": self.ever_user.sum() / n,
            "share_lapsed": (self.ever_user & ~self.user).sum() / n,
            "share_aware": self.aware.sum() / n,
            "internet_access": self.access.sum() / n,
            "digital_literacy": self.skill.sum() / n,
            "mean_attitude": float(self.attitude.mean()),
            "mean_trust": float(self.trust.mean()),
            "mean_readiness": float(self.readiness.mean()),
            "mean_intention": float(self.intention.mean()),
            "n_uses": self.n_uses,
            "n_failures": self.n_failures,
            "n_new_users": self.n_new_users,
            "n_lapses": self.n_lapses,
            "cost_kzt": self.month_cost_kzt if self.month > 0 else 0.0,
            "cost_per_person_part_kzt": self.month_cost_variable_kzt if self.month > 0 else 0.0,
            "cumulative_cost_kzt": self.cost_kzt,
        }
        totals = np.bincount(self._group_code, weights=active,
                             minlength=math.prod(self._group_shape)).reshape(self._group_shape)
        margins = (totals.sum(axis=(0, 1))[::-1], totals.sum(axis=(1, 2)), totals.sum(axis=(0, 2)))
        for names, total, count in zip(self._group_columns, margins, self._group_counts, strict=True):
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            row.update(zip(names, share.tolist(), strict=True))
        self.outcomes.append(row)
        return row

    def outcomes_frame(self):
        """Outcomes so far as a pandas DataFrame, one row per month."""
        import pandas as pd

        return pd.DataFrame(self.outcomes)

