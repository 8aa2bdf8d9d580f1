"""Compiled helpers of the build at country scale: orderings and de-duplication in one pass, no Python loop.

numpy's sorts are O(n log n) and single-threaded; the keys here are small
integers (a block number, a citizen's index), so a counting sort does the
same job in two linear passes, and a hash set finds repeated ties without
sorting them.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def stable_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """The stable ordering by ``keys`` (integers in ``[0, n_keys)``), as ``numpy.argsort(keys, kind="stable")``."""
    counts = np.zeros(n_keys + 1, dtype=np.int64)
    for k in keys:
        counts[k + 1] += 1
    for k in range(n_keys):
        counts[k + 1] += counts[k]
    order = np.empty(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        k = keys[i]
        order[counts[k]] = i
        counts[k] += 1
    return order


@njit(cache=True)
def rewire_rejects(u: np.ndarray, w: np.ndarray, n: int, half: int) -> np.ndarray:
    """True for each rewired tie ``(u, w)`` to draw again: ``w`` on one of ``u``'s ring positions, or a repeat.

    One pass with a hash set of the ties' keys ``min * n + max`` (the first occurrence is kept).
    """
    size = 1
    while size < 2 * u.shape[0] + 2:
        size *= 2
    mask = size - 1
    table = np.full(size, -1, dtype=np.int64)
    out = np.zeros(u.shape[0], dtype=np.bool_)
    for i in range(u.shape[0]):
        a, b = u[i], w[i]
        gap = abs(b - a)
        if min(gap, n - gap) <= half:
            out[i] = True
            continue
        key = np.int64(min(a, b)) * n + max(a, b)
        slot = ((key * 0x9E3779B97F4A7C15) >> 17) & mask
        while True:
            held = table[slot]
            if held == -1:
                table[slot] = key
                break
            if held == key:
                out[i] = True
                break
            slot = (slot + 1) & mask
    return out


@njit(cache=True)
def _csr(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    counts = np.zeros(n + 1, dtype=np.int64)
    for r in rows:
        counts[r + 1] += 1
    for k in range(n):
        counts[k + 1] += counts[k]
    ptr = counts.copy()
    out_cols = np.empty(rows.shape[0], dtype=np.int32)
    for i in range(rows.shape[0]):
        r = rows[i]
        out_cols[counts[r]] = cols[i]
        counts[r] += 1
    return ptr, out_cols


def csr_from_pairs(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr, indices)`` of the (row, column) pairs, columns in their given order within a row.

    ``indptr`` is int32 when it fits (half the memory of int64 at 20 million citizens).
    """
    ptr, out_cols = _csr(rows, cols, n)
    return (ptr.astype(np.int32) if ptr[-1] < 2**31 else ptr), out_cols
