"""The fused monthly kernel: every process of the month, one run of citizens at a time.

The rules are those of the process modules (:mod:`model.processes`), each
documented there and in docs/ODD.md; this module runs them, in the order of
:data:`model.processes.PROCESSES`, as compiled loops (numba) over runs of
:data:`SUB` citizens, so a citizen's state is read from memory once a month
and stays in cache while the loops of its run pass over it:

0. neighbour reads: the share of neighbours who were users, the word of mouth
   of their last uses, and their mean attitude and trust, from a snapshot of
   the state at the start of the month (:func:`snapshot`, one 16-byte row per
   citizen, so a tie far along the ring costs one memory read: synchronous
   update);
1. access and skill, 2. awareness, 3. opinion and the structural equations,
4. adoption, 5. channel, 6. use and experience, 7. lapse;
8. the month's tally: counts, fixed-point sums of the constructs and of their
   item scores, and 12-month use by group.

**Random numbers.** Four of the run's named streams (:mod:`model.streams`)
each give one double per citizen per month, drawn in index order whatever the
citizen's state (common random numbers). A double carries 53 random bits; each
is split into two uniforms (26 and 27 bits: resolution 1.5e-8, below any
monthly probability the model uses), one for each of two processes:

=============  ==========================  ==========================
stream         first uniform (26 bits)     second uniform (27 bits)
=============  ==========================  ==========================
``access``     access                      skill
``awareness``  awareness                   adoption
``use``        need                        channel
``experience`` success of a use            lapse
=============  ==========================  ==========================

Drawing half as many numbers halves the kernel's largest cost. Changing one
process's rule still moves no other process's numbers.

**Costly functions only where they decide.** An event of hazard ``x`` happens
when ``u < 1 - exp(-x)``, which needs ``exp`` only when ``u < x``; the hazards
of adoption and lapse are ``b exp(z)``, bounded above by ``b / (1 - z)`` for
``z < 1``, so a draw at or above that bound (with a margin for rounding) is
no event without taking ``exp``. A use's probability ``Phi(a)`` is bounded
below by a table (:data:`_PHI_FLOOR`), so a draw below the table's value is a
use without taking ``erfc``. The events are the same to the last bit.

**Threads.** Citizens are processed in blocks of whole :data:`CHUNK` slices;
at :data:`THREADED_MIN` citizens or more the two halves run on two threads.
The second block starts its streams at the state a single thread would reach
at its first citizen (``PCG64.advance``), so it draws exactly the same
numbers. Neighbour sums and totals are integers (fixed point:
:data:`PUBLIC_SCALE`, :data:`FIXED_SCALE`), so the outcome does not depend on
the number of threads, the block boundaries or the gather size, to the last
bit (tested).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core import config as numba_config
from numba.core.compiler_lock import global_compiler_lock
from numba.extending import intrinsic

#: The streams the kernel draws from, in the order of its ``rng`` rows (:mod:`model.streams`).
STREAMS = ("access", "awareness", "use", "experience")
#: Citizens per slice; thread blocks are made of whole slices.
CHUNK = 1 << 15
#: From this many citizens on, a month runs on :data:`THREADS` threads; below, on one core, as sweeps running one
#: model per core need.
THREADED_MIN = 1_000_000
THREADS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
#: Citizens per run of the month's loops (:func:`month_block`), and the most added (or removed) ties gathered at once.
SUB = 2048
GATHER = 8192
#: Citizens per run of the tally's item-score loops (:func:`tally_block`).
TALLY_RUN = 256
#: How many ties ahead the gather asks the cache for a neighbour's row.
AHEAD = 24
#: Fixed-point scale of the sums of real values (2**28: 3.7e-9 per value; 50 M values of |x| < 100 fit in int64).
FIXED_SCALE = float(1 << 28)
#: Fixed-point scale of attitude and trust as neighbours read them (2**20: to 1e-6 latent SD, |x| < 2048).
PUBLIC_SCALE = float(1 << 20)

#: The month's scalars, in the order of the kernel's ``k`` vector.
SCALARS = ("dt", "aware_external", "aware_social", "opinion_rate", "conformity",
           "wom_attitude", "wom_trust", "experience_attitude", "experience_trust", "attitude_lo", "attitude_hi",
           "trust_lo", "trust_hi", "r0", "r_att", "r_trust", "i0", "i_ready", "i_att", "i_trust",
           "p_external", "q_social", "adopt_slope", "online_only", "use_intercept", "use_slope", "use_on_sat",
           "p_assisted", "p_proxy", "p_success", "quality_drop", "satisfaction_rate", "lapse_base",
           "lapse_on_sat", "lapse_on_trust", "grid_lo", "grid_inv_step", "access_hazard")
(K_DT, K_AWARE_EXT, K_AWARE_SOC, K_RATE, K_CONFORM, K_WOM_ATT, K_WOM_TRUST, K_EXP_ATT, K_EXP_TRUST,
 K_ATT_LO, K_ATT_HI, K_TRUST_LO, K_TRUST_HI, K_R0, K_R_ATT, K_R_TRUST, K_I0, K_I_READY, K_I_ATT, K_I_TRUST,
 K_P, K_Q, K_ADOPT_SLOPE, K_ONLINE_ONLY, K_USE_INTERCEPT, K_USE_SLOPE, K_USE_ON_SAT, K_P_ASSISTED, K_P_PROXY,
 K_P_SUCCESS, K_QUALITY_DROP, K_SAT_RATE, K_LAPSE, K_LAPSE_SAT, K_LAPSE_TRUST, K_GRID_LO,
 K_GRID_INV_STEP, K_ACCESS_HAZARD) = range(len(SCALARS))

#: The month's integer totals, in the order of the kernel's accumulator.
TOTALS = ("active", "active12", "assisted12", "user", "ever_user", "lapsed", "aware", "access", "skill",
          "attitude", "trust", "attitude_score", "trust_score",
          "n_uses", "n_failures", "n_new_users", "n_lapses", "n_needs", "n_assisted", "n_proxy", "n_unserved",
          "n_forced")
(T_ACTIVE, T_ACTIVE12, T_ASSISTED12, T_USER, T_EVER, T_LAPSED, T_AWARE, T_ACCESS, T_SKILL, T_ATT, T_TRUST,
 T_ATT_SCORE, T_TRUST_SCORE, T_USES, T_FAILURES, T_NEW_USERS, T_LAPSES, T_NEEDS, T_ASSISTED, T_PROXY, T_UNSERVED,
 T_FORCED) = range(len(TOTALS))
#: Totals that are fixed-point sums of real values.
REAL_TOTALS = frozenset(TOTALS[T_ATT:T_TRUST_SCORE + 1])

_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341  # PCG_DEFAULT_MULTIPLIER_128
_INV26 = 1.0 / float(1 << 26)
_INV27 = 1.0 / float(1 << 27)
_MASK64 = (1 << 64) - 1
_SQRT1_2 = 1.0 / math.sqrt(2.0)
#: Lower bounds of the normal distribution function Phi on a grid of 1/8 from -8 (Phi is increasing, so Phi(a) is
#: at least the value at the grid point at or below a; the margin covers rounding): most draws below Phi(a) are
#: known to be below it without taking erfc.
_PHI_LO, _PHI_INV_STEP = -8.0, 8.0
#: The relative margin that bounds and floors leave for rounding (far above a double's 1.1e-16).
_MARGIN = 1e-9
_PHI_FLOOR = np.array([0.5 * math.erfc(-(_PHI_LO + j / _PHI_INV_STEP) * _SQRT1_2) * (1.0 - _MARGIN)
                       for j in range(129)])


#: Whether the month's kernels are compiled with LLVM's SLP vectoriser (:func:`_vectorised`).
SLP = True


def _vectorised(dispatcher):
    """Compile ``dispatcher`` with LLVM's SLP vectoriser on, which numba leaves off by default.

    The SLP (superword-level) vectoriser packs the same operation on neighbouring values into one vector
    instruction: here the four columns of a neighbour's row and of the running sums (int64 x 4, one AVX2
    register). It made the month about 9 % faster on the ring at 100,000 citizens and 20-25 % faster on the
    scale-free and complete graphs at 20,000 (the same code compiled with and without it, taking turns).
    numba switched it off by default in 0.57 after LLVM miscompiled other programs with it (numba pull
    request 8852), so it is switched on here only while these kernels compile (under numba's compiler lock,
    so no other compilation sees it), and tests/test_kernel.py checks that kernels compiled with and without
    it give the same states and outcomes to the last bit on every kind of graph, with interventions and on
    two threads. :data:`SLP` = False compiles them without it.
    """
    compile_signature = dispatcher.compile

    def compile(sig):
        with global_compiler_lock:
            previous = numba_config.SLP_VECTORIZE
            numba_config.SLP_VECTORIZE = int(SLP)
            try:
                return compile_signature(sig)
            finally:
                numba_config.SLP_VECTORIZE = previous

    dispatcher.compile = compile
    return dispatcher


def _kernel(fn):
    """A compiled kernel of the month: no GIL, cached on disk, vectorised (:func:`_vectorised`)."""
    return _vectorised(njit(nogil=True, cache=True)(fn))


@intrinsic
def pcg64_next(typingctx, hi, lo, inc_hi, inc_lo):
    """One step of numpy's PCG64 (128-bit LCG, XSL-RR output): ``(state_hi, state_lo, output)``.

    The state is the 128-bit integer ``hi * 2**64 + lo``; ``inc`` the stream's increment. This is
    ``pcg_setseq_128_xsl_rr_64_random_r`` of numpy/random/src/pcg64/pcg64.h, written inline so that a draw
    costs no call (the stream's numbers are those of ``numpy.random.Generator(PCG64)``: tested).
    """
    u64 = types.uint64
    sig = types.UniTuple(u64, 3)(u64, u64, u64, u64)

    def codegen(context, builder, signature, args):
        i128, i64 = ir.IntType(128), ir.IntType(64)
        c64 = ir.Constant(i128, 64)

        def join(h, low):
            return builder.or_(builder.shl(builder.zext(h, i128), c64), builder.zext(low, i128))

        state = builder.add(builder.mul(join(args[0], args[1]), ir.Constant(i128, _PCG_MULT)), join(args[2], args[3]))
        new_lo = builder.trunc(state, i64)
        new_hi = builder.trunc(builder.lshr(state, c64), i64)
        x = builder.xor(new_hi, new_lo)
        rot = builder.trunc(builder.lshr(state, ir.Constant(i128, 122)), i64)
        left = builder.and_(builder.sub(ir.Constant(i64, 64), rot), ir.Constant(i64, 63))
        out = builder.or_(builder.lshr(x, rot), builder.shl(x, left))
        return context.make_tuple(builder, signature.return_type, (new_hi, new_lo, out))

    return sig, codegen


@intrinsic
def prefetch_row(typingctx, arr, row):
    """Ask the cache for row ``row`` of the 2-D array ``arr`` (LLVM's prefetch: a hint, never a fault)."""
    sig = types.void(arr, row)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        zero = ir.Constant(args[1].type, 0)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1], zero], wraparound=False)
        byte_ptr = ir.IntType(8).as_pointer()  # one declaration for every element type in a module
        ptr = builder.bitcast(ptr, byte_ptr)
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always")
def _split(x):
    """Two independent uniforms (26 and 27 bits) from the top 53 bits of one 64-bit output."""
    bits = x >> np.uint64(11)  # what numpy's random() uses
    return np.float64(bits >> np.uint64(27)) * _INV26, np.float64(bits & np.uint64((1 << 27) - 1)) * _INV27


