"""Chapter 15's encodings and 1-WL (``minitorch_xf.theory.graph_encodings``) against independent references.

References: networkx's Weisfeiler-Lehman hash and isomorphism test, networkx's normalized Laplacian with numpy's
eigensolver, PyTorch Geometric's ``AddLaplacianEigenvectorPE`` (compared through eigenspace projectors, which do
not depend on signs or bases) and ``AddRandomWalkPE`` (skipped when torch_geometric is not installed), and walk
counts by explicit enumeration.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import torch

from minitorch_xf.tasks import graph_data as gd
from minitorch_xf.theory import graph_encodings as ge

pytestmark = [pytest.mark.ch15, pytest.mark.filterwarnings("ignore:The hashes produced:UserWarning")]


def to_nx(edge_index: torch.Tensor, n: int) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edge_index.T.tolist())
    return g


def from_nx(g: nx.Graph) -> tuple[torch.Tensor, int]:
    g = nx.convert_node_labels_to_integers(g)
    return gd.edge_index_from_list(list(g.edges), g.number_of_nodes()), g.number_of_nodes()


def connected_random_graph(seed: int, n: int = 12, p: float = 0.35) -> tuple[torch.Tensor, int]:
    for s in itertools.count(seed * 1000):
        g = nx.gnp_random_graph(n, p, seed=s)
        if nx.is_connected(g):
            return from_nx(g)
    raise AssertionError("unreachable")


def nx_wl_distinguishes(a, b, iterations: int) -> bool:
    ha = nx.weisfeiler_lehman_graph_hash(to_nx(*a), iterations=iterations)
    hb = nx.weisfeiler_lehman_graph_hash(to_nx(*b), iterations=iterations)
    return ha != hb


@pytest.mark.checks("thm-ch15-wl-bound")
@pytest.mark.parametrize("name", list(gd.wl_indistinguishable_pairs()))
def test_wl_pairs_agree_with_networkx(name):
    a, b = gd.wl_indistinguishable_pairs()[name]
    assert not ge.wl_distinguishes(a, b)
    assert not nx_wl_distinguishes(a, b, iterations=a[1])
    assert not nx.is_isomorphic(to_nx(*a), to_nx(*b))


@pytest.mark.parametrize("seed", range(12))
def test_wl_verdict_agrees_with_networkx_on_random_pairs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 9))
    a = from_nx(nx.gnp_random_graph(n, 0.4, seed=2 * seed))
    if seed % 3 == 0:  # a relabelled copy: never distinguished
        perm = rng.permutation(n)
        b = (torch.as_tensor(perm)[a[0]], n)
    elif seed % 3 == 1:  # two regular graphs of the same degree: never distinguished
        a = from_nx(nx.random_regular_graph(3, 8, seed=seed))
        b = from_nx(nx.random_regular_graph(3, 8, seed=seed + 100))
    else:
        b = from_nx(nx.gnp_random_graph(n, 0.4, seed=2 * seed + 1))
    assert ge.wl_distinguishes(a, b) == nx_wl_distinguishes(a, b, iterations=n)


def test_wl_separates_a_path_from_a_cycle_and_stops_when_stable():
    assert ge.wl_distinguishes((gd.path_graph(4), 4), (gd.cycle_graph(4), 4))
    colours = ge.wl_colours(gd.path_graph(5), 5)
    assert colours[-1].tolist() == [0, 1, 2, 1, 0]  # ends, their neighbours, the centre
    assert len(colours) == 4  # c0 (one class), c1 (ends vs inner), c2 (centre split off), c3 (no new split)


@pytest.mark.parametrize("seed", range(4))
def test_laplacian_matches_networkx(seed):
    ei, n = connected_random_graph(seed)
    want = nx.normalized_laplacian_matrix(to_nx(ei, n), nodelist=range(n)).toarray()
    torch.testing.assert_close(ge.laplacian(ei, n), torch.as_tensor(want, dtype=torch.float64))
    want = nx.laplacian_matrix(to_nx(ei, n), nodelist=range(n)).toarray()
    torch.testing.assert_close(ge.laplacian(ei, n, normalized=False), torch.as_tensor(want, dtype=torch.float64))


def projector(pe: torch.Tensor) -> torch.Tensor:
    q, _ = torch.linalg.qr(pe.double())
    return q @ q.T


@pytest.mark.parametrize("seed", range(4))
def test_laplacian_pe_spans_the_pyg_eigenvectors(seed):
    pyg_t = pytest.importorskip("torch_geometric.transforms")
    from torch_geometric.data import Data

    ei, n = connected_random_graph(seed)
    k = 4
    pe, lam = ge.laplacian_pe(ei, n, k)
    theirs = pyg_t.AddLaplacianEigenvectorPE(k, is_undirected=True)(Data(edge_index=ei, num_nodes=n))
    theirs = theirs.laplacian_eigenvector_pe.double()
    # random graphs have simple eigenvalues: the columns agree up to sign, so the projectors agree
    full, _ = np.linalg.eigh(nx.normalized_laplacian_matrix(to_nx(ei, n), nodelist=range(n)).toarray())
    assert np.min(np.diff(full[: k + 2])) > 1e-6
    torch.testing.assert_close(lam, torch.as_tensor(full[1 : k + 1]))
    for i in range(k):
        torch.testing.assert_close(projector(pe[:, i : i + 1]), projector(theirs[:, i : i + 1]), atol=1e-5, rtol=0)


def test_repeated_eigenvalues_agree_through_projectors():
    ei, n = gd.cycle_graph(8), 8
    lap = nx.normalized_laplacian_matrix(nx.cycle_graph(8), nodelist=range(8)).toarray()
    vals, vecs = np.linalg.eigh(lap)
    ours = ge.eigenspace_projectors(ei, n)
    assert [round(lam, 6) for lam, _ in ours] == sorted({round(float(v), 6) for v in vals})
    for lam, p in ours:
        u = vecs[:, np.abs(vals - lam) < 1e-6]
        torch.testing.assert_close(p, torch.as_tensor(u @ u.T))
    # a rotated basis is still a basis of the same eigenspaces
    pe, lam = ge.laplacian_pe(ei, n, 6)
    turned = ge.rotate_within_eigenspaces(pe, lam, generator=torch.Generator().manual_seed(0))
    lap_t = torch.as_tensor(lap)
    torch.testing.assert_close(lap_t @ turned, turned * lam)
    torch.testing.assert_close(turned.T @ turned, torch.eye(6, dtype=torch.float64))
    assert (turned - pe).abs().max() > 0.1


def closed_walk_probability(g: nx.Graph, v: int, t: int) -> float:
    """Sum over all walks of length t from v back to v of the product of 1/deg along the walk (enumeration)."""
    total = 0.0
    stack = [(v, 0, 1.0)]
    while stack:
        u, steps, prob = stack.pop()
        if steps == t:
            total += prob if u == v else 0.0
            continue
        for w in g.neighbors(u):
            stack.append((w, steps + 1, prob / g.degree(u)))
    return total


@pytest.mark.parametrize("seed", range(3))
def test_random_walk_se_matches_walk_enumeration_and_pyg(seed):
    ei, n = connected_random_graph(seed, n=8, p=0.4)
    g = to_nx(ei, n)
    ours = ge.random_walk_se(ei, n, 5)
    want = torch.tensor([[closed_walk_probability(g, v, t) for t in range(1, 6)] for v in range(n)])
    torch.testing.assert_close(ours, want.double())
    pyg_t = pytest.importorskip("torch_geometric.transforms")
    from torch_geometric.data import Data

    theirs = pyg_t.AddRandomWalkPE(5)(Data(edge_index=ei, num_nodes=n)).random_walk_pe
    torch.testing.assert_close(ours.float(), theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.checks("prop-ch15-signnet")
@pytest.mark.parametrize("seed", range(3))
def test_sign_invariant_encoder_ignores_flips_and_a_linear_map_does_not(seed):
    torch.manual_seed(seed)
    ei, n = connected_random_graph(seed)
    pe, _ = ge.laplacian_pe(ei, n, 4)
    enc = ge.SignInvariantEncoder(4, 8).double()
    lin = torch.nn.Linear(4, 8).double()
    gen = torch.Generator().manual_seed(seed)
    assert ge.sign_flip_sensitivity(enc, pe, generator=gen) < 1e-12
    assert ge.sign_flip_sensitivity(lin, pe, generator=gen) > 1e-2
    for s in itertools.product([1.0, -1.0], repeat=4):  # every flip, not only random ones
        torch.testing.assert_close(enc(pe * torch.tensor(s, dtype=torch.float64)), enc(pe))


def test_disconnected_graph_is_refused_by_the_laplacian_encoding():
    ei, _ = gd.disjoint_union((gd.cycle_graph(3), 3), (gd.cycle_graph(3), 3))
    with pytest.raises(ValueError, match=r"disconnected \(node 3 is not reachable from node 0\)"):
        ge.laplacian_pe(ei, 6, 2)


def test_batched_laplacian_pe_is_per_graph():
    g = gd.batch_graphs([gd.Graph(torch.zeros(n, 1), gd.cycle_graph(n)) for n in (5, 7)])
    pe, lam = ge.laplacian_pe(g.edge_index, 12, 2, batch=g.batch)
    for i, n in enumerate((5, 7)):
        one, lam1 = ge.laplacian_pe(gd.cycle_graph(n), n, 2)
        torch.testing.assert_close(lam[i], lam1)
        part = pe[g.batch == i]
        torch.testing.assert_close(projector(part), projector(one))
