"""The direct Holme-Kim builder (model/scale_free.py) against networkx.powerlaw_cluster_graph."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from egov_abm.model.scale_free import holme_kim

N = 20_000  # distribution tests: networkx builds and measures this in about a second


def _csr(indptr, indices):
    n = len(indptr) - 1
    return sp.csr_array((np.ones(len(indices), dtype=np.int8), indices, indptr), shape=(n, n))


def _to_networkx(indptr, indices):
    graph = nx.from_scipy_sparse_array(_csr(indptr, indices))
    graph.add_nodes_from(range(len(indptr) - 1))
    return graph


def _nx_degrees(graph, n):
    return np.array([graph.degree(v) for v in range(n)])


def _reference_holme_kim(n, m, p, rng, tries=64):
    """The process of the module's docstring in plain Python lists, reading the same stream of uniforms."""
    draws = iter(rng.random(m * (2 * tries + 4) * n))

    def index(length):
        return min(int(next(draws) * length), length - 1)

    ties = [[] for _ in range(n)]  # each citizen's ties in the order they were made
    repeated = list(range(m))
    for s in range(m, n):
        prefix, mine, target = len(repeated), [], -1
        for count in range(m):
            chosen = -1
            if count > 0 and next(draws) < p:  # triad formation
                around = ties[target]
                for _ in range(tries):
                    w = around[index(len(around))]
                    if w != s and w not in mine:
                        chosen = w
                        break
                if chosen < 0:
                    valid = [w for w in around if w != s and w not in mine]
                    if valid:
                        chosen = valid[index(len(valid))]
            if chosen < 0:  # preferential attachment
                for _ in range(tries):
                    v = repeated[index(prefix)]
                    if v not in mine:
                        chosen = v
                        break
                if chosen < 0:
                    valid = [v for v in repeated[:prefix] if v not in mine]
                    chosen = valid[index(len(valid))]
                target = chosen
            ties[s].append(chosen)
            ties[chosen].append(s)
            mine.append(chosen)
            repeated.append(chosen)
        repeated.extend([s] * m)
    indptr = np.concatenate([[0], np.cumsum([len(t) for t in ties])])
    return indptr, np.concatenate([np.sort(t) for t in ties]).astype(np.int32)


@pytest.mark.parametrize(("n", "m", "p", "seed"), [(20_000, 5, 0.5, 1), (5000, 3, 1.0, 2), (3000, 1, 0.0, 3),
                                                   (2000, 10, 0.3, 4), (12, 11, 0.5, 5)])
def test_the_compiled_growth_is_the_process_to_the_last_tie(n, m, p, seed):
    """Its lists (ties made in the repeated list, ties received in blocks reused as they are left) give exactly the
    graph of the process written with plain lists, from the same stream."""
    indptr, indices = holme_kim(n, m, p, np.random.default_rng(seed))
    ref_ptr, ref_indices = _reference_holme_kim(n, m, p, np.random.default_rng(seed))
    np.testing.assert_array_equal(indptr, ref_ptr)
    np.testing.assert_array_equal(indices, ref_indices)


@pytest.mark.parametrize(("n", "m", "p"), [(3000, 5, 0.5), (3000, 5, 0.0), (2000, 3, 1.0), (500, 1, 0.5), (7, 6, 0.5)])
def test_structure_is_a_simple_undirected_graph_with_m_ties_per_new_citizen(n, m, p):
    indptr, indices = holme_kim(n, m, p, np.random.default_rng(3))
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    assert len(indptr) == n + 1 and indptr[0] == 0 and indptr[-1] == len(indices)
    assert len(indices) == 2 * m * (n - m)  # every citizen after the first m makes exactly m ties
    rows = np.repeat(np.arange(n), np.diff(indptr))
    assert not np.any(rows == indices)  # no self-loops
    assert indices.min() >= 0 and indices.max() < n
    same_row = rows[1:] == rows[:-1]
    assert np.all(indices[1:][same_row] > indices[:-1][same_row])  # rows sorted, no duplicate ties
    a = _csr(indptr, indices)
    assert (a != a.T).nnz == 0  # each tie stored in both directions
    deg = np.diff(indptr)
    assert np.all(deg[m:] >= m)  # a citizen keeps the m ties it made
    if n >= 500:
        assert deg.max() > 4 * deg.mean()  # hubs


def test_tie_count_matches_networkx():
    # Without triangles networkx makes exactly m (n - m) ties too. With them it drops the odd duplicate (a
    # triangle tie to a preferential target drawn in advance): a fraction of a percent fewer ties.
    n, m = 3000, 5
    ties = len(holme_kim(n, m, 0.0, np.random.default_rng(1))[1]) // 2
    assert ties == m * (n - m) == nx.powerlaw_cluster_graph(n, m, 0.0, seed=np.random.default_rng(1)).number_of_edges()
    nx_ties = nx.powerlaw_cluster_graph(n, m, 0.5, seed=np.random.default_rng(1)).number_of_edges()
    assert m * (n - m) * 0.995 <= nx_ties <= m * (n - m) == len(holme_kim(n, m, 0.5, np.random.default_rng(1))[1]) // 2


def test_same_seed_same_graph_different_seed_different_graph():
    a = holme_kim(5000, 5, 0.5, np.random.default_rng(11))
    b = holme_kim(5000, 5, 0.5, np.random.default_rng(11))
    c = holme_kim(5000, 5, 0.5, np.random.default_rng(12))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not (np.array_equal(a[0], c[0]) and np.array_equal(a[1], c[1]))


