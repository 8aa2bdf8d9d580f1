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
from egov_abm.model.calendar import DT_YEARS, month_date
from egov_abm.model.citizen import CitizenViews
from egov_abm.model.interventions import Intervention, apply_all
from egov_abm.model.network import CHUNK, Adjacency, build_graph, ring_graph, to_adjacency
from egov_abm.model.params import Params
from egov_abm.model.population import AGE_BANDS, PopulationSpec, construct_shift, synth_population
from egov_abm.model.sem import SEMParams
from egov_abm.model.streams import seed_sequence, spawn_streams
from scipy.optimize import brentq
from scipy.special import expit


def slug(name: str) -> str:
    """Column-safe lowercase name: 'Almaty city' -> 'almaty_city', '18-29' -> '18_29', '60+' -> '60plus'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("+", "plus")).strip("_")


def _calibrated_logistic(share: float, levels: np.ndarray, counts: np.ndarray, inverse: np.ndarray,
                         u: np.ndarray) -> np.ndarray:
    """Bernoulli draws with P_i = logistic(c + levels[inverse_i]), c set so the mean P equals ``share``.

    The offsets take few distinct ``levels`` (with ``counts`` citizens each),
    so the constant is solved on the levels, not on every citizen.
    """
    if share <= 0.0:
        return np.zeros(u.shape, dtype=bool)
    if share >= 1.0:
        return np.ones(u.shape, dtype=bool)
    weights = counts / counts.sum()
    c = brentq(lambda c: (expit(c + levels) * weights).sum() - share, -50.0, 50.0, xtol=1e-12)
    return u < expit(c + levels)[inverse]


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
        pop = synth_population(self.spec, n, self.streams["population"])
        block = pop.region.astype(np.int64) * 2 + pop.urban  # (region, urban) block of each citizen
        direct = p.graph_builder == "direct" and p.network in ("homophily", "small_world")
        if direct and p.network == "homophily":
            # Number citizens by block: the ring runs along the index order, so unrewired
            # ties stay in the block and neighbours sit next to each other in memory.
            order = np.argsort(block, kind="stable")
            pop, block = pop.take(order), block[order]
        self.pop = pop
        self.graph = None  # the networkx graph, when the networkx builder made one
        if adjacency is not None:  # a graph built earlier for the same seed and population (batch runs)
            if adjacency.n != n:
                raise ValueError(f"adjacency: built for {adjacency.n} citizens, the model has {n}")
            self.adjacency: Adjacency = adjacency
        elif direct:
            self.adjacency = Adjacency(n, ring=ring_graph(n, p.mean_degree, p.p_rewire, self.streams["network"]))
        else:
            self.graph = build_graph(p.network, n, p.mean_degree, self.streams["network"],
                                     p_rewire=p.p_rewire, p_triangle=p.p_triangle, block=block)
            self.adjacency = to_adjacency(self.graph, n)
        del block

        # Constructs from the SEM, shifted by group; state is float32 (half the memory traffic of float64).
        shift_att, shift_trust = construct_shift(self.spec, self.pop)
        att, trust, zeta_r, zeta_i = self.sem.draw(n, self.streams["constructs"], shift_att, shift_trust)
        del shift_att, shift_trust
        self.attitude, self.trust = att.astype(np.float32), trust.astype(np.float32)
        self.attitude0, self.trust0 = self.attitude.copy(), self.trust.copy()
        self.zeta_r, self.zeta_i = zeta_r.astype(np.float32), zeta_i.astype(np.float32)
        del att, trust, zeta_r, zeta_i
        self.readiness = np.empty(n, dtype=np.float32)
        self.intention = np.empty(n, dtype=np.float32)
        self.recompute_constructs()

        # Access, skill, awareness, initial users. The group factor takes one value per
        # (rural, age band, education) group, so it is computed per group, not per citizen.
        levels, inverse = np.unique(self.pop.divide, return_inverse=True)
        level_counts = np.bincount(inverse, minlength=len(levels))
        g = np.exp(levels.astype(np.float64))
        g /= (g * level_counts).sum() / n
        self.group_factor = g.astype(np.float32)[inverse]
        # monthly, fixed per citizen
        self.p_skill = (-np.expm1(-p.skill_per_year * g * DT_YEARS)).astype(np.float32)[inverse]
        initial = self.streams["initial"]
        offsets = levels.astype(np.float64), level_counts, inverse
        self.access = _calibrated_logistic(p.share_access_initial, *offsets, initial.random(n))
        self.skill = self.access & _calibrated_logistic(p.share_skill_initial, *offsets, initial.random(n))
        del inverse
        self.aware = initial.random(n) < p.share_aware_initial
        eligible = self.aware & self.access & self.skill
        n_eligible = int(np.count_nonzero(eligible))
        p_initial = min(1.0, p.share_adopters_initial * n / n_eligible) if n_eligible else 0.0
        self.user = eligible & (initial.random(n) < p_initial)
        del eligible
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
        # this month's per-citizen modifiers, set by the interventions (allocated only when there are any)
        shape = n if self.interventions else 0
        self.extra_access = np.zeros(shape, dtype=np.float32)  # extra access hazard [1/year]
        self.extra_external = np.zeros(shape, dtype=np.float32)  # extra external influence (awareness, Bass p)
        self.p_success_i = np.full(shape, p.p_success, dtype=np.float32)  # success probability of a use
        self.month_cost_kzt = 0.0
        self.month_cost_variable_kzt = 0.0  # the per-person part of this month's cost
        self.cost_kzt = 0.0
        self.intervention_log: list[dict] = []
        self.outcomes: list[dict] = []
        # outcome groups: one code per (age band, region, urban) so one bincount gives every margin
        n_regions = len(self.region_names)
        self._group_shape = (len(AGE_BANDS), n_regions, 2)
        self._group_code = ((self.pop.age_band.astype(np.int32) * n_regions + self.pop.region) * 2
                            + self.pop.urban).astype(np.int32)
        counts = np.bincount(self._group_code, minlength=math.prod(self._group_shape)).reshape(self._group_shape)
        self._group_counts = (counts.sum(axis=(0, 1))[::-1], counts.sum(axis=(1, 2)), counts.sum(axis=(0, 2)))
        self._group_columns = (["adoption_urban", "adoption_rural"],
                               [f"adoption_age_{slug(b)}" for b in AGE_BANDS],
                               [f"adoption_region_{slug(r)}" for r in self.region_names])
        self._nb_buffer = self.adjacency.new_buffer(4)  # working memory of the step, mapped now
        self.citizens = CitizenViews(self)
        if create_agents:
            self.citizens.create_all()
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
            return np.ones(len(intention), dtype=np.float32)
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
        """Advance one month (order of work: see the module docstring).

        After the neighbourhood reads and the interventions, steps 1-6 are
        per citizen, so they run over slices of :data:`CHUNK` citizens whose
        arrays stay in the processor's cache. Every random stream is drawn in
        index order, one number per citizen, so the result does not depend on
        the slice size.
        """
        n = self.n
        adj = self.adjacency

        # Neighbourhood reads at the start of the month (synchronous update). One pass over four
        # columns: users, last month's outcome (+1 success, -1 failure, 0), attitude and trust. The
        # mean outcome is the share of neighbours whose use succeeded minus the share whose use failed.
        buf, columns = self._nb_buffer
        columns[:, 0] = self.user
        columns[:, 1] = self.last_outcome
        columns[:, 2] = self.attitude
        columns[:, 3] = self.trust
        nb_sums = adj.column_sums(buf)

        # 0. Interventions.
        if self.interventions:
            apply_all(self, self.month)
            self.cost_kzt += self.month_cost_kzt

        access_share = np.count_nonzero(self.access) / n
        counts = np.zeros(4, dtype=np.int64)  # uses, failures, new users, lapses
        parts = []
        for sl in self._slices():
            counts += self._step_slice(sl, nb_sums[sl], access_share)
            parts.append(self._tally(sl, self.used))  # while the slice is still in cache
        self.n_uses, self.n_failures, self.n_new_users, self.n_lapses = (int(c) for c in counts)
        self.month += 1
        # 7. Record.
        self.record(parts)

    def _step_slice(self, sl: slice, nb_sums: np.ndarray, access_share: float) -> np.ndarray:
        """Steps 1-6 for the citizens in ``sl``; returns (uses, failures, new users, lapses)."""
        p = self.params
        s = self.streams
        dt = DT_YEARS
        m = sl.stop - sl.start
        inv_degree = self.adjacency.inv_degree[sl]
        share_users_nb, wom, att_nb, trust_nb = (nb_sums[:, k] * inv_degree for k in range(4))
        extra = bool(self.interventions)

        # 1. Access and skill.
        h_access = (p.access_external_per_year + p.access_social_per_year * access_share) * self.group_factor[sl]
        if extra:
            h_access += self.extra_access[sl]
        access = self.access[sl]
        access |= s["access"].random(m) < -np.expm1(-h_access * dt)
        skill = self.skill[sl]
        skill |= access & (s["skill"].random(m) < self.p_skill[sl])

        # 2. Awareness.
        h_aware = p.awareness_external_per_year + p.awareness_social_per_year * share_users_nb
        if extra:
            h_aware += self.extra_external[sl]
        aware = self.aware[sl]
        aware |= s["awareness"].random(m) < -np.expm1(-h_aware * dt)

        # 3. Opinion: conformity, anchoring, word of mouth; then the SEM.
        att, trust = self.attitude[sl], self.trust[sl]
        att += (p.conformity_per_month * (att_nb - att)
                + p.anchoring_per_month * (self.attitude0[sl] - att) + p.wom_attitude * wom)
        trust += (p.conformity_per_month * (trust_nb - trust)
                  + p.anchoring_per_month * (self.trust0[sl] - trust) + p.wom_trust * wom)
        self.recompute_constructs(sl)

        # 4. Adoption: Bass hazard on the network, scaled by intention, gated.
        # The hazard is computed for the eligible only (the draw stays full-length for common random numbers).
        user = self.user[sl]
        eligible = np.flatnonzero(~user & aware & access & skill & (trust > p.trust_lapse_threshold))
        u_adopt = s["adoption"].random(m)
        h_adopt = p.p_external_per_year + p.q_social_per_year * share_users_nb[eligible]
        if extra:
            h_adopt += self.extra_external[sl][eligible]
        h_adopt *= self.intention_multiplier(eligible + sl.start)
        new_users = eligible[u_adopt[eligible] < -np.expm1(-h_adopt * dt)]
        user[new_users] = True
        self.ever_user[sl][new_users] = True

        # 5. Use and experience.
        used = self.used[sl]
        np.less(s["use"].random(m), p.p_use_per_month, out=used)
        used &= user
        u_success = s["experience"].random(m)
        success = used & (u_success < (self.p_success_i[sl] if extra else p.p_success))
        failure = used & ~success
        outcome = self.last_outcome[sl]
        np.subtract(success.view(np.int8), failure.view(np.int8), out=outcome)
        users = np.flatnonzero(used)  # only their trust changes
        trust[users] += p.trust_gain_success * success[users] - p.trust_loss_failure * failure[users]
        self.recompute_constructs(users + sl.start if 3 * len(users) < m else sl)

        # 6. Lapse.
        lapse = user & (trust < p.trust_lapse_threshold)
        user &= ~lapse
        return np.array([len(users), np.count_nonzero(failure), len(new_users), np.count_nonzero(lapse)])

    def run(self, months: int, progress=None) -> None:
        """Run ``months`` steps; ``progress(1)`` is called after each if given."""
        for _ in range(months):
            self.step()
            if progress is not None:
                progress(1)

    def _slices(self):
        """Consecutive slices of at most :data:`CHUNK` citizens covering everyone."""
        return (slice(lo, min(self.n, lo + CHUNK)) for lo in range(0, self.n, CHUNK))

    # ----------------------------------------------------------------- outcomes
    def _tally(self, sl: slice, active: np.ndarray) -> list:
        """Counts and sums over the citizens in ``sl``: the pieces of a month's outcome row."""
        act, user, ever = active[sl], self.user[sl], self.ever_user[sl]
        flags = [act, user, ever, ever & ~user, self.aware[sl], self.access[sl], self.skill[sl]]
        sums = [float(x[sl].sum(dtype=np.float64))
                for x in (self.attitude, self.trust, self.readiness, self.intention)]
        groups = np.bincount(self._group_code[sl][act], minlength=math.prod(self._group_shape))
        return [*(np.count_nonzero(f) for f in flags), *sums, groups]

    def record(self, parts: list[list] | None = None) -> dict:
        """Append and return this month's aggregate outcomes (no per-citizen copies).

        ``parts`` are the :meth:`_tally` of every slice when the step has
        gathered them; otherwise they are computed here.
        """
        n = self.n
        if parts is None:
            # Month 0 has had no uses yet: report the share of current users.
            active = self.used if self.month > 0 else self.user
            parts = [self._tally(sl, active) for sl in self._slices()]
        totals = [sum(column) for column in zip(*parts, strict=True)]
        n_active, n_user, n_ever, n_lapsed, n_aware, n_access, n_skill, s_att, s_trust, s_read, s_int, groups = totals
        row = {
            "month": self.month,
            "date": self.date,
            "adoption": n_active / n,
            "share_users": n_user / n,
            "share_ever_used": n_ever / n,
            "share_lapsed": n_lapsed / n,
            "share_aware": n_aware / n,
            "internet_access": n_access / n,
            "digital_literacy": n_skill / n,
            "mean_attitude": s_att / n,
            "mean_trust": s_trust / n,
            "mean_readiness": s_read / n,
            "mean_intention": s_int / n,
            "n_uses": self.n_uses,
            "n_failures": self.n_failures,
            "n_new_users": self.n_new_users,
            "n_lapses": self.n_lapses,
            "cost_kzt": self.month_cost_kzt if self.month > 0 else 0.0,
            "cost_per_person_part_kzt": self.month_cost_variable_kzt if self.month > 0 else 0.0,
            "cumulative_cost_kzt": self.cost_kzt,
        }
        totals = groups.reshape(self._group_shape)
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