@njit(inline="always")
def _at(row, col):
    """The place of ``[row, col]`` in a flat view of a C-ordered array of 4 columns (``reshape(-1)``).

    Indexing the flat view costs fewer instructions than numba's 2-D indexing
    (no multiplication by the row's stride in bytes, no second index): the
    month took 4 % less time at 100,000 citizens (the same results).
    """
    return np.uint64(row) * np.uint64(4) + np.uint64(col)


@njit(inline="always")
def _fixed(x):
    return np.int64(math.floor(x * FIXED_SCALE + 0.5))


@njit(inline="always")
def _place(x, table, grid_lo, inv_step):
    """Where ``x`` falls on the item-score table's grid: the grid point at or below it and the fraction of a step.

    With :func:`_read`, a linear interpolation (as ``numpy.interp``, constant beyond the grid). ``table`` is the
    score table with its last value repeated once (:func:`padded`), so that no branch is needed: beyond either
    end the position is clamped, and the fraction there is 0.
    """
    pos = (x - grid_lo) * inv_step
    pos = min(max(pos, 0.0), np.float64(table.shape[0] - 2))
    whole = np.int64(pos)  # pos >= 0: truncation is the floor (signed: one instruction each way)
    return whole, pos - np.float64(whole)


@njit(inline="always")
def _read(table, whole, f):
    """The interpolated value at grid point ``whole`` plus the fraction ``f`` of a step (:func:`_place`)."""
    j = np.uint64(whole)
    return table[j] + f * (table[j + np.uint64(1)] - table[j])


