import networkx as nx
import numpy as np
import pytest

from egov_abm.model.network import build_graph, to_adjacency


def test_small_world_has_exactly_n_k_over_2_edges_and_is_seeded():
    g1 = build_graph("small_world", 1000, 10, np.random.default_rng(5), p_rewire=0.2)
    g2 = build_graph("small_world", 1000, 10, np.random.default_rng(5), p_rewire=0.2)
    assert g1.number_of_edges() == 1000 * 10 // 2
    assert nx.utils.graphs_equal(g1, g2)
    g3 = build_graph("small_world", 1000, 10, np.random.default_rng(6), p_rewire=0.2)
    assert not nx.utils.graphs_equal(g1, g3)


def test_homophily_keeps_ties_inside_blocks():
    n, p_rewire = 20_000, 0.1
    rng = np.random.default_rng(1)
    block = rng.integers(0, 40, n)
    g = build_graph("homophily", n, 10, rng, p_rewire=p_rewire, block=block)
    edges = np.array(g.edges())
    same = (block[edges[:, 0]] == block[edges[:, 1]]).mean()
    # Unrewired ties stay in the block except at the 40 block boundaries of the ring;
    # a rewired tie lands in the same block by chance about 1/40 of the time.
    assert 1 - p_rewire - 0.02 <= same <= 1 - p_rewire + p_rewire / 40 + 0.02
    assert nx.average_clustering(g) > 0.3  # small-world clustering survives


def test_scale_free_has_heavy_tail_and_clustering():
    g = build_graph("scale_free", 5000, 10, np.random.default_rng(2), p_triangle=0.5)
    deg = np.array([d for _, d in g.degree()])
    assert abs(deg.mean() - 10) < 0.1
    assert deg.max() > 8 * deg.mean()
    assert nx.average_clustering(g) > 0.1


def test_csr_neighbour_sums_match_networkx():
    g = build_graph("small_world", 300, 6, np.random.default_rng(4), p_rewire=0.3)
    adj = to_adjacency(g, 300)
    x = np.random.default_rng(0).random(300)
    want = np.array([sum(x[j] for j in g.neighbors(i)) for i in range(300)])
    np.testing.assert_allclose(adj.neighbour_sum(x), want)
    assert sorted(adj.neighbours(7).tolist()) == sorted(g.neighbors(7))


def test_complete_graph_is_implicit_and_excludes_self():
    adj = to_adjacency(build_graph("complete", 50, 10, np.random.default_rng(0)), 50)
    assert adj.complete
    x = np.arange(50, dtype=float)
    np.testing.assert_allclose(adj.neighbour_mean(x), (x.sum() - x) / 49)


def test_too_few_nodes_is_a_clear_error():
    with pytest.raises(ValueError, match="mean_degree 10 needs more than 10 citizens"):
        build_graph("small_world", 10, 10, np.random.default_rng(0))
