"""The vectorised adoption model: state in numpy arrays, Mesa agents as views.

One step is one month. The order of work is written once, as the ordered list
of processes :data:`model.processes.PROCESSES` (one module each, under
``model/processes/``); ``egov_abm.model.processes.step_order()`` prints it,
and docs/ODD.md section I.3 is that text. The model builds the population and
the social graph, lets every process create its state in that order, and
each month reads the neighbours, applies the interventions
(:mod:`model.interventions`), runs the processes over slices of citizens and
records the outcomes (:mod:`model.outcomes`).
"""

from __future__ import annotations

import datetime as _dt

import mesa
import numpy as np

from egov_abm.model import outcomes
from egov_abm.model.calendar import month_date
from egov_abm.model.citizen import Citizen, CitizenViews
from egov_abm.model.interventions import Intervention, apply_all, intervention_streams
from egov_abm.model.measurement import item_scales
from egov_abm.model.network import CHUNK, Adjacency, build_graph, ring_graph, to_adjacency
from egov_abm.model.outcomes import slug
from egov_abm.model.params import Params
from egov_abm.model.population import PopulationSpec, synth_population
from egov_abm.model.processes import COUNTS, PROCESSES, SliceWork, adoption, channel, opinion
from egov_abm.model.sem import SEMParams
from egov_abm.model.streams import seed_sequence, spawn_streams

__all__ = ["AdoptionModel", "Citizen", "slug"]


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

        # Every process creates its state, in the order the processes run.
        self.item_scales = item_scales()
        for process in PROCESSES:
            process.init(self)
        self.counts = dict.fromkeys(COUNTS, 0)  # this month's named totals

        self.region_names = tuple(self.spec.region_names)
        self.interventions = tuple(interventions)
        for iv in self.interventions:
            iv.target.validate(self.region_names, where=f"intervention {iv.name or iv.kind}: target")
        self.target_masks = [iv.target.mask(self) for iv in self.interventions]
        self.intervention_rngs = intervention_streams(self.root_seed, self.interventions)
        # this month's per-citizen modifiers, set by the interventions (allocated only when there are any)
        shape = n if self.interventions else 0
        self.extra_external = np.zeros(shape, dtype=np.float32)  # extra external influence (awareness, Bass p)
        self.p_success_i = np.full(shape, p.p_success, dtype=np.float32)  # success probability of a use
        self.mandate_share = np.zeros(shape, dtype=np.float32)  # share of needs that can only be met online
        self.assisted_extra = np.zeros(shape, dtype=np.float32)  # extra probability of service at a centre
        self.month_cost_kzt = 0.0
        self.month_cost_variable_kzt = 0.0  # the per-person part of this month's cost
        self.cost_kzt = 0.0
        self.intervention_log: list[dict] = []
        self.outcomes: list[dict] = []
        self.groups = outcomes.Groups(self)
        self._nb_buffer = self.adjacency.new_buffer(4)  # working memory of the step, mapped now
        self.citizens = CitizenViews(self)
        if create_agents:
            self.citizens.create_all()
        self.record()

    # ------------------------------------------------------------------ helpers
    def recompute_constructs(self, idx=None) -> None:
        """Recompute readiness and intention from attitude and trust (all citizens, or ``idx``)."""
        opinion.recompute(self, idx)

    def intention_factor(self, idx=None) -> np.ndarray:
        """Proportional-hazards factor of intention in adoption (all citizens, or ``idx``); 1 when the slope is 0."""
        return adoption.intention_factor(self, idx)

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
        """Advance one month (the order of work: :func:`model.processes.step_order`).

        After the neighbourhood reads and the interventions, the processes are
        per citizen, so they run over slices of :data:`CHUNK` citizens whose
        arrays stay in the processor's cache. Every random stream is drawn in
        index order, one number per citizen, so the result does not depend on
        the slice size.
        """
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

        # 0. Dated events and interventions.
        channel.set_month(self)
        if self.interventions:
            apply_all(self, self.month)
            self.cost_kzt += self.month_cost_kzt

        access_share = np.count_nonzero(self.access) / self.n
        counts = dict.fromkeys(COUNTS, 0)
        extra = bool(self.interventions)
        parts = []
        for sl in self._slices():
            inv_degree = adj.inv_degree[sl]
            nb = nb_sums[sl]
            work = SliceWork(sl, *(nb[:, k] * inv_degree for k in range(4)), access_share, extra, counts)
            for process in PROCESSES:
                process.step(self, work)
            parts.append(outcomes.tally(self, sl, self.used, self.month))  # while the slice is still in cache
        self.counts = counts
        self.month += 1
        self.record(parts)

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
    def record(self, parts: list[dict] | None = None) -> dict:
        """Append and return this month's aggregate outcomes (no per-citizen copies).

        ``parts`` are the :func:`model.outcomes.tally` of every slice when the
        step has gathered them; otherwise they are computed here.
        """
        if parts is None:
            # Month 0 has had no uses yet: report the share of current users.
            active = self.used if self.month > 0 else self.user
            parts = [outcomes.tally(self, sl, active, self.month - 1) for sl in self._slices()]
        row = outcomes.row(self, parts, self.counts)
        self.outcomes.append(row)
        return row

    def outcomes_frame(self):
        """Outcomes so far as a pandas DataFrame, one row per month."""
        import pandas as pd

        return pd.DataFrame(self.outcomes)

