"""Social graphs: built directly as arrays (any size) or with networkx (interactive size).

Every generator takes a ``numpy.random.Generator``, so the same run seed gives
the same graph.

Kinds (``Params.network``):

``small_world``
    Watts-Strogatz ring of ``mean_degree`` neighbours (rounded down to even),
    each tie rewired with probability ``p_rewire``.
``homophily``
    The Watts-Strogatz ring laid over citizens sorted by (region, urban/rural),
    so unrewired ties stay inside the citizen's region and settlement type;
    rewired ties (share ``p_rewire``) go anywhere. Homophily by region and
    urban/rural is about ``1 - p_rewire``.
``scale_free``
    Holme-Kim power-law graph with clustering (``networkx.powerlaw_cluster_graph``),
    ``mean_degree / 2`` ties per new node and triangle probability ``p_triangle``.
    The direct builder grows it in compiled code (:mod:`model.scale_free`), at any size.
``complete``
    Everyone knows everyone (for validation against the Bass closed form). It
    is never built: the step uses population totals minus the citizen itself.

Builders (``Params.graph_builder``):

``direct`` (default)
    The two ring kinds are generated as arrays, with no per-tie Python object
    (:func:`ring_graph`): the ring runs along the citizens' index order and
    only the rewired ties are stored. For ``homophily`` the model numbers its
    citizens by (region, urban) block, so the ring's order is the index order
    and a citizen's ring neighbours sit next to it in memory. The monthly
    kernel (:mod:`model.kernel`) slides a window along the ring and reads the
    rewired ties from a sorted list (:class:`RingGraph`), which is what makes
    20 million citizens fit on a laptop.
``networkx``
    The networkx generators, held as compressed sparse rows: the reference the
    direct builder is tested against (same degree distribution, clustering and
    homophily).
"""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import scipy.sparse as sp

from egov_abm.model.build import rewire_rejects, ring_rows
from egov_abm.model.params import NETWORKX_MAX

_DRAW = 1 << 20  # uniforms per piece of the rewiring draws (the stream's numbers are the same in one piece or many)


@dataclasses.dataclass
class RingGraph:
    """A ring lattice of ``half`` neighbours each side, with some ties rewired.

    Tie ``(u, u + j mod n)`` of the ring (``1 <= j <= half``) is *removed* when
    it was rewired, and the rewired tie ``(u, w)`` is *added*. Both are stored
    as compressed sparse rows, each tie once per direction, so the
    neighbour sum of ``x`` is the sum over ring offsets, minus the removed
    entries, plus the added ones.
    """

    n: int
    half: int
    add_ptr: np.ndarray  # int32 (or int64), n + 1: the added ties of citizen i are add_cols[add_ptr[i]:add_ptr[i + 1]]
    add_cols: np.ndarray  # int32
    rem_ptr: np.ndarray  # int32 (or int64), n + 1: the removed ring ties of citizen i, as add_ptr
    rem_cols: np.ndarray  # int32

    @property
    def add_rows(self) -> np.ndarray:
        """The row of each added tie (made on demand)."""
        return np.repeat(np.arange(self.n, dtype=np.int32), np.diff(self.add_ptr))

    @property
    def rem_rows(self) -> np.ndarray:
        """The row of each removed ring tie (made on demand)."""
        return np.repeat(np.arange(self.n, dtype=np.int32), np.diff(self.rem_ptr))

    def degree(self) -> np.ndarray:
        """Ties per citizen (int32)."""
        deg = np.full(self.n, 2 * self.half, dtype=np.int64)
        deg += np.diff(self.add_ptr)
        deg -= np.diff(self.rem_ptr)
        return deg.astype(np.int32)

    def neighbours(self, i: int) -> np.ndarray:
        """Sorted indices of citizen ``i``'s neighbours."""
        ring = (i + np.r_[-self.half:0, 1:self.half + 1]) % self.n
        removed = self.rem_cols[self.rem_ptr[i]:self.rem_ptr[i + 1]]
        added = self.add_cols[self.add_ptr[i]:self.add_ptr[i + 1]]
        return np.sort(np.concatenate([np.setdiff1d(ring, removed), added]))

    def to_csr(self) -> sp.csr_array:
        """The same graph as float32 compressed sparse rows (for drawing, reference runs and tests)."""
        n, h = self.n, self.half
        rows = np.repeat(np.arange(n), 2 * h)
        cols = (rows + np.tile(np.r_[-h:0, 1:h + 1], n)) % n
        data = np.ones(len(rows) + len(self.add_cols) + len(self.rem_cols), dtype=np.float32)
        data[len(rows) + len(self.add_cols):] = -1.0  # removed ring ties cancel
        mat = sp.coo_array((data, (np.concatenate([rows, self.add_rows, self.rem_rows]),
                                   np.concatenate([cols, self.add_cols, self.rem_cols]))), shape=(n, n)).tocsr()
        mat.eliminate_zeros()
        return _compact(mat)