def test_only_the_generator_stream_matters():
    # The Generator is read as one stream of doubles, whatever the block size: a Generator that has
    # already given some doubles builds the graph that the rest of its stream gives.
    rng = np.random.default_rng(5)
    rng.random(7)
    a = holme_kim(3000, 4, 0.5, rng)
    again = np.random.default_rng(5)
    again.random(7)
    b = holme_kim(3000, 4, 0.5, again)
    assert np.array_equal(a[1], b[1])


def _stats(degrees, graph):
    return {"mean": degrees.mean(), "clustering": nx.average_clustering(graph), "tail": (degrees > 50).mean(),
            "max": degrees.max()}


def _ours(p, seed, m=5):
    indptr, indices = holme_kim(N, m, p, np.random.default_rng(100 + seed))
    return _stats(np.diff(indptr), _to_networkx(indptr, indices))


def _networkx(p, seed, m=5):
    g = nx.powerlaw_cluster_graph(N, m, p, seed=np.random.default_rng(seed))
    return _stats(_nx_degrees(g, N), g)


def _mean(runs):
    return {k: np.mean([r[k] for r in runs]) for k in runs[0]}


def _shuffled_pops(monkeypatch):
    """networkx with its advance preferential targets popped in random order rather than a set's hash order."""
    import random

    import networkx.generators.random_graphs as rg

    subset = rg._random_subset

    def shuffled(seq, m, rng):
        targets = list(subset(seq, m, rng))
        random.Random(len(seq)).shuffle(targets)
        return targets  # list.pop() takes the last

    monkeypatch.setattr(rg, "_random_subset", shuffled)


# Measured at N = 20,000, m = 5, mean (sd) over six seeds:
#   p = 0.5   clustering   tail share > 50   max degree
#   ours      0.1714 (8e-4)  0.0115 (2e-4)   569 (96)
#   networkx  0.1741 (1e-3)  0.0118 (3e-4)   1252 (194)
#   networkx with shuffled pops  0.1719  0.0118  556 (73)
#   p = 0     0.0040 / 0.0040, 0.0116 / 0.0114, 517 (43) / 557 (63)
# networkx's hubs at p > 0 are inflated by the order in which a Python set pops the preferential targets it
# draws in advance: by hash slot, so small citizen numbers first, and citizens 0-7 are the oldest hubs. At
# p > 0 not every target drawn gets its tie (triangle steps take some of the m), so the first popped is
# favoured. With the pops shuffled (or at p = 0, where every target drawn gets its tie) the hubs agree.


@pytest.mark.parametrize("p", [0.5, 0.0])
def test_distribution_matches_networkx_one_seed(p):
    ours, ref = _ours(p, 0), _networkx(p, 0)
    assert ours["mean"] == pytest.approx(2 * 5 * (N - 5) / N)
    assert ours["mean"] == pytest.approx(ref["mean"], rel=0.005)  # networkx drops the odd duplicate tie
    assert ours["clustering"] == pytest.approx(ref["clustering"], abs=0.006)
    assert ours["tail"] == pytest.approx(ref["tail"], rel=0.2)
    assert 300 < ours["max"] < 1000
    if p == 0:
        assert 0.6 < ours["max"] / ref["max"] < 1.6
    else:
        assert ours["clustering"] > 0.15


@pytest.mark.slow
@pytest.mark.parametrize("p", [0.5, 0.0])
def test_distribution_matches_networkx_over_seeds(p, monkeypatch):
    seeds = range(1, 6)
    ours = _mean([_ours(p, s) for s in seeds])
    ref = _mean([_networkx(p, s) for s in seeds])
    assert ours["mean"] == pytest.approx(ref["mean"], rel=0.005)
    assert ours["clustering"] == pytest.approx(ref["clustering"], abs=0.005)  # se of a 5-seed mean: 5e-4
    assert ours["tail"] == pytest.approx(ref["tail"], rel=0.1)  # se: 1 %
    if p == 0:
        assert 0.75 < ours["max"] / ref["max"] < 1.33
    else:
        assert ours["max"] < 0.8 * ref["max"]  # networkx's set-order inflation of the oldest hubs (see above)
        _shuffled_pops(monkeypatch)
        shuffled = _mean([_networkx(p, s) for s in seeds])
        assert 0.75 < ours["max"] / shuffled["max"] < 1.33
        assert ours["clustering"] == pytest.approx(shuffled["clustering"], abs=0.003)


def test_power_law_exponent_near_three():
    # Holme-Kim keeps the Barabasi-Albert tail P(k) ~ k^-3: the survival function falls as k^-2.
    indptr, _ = holme_kim(200_000, 5, 0.5, np.random.default_rng(8))
    deg = np.diff(indptr)
    k = np.array([10, 20, 40, 80])
    survival = np.array([(deg >= x).mean() for x in k])
    slope = np.polyfit(np.log(k), np.log(survival), 1)[0]
    assert -2.4 < slope < -1.6


@pytest.mark.parametrize(("n", "m", "p", "field"), [
    (100, 0, 0.5, "mean_degree"), (5, 5, 0.5, "mean_degree"), (3, 5, 0.5, "mean_degree"),
    (100, 5, 1.5, "p_triangle"), (100, 5, -0.1, "p_triangle"),
])
def test_bad_arguments_name_the_field(n, m, p, field):
    with pytest.raises(ValueError, match=f"^network: {field}"):
        holme_kim(n, m, p, np.random.default_rng(0))
