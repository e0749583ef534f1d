"""Chapter 15's graph format and builders (``minitorch_xf.tasks.graph_data``) against networkx.

References: networkx's own graph generators, ``nx.is_isomorphic``, ``nx.is_connected`` and adjacency matrices, and
the strongly regular identity $A^2 = kI + \\lambda A + \\mu (J - I - A)$ checked by matrix arithmetic.
"""

from __future__ import annotations

import networkx as nx
import pytest
import torch

from minitorch_xf.tasks import graph_data as gd

pytestmark = pytest.mark.ch15


def to_nx(edge_index: torch.Tensor, n: int) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edge_index.T.tolist())
    return g


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ((gd.cycle_graph(7), 7), nx.cycle_graph(7)),
        ((gd.path_graph(5), 5), nx.path_graph(5)),
        ((gd.complete_graph(5), 5), nx.complete_graph(5)),
        ((gd.csl_graph(41, 3), 41), nx.circulant_graph(41, [1, 3])),
        ((gd.circulant_graph(10, [1, 4]), 10), nx.circulant_graph(10, [1, 4])),
        ((gd.rook_graph(4), 16), nx.cartesian_product(nx.complete_graph(4), nx.complete_graph(4))),
        ((gd.rook_graph(3), 9), nx.cartesian_product(nx.complete_graph(3), nx.complete_graph(3))),
    ],
    ids=["C7", "P5", "K5", "CSL(41,3)", "circulant", "rook4", "rook3"],
)
def test_builders_are_isomorphic_to_networkx(ours, theirs):
    ei, n = ours
    gd.check_edge_index(ei, n)
    assert nx.is_isomorphic(to_nx(ei, n), theirs)


def strongly_regular(edge_index, n, k, lam, mu) -> bool:
    a = torch.zeros(n, n, dtype=torch.int64)
    a[edge_index[0], edge_index[1]] = 1
    eye, ones = torch.eye(n, dtype=torch.int64), torch.ones(n, n, dtype=torch.int64)
    return bool(torch.equal(a @ a, k * eye + lam * a + mu * (ones - eye - a)))


def test_rook_and_shrikhande_are_strongly_regular_16_6_2_2():
    assert strongly_regular(gd.rook_graph(4), 16, 6, 2, 2)
    assert strongly_regular(gd.shrikhande_graph(), 16, 6, 2, 2)


@pytest.mark.parametrize("name", list(gd.wl_indistinguishable_pairs()))
def test_pairs_are_non_isomorphic_with_the_same_degree_sequence(name):
    (a, n), (b, m) = gd.wl_indistinguishable_pairs()[name]
    ga, gb = to_nx(a, n), to_nx(b, m)
    assert sorted(d for _, d in ga.degree()) == sorted(d for _, d in gb.degree())
    assert not nx.is_isomorphic(ga, gb)


@pytest.mark.parametrize("seed", range(5))
def test_dense_adjacency_degree_and_connectivity_match_networkx(seed):
    gen = torch.Generator().manual_seed(seed)
    n = 12
    ei = gd.erdos_renyi_graph(n, 0.2, generator=gen)
    g = to_nx(ei, n)
    want = torch.tensor(nx.to_numpy_array(g, nodelist=range(n)), dtype=torch.float32)
    torch.testing.assert_close(gd.to_dense_adjacency(ei, n), want)
    assert gd.degree(ei, n).tolist() == [g.degree(v) for v in range(n)]
    assert gd.is_connected(ei, n) == nx.is_connected(g)


def test_batching_is_the_disjoint_union():
    gs = [gd.Graph(torch.randn(n, 3), gd.cycle_graph(n), y=torch.tensor(n % 2)) for n in (3, 5, 4)]
    b = gd.batch_graphs(gs)
    assert b.num_graphs == 3 and b.num_nodes == 12
    assert b.batch.tolist() == [0] * 3 + [1] * 5 + [2] * 4
    assert b.y.tolist() == [1, 1, 0]
    union = nx.disjoint_union_all([nx.cycle_graph(3), nx.cycle_graph(5), nx.cycle_graph(4)])
    assert nx.is_isomorphic(to_nx(b.edge_index, 12), union)
    for part, g in zip(gd.unbatch(b.x, b.batch), gs, strict=True):
        torch.testing.assert_close(part, g.x)


def test_check_edge_index_names_the_offending_edge():
    good = gd.cycle_graph(4)
    with pytest.raises(ValueError, match=r"edge_index\[:, 2\] = \(1, 9\) points to an unknown node"):
        gd.check_edge_index(torch.tensor([[0, 1, 1, 2], [1, 0, 9, 1]]), 4)
    with pytest.raises(ValueError, match=r"\(2, 2\) is a self-loop"):
        gd.check_edge_index(torch.cat([good, torch.tensor([[2], [2]])], dim=1), 4)
    gd.check_edge_index(torch.cat([good, torch.tensor([[2], [2]])], dim=1), 4, allow_self_loops=True)
    with pytest.raises(ValueError, match=r"\(0, 2\) has no reverse edge \(2, 0\)"):
        gd.check_edge_index(torch.cat([good, torch.tensor([[0], [2]])], dim=1), 4)
    gd.check_edge_index(torch.cat([good, torch.tensor([[0], [2]])], dim=1), 4, undirected=False)
    with pytest.raises(ValueError, match="listed twice"):
        gd.check_edge_index(torch.cat([good, good[:, :1]], dim=1), 4)
    with pytest.raises(TypeError, match="int64"):
        gd.check_edge_index(good.int(), 4)
    with pytest.raises(ValueError, match="joins graph 0 to graph 1"):
        gd.check_graph(torch.randn(4, 2), gd.cycle_graph(4), torch.tensor([0, 0, 1, 1]))
