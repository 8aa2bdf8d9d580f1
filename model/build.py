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
def pairs_by_row(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` sorted by row, stably, as int32 (citizens ``0 .. n - 1``)."""
    counts = np.zeros(n + 1, dtype=np.int64)
    for r in rows:
        counts[r + 1] += 1
    for k in range(n):
        counts[k + 1] += counts[k]
    out_rows = np.empty(rows.shape[0], dtype=np.int32)
    out_cols = np.empty(rows.shape[0], dtype=np.int32)
    for i in range(rows.shape[0]):
        r = rows[i]
        j = counts[r]
        out_rows[j] = r
        out_cols[j] = cols[i]
        counts[r] += 1
    return out_rows, out_cols


@njit(cache=True)
def repeats(keys: np.ndarray) -> np.ndarray:
    """True where a key (a non-negative integer) already occurred earlier in ``keys``; the first occurrence is kept."""
    size = 1
    while size < 2 * keys.shape[0] + 2:
        size *= 2
    mask = size - 1
    table = np.full(size, -1, dtype=np.int64)
    out = np.zeros(keys.shape[0], dtype=np.bool_)
    for i in range(keys.shape[0]):
        key = keys[i]
        slot = ((key * 0x9E3779B97F4A7C15) >> 17) & mask  # Fibonacci hashing (wraps in 64 bits)
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
