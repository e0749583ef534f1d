"""Chapter 15's message-passing layers (``minitorch_xf.nn.message_passing``) against independent references.

References: a dense computation from networkx's adjacency matrix; PyTorch Geometric's ``GINConv`` and
``TransformerConv`` with our weights copied in (skipped when torch_geometric is not installed); torch's
``nn.MultiheadAttention`` for attention on the complete graph with self-loops; ``torch.softmax`` per row for the
scattered softmax.
"""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch import nn

from minitorch_xf.nn.message_passing import (
    GraphAttentionLayer,
    GraphTransformerLayer,
    MPNNLayer,
    scatter_softmax,
    scatter_sum,
)
from minitorch_xf.tasks import graph_data as gd

pytestmark = pytest.mark.ch15


def random_graph(seed: int, n: int = 10, p: float = 0.3):
    g = nx.gnp_random_graph(n, p, seed=seed)
    ei = torch.tensor([[u, v] for u, v in g.edges] + [[v, u] for u, v in g.edges], dtype=torch.int64).T
    ei = ei.reshape(2, -1)
    a = torch.tensor(nx.to_numpy_array(g, nodelist=range(n)), dtype=torch.float64)  # symmetric
    return ei, a


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("aggr", ["sum", "mean"])
def test_mpnn_matches_dense_adjacency(seed, aggr):
    torch.manual_seed(seed)
    ei, a = random_graph(seed)
    layer = MPNNLayer(5, 7, aggr=aggr, eps=0.3).double()
    x = torch.randn(10, 5, dtype=torch.float64)
    if aggr == "mean":
        a = a / a.sum(1, keepdim=True).clamp(min=1)
    want = layer.mlp(1.3 * x + a @ x)
    torch.testing.assert_close(layer(x, ei), want)


@pytest.mark.parametrize("seed", range(4))
def test_mpnn_matches_pyg_ginconv(seed):
    pyg = pytest.importorskip("torch_geometric.nn")
    torch.manual_seed(seed)
    ei, _ = random_graph(seed, n=15)
    ours = MPNNLayer(6, 8, eps=-0.2)
    mlp = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 6))
    theirs = pyg.GINConv(mlp, eps=-0.2)  # GINConv re-initialises its MLP: copy our weights in afterwards
    mlp.load_state_dict(ours.mlp.state_dict())
    x = torch.randn(15, 6)
    torch.testing.assert_close(ours(x, ei), theirs(x, ei))


@pytest.mark.parametrize("seed", range(3))
def test_graph_attention_matches_pyg_transformerconv(seed):
    pyg = pytest.importorskip("torch_geometric.nn")
    torch.manual_seed(seed)
    n, d, h = 12, 8, 2
    ei, _ = random_graph(seed, n=n)
    ours = GraphAttentionLayer(d, h)
    with torch.no_grad():
        ours.w_o.weight.copy_(torch.eye(d))
        ours.w_o.bias.zero_()
    theirs = pyg.TransformerConv(d, d // h, heads=h, concat=True, root_weight=False)
    with torch.no_grad():
        for mine, their in [(ours.w_q, theirs.lin_query), (ours.w_k, theirs.lin_key), (ours.w_v, theirs.lin_value)]:
            their.weight.copy_(mine.weight)
            their.bias.copy_(mine.bias)
    loops = torch.arange(n).expand(2, n)
    x = torch.randn(n, d)
    torch.testing.assert_close(ours(x, ei), theirs(x, torch.cat([ei, loops], dim=1)), atol=1e-5, rtol=1e-5)


@pytest.mark.checks("prop-ch15-attention-complete")
@pytest.mark.parametrize("seed", range(3))
def test_attention_on_the_complete_graph_is_full_self_attention(seed):
    torch.manual_seed(seed)
    n, d, h = 9, 12, 3
    ours = GraphAttentionLayer(d, h)
    ref = nn.MultiheadAttention(d, h, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
        ref.out_proj.weight.copy_(ours.w_o.weight)
        ref.out_proj.bias.copy_(ours.w_o.bias)
    x = torch.randn(n, d)
    want, _ = ref(x[None], x[None], x[None])
    torch.testing.assert_close(ours(x, gd.complete_graph(n)), want[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours(x, gd.complete_graph(n, self_loops=True)), want[0], atol=1e-5, rtol=1e-5)


@pytest.mark.checks("prop-ch15-attention-complete")
@pytest.mark.parametrize("seed", range(3))
def test_graph_attention_matches_masked_dense_attention(seed):
    torch.manual_seed(seed)
    n, d = 10, 6
    ei, a = random_graph(seed, n=n)
    layer = GraphAttentionLayer(d, 1)
    x = torch.randn(n, d)
    q, k, v = layer.w_q(x), layer.w_k(x), layer.w_v(x)
    allowed = (a + torch.eye(n, dtype=torch.float64)) > 0  # row = target node, column = source
    want = layer.w_o(torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed))
    torch.testing.assert_close(layer(x, ei), want, atol=1e-5, rtol=1e-5)


def test_scatter_softmax_is_a_row_softmax_and_does_not_overflow():
    n = 6
    ei = gd.complete_graph(n, self_loops=True)
    scores = torch.randn(ei.shape[1], 2, dtype=torch.float64) * 300  # large: a naive exp overflows
    w = scatter_softmax(scores, ei[1], n)
    dense = torch.full((n, n, 2), float("-inf"), dtype=torch.float64)
    dense[ei[1], ei[0]] = scores
    torch.testing.assert_close(w, torch.softmax(dense, dim=1)[ei[1], ei[0]])
    assert torch.isfinite(w).all()


def test_scatter_ops_gradcheck():
    ei = gd.cycle_graph(5)
    s = torch.randn(ei.shape[1], 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: scatter_softmax(t, ei[1], 5), (s,))
    assert torch.autograd.gradcheck(lambda t: scatter_sum(t, ei[1], 5), (s,))


@pytest.mark.parametrize(
    "make", [lambda: MPNNLayer(4), lambda: GraphAttentionLayer(4, 2), lambda: GraphTransformerLayer(4, 2)]
)
def test_layers_are_permutation_equivariant(make):
    torch.manual_seed(0)
    layer = make()
    n = 8
    ei = gd.erdos_renyi_graph(n, 0.4, generator=torch.Generator().manual_seed(1))
    x = torch.randn(n, 4)
    perm = torch.randperm(n)
    inv = torch.argsort(perm)  # node v of the new graph is node perm[v] of the old one
    torch.testing.assert_close(layer(x[perm], inv[ei]), layer(x, ei)[perm], atol=1e-5, rtol=1e-5)
