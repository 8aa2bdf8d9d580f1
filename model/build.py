"""Compiled helpers of the build at country scale: orderings and de-duplication in one pass, no Python loop.

numpy's sorts are O(n log n) and single-threaded; the keys here are small
integers (a block number, a citizen's index), so a counting sort does the
same job in two linear passes, and a hash set finds repeated ties without
sorting them. The ring's two sets of compressed rows, the hash set (split by
the keys' hash) and the group codes can each run as two independent parts on
the kernel's two threads, with the same result as one; the random reads and
writes of the rewired ties ask the cache :data:`PREFETCH` ties ahead (the
hash set at 20 million citizens: 1.0 s alone, 0.6 s with it).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from egov_abm.model.kernel import prefetch_row

#: How many ties ahead the hash set asks the cache for a slot.
PREFETCH = 16


@njit(nogil=True, cache=True)
def _rejects(u: np.ndarray, w: np.ndarray, n: int, half: int, part: int, parts: int, out: np.ndarray) -> None:
    """:func:`rewire_rejects` for the ties of one part (by the top bit of their key's hash), into ``out``.

    Each key belongs to one part, and each part is scanned in index order, so the first occurrence of a key is
    the one kept whatever the number of parts (one or two).
    """
    size = 1
    while size < (3 * u.shape[0]) // (2 * parts) + 2:  # a load of at most 2/3
        size *= 2
    mask = np.uint64(size - 1)
    table = np.full(size, -1, dtype=np.int64)
    rows = table.reshape((size, 1))  # (for the prefetch)
    m = u.shape[0]
    for i in range(m):
        if i + PREFETCH < m:  # ask the cache for the slot of the key PREFETCH ties on: many misses in flight
            c, d = u[i + PREFETCH], w[i + PREFETCH]
            ahead = np.uint64(np.int64(min(c, d)) * n + max(c, d)) * np.uint64(0x9E3779B97F4A7C15)
            prefetch_row(rows, (ahead >> np.uint64(17)) & mask)
        a, b = u[i], w[i]
        key = np.int64(min(a, b)) * n + max(a, b)
        h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
        if parts > 1 and np.int64(h >> np.uint64(63)) != part:
            continue
        gap = abs(b - a)
        if min(gap, n - gap) <= half:
            out[i] = True
            continue
        slot = (h >> np.uint64(17)) & mask
        while True:
            held = table[slot]
            if held == -1:
                table[slot] = key
                out[i] = False
                break
            if held == key:
                out[i] = True
                break
            slot = (slot + np.uint64(1)) & mask


def rewire_rejects(u: np.ndarray, w: np.ndarray, n: int, half: int, each=map, parts: int = 1) -> np.ndarray:
    """True for each rewired tie ``(u, w)`` to draw again: ``w`` on one of ``u``'s ring positions, or a repeat.

    One pass with a hash set of the ties' keys ``min * n + max`` (the first occurrence is kept). With
    ``parts`` = 2 the keys are split in two by their hash, each half with a set of its own, and ``each`` (a
    ``map``, such as a thread pool's) runs the halves: the same answer, on two cores.
    """
    if parts not in (1, 2):
        raise ValueError(f"rewire_rejects: parts must be 1 or 2, got {parts}")
    out = np.empty(u.shape[0], dtype=np.bool_)  # each tie's entry is written by the part of its key
    list(each(lambda part: _rejects(u, w, n, half, part, parts, out), range(parts)))
    return out


@njit(inline="always")
def _far_end(a, x, removed: bool, n: int):
    """The other end of tie ``(a, x)``: ``x``, or when ``removed`` the ring position ``a + x`` (mod n)."""
    if removed:
        return a + x - n if a + x >= n else a + x
    return x


@njit(nogil=True, cache=True)
def _ring_rows(u: np.ndarray, other: np.ndarray, removed: bool, skip: np.ndarray, n: int, ptr: np.ndarray,
               cols: np.ndarray) -> None:
    """Compressed rows of the ties ``(u[i], x[i])`` in both directions, leaving out those where ``skip[i]``.

    ``x`` is ``other`` (a rewired tie's new end) or, when ``removed``, ``(u + other) mod n`` (the ring tie it
    replaced). Row ``r`` lists first the ends of the ties ``u[i] = r``, then those of the ties ``x[i] = r``, each in
    the order of ``i``: a stable sort of the rows of the pairs ``[u, x]`` and ``[x, u]`` placed one after the
    other. ``ptr`` (``n + 1`` zeros) receives the row pointers; ``cols`` has room for every entry.
    """
    m = u.shape[0]
    ptr_rows = ptr.reshape((ptr.shape[0], 1))  # (for the prefetches: the new ends are far apart in memory)
    col_rows = cols.reshape((cols.shape[0], 1))
    for i in range(m):  # each row's count, one place on (ptr[r + 1])
        if not removed and i + PREFETCH < m:
            prefetch_row(ptr_rows, np.uint64(other[i + PREFETCH] + 1))
        if not skip[i]:
            a = u[i]
            b = _far_end(a, other[i], removed, n)
            ptr[a + 1] += 1
            ptr[b + 1] += 1
    start = ptr[0]  # (0, in the pointers' type)
    for r in range(n):  # ptr[r + 1] becomes the start of row r, and the fill's cursor in it
        c = ptr[r + 1]
        ptr[r + 1] = start
        start += c
    for i in range(m):
        if not skip[i]:
            a = u[i]
            b = _far_end(a, other[i], removed, n)
            cols[ptr[a + 1]] = b
            ptr[a + 1] += 1
    for i in range(m):  # after the fill, ptr[r + 1] is the end of row r
        if not removed:
            if i + 2 * PREFETCH < m:
                prefetch_row(ptr_rows, np.uint64(other[i + 2 * PREFETCH] + 1))
            if i + PREFETCH < m:
                prefetch_row(col_rows, np.uint64(ptr[other[i + PREFETCH] + 1]))
        if not skip[i]:
            a = u[i]
            b = _far_end(a, other[i], removed, n)
            cols[ptr[b + 1]] = a
            ptr[b + 1] += 1


def ring_rows(u: np.ndarray, w: np.ndarray, offset: np.ndarray, skip: np.ndarray, n: int,
              each=map) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((add_ptr, add_cols), (rem_ptr, rem_cols))``: the compressed rows of the added and the removed ties.

    Tie ``i`` is the rewiring of the ring tie ``(u, u + offset mod n)`` to ``(u, w)``, unless ``skip[i]``. The
    two sets of rows are made at once when ``each`` runs its calls on two threads. The pointers are int32 when
    they fit (half the memory of int64 at 20 million citizens), the columns int32.
    """
    m = 2 * (u.shape[0] - int(np.count_nonzero(skip)))
    index = np.int32 if m < 2**31 else np.int64
    out = [(np.zeros(n + 1, dtype=index), np.empty(m, dtype=np.int32)) for _ in range(2)]
    list(each(lambda k: _ring_rows(u, (w, offset)[k], bool(k), skip, n, *out[k]), range(2)))
    return out[0], out[1]


@njit(nogil=True, cache=True)
def _group_codes(age_band, education, region, urban, n_education, n_regions, lo, hi, code, counts) -> None:
    for i in range(lo, hi):
        c = ((np.int32(age_band[i]) * n_education + education[i]) * n_regions + region[i]) * 2 + urban[i]
        if c < 0 or c >= counts.shape[0]:
            raise ValueError("group code out of range")
        code[i] = c
        counts[c] += 1


def group_codes(age_band: np.ndarray, education: np.ndarray, region: np.ndarray, urban: np.ndarray,
                n_education: int, n_regions: int, size: int, each=map, parts: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Each citizen's group code (int32) and the count of each of the ``size`` codes, in one pass.

    The code is ``((age band * n_education + education) * n_regions + region) * 2 + urban``. ``parts`` slices
    of citizens are run by ``each`` (a thread pool's ``map`` runs them on its threads).
    """
    n = region.shape[0]
    code = np.empty(n, dtype=np.int32)
    counts = np.zeros((parts, size), dtype=np.int64)
    edges = [n * b // parts for b in range(parts + 1)]
    list(each(lambda b: _group_codes(age_band, education, region, urban, n_education, n_regions, edges[b],
                                     edges[b + 1], code, counts[b]), range(parts)))
    return code, counts.sum(axis=0)


@njit(nogil=True, cache=True)
def _key_counts(keys, lo, hi, counts) -> None:
    for i in range(lo, hi):
        k = keys[i]
        if k < 0 or k >= counts.shape[0]:
            raise ValueError("sort_by_key: a key outside [0, n_keys)")
        counts[k] += 1


@njit(nogil=True, cache=True)
def _scatter(keys, src, out, lo, hi, cursor) -> None:
    for i in range(lo, hi):
        k = keys[i]
        out[cursor[k]] = src[i]
        cursor[k] += 1


def sort_by_key(keys: np.ndarray, n_keys: int, columns: list[np.ndarray], each=map,
                parts: int = 1) -> list[np.ndarray]:
    """``[c[numpy.argsort(keys, kind="stable")] for c in columns]``, by counting sort (one pass per column).

    ``keys`` are integers in ``[0, n_keys)``.
    Gathering through the stable order reads the source once per key (a sweep over it for each), while the
    counting sort reads it once and writes each key's run in order. ``parts`` slices of citizens, each with
    cursors of its own (the counts of the slices before it), and every column are run by ``each`` (a thread
    pool's ``map`` runs them on its threads): the same arrays whatever the parts.
    """
    n = keys.shape[0]
    edges = [n * b // parts for b in range(parts + 1)]
    counts = np.zeros((parts, n_keys), dtype=np.int64)
    list(each(lambda b: _key_counts(keys, edges[b], edges[b + 1], counts[b]), range(parts)))
    total = counts.sum(axis=0)
    starts = np.concatenate([[0], np.cumsum(total)[:-1]])
    cursors = starts + np.concatenate([np.zeros((1, n_keys), dtype=np.int64), np.cumsum(counts, axis=0)[:-1]])
    out = [np.empty_like(c) for c in columns]
    list(each(lambda job: _scatter(keys, columns[job[0]], out[job[0]], edges[job[1]], edges[job[1] + 1],
                                   cursors[job[1]].copy()),
              [(c, b) for c in range(len(columns)) for b in range(parts)]))
    return out
