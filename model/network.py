"""Social graphs: networkx generators at interactive size, held as CSR for the step.

Every generator takes a ``numpy.random.Generator`` and passes it to networkx
as ``seed``, so the same run seed gives the same graph.

Kinds (``Params.network``):

``small_world``
    Watts-Strogatz ring of ``mean_degree`` neighbours (rounded down to even),
    each tie rewired with probability ``p_rewire``.
``scale_free``
    Holme-Kim power-law graph with clustering (``networkx.powerlaw_cluster_graph``),
    ``mean_degree / 2`` ties per new node and triangle probability ``p_triangle``.
``homophily``
    The Watts-Strogatz ring laid over citizens sorted by (region, urban/rural),
    so unrewired ties stay inside the citizen's region and settlement type;
    rewired ties (share ``p_rewire``) go anywhere. Homophily by region and
    urban/rural is about ``1 - p_rewire``.
``complete``
    Everyone knows everyone (for validation against the Bass closed form). It
    is never built: the step uses population totals minus the citizen itself.
"""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import scipy.sparse as sp


@dataclasses.dataclass
class Adjacency:
    """Undirected social graph as compressed sparse rows (or the implicit complete graph)."""

    n: int
    matrix: sp.csr_array | None  # None means the complete graph; float32 ones otherwise
    degree: np.ndarray
    _inv_degree: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def dtype(self) -> np.dtype:
        """Precision of neighbour sums: float32 on a sparse graph (half the memory traffic), else float64."""
        return np.dtype(np.float64) if self.matrix is None else self.matrix.dtype

    @property
    def inv_degree(self) -> np.ndarray:
        """``1 / max(degree, 1)`` per citizen, in :attr:`dtype`, computed once."""
        if self._inv_degree is None:
            self._inv_degree = (1.0 / np.maximum(self.degree, 1)).astype(self.dtype)
        return self._inv_degree

    @property
    def complete(self) -> bool:
        """True for the implicit complete graph."""
        return self.matrix is None

    def neighbour_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum over each citizen's neighbours of ``values`` (shape (n,) or (n, m))."""
        if self.matrix is None:
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
        if self.matrix is None:
            return np.delete(np.arange(self.n), i)
        return self.matrix.indices[self.matrix.indptr[i]:self.matrix.indptr[i + 1]]


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
        return Adjacency(n=n, matrix=None, degree=np.full(n, n - 1, dtype=np.int64))
    # float32 ones: sums of up to 2**24 neighbours are exact, and the step reads half the bytes
    mat = nx.to_scipy_sparse_array(graph, nodelist=range(n), format="csr", dtype=np.float32, weight=None)
    # one index dtype for both arrays: scipy copies them to a common dtype on every product otherwise
    index = np.int32 if mat.nnz < 2**31 else np.int64
    mat.indices = mat.indices.astype(index)
    mat.indptr = mat.indptr.astype(index)
    degree = np.diff(mat.indptr)
    return Adjacency(n=n, matrix=mat, degree=degree)
