"""The vectorised adoption model: state in numpy arrays, Mesa agents as views.

One step is one month. The order of work is written once, as the ordered list
of processes :data:`model.processes.PROCESSES` (one module each, under
``model/processes/``); ``egov_abm.model.processes.step_order()`` prints it,
and docs/ODD.md section I.3 is that text. The model builds the population and
the social graph, lets every process create its state in that order, and
each month applies the interventions (:mod:`model.interventions`), runs the
processes fused in compiled loops over runs of citizens (:mod:`model.kernel`)
and records the outcomes (:mod:`model.outcomes`).
"""

from __future__ import annotations

import datetime as _dt

import mesa
import numpy as np

from egov_abm.model import kernel, outcomes
from egov_abm.model.calendar import DT_YEARS, month_date
from egov_abm.model.citizen import Citizen, CitizenViews
from egov_abm.model.interventions import Intervention, apply_all, intervention_streams
from egov_abm.model.measurement import item_scales
from egov_abm.model.network import Adjacency, build_graph, ring_graph, to_adjacency
from egov_abm.model.outcomes import slug
from egov_abm.model.params import Params
from egov_abm.model.population import PopulationSpec, synth_population
from egov_abm.model.processes import COUNTS, PROCESSES, adoption, channel, opinion
from egov_abm.model.scale_free import holme_kim
from egov_abm.model.sem import SEMParams
from egov_abm.model.streams import chunk_streams, seed_sequence, spawn_streams