class Adjacency:
    """Undirected social graph: a rewired ring, compressed sparse rows, or the implicit complete graph."""

    def __init__(self, n: int, *, matrix: sp.csr_array | None = None, ring: RingGraph | None = None,
                 csr: tuple[np.ndarray, np.ndarray] | None = None, degree: np.ndarray | None = None) -> None:
        self.n = n
        self.ring = ring
        self._matrix = matrix
        self._csr = csr  # (indptr, indices) of a graph built directly as compressed rows, without weights
        self._degree = degree
        self._inv_degree: np.ndarray | None = None

    @property
    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """``(indptr, indices)`` of a graph held as compressed sparse rows (not the ring or the complete graph)."""
        if self._csr is not None:
            return self._csr
        return self._matrix.indptr, self._matrix.indices

    @property
    def degree(self) -> np.ndarray:
        """Ties per citizen (computed on first use: the monthly kernel counts them itself)."""
        if self._degree is None:
            if self.ring is not None:
                self._degree = self.ring.degree()
            elif not self.complete:
                self._degree = np.diff(self.csr[0])
            else:
                self._degree = np.full(self.n, self.n - 1, dtype=np.int64)
        return self._degree

    @property
    def complete(self) -> bool:
        """True for the implicit complete graph."""
        return self.ring is None and self._matrix is None and self._csr is None

    @property
    def matrix(self) -> sp.csr_array | None:
        """float32 CSR adjacency (``None`` for the complete graph); built from a ring on first use."""
        if self._matrix is None and self.ring is not None:
            self._matrix = self.ring.to_csr()
        if self._matrix is None and self._csr is not None:
            indptr, indices = self._csr
            self._matrix = _compact(sp.csr_array((np.ones(len(indices), dtype=np.float32), indices, indptr),
                                                 shape=(self.n, self.n)))
        return self._matrix

    @property
    def dtype(self) -> np.dtype:
        """Precision of neighbour sums: float32 on a sparse graph (half the memory traffic), else float64."""
        return np.dtype(np.float64) if self.complete else np.dtype(np.float32)

    @property
    def inv_degree(self) -> np.ndarray:
        """``1 / max(degree, 1)`` per citizen, in :attr:`dtype`, computed once."""
        if self._inv_degree is None:
            self._inv_degree = (1.0 / np.maximum(self.degree, 1)).astype(self.dtype)
        return self._inv_degree

    def neighbour_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum over each citizen's neighbours of ``values`` (shape (n,) or (n, m))."""
        if self.complete:
            return values.sum(axis=0) - values
        return self.matrix @ values

    def neighbour_mean(self, values: np.ndarray) -> np.ndarray:
        """Mean over neighbours; 0 for a citizen with no neighbours."""
        total = self.neighbour_sum(values)
        inv = self.inv_degree
        total *= inv[:, None] if total.ndim == 2 else inv
        return total

    def neighbours(self, i: int) -> np.ndarray:
        """Indices of citizen ``i``'s neighbours."""
        if self.complete:
            return np.delete(np.arange(self.n), i)
        if self.ring is not None:
            return self.ring.neighbours(i)
        indptr, indices = self.csr
        return indices[indptr[i]:indptr[i + 1]]

    def to_networkx(self) -> nx.Graph:
        """The graph as networkx (small N only: per-agent reference runs and tests)."""
        if self.complete:
            return nx.complete_graph(self.n)
        graph = nx.from_scipy_sparse_array(self.matrix)
        graph.add_nodes_from(range(self.n))
        return graph