def padded(table: np.ndarray) -> np.ndarray:
    """A score table for :func:`_place` and :func:`_read`: float64, its last value repeated."""
    table = np.asarray(table, dtype=np.float64)
    return np.append(table, table[-1])


@njit(inline="always")
def _event(u, x):
    """``u < 1 - exp(-x)``: an event of hazard ``x`` (per month) happens; exp is taken only when ``u < x``."""
    return u < x and u < -math.expm1(-x)


@njit(inline="always")
def _running_sums(public, cols, start, stop, cum, ahead):
    """Running sums of the ``public`` rows of the ties ``start .. stop - 1`` (their rows are ``cols``).

    ``cum[r]`` is the sum over the first r ties, for r up to ``stop - start``. With ``ahead`` > 0, the row
    ``ahead`` ties on is asked for from the cache first.
    """
    a0 = a1 = a2 = a3 = np.int64(0)
    pf = public.reshape(-1)
    cf = cum.reshape(-1)
    for q in range(start, stop):
        if ahead > 0 and q + ahead < stop:  # many reads far apart in memory then overlap
            prefetch_row(public, np.uint64(cols[q + ahead]))
        c = np.uint64(cols[q])
        a0 += pf[_at(c, 0)]
        a1 += pf[_at(c, 1)]
        a2 += pf[_at(c, 2)]
        a3 += pf[_at(c, 3)]
        r = np.uint64(q - start + 1)
        cf[_at(r, 0)] = a0
        cf[_at(r, 1)] = a1
        cf[_at(r, 2)] = a2
        cf[_at(r, 3)] = a3


