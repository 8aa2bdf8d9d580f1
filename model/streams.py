"""Named random streams for one run, spawned from the run's seed.

One ``numpy.random.SeedSequence`` per (seed, replicate); each process of the
model draws from its own child stream, so changing how one process draws
(a policy reaching more citizens, say) never moves another process's numbers.
Every process draws a full-length vector each month whatever the state, so two
runs with the same seed differ only where their rules differ (common random
numbers between a scenario and its baseline).

Policy interventions do not share a stream: each draws from a generator of its
own, keyed by its kind and name (:func:`model.interventions.intervention_stream`),
so adding one intervention moves no other intervention's draws either. The
name ``interventions`` stays in :data:`STREAMS`, unused, so that the streams
after it keep their numbers.
"""

from __future__ import annotations

import numpy as np

STREAMS = ("population", "constructs", "network", "initial", "access", "awareness",
           "adoption", "use", "experience", "mesa", "interventions", "skill",
           "channel", "lapse", "need")  # append only: keeps earlier streams
# ("interventions" is no longer drawn from: each intervention has its own stream.)


#: Largest root seed: results store the seed in a 64-bit signed integer column.
SEED_MAX = 2**63 - 1


def seed_sequence(seed: int, replicate: int = 0) -> np.random.SeedSequence:
    """The root sequence of replicate ``replicate`` of a run seeded ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed: expected a whole number in [0, 2**63 - 1], got {seed!r}")
    if replicate < 0:
        raise ValueError(f"replicate: expected a non-negative whole number, got {replicate!r}")
    return np.random.SeedSequence(int(seed), spawn_key=(int(replicate),))


def spawn_streams(root: np.random.SeedSequence) -> dict[str, np.random.Generator]:
    """One generator per name in :data:`STREAMS`, in a fixed order."""
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, root.spawn(len(STREAMS)), strict=True)}


#: Citizens per chunk of the build's draws (population, constructs, initial states, needs): each chunk draws from
#: its own child of the stream, so the chunks can be drawn in parallel and the numbers do not depend on the threads.
BUILD_CHUNK = 1 << 20


def chunk_streams(gen: np.random.Generator, n: int) -> list[tuple[int, int, np.random.Generator]]:
    """``(lo, hi, generator)`` for each chunk of :data:`BUILD_CHUNK` citizens: child ``c`` of ``gen``'s seed.

    Child ``c`` is what ``gen``'s ``SeedSequence.spawn`` gives as its ``c``-th child, made directly, so it
    does not depend on what was spawned before.
    """
    ss = gen.bit_generator.seed_seq

    def child(c: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, c),
                                                            pool_size=ss.pool_size))

    return [(lo, min(n, lo + BUILD_CHUNK), child(c)) for c, lo in enumerate(range(0, n, BUILD_CHUNK))]
