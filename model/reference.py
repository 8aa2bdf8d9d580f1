"""Per-agent reference implementation of the monthly step, in plain Mesa idiom.

Each citizen is a ``FixedAgent`` on a ``mesa.discrete_space.Network``; its
``step`` reads its neighbours' state at the start of the month and computes
its own next state, ``advance`` commits it (synchronous update, as in the
vectorised model). The rules are those of :mod:`model.processes`, written once
more agent by agent: this is the oracle for correctness and the baseline for
speed, not a production path.

The initial state (population, graph, constructs, access, skill, awareness,
users) is taken from an :class:`~model.adoption.AdoptionModel` built with the
same seed, so the two implementations start identical and differ only in how
the month's random draws are made.
"""

from __future__ import annotations

import math

import mesa
from mesa.discrete_space import FixedAgent, Network

from egov_abm.model.adoption import AdoptionModel
from egov_abm.model.calendar import DT_YEARS
from egov_abm.model.events import month_effects
from egov_abm.model.processes.adoption import CLOGLOG_SCALE


class RefCitizen(FixedAgent):
    """A citizen that keeps its own state as plain attributes."""

    def __init__(self, model: ReferenceModel, cell, **state) -> None:
        super().__init__(model)
        self.cell = cell
        self.__dict__.update(state)
        self.next: dict = {}

    def _hazard_draw(self, hazard_per_year: float) -> bool:
        return self.model.rng.random() < 1.0 - math.exp(-hazard_per_year * DT_YEARS)

    def step(self) -> None:
        """Compute next month's state from this citizen's and its neighbours' current state."""
        p = self.model.params
        sem = self.model.sem
        nbrs = list(self.cell.neighborhood.agents)
        k = max(len(nbrs), 1)
        share_users = sum(a.user for a in nbrs) / k
        wom = (sum(a.last_outcome == 1 for a in nbrs) - sum(a.last_outcome == -1 for a in nbrs)) / k
        att_nb = sum(a.attitude for a in nbrs) / k
        trust_nb = sum(a.trust for a in nbrs) / k

        access, skill, aware, user = self.access, self.skill, self.aware, self.user
        if not access:
            h = (p.access_external_per_year + p.access_social_per_year * self.model.access_share) * self.group_factor
            access = self._hazard_draw(h)
        if access and not skill:
            skill = self._hazard_draw(p.skill_per_year * self.group_factor)
        if not aware:
            aware = self._hazard_draw(p.awareness_external_per_year + p.awareness_social_per_year * share_users)

        rng = self.model.rng
        sat = self.satisfaction
        lo, hi = self.model.attitude_bounds
        target = (1 - p.conformity_weight) * self.attitude0 + p.conformity_weight * att_nb + (
            p.wom_attitude * wom + p.experience_attitude * sat)
        attitude = self.attitude + p.opinion_rate_per_month * (min(max(target, lo), hi) - self.attitude)
        lo, hi = self.model.trust_bounds
        target = (1 - p.conformity_weight) * self.trust0 + p.conformity_weight * trust_nb + (
            p.wom_trust * wom + p.experience_trust * sat)
        trust = self.trust + p.opinion_rate_per_month * (min(max(target, lo), hi) - self.trust)
        readiness = sem.readiness(attitude, trust, self.zeta_r)
        intention = sem.intention(readiness, attitude, trust, self.zeta_i)

        if not user and aware and access and skill:
            factor = math.exp(CLOGLOG_SCALE * p.intention_slope * intention)
            user = self._hazard_draw((p.p_external_per_year + p.q_social_per_year * share_users) * factor)

        # Channel: a need this month, met online, at a centre, by a household member, or not at all.
        used = assisted = False
        if rng.random() < self.need_rate:
            able = access and skill
            online_only = rng.random() < self.model.online_only
            if online_only:
                if user and able:
                    used = True
                elif rng.random() >= p.p_proxy:  # no household member does it: try the portal if able
                    used = able and aware
            elif user and able:
                c = 0.5 * math.erfc(-(p.use_intercept + p.intention_slope * intention
                                      + p.use_on_satisfaction * sat) / math.sqrt(2.0))
                used = rng.random() < c
            if not used and not online_only:
                assisted = rng.random() < p.p_assisted
        if assisted:
            aware = True

        outcome, last_use = 0, self.last_use
        if used:
            quality = p.p_success - self.model.emergency * max(0.0, p.p_success - p.emergency_p_success)
            outcome = 1 if rng.random() < quality else -1
            sat += p.satisfaction_rate * (outcome - sat)
            last_use = self.model.month
            user = user or outcome == 1
        if user:
            h = p.lapse_per_year * math.exp(-p.lapse_on_satisfaction * sat - p.lapse_on_trust * trust)
            if self._hazard_draw(h):
                user = False
        self.next = dict(access=access, skill=skill, aware=aware, attitude=attitude, trust=trust,
                         user=user, ever_user=self.ever_user or used or user, last_outcome=outcome,
                         satisfaction=sat, last_use=last_use)

    def advance(self) -> None:
        """Commit the state computed in :meth:`step`."""
        self.__dict__.update(self.next)


class ReferenceModel(mesa.Model):
    """The same model, one Python object per citizen. Small N only.

    Takes the same keyword arguments as :class:`~model.adoption.AdoptionModel`.
    """

    def __init__(self, **kwargs) -> None:
        kwargs["create_agents"] = False
        init = AdoptionModel(**kwargs)
        super().__init__(rng=init.streams["mesa"])
        self.params, self.sem, self.n = init.params, init.sem, init.n
        graph = init.graph if init.graph is not None else init.adjacency.to_networkx()
        self.space = Network(graph, capacity=1, random=self.random)
        for i in range(init.n):
            RefCitizen(self, self.space[i], index=i,
                       access=bool(init.access[i]), skill=bool(init.skill[i]), aware=bool(init.aware[i]),
                       user=bool(init.user[i]), ever_user=bool(init.ever_user[i]), last_outcome=0,
                       attitude=float(init.attitude[i]), trust=float(init.trust[i]),
                       attitude0=float(init.attitude0[i]), trust0=float(init.trust0[i]),
                       zeta_r=float(init.zeta_r[i]), zeta_i=float(init.zeta_i[i]),
                       group_factor=float(init.group_factor[i]), need_rate=float(init.need_rate[i]),
                       satisfaction=0.0, last_use=int(init.last_use[i]))
        self.attitude_bounds, self.trust_bounds = init.attitude_bounds, init.trust_bounds
        self.start_month, self.month = init.params.start_month, 0
        self.online_only = self.emergency = 0.0
        self.access_share = 0.0
        self.history: list[dict] = []
        self._record()

    def step(self) -> None:
        """One month: every citizen computes its next state, then all commit."""
        self.access_share = sum(a.access for a in self.agents) / self.n
        if self.params.dated_events != "none":
            self.online_only, self.emergency = month_effects(self.start_month, self.month)
        self.agents.do("step")
        self.agents.do("advance")
        self.month += 1
        self._record()

    def _record(self) -> None:
        users = sum(a.user for a in self.agents)
        used = sum(a.last_outcome != 0 for a in self.agents)
        last12 = sum(a.last_use > self.month - 13 for a in self.agents)
        self.history.append({"month": len(self.history),
                             "adoption": last12 / self.n,
                             "share_active_month": (used if self.history else users) / self.n,
                             "share_users": users / self.n,
                             "share_aware": sum(a.aware for a in self.agents) / self.n,
                             "internet_access": sum(a.access for a in self.agents) / self.n,
                             "mean_trust": sum(a.trust for a in self.agents) / self.n})