@_kernel
def tally_block(lo, hi, month, k, used, user, ever_user, aware, access, skill, attitude, trust, last_use,
                last_assisted, code, att_table, trust_table, tot, groups, places, fractions):
    """The month's tally of citizens ``lo .. hi - 1``, added to ``tot`` and ``groups``.

    Counts, fixed-point sums of the constructs and of their item scores, and 12-month use by group. The month's
    kernel calls it for each run of citizens it has just updated (their rows are still in cache); at month 0 it
    runs alone, before any step.

    The item scores are interpolated (:func:`_place`, then :func:`_read`) in two loops over
    :data:`TALLY_RUN` citizens at a time: the places on the grid and the fractions first, into ``places`` and
    ``fractions`` (:func:`tally_scratch`; a loop of vector instructions), then the table reads, which a vector
    loop could not do (they would need gathers). Together 3 % less time for the month at 100,000 citizens than
    one loop (taking turns in one process; the same totals to the last bit).
    """
    grid_lo = k[K_GRID_LO]
    inv_step = k[K_GRID_INV_STEP]
    last12 = month - 12
    t_active = t_active12 = t_assisted12 = t_user = t_ever = t_lapsed = np.int64(0)
    t_aware = t_access = t_skill = t_att = t_trust = t_att_score = t_trust_score = np.int64(0)
    for i in range(lo, hi):  # the counts: integer sums, compiled to vector instructions
        ui = np.uint64(i)  # unsigned indices: no wraparound test
        us = user[ui]
        ev = ever_user[ui]
        t_active += used[ui]
        t_active12 += last_use[ui] > last12
        t_assisted12 += last_assisted[ui] > last12
        t_user += us
        t_ever += ev
        t_lapsed += ev & (not us)
        t_aware += aware[ui]
        t_access += access[ui]
        t_skill += skill[ui]
    for i in range(lo, hi):  # 12-month use by group
        ui = np.uint64(i)
        groups[np.uint64(code[ui])] += last_use[ui] > last12
    run = np.uint64(TALLY_RUN)
    i0 = lo
    while i0 < hi:  # the fixed-point sums, and the item scores' places on the grid
        i1 = min(hi, i0 + TALLY_RUN)
        for i in range(i0, i1):
            ui = np.uint64(i)
            att = attitude[ui]
            tru = trust[ui]
            t_att += _fixed(att)
            t_trust += _fixed(tru)
            r = np.uint64(i - i0)
            places[r], fractions[r] = _place(att, att_table, grid_lo, inv_step)
            places[run + r], fractions[run + r] = _place(tru, trust_table, grid_lo, inv_step)
        for q in range(i1 - i0):  # the table reads
            r = np.uint64(q)
            t_att_score += _fixed(_read(att_table, places[r], fractions[r]))
            t_trust_score += _fixed(_read(trust_table, places[run + r], fractions[run + r]))
        i0 = i1
    tot[T_ACTIVE] += t_active
    tot[T_ACTIVE12] += t_active12
    tot[T_ASSISTED12] += t_assisted12
    tot[T_USER] += t_user
    tot[T_EVER] += t_ever
    tot[T_LAPSED] += t_lapsed
    tot[T_AWARE] += t_aware
    tot[T_ACCESS] += t_access
    tot[T_SKILL] += t_skill
    tot[T_ATT] += t_att
    tot[T_TRUST] += t_trust
    tot[T_ATT_SCORE] += t_att_score
    tot[T_TRUST_SCORE] += t_trust_score


@_kernel
def snapshot(lo, hi, user, last_outcome, attitude, trust, public):
    """What neighbours read of citizens ``lo .. hi - 1``: user, last outcome, attitude and trust, in fixed point.

    Fixed point (:data:`PUBLIC_SCALE`) makes the ring's sliding sums exact, so
    they do not depend on where a slice or a thread begins.
    """
    pf = public.reshape(-1)
    for i in range(lo, hi):  # (floor as a float, then int32: a conversion that has vector instructions)
        ui = np.uint64(i)
        pf[_at(ui, 0)] = user[ui]
        pf[_at(ui, 1)] = last_outcome[ui]
        pf[_at(ui, 2)] = np.int32(np.floor(attitude[ui] * PUBLIC_SCALE + 0.5))
        pf[_at(ui, 3)] = np.int32(np.floor(trust[ui] * PUBLIC_SCALE + 0.5))