#: Where each named count of the month sits in the kernel's totals.
_COUNT_AT = tuple((name, kernel.TOTALS.index(name)) for name in COUNTS)

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
        self._streams = spawn_streams(self.root_seed)
        self._months_unsynced = 0  # months the kernel's streams have drawn that numpy's generators have not followed
        super().__init__(rng=self._streams["mesa"])
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
        self._chunks: dict = {}  # each stream's generators of the build's chunks (model.streams.chunk_streams)
        pop = synth_population(self.spec, n, chunks=lambda work: self.each_chunk("population", work))
        block = pop.region.astype(np.int16) * 2 + pop.urban  # (region, urban) block of each citizen
        direct = p.graph_builder == "direct" and p.network in ("homophily", "small_world", "scale_free")
        if direct and p.network == "homophily":
            # Number citizens by block: the ring runs along the index order, so unrewired
            # ties stay in the block and neighbours sit next to each other in memory.
            threads = kernel.threads_for(n)
            with kernel.deferred_interrupts():
                pop = pop.sorted_by(block, int(block.max()) + 1, kernel.mapper(threads), threads)
        self.pop = pop
        self.graph = None  # the networkx graph, when the networkx builder made one
        if adjacency is not None:  # a graph built earlier for the same seed and population (batch runs)
            if adjacency.n != n:
                raise ValueError(f"adjacency: built for {adjacency.n} citizens, the model has {n}")
            self.adjacency: Adjacency = adjacency
        elif direct and p.network == "scale_free":
            with kernel.deferred_interrupts():  # compiled builders: see deferred_interrupts
                csr = holme_kim(n, max(1, p.mean_degree // 2), p.p_triangle, self.streams["network"])
            self.adjacency = Adjacency(n, csr=csr)
        elif direct:
            with kernel.deferred_interrupts():
                self.adjacency = Adjacency(n, ring=ring_graph(n, p.mean_degree, p.p_rewire, self.streams["network"],
                                                              threads=kernel.threads_for(n)))
        else:
            self.graph = build_graph(p.network, n, p.mean_degree, self.streams["network"],
                                     p_rewire=p.p_rewire, p_triangle=p.p_triangle, block=block)
            self.adjacency = to_adjacency(self.graph, n)
        del block

        # Every process creates its state, in the order the processes run.
        self.item_scales = item_scales()
        for process in PROCESSES:
            process.init(self)

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
        self.groups = outcomes.Groups(self)
        self._prepare_kernel()
        self._record = outcomes.Record(self)
        self.citizens = CitizenViews(self)
        if create_agents:
            self.citizens.create_all()
        self.record()

    # ------------------------------------------------------------------ helpers
    @property
    def streams(self) -> dict[str, np.random.Generator]:
        """The run's named generators (:mod:`model.streams`), one per name.

        The kernel steps its four streams itself (:data:`model.kernel.STREAMS`,
        n numbers each a month); numpy's generators of those streams are moved
        on to the same state when read here (``advance``: the same state as
        drawing the numbers, tested), not every month.
        """
        if self._months_unsynced:
            for name in kernel.STREAMS:
                self._streams[name].bit_generator.advance(self._months_unsynced * self.n)
            self._months_unsynced = 0
        return self._streams

    @property
    def readiness(self) -> np.ndarray:
        """E-government readiness of every citizen, through the structural equations (computed when read)."""
        return opinion.readiness(self)

    @property
    def intention(self) -> np.ndarray:
        """Intention to use the portal of every citizen, through the structural equations (computed when read)."""
        return opinion.intention(self)

    @property
    def group_factor(self) -> np.ndarray:
        """Each citizen's group factor ``g_i`` of the access and skill hazards (:mod:`model.processes.access`)."""
        return self.group_levels.astype(np.float32)[self.level]

    @property
    def p_skill(self) -> np.ndarray:
        """Each citizen's monthly probability of acquiring digital skill once online."""
        return self.p_skill_levels.astype(np.float32)[self.level]

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
    def _prepare_kernel(self) -> None:
        """The kernel's inputs that last the run: ties, scalars, score tables, stream states, the snapshot's rows."""
        p, sem, adj, n = self.params, self.sem, self.adjacency, self.n
        empty = np.zeros(0, dtype=np.int32)
        if adj.complete:
            no_ties = np.zeros(n + 1, dtype=np.int32)
            self._ties = (0, no_ties, empty, no_ties, empty)
        elif adj.ring is not None:
            r = adj.ring
            self._ties = (r.half, r.add_ptr, r.add_cols, r.rem_ptr, r.rem_cols)
        else:  # compressed sparse rows: every tie is an added one
            indptr, indices = adj.csr
            self._ties = (0, indptr, indices, np.zeros(n + 1, dtype=np.int32), empty)
        scales = self.item_scales
        grid = scales["attitude"].grid
        self._tables = (kernel.padded(scales["attitude"].table), kernel.padded(scales["trust"].table))
        values = dict(
            dt=DT_YEARS, aware_external=p.awareness_external_per_year, aware_social=p.awareness_social_per_year,
            opinion_rate=p.opinion_rate_per_month, conformity=p.conformity_weight, wom_attitude=p.wom_attitude,
            wom_trust=p.wom_trust, experience_attitude=p.experience_attitude, experience_trust=p.experience_trust,
            attitude_lo=self.attitude_bounds[0], attitude_hi=self.attitude_bounds[1],
            trust_lo=self.trust_bounds[0], trust_hi=self.trust_bounds[1],
            r0=sem.readiness_intercept, r_att=sem.readiness_on_attitude, r_trust=sem.readiness_on_trust,
            i0=sem.intention_intercept, i_ready=sem.intention_on_readiness, i_att=sem.intention_on_attitude,
            i_trust=sem.intention_on_trust, p_external=p.p_external_per_year, q_social=p.q_social_per_year,
            adopt_slope=adoption.CLOGLOG_SCALE * p.intention_slope, use_intercept=p.use_intercept,
            use_slope=p.intention_slope, use_on_sat=p.use_on_satisfaction, p_assisted=p.p_assisted,
            p_proxy=p.p_proxy, p_success=p.p_success, satisfaction_rate=p.satisfaction_rate,
            lapse_base=p.lapse_per_year, lapse_on_sat=p.lapse_on_satisfaction, lapse_on_trust=p.lapse_on_trust,
            grid_lo=float(grid[0]), grid_inv_step=float((len(grid) - 1) / (grid[-1] - grid[0])),
            online_only=0.0, quality_drop=0.0, access_hazard=0.0)  # these three change by month
        self._scalars = np.array([values[name] for name in kernel.SCALARS], dtype=np.float64)
        # The states of the kernel's four streams (numpy's PCG64, stepped inline by the kernel).
        self._rng = np.stack([kernel.stream_state(self.streams[name]) for name in kernel.STREAMS])
        # What neighbours read, one row per citizen: user, last outcome, attitude, trust (mapped now, not in month 1).
        self._public = np.zeros((n, 4), dtype=np.int32)
        self._nb_totals = np.zeros(4, dtype=np.int64)  # the column sums of _public, on the complete graph
        self._layout: tuple = ((), [])  # the blocks of a month and their work buffers (made at the first step)
        self._layout_key: tuple | None = None

    def step(self) -> None:
        """Advance one month (the order of work: :func:`model.processes.step_order`).

        First a snapshot of what neighbours read (:func:`model.kernel.snapshot`,
        the state at the start of the month: synchronous update); then the
        interventions and dated events, over all citizens; then every process,
        fused, one pass per citizen (:func:`model.kernel.month_block`). With
        one block of citizens and nothing in between, the snapshot is taken by
        the month's own call (one compiled call a month, not two). Each
        stream gives one number per citizen in index order and the totals are
        integers, so the result depends neither on the blocks nor on the
        number of threads.
        """
        p, n = self.params, self.n
        key = (n, kernel.THREADS, kernel.THREADED_MIN, kernel.CHUNK, kernel.SUB, kernel.GATHER)
        if self._layout_key != key:  # the blocks and each block's work buffers, made once (see scratch())
            parts = kernel.blocks(n)
            self._layout = parts, [kernel.scratch() for _ in parts]
            self._layout_key = key
        parts, scratch = self._layout
        # With one block, no intervention to apply in between and no population totals to take from the snapshot
        # (the complete graph), the month's call takes the snapshot itself.
        snap = len(parts) == 1 and not self.interventions and not self.adjacency.complete
        if not snap:
            with kernel.deferred_interrupts():
                self._each_block(parts, lambda b, lo, hi: kernel.snapshot(lo, hi, self.user, self.last_outcome,
                                                                         self.attitude, self.trust, self._public))
        channel.set_month(self)
        if self.interventions:
            apply_all(self, self.month)
            self.cost_kzt += self.month_cost_kzt

        k = self._scalars
        access_share = np.count_nonzero(self.access) / n  # (the kernel takes each level's probability from it)
        k[kernel.K_ACCESS_HAZARD] = p.access_external_per_year + p.access_social_per_year * access_share
        k[kernel.K_ONLINE_ONLY] = self.online_only
        k[kernel.K_QUALITY_DROP] = self.emergency * max(0.0, p.p_success - p.emergency_p_success)
        complete = self.adjacency.complete
        nb_totals = self._nb_totals
        if complete:  # everyone's neighbours are all the others: population totals minus the citizen
            nb_totals[:] = self._public.sum(axis=0, dtype=np.int64)
        half, add_ptr, add_cols, rem_ptr, rem_cols = self._ties
        extra = bool(self.interventions)
        # the month's row of the record; with several blocks, each block's totals first, summed into it after
        total, by_group = self._record.next_row()
        if len(parts) == 1:
            totals, groups, rng = [total], [by_group], [self._rng]
        else:
            totals = np.zeros((len(parts), len(kernel.TOTALS)), dtype=np.int64)
            groups = np.zeros((len(parts), self.groups.size), dtype=np.int64)
            # the streams' states at each block's first citizen (one draw per citizen and stream)
            rng = [self._rng] + [np.stack([kernel.stream_state(self.streams[name], lo) for name in kernel.STREAMS])
                                 for lo, _ in parts[1:]]

        def run(b: int, lo: int, hi: int) -> None:
            kernel.month_block(
                lo, hi, self.month, k, snap, complete, nb_totals, self._public, half, add_ptr, add_cols, rem_ptr,
                rem_cols, rng[b],
                self.access, self.skill, self.aware, self.user, self.ever_user, self.used, self.attitude, self.trust,
                self.attitude0, self.trust0, self.zeta_r, self.zeta_i,
                self.satisfaction, self.last_outcome, self.last_use, self.last_assisted, self.need_rate,
                self.level, self.group_levels, self.p_skill_levels, self.groups.code, extra, self.extra_external,
                self.p_success_i, self.mandate_share, self.assisted_extra, *self._tables, totals[b], groups[b],
                *scratch[b])

        with kernel.deferred_interrupts():
            self._each_block(parts, run)
        kernel.LOADED = True
        self._rng[:] = rng[-1]  # the last block ends where the month's draws end
        self._months_unsynced += 1  # numpy's generators follow when read (self.streams)
        if len(parts) > 1:
            totals.sum(axis=0, out=total)
            groups.sum(axis=0, out=by_group)
        self.month += 1
        # the month's totals are in their row of the record already (next_row): its costs complete it
        self._record.commit((self.month_cost_kzt, self.month_cost_variable_kzt, self.cost_kzt))

    @property
    def counts(self) -> dict[str, int]:
        """The named totals of the last month (:data:`model.processes.COUNTS`; all 0 before the first step)."""
        total = self._record.last_totals() if self.month > 0 else None
        return {name: 0 if total is None else int(total[j]) for name, j in _COUNT_AT}

    def each_chunk(self, stream: str, work) -> None:
        """``work(generator, lo, hi)`` for each chunk of citizens, with the chunk's generator of ``stream``.

        The build draws this way (:func:`model.streams.chunk_streams`): on two
        threads at :data:`model.kernel.THREADED_MIN` citizens or more, with the
        same numbers whatever the threads. A stream's chunk generators are kept,
        so a second call continues where the first stopped. While the two
        threads work, BLAS (the SEM draw's small matrix product) runs on one
        thread each: its own threads on top of ours made the constructs' draw
        40 % slower at 20 million citizens, for the same numbers.
        """
        chunks = self._chunks.get(stream)
        if chunks is None:
            chunks = self._chunks[stream] = chunk_streams(self.streams[stream], self.n)
        if kernel.threads_for(self.n) > 1 and len(chunks) > 1:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=1, user_api="blas"):
                list(kernel.pool().map(lambda chunk: work(chunk[2], chunk[0], chunk[1]), chunks))
        else:
            for lo, hi, gen in chunks:
                work(gen, lo, hi)

    @staticmethod
    def _each_block(parts: list[tuple[int, int]], work) -> None:
        """``work(b, lo, hi)`` for every block, on the kernel's threads when there are several."""
        if len(parts) == 1:
            work(0, *parts[0])
        else:
            list(kernel.pool().map(lambda b: work(b, *parts[b]), range(len(parts))))

    def run(self, months: int, progress=None) -> None:
        """Run ``months`` steps; ``progress(1)`` is called after each if given."""
        self._record.reserve(months)
        for _ in range(months):
            self.step()
            if progress is not None:
                progress(1)

    # ----------------------------------------------------------------- outcomes
    def record(self, total: np.ndarray | None = None, groups: np.ndarray | None = None) -> None:
        """Record this month's totals (from the step; at month 0 tallied here, the current users as active)."""
        if total is None:
            parts = kernel.blocks(self.n)
            totals = np.zeros((len(parts), len(kernel.TOTALS)), dtype=np.int64)
            by_group = np.zeros((len(parts), self.groups.size), dtype=np.int64)
            active = self.used if self.month > 0 else self.user
            with kernel.deferred_interrupts():
                self._each_block(parts, lambda b, lo, hi: kernel.tally_block(
                    lo, hi, self.month - 1, self._scalars, active, self.user, self.ever_user, self.aware,
                    self.access, self.skill, self.attitude, self.trust, self.last_use, self.last_assisted,
                    self.groups.code, *self._tables, totals[b], by_group[b], *kernel.tally_scratch()))
            total, groups = totals.sum(axis=0), by_group.sum(axis=0)
        first = self.month == 0
        self._record.append(total, groups, (0.0 if first else self.month_cost_kzt,
                                            0.0 if first else self.month_cost_variable_kzt, self.cost_kzt))

    @property
    def outcomes(self) -> list[dict]:
        """The monthly outcomes so far, one dictionary per month (:mod:`model.outcomes`)."""
        return self._record.rows()

    def outcome_columns(self) -> dict:
        """The monthly outcomes so far as columns (numpy arrays; ``date`` a list of dates), one entry per month."""
        return self._record.columns()

    def outcomes_frame(self):
        """Outcomes so far as a pandas DataFrame, one row per month (made from the columns, not the rows)."""
        import pandas as pd

        return pd.DataFrame(self._record.columns())