def ring_graph(n: int, k: int, p_rewire: float, rng: np.random.Generator, *, threads: int = 1) -> RingGraph:
    """Watts-Strogatz ring over citizens ``0..n-1`` in index order, generated as arrays.

    Each citizen ``u`` owns the ties to ``u + 1 .. u + k/2`` (mod n); each is
    rewired with probability ``p_rewire`` to a uniform random citizen ``w``,
    as in ``networkx.watts_strogatz_graph``. A new end that would make a
    self-loop, a duplicate or a tie to one of ``u``'s ring positions is drawn
    again (up to 100 times; a tie that still cannot be placed stays on the
    ring, as networkx leaves a citizen tied to everyone unrewired).

    With ``threads`` = 2 the work is shared by the kernel's two threads
    (:func:`model.kernel.pool`): the rewiring draws in two halves, the second
    from a copy of the stream advanced to where the first ends; the search for
    repeats by halves of the ties' keys; the added and the removed ties' rows
    at once. The graph and the stream's state after it are the same to the last
    bit (tested).
    """
    h = int(k) // 2
    if n <= 2 * h:
        raise ValueError(f"network: mean_degree {k} needs more than {k} citizens, got {n}")
    from egov_abm.model import kernel

    each, parts = kernel.mapper(threads), 2 if threads > 1 else 1
    # Which ties are rewired: one uniform per (offset j, citizen u), j-major, in cache-sized pieces.
    pieces = [(j, lo, min(n, lo + _DRAW)) for j in range(1, h + 1) for lo in range(0, n, _DRAW)]
    halves = [pieces] if parts == 1 or len(pieces) < 2 else [pieces[:len(pieces) // 2], pieces[len(pieces) // 2:]]

    def advanced(j: int, lo: int) -> np.random.Generator:  # a copy of the stream, moved on to piece (j, lo)
        bit = type(rng.bit_generator)()
        bit.state = rng.bit_generator.state
        return np.random.Generator(bit.advance((j - 1) * n + lo))

    gens = [rng] + [advanced(*half[0][:2]) for half in halves[1:]]  # (copied before any draw)

    def rewired(b: int) -> list[np.ndarray]:
        return [np.flatnonzero(gens[b].random(hi - lo) < p_rewire) + lo for _, lo, hi in halves[b]]

    found = [u for part in each(rewired, range(len(halves))) for u in part]
    if len(halves) > 1:
        rng.bit_generator.advance(h * n - (halves[1][0][0] - 1) * n - halves[1][0][1])  # where one stream ends
    u = np.concatenate(found)
    j = np.repeat(np.array([piece[0] for piece in pieces], dtype=np.int32), [len(x) for x in found])  # offsets
    w = np.empty_like(u)
    todo = None  # every tie, at first
    for _ in range(100):
        count = len(u) if todo is None else len(todo)
        if count == 0:
            break
        draw = rng.integers(0, n - 1, count, dtype=np.intp)
        if todo is None:
            draw += draw >= u  # never u itself
            w[:] = draw
        else:
            draw += draw >= u[todo]
            w[todo] = draw
        # a new end on one of u's ring positions, or a tie drawn twice, is drawn again
        todo = np.flatnonzero(rewire_rejects(u, w, n, h, each, parts))
    skip = np.zeros(len(u), dtype=bool)
    if todo is not None:
        skip[todo] = True  # could not be placed: stays a ring tie
    (add_ptr, add_cols), (rem_ptr, rem_cols) = ring_rows(u, w, j, skip, n, each)
    return RingGraph(n=n, half=h, add_ptr=add_ptr, add_cols=add_cols, rem_ptr=rem_ptr, rem_cols=rem_cols)


def build_graph(kind: str, n: int, mean_degree: int, rng: np.random.Generator, *,
                p_rewire: float = 0.1, p_triangle: float = 0.5,
                block: np.ndarray | None = None) -> nx.Graph | None:
    """Build the networkx graph of ``kind`` on nodes ``0..n-1`` (``None`` for complete).

    ``block`` (one integer per citizen, e.g. region * 2 + urban) orders the
    ring of the ``homophily`` kind.
    """
    k = int(mean_degree)
    if kind == "complete":
        return None
    if n <= k:
        raise ValueError(f"network: mean_degree {k} needs more than {k} citizens, got {n}")
    if n > NETWORKX_MAX:
        raise ValueError(f"network: networkx cannot hold a graph of {n:,} citizens (at most {NETWORKX_MAX:,}); "
                         f"use graph_builder = direct with the homophily or small_world network")
    if kind == "small_world":
        return nx.watts_strogatz_graph(n, k, p_rewire, seed=rng)
    if kind == "scale_free":
        return nx.powerlaw_cluster_graph(n, max(1, k // 2), p_triangle, seed=rng)
    if kind == "homophily":
        if block is None:
            block = np.zeros(n, dtype=np.int64)
        # Random order inside each block, blocks contiguous along the ring.
        order = np.lexsort((rng.random(n), block))
        ring = nx.watts_strogatz_graph(n, k, p_rewire, seed=rng)
        return nx.relabel_nodes(ring, dict(enumerate(order.tolist())), copy=True)
    raise ValueError(f"network: unknown kind {kind!r}")


def to_adjacency(graph: nx.Graph | None, n: int) -> Adjacency:
    """CSR adjacency of ``graph`` over nodes ``0..n-1`` (``None`` → complete graph)."""
    if graph is None:
        return Adjacency(n)
    # float32 ones: sums of up to 2**24 neighbours are exact, and the step reads half the bytes
    mat = nx.to_scipy_sparse_array(graph, nodelist=range(n), format="csr", dtype=np.float32, weight=None)
    return Adjacency(n, matrix=_compact(mat))


def _compact(mat: sp.csr_array) -> sp.csr_array:
    # one index dtype for both arrays: scipy copies them to a common dtype on every product otherwise
    index = np.int32 if mat.nnz < 2**31 else np.int64
    mat.indices = mat.indices.astype(index)
    mat.indptr = mat.indptr.astype(index)
    return mat