@_kernel
def month_block(lo, hi, month, k, snap, complete, nb_totals, public, half, add_ptr, add_cols, rem_ptr, rem_cols,
                rng,
                access, skill, aware, user, ever_user, used, attitude, trust, attitude0, trust0, zeta_r, zeta_i,
                satisfaction, last_outcome, last_use, last_assisted, need_rate,
                level, group_levels, p_skill_level, code, extra, extra_external, p_success_i, mandate_share,
                assisted_extra, att_table, trust_table, tot, groups, cum_add, cum_rem, nb, places, fractions):
    """One month for citizens ``lo .. hi - 1`` (the rules: :mod:`model.processes`, in their order).

    Neighbours are read from ``public`` (:func:`snapshot`, taken at the start
    of the month: synchronous update; on the complete graph, its column sums
    ``nb_totals`` less the citizen's own row); the states are updated in place.
    ``add_ptr``/``add_cols`` are the added ties as compressed sparse rows (all
    ties of a graph without a ring), ``rem_ptr``/``rem_cols`` the removed ring
    ties. ``rng`` holds the streams' states at citizen ``lo``. Adds the
    month's totals to ``tot`` and 12-month use by group to ``groups``.

    A run of citizens at a time (as many as ``nb`` has columns), the rows of
    their added and removed ties (at most ``cum_add.shape[0] - 1`` of each)
    are gathered first into running sums, asking the cache for rows
    :data:`AHEAD` ties ahead; then come their neighbour means (kept in
    ``nb``), their opinions and intentions (one loop, the intentions kept in
    ``nb`` too), the other processes (one loop) and the tally
    (:func:`tally_block`). The buffers come from :func:`scratch`, the tally's from :func:`tally_scratch`.

    With ``snap``, the month's call takes the snapshot of its citizens first
    (:func:`snapshot`: for a single block with no intervention between the
    snapshot and the processes, one call a month instead of two). The access
    process's monthly probability per group level is
    ``1 - exp(-access_hazard * group_levels * dt)``, the hazard being the
    month's scalar (it depends on the share online at the start of the month).
    """
    n = user.shape[0]
    pf = public.reshape(-1)
    caf = cum_add.reshape(-1)
    crf = cum_rem.reshape(-1)
    if snap:
        snapshot(lo, hi, user, last_outcome, attitude, trust, public)
    p_access_level = np.empty(group_levels.shape[0])
    for lv in range(group_levels.shape[0]):  # (the order of operations of numpy's -expm1(-h * g * dt))
        p_access_level[lv] = -math.expm1(-k[K_ACCESS_HAZARD] * group_levels[lv] * k[K_DT])
    one = np.uint64(1)
    k_r0 = k[K_R0]
    k_i0 = k[K_I0]
    k_aware_ext = k[K_AWARE_EXT]
    k_aware_soc = k[K_AWARE_SOC]
    k_wom_att = k[K_WOM_ATT]
    k_exp_att = k[K_EXP_ATT]
    k_att_lo = k[K_ATT_LO]
    k_att_hi = k[K_ATT_HI]
    k_wom_trust = k[K_WOM_TRUST]
    k_exp_trust = k[K_EXP_TRUST]
    k_trust_lo = k[K_TRUST_LO]
    k_trust_hi = k[K_TRUST_HI]
    k_r_att = k[K_R_ATT]
    k_r_trust = k[K_R_TRUST]
    k_i_ready = k[K_I_READY]
    k_i_att = k[K_I_ATT]
    k_i_trust = k[K_I_TRUST]
    k_p = k[K_P]
    k_q = k[K_Q]
    k_adopt_slope = k[K_ADOPT_SLOPE]
    k_online_only = k[K_ONLINE_ONLY]
    k_p_proxy = k[K_P_PROXY]
    k_use_intercept = k[K_USE_INTERCEPT]
    k_use_slope = k[K_USE_SLOPE]
    k_use_on_sat = k[K_USE_ON_SAT]
    k_p_assisted = k[K_P_ASSISTED]
    k_p_success = k[K_P_SUCCESS]
    k_quality_drop = k[K_QUALITY_DROP]
    k_sat_rate = k[K_SAT_RATE]
    k_lapse = k[K_LAPSE]
    k_lapse_sat = k[K_LAPSE_SAT]
    k_lapse_trust = k[K_LAPSE_TRUST]
    t_assisted = np.int64(0)
    t_failures = np.int64(0)
    t_forced = np.int64(0)
    t_lapses = np.int64(0)
    t_needs = np.int64(0)
    t_new_users = np.int64(0)
    t_proxy = np.int64(0)
    t_unserved = np.int64(0)
    t_uses = np.int64(0)
    dt = k[K_DT]
    w = k[K_CONFORM]
    rate = k[K_RATE]
    lapse_bound = k_lapse * dt * (1.0 + _MARGIN)
    inv_scale = 1.0 / PUBLIC_SCALE
    w0 = np.int64(0)  # sums over the ring window i - half .. i + half (exact integers)
    w1 = np.int64(0)
    w2 = np.int64(0)
    w3 = np.int64(0)
    s0_hi, s0_lo, inc0_hi, inc0_lo = rng[0, 0], rng[0, 1], rng[0, 2], rng[0, 3]
    s1_hi, s1_lo, inc1_hi, inc1_lo = rng[1, 0], rng[1, 1], rng[1, 2], rng[1, 3]
    s2_hi, s2_lo, inc2_hi, inc2_lo = rng[2, 0], rng[2, 1], rng[2, 2], rng[2, 3]
    s3_hi, s3_lo, inc3_hi, inc3_lo = rng[3, 0], rng[3, 1], rng[3, 2], rng[3, 3]
    # Running sums of the rows of the added (and removed) ties of the next citizens, gathered in one tight loop:
    # their reads are far apart in memory, and a loop of nothing else keeps many of them in flight at once. A
    # citizen's sum is then the difference of two running sums (exact integers), with no loop of its own.
    # (the buffers are the caller's, made once by scratch(): a fresh allocation each month costs page faults where
    # the allocator returns memory to the system at once, as in Dask's workers)
    sub = nb.shape[1]
    gather = cum_add.shape[0] - 1
    nb_user = nb[0]  # the neighbour means of a run of citizens
    nb_wom = nb[1]
    nb_att = nb[2]
    nb_trust = nb[3]
    nb_intent = nb[4]
    i0 = lo
    while i0 < hi:
        i1 = min(hi, i0 + sub)
        while i1 > i0 + 1 and (add_ptr[i1] - add_ptr[i0] > gather or rem_ptr[i1] - rem_ptr[i0] > gather):
            i1 = i0 + (i1 - i0) // 2  # more ties than the buffer holds: fewer citizens
        base = add_ptr[i0]
        rbase = rem_ptr[i0]
        direct = add_ptr[i1] - base > gather or rem_ptr[i1] - rbase > gather  # one citizen with more: read directly
        if not direct:
            _running_sums(public, add_cols, base, add_ptr[i1], cum_add, AHEAD)
            _running_sums(public, rem_cols, rbase, rem_ptr[i1], cum_rem, 0)  # removed ring ties: next door
        first = np.uint64(i0)
        for i in range(i0, i1):
            # 0. Neighbour reads (the state at the start of the month). Unsigned indices: no wraparound test.
            ui = np.uint64(i)
            if complete:
                deg = n - 1
                s0 = nb_totals[0] - pf[_at(ui, 0)]
                s1 = nb_totals[1] - pf[_at(ui, 1)]
                s2 = nb_totals[2] - pf[_at(ui, 2)]
                s3 = nb_totals[3] - pf[_at(ui, 3)]
            else:
                if half > 0:
                    if i == lo:  # the window's first sums (exact integers: sliding adds no error)
                        w0 = w1 = w2 = w3 = np.int64(0)
                        for j in range(i - half, i + half + 1):
                            r = j % n
                            w0 += pf[_at(r, 0)]
                            w1 += pf[_at(r, 1)]
                            w2 += pf[_at(r, 2)]
                            w3 += pf[_at(r, 3)]
                    else:  # slide: the row entering on the right, less the row leaving on the left
                        a = i + half
                        if a >= n:
                            a -= n
                        b = i - half - 1
                        if b < 0:
                            b += n
                        ua = np.uint64(a)
                        ub = np.uint64(b)
                        w0 += np.int64(pf[_at(ua, 0)]) - pf[_at(ub, 0)]
                        w1 += np.int64(pf[_at(ua, 1)]) - pf[_at(ub, 1)]
                        w2 += np.int64(pf[_at(ua, 2)]) - pf[_at(ub, 2)]
                        w3 += np.int64(pf[_at(ua, 3)]) - pf[_at(ub, 3)]
                deg = 2 * half
                s0 = s1 = s2 = s3 = np.int64(0)
                if half > 0:  # the window less the citizen itself
                    s0 = w0 - pf[_at(ui, 0)]
                    s1 = w1 - pf[_at(ui, 1)]
                    s2 = w2 - pf[_at(ui, 2)]
                    s3 = w3 - pf[_at(ui, 3)]
                if direct:
                    for q in range(add_ptr[ui], add_ptr[ui + one]):
                        c = np.uint64(add_cols[q])
                        s0 += pf[_at(c, 0)]
                        s1 += pf[_at(c, 1)]
                        s2 += pf[_at(c, 2)]
                        s3 += pf[_at(c, 3)]
                    for q in range(rem_ptr[ui], rem_ptr[ui + one]):
                        c = np.uint64(rem_cols[q])
                        s0 -= pf[_at(c, 0)]
                        s1 -= pf[_at(c, 1)]
                        s2 -= pf[_at(c, 2)]
                        s3 -= pf[_at(c, 3)]
                else:
                    e = np.uint64(add_ptr[ui + one] - base)
                    f = np.uint64(add_ptr[ui] - base)
                    s0 += caf[_at(e, 0)] - caf[_at(f, 0)]
                    s1 += caf[_at(e, 1)] - caf[_at(f, 1)]
                    s2 += caf[_at(e, 2)] - caf[_at(f, 2)]
                    s3 += caf[_at(e, 3)] - caf[_at(f, 3)]
                    e = np.uint64(rem_ptr[ui + one] - rbase)
                    f = np.uint64(rem_ptr[ui] - rbase)
                    s0 -= crf[_at(e, 0)] - crf[_at(f, 0)]
                    s1 -= crf[_at(e, 1)] - crf[_at(f, 1)]
                    s2 -= crf[_at(e, 2)] - crf[_at(f, 2)]
                    s3 -= crf[_at(e, 3)] - crf[_at(f, 3)]
                deg += add_ptr[ui + one] - add_ptr[ui] - (rem_ptr[ui + one] - rem_ptr[ui])
            inv = 1.0 / deg if deg > 0 else 0.0
            j = ui - first
            nb_user[j] = s0 * inv  # share of neighbours who were users
            nb_wom[j] = s1 * inv  # success share minus failure share of their last uses
            nb_att[j] = s2 * inv * inv_scale
            nb_trust[j] = s3 * inv * inv_scale

        # 3. Opinion, for the run of citizens at once: toward a bounded target; then the structural equations. They
        # depend on nothing the other processes change this month, and as a loop of their own they are compiled to
        # vector instructions.
        for i in range(i0, i1):
            ui = np.uint64(i)
            j = ui - first
            sat = np.float64(satisfaction[ui])
            wom = nb_wom[j]
            target = (1.0 - w) * attitude0[ui] + w * nb_att[j] + k_wom_att * wom + k_exp_att * sat
            target = min(max(target, k_att_lo), k_att_hi)
            x = np.float64(attitude[ui])
            attitude[ui] = np.float32(x + rate * (target - x))
            target = (1.0 - w) * trust0[ui] + w * nb_trust[j] + k_wom_trust * wom + k_exp_trust * sat
            target = min(max(target, k_trust_lo), k_trust_hi)
            x = np.float64(trust[ui])
            tru = np.float32(x + rate * (target - x))
            trust[ui] = tru
            # the structural equations (3), here too: a loop of vector instructions (the intention is kept)
            att = attitude[ui]
            ready = k_r0 + k_r_att * att + k_r_trust * tru + zeta_r[ui]
            nb_intent[j] = k_i0 + k_i_ready * ready + k_i_att * att + k_i_trust * tru + zeta_i[ui]

        # 1, 2, 4-7: the other processes, citizen by citizen.
        for i in range(i0, i1):
            ui = np.uint64(i)
            u_nb = nb_user[ui - first]
            s0_hi, s0_lo, x = pcg64_next(s0_hi, s0_lo, inc0_hi, inc0_lo)
            u_access, u_skill = _split(x)
            s1_hi, s1_lo, x = pcg64_next(s1_hi, s1_lo, inc1_hi, inc1_lo)
            u_aware, u_adopt = _split(x)
            s2_hi, s2_lo, x = pcg64_next(s2_hi, s2_lo, inc2_hi, inc2_lo)
            u_need, u_channel = _split(x)
            s3_hi, s3_lo, x = pcg64_next(s3_hi, s3_lo, inc3_hi, inc3_lo)
            u_success, u_lapse = _split(x)
            ext = extra_external[ui] if extra else 0.0

            # 1. Access and skill (monthly probabilities per group level, set for the month).
            lv = level[ui]
            acc = access[ui]
            if not acc and u_access < p_access_level[lv]:
                acc = True
                access[ui] = True
            sk = skill[ui]
            if acc and not sk and u_skill < p_skill_level[lv]:
                sk = True
                skill[ui] = True

            # 2. Awareness.
            aw = aware[ui]
            if not aw and _event(u_aware, (k_aware_ext + k_aware_soc * u_nb + ext) * dt):
                aw = True

            # 3. (Opinion and the structural equations, above.)
            sat = np.float64(satisfaction[ui])
            tru = trust[ui]
            intent = nb_intent[ui - first]

            # 4. Adoption.
            us = user[ui]
            if not us and aw and acc and sk:
                b = k_p + k_q * u_nb + ext
                z = k_adopt_slope * intent
                # as for the lapse below: at or above b dt / (1 - z) >= b exp(z) dt a draw is no event
                if not (z < 1.0 and u_adopt * (1.0 - z) >= b * dt * (1.0 + _MARGIN)):
                    if _event(u_adopt, b * math.exp(z) * dt):
                        us = True
                        ever_user[ui] = True
                        t_new_users += 1

            # 5. Channel.
            use = False
            if u_need < need_rate[ui]:
                t_needs += 1
                able = acc & sk
                can_portal = us & able
                mandate = k_online_only
                if extra:
                    mandate = mandate + (1.0 - mandate) * mandate_share[ui]
                if u_channel < mandate:  # the need can only be met online
                    if can_portal:
                        use = True
                    elif u_channel / mandate < k_p_proxy:
                        t_proxy += 1  # a household member does it
                    elif able & aw:
                        use = True  # a forced first use
                        t_forced += 1
                    else:
                        t_unserved += 1
                else:
                    v = u_channel if mandate == 0.0 else (u_channel - mandate) / (1.0 - mandate)  # (the same value)
                    if can_portal:
                        a = k_use_intercept + k_use_slope * intent + k_use_on_sat * sat
                        g = (a - _PHI_LO) * _PHI_INV_STEP  # a's place on the grid of _PHI_FLOOR
                        if g >= 0.0 and v < _PHI_FLOOR[np.uint64(min(g, 128.0))]:
                            use = True  # below a lower bound of Phi(a): the same outcome, without erfc
                        else:
                            c = 0.5 * math.erfc(-a * _SQRT1_2)
                            if v < c:
                                use = True
                            else:
                                v = (v - c) / max(1.0 - c, 1e-12)
                    if not use:
                        a = k_p_assisted
                        if extra:
                            a = min(1.0, a + assisted_extra[ui])
                        # (flags rather than branches: measured a little faster, 1-2 ns a citizen)
                        assisted = v < a
                        proxy = (not assisted) & ((v - a) / max(1.0 - a, 1e-12) < k_p_proxy)
                        t_assisted += assisted
                        t_proxy += proxy
                        t_unserved += (not assisted) & (not proxy)
                        if assisted:
                            last_assisted[ui] = month
                        aw = aw | assisted  # served at a centre: now knows the portal
            aware[ui] = aw
            used[ui] = use

            # 6. Use and experience.
            outcome = 0
            if use:
                quality = p_success_i[ui] if extra else k_p_success
                quality -= k_quality_drop
                t_uses += 1
                if u_success < quality:
                    outcome = 1
                    if not us:
                        us = True
                        t_new_users += 1
                else:
                    outcome = -1
                    t_failures += 1
                sat = np.float32(sat + k_sat_rate * (outcome - sat))
                satisfaction[ui] = sat
                last_use[ui] = month
                ever_user[ui] = True
            last_outcome[ui] = outcome

            # 7. Lapse. exp(z) <= 1 / (1 - z) for z < 1, so a draw at or above k dt / (1 - z) (with a margin for
            # rounding) is no event, and exp is taken only for the few draws below it: the same events.
            if us:
                z = -k_lapse_sat * sat - k_lapse_trust * tru
                if not (z < 1.0 and u_lapse * (1.0 - z) >= lapse_bound):
                    if _event(u_lapse, k_lapse * math.exp(z) * dt):
                        us = False
                        t_lapses += 1
            user[ui] = us


        # 8. Tally: the loop month 0 uses too, over the same citizens while their rows are still in cache.
        tally_block(i0, i1, month, k, used, user, ever_user, aware, access, skill, attitude, trust, last_use,
                    last_assisted, code, att_table, trust_table, tot, groups, places, fractions)
        i0 = i1
    tot[T_ASSISTED] += t_assisted
    tot[T_FAILURES] += t_failures
    tot[T_FORCED] += t_forced
    tot[T_LAPSES] += t_lapses
    tot[T_NEEDS] += t_needs
    tot[T_NEW_USERS] += t_new_users
    tot[T_PROXY] += t_proxy
    tot[T_UNSERVED] += t_unserved
    tot[T_USES] += t_uses
    rng[0, 0], rng[0, 1] = s0_hi, s0_lo
    rng[1, 0], rng[1, 1] = s1_hi, s1_lo
    rng[2, 0], rng[2, 1] = s2_hi, s2_lo
    rng[3, 0], rng[3, 1] = s3_hi, s3_lo

_POOL: ThreadPoolExecutor | None = None
#: Whether this process has loaded the compiled kernels (the first month and tally load them from the cache).
LOADED = False


def deferred_interrupts():
    """Hold Ctrl-C back while the compiled kernels load, and deliver it after (a context manager).

    numba loads a kernel through a C callback, and a ``KeyboardInterrupt``
    raised inside one is printed and lost. Outside the main thread, or once
    the kernels are loaded (:data:`LOADED`), this does nothing (and costs
    next to nothing: it is entered twice a month).
    """
    if LOADED or threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()
    return _held_interrupts()


@contextlib.contextmanager
def _held_interrupts():
    """:func:`deferred_interrupts` while the kernels load, in the main thread."""
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # ignored, or the default of a process that set none: leave it
        yield
        return
    held = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        previous(signal.SIGINT, held[0])


def pool() -> ThreadPoolExecutor:
    """The threads of a large month (created on first use)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="egov-abm-month")
    return _POOL


def mapper(threads: int):
    """``map`` for one thread; for more, the ``map`` of the kernel's thread pool (:func:`pool`)."""
    return pool().map if threads > 1 else map


def threads_for(n: int) -> int:
    """The threads a model of ``n`` citizens works on: :data:`THREADS` from :data:`THREADED_MIN` citizens, else 1."""
    return THREADS if n >= THREADED_MIN else 1


def blocks(n: int, threads: int | None = None) -> list[tuple[int, int]]:
    """Contiguous ``(lo, hi)`` blocks of whole :data:`CHUNK` slices, one per thread used for ``n`` citizens."""
    threads = threads_for(n) if threads is None else threads
    chunks = -(-n // CHUNK)
    threads = max(1, min(threads, chunks))
    edges = [min(n, (chunks * b // threads) * CHUNK) for b in range(threads + 1)]
    return [(edges[b], edges[b + 1]) for b in range(threads) if edges[b + 1] > edges[b]]


def scratch(sub: int | None = None, gather: int | None = None) -> tuple[np.ndarray, ...]:
    """The work buffers of one block of :func:`month_block`, made once per model and thread.

    The running sums of the added and removed ties of up to ``gather`` ties (row 0, the empty sum, is zero; the
    others are written before they are read), the four neighbour means and the intention of up to ``sub``
    citizens, and the tally's buffers (:func:`tally_scratch`).
    """
    sub = SUB if sub is None else sub
    gather = GATHER if gather is None else gather
    return (np.zeros((gather + 1, 4), dtype=np.int64), np.zeros((gather + 1, 4), dtype=np.int64), np.empty((5, sub)),
            *tally_scratch())


def tally_scratch() -> tuple[np.ndarray, np.ndarray]:
    """The work buffers of :func:`tally_block`: the item scores' places on the grid and their fractions."""
    return np.empty(2 * TALLY_RUN, dtype=np.int64), np.empty(2 * TALLY_RUN)


def stream_state(gen: np.random.Generator, skip: int = 0) -> np.ndarray:
    """``[state_hi, state_lo, inc_hi, inc_lo]`` of a PCG64 stream, ``skip`` draws on (``gen`` is not moved)."""
    bit = gen.bit_generator
    if skip:
        bit = type(bit)()
        bit.state = gen.bit_generator.state
        bit.advance(skip)
    s = bit.state["state"]
    return np.array([s["state"] >> 64, s["state"] & _MASK64, s["inc"] >> 64, s["inc"] & _MASK64], dtype=np.uint64)


#: The per-citizen arrays one month reads, and those it also writes (each citizen's row).
READS = ("access", "skill", "aware", "user", "ever_user", "attitude", "trust", "attitude0", "trust0", "zeta_r",
         "zeta_i", "satisfaction", "last_outcome", "last_use", "last_assisted", "need_rate", "level")
WRITES = ("access", "skill", "aware", "user", "ever_user", "used", "attitude", "trust", "satisfaction",
          "last_outcome", "last_use", "last_assisted")
CACHE_LINE = 64


def month_bytes(model) -> int:
    """Bytes of memory one month moves at least, for the distance to the machine's limit (``egov-abm bench``).

    Each per-citizen array is read once (:data:`READS`, plus the group code)
    and each written one is written back (:data:`WRITES`); the snapshot writes
    and reads one 16-byte row per citizen (and reads the four states it
    copies); each added tie reads its entry and one whole cache line at a
    random place, each removed tie its entry (its row is next door, in cache).
    """
    n = model.n
    per_citizen = sum(getattr(model, name).itemsize for name in READS) + model.groups.code.itemsize
    per_citizen += sum(getattr(model, name).itemsize for name in WRITES)
    per_citizen += 2 * model._public.itemsize * 4 + sum(getattr(model, name).itemsize
                                                        for name in ("user", "last_outcome", "attitude", "trust"))
    _, add_ptr, add_cols, rem_ptr, rem_cols = model._ties
    ties = n * add_ptr.itemsize + len(add_cols) * (add_cols.itemsize + CACHE_LINE)
    ties += n * rem_ptr.itemsize + len(rem_cols) * rem_cols.itemsize
    return int(n * per_citizen + ties)
