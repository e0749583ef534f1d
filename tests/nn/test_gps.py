"""GPS layer, virtual node and key-subset attention against independent references: PyTorch Geometric's ``GPSConv``
(weights copied), torch's ``nn.MultiheadAttention`` run graph by graph, plain loops, networkx distances, and the
package's dense linear attention."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch_xf.nn.gps import (
    GPSLayer,
    GraphNet,
    VirtualNode,
    dense_batch,
    hop_key_mask,
    random_key_mask,
    sparse_attention,
    sparsity_error_bound,
    topk_key_mask,
    virtual_node_linear_attention,
)
from minitorch_xf.nn.kernelized import elu_feature_map, linear_attention
from minitorch_xf.nn.message_passing import MPNNLayer
from minitorch_xf.tasks.graph_data import Graph, batch_graphs, cycle_graph, erdos_renyi_graph, path_graph
from minitorch_xf.tasks.long_range_graphs import LongRangeTask, hop_distances

pytestmark = pytest.mark.ch15


def _random_batch(seed: int = 0, sizes=(5, 8, 3), d: int = 8, dtype=torch.float64) -> Graph:
    g = torch.Generator().manual_seed(seed)
    graphs = [Graph(torch.randn(n, d, generator=g, dtype=dtype), erdos_renyi_graph(n, 0.5, generator=g)) for n in sizes]
    return batch_graphs(graphs)


def _mha_per_graph(layer: GPSLayer, x: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """The global branch as torch computes it: nn.MultiheadAttention with our weights, one graph at a time."""
    d, h = layer.d_model, layer.attn.n_heads
    mha = torch.nn.MultiheadAttention(d, h, batch_first=True, dtype=x.dtype)
    a = layer.attn
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([a.w_q.weight, a.w_k.weight, a.w_v.weight]))
        mha.in_proj_bias.copy_(torch.cat([a.w_q.bias, a.w_k.bias, a.w_v.bias]))
        mha.out_proj.weight.copy_(a.w_o.weight)
        mha.out_proj.bias.copy_(a.w_o.bias)
        outs = [mha(xg[None], xg[None], xg[None], need_weights=False)[0][0] for xg in x.split(
            torch.bincount(batch).tolist())]  # fmt: skip
    return torch.cat(outs)


def test_dense_batch_matches_pad_sequence():
    gr = _random_batch()
    xd, mask = dense_batch(gr.x, gr.batch)
    parts = list(gr.x.split(torch.bincount(gr.batch).tolist()))
    ref = torch.nn.utils.rnn.pad_sequence(parts, batch_first=True)
    torch.testing.assert_close(xd, ref)
    assert mask.sum(1).tolist() == [len(p) for p in parts]
    torch.testing.assert_close(xd[mask], gr.x)


def test_global_branch_matches_torch_multihead_attention_per_graph():
    torch.manual_seed(0)
    gr = _random_batch(d=8)
    layer = GPSLayer(8, None, n_heads=2, norm=None).double().eval()
    ours = layer.global_attention(gr.x, gr.batch)
    torch.testing.assert_close(ours, _mha_per_graph(layer, gr.x, gr.batch))


def test_gps_layer_assembles_branches_as_the_paper_equations():
    """X_M = x + MPNN(x), X_T = x + Attn(x), out = Y + MLP(Y) with Y = X_M + X_T (norm=None), from the parts."""
    torch.manual_seed(1)
    gr = _random_batch(seed=1, d=8)
    local = MPNNLayer(8).double()
    layer = GPSLayer(8, local, n_heads=4, norm=None).double().eval()
    with torch.no_grad():
        y = (gr.x + local(gr.x, gr.edge_index)) + (gr.x + _mha_per_graph(layer, gr.x, gr.batch))
        w1, b1, w2, b2 = layer.mlp[0].weight, layer.mlp[0].bias, layer.mlp[3].weight, layer.mlp[3].bias
        ref = y + torch.relu(y @ w1.T + b1) @ w2.T + b2
        torch.testing.assert_close(layer(gr.x, gr.edge_index, gr.batch), ref)


def test_gps_layer_matches_pyg_gpsconv():
    """PyTorch Geometric's GPSConv with a GINConv local layer and our weights copied in gives our output.

    The two are built the same way (local and global branches, each with a residual and a norm, summed, then an MLP
    with a residual and a norm); we compare with ``norm=None`` and with BatchNorm in eval mode, running statistics
    drawn at random and copied."""
    pyg = pytest.importorskip("torch_geometric")
    from torch_geometric.nn import GINConv, GPSConv

    torch.manual_seed(2)
    gr = _random_batch(seed=2, d=8)
    for norm, pyg_norm in ((None, None), ("batch", "batch_norm")):
        ours = GPSLayer(8, MPNNLayer(8), n_heads=2, norm=norm).double().eval()
        gin = GINConv(torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8)))
        theirs = GPSConv(8, gin, heads=2, norm=pyg_norm).double().eval()
        with torch.no_grad():
            gin.nn.load_state_dict(ours.local.mlp.state_dict())
            a = ours.attn
            theirs.attn.in_proj_weight.copy_(torch.cat([a.w_q.weight, a.w_k.weight, a.w_v.weight]))
            theirs.attn.in_proj_bias.copy_(torch.cat([a.w_q.bias, a.w_k.bias, a.w_v.bias]))
            theirs.attn.out_proj.weight.copy_(a.w_o.weight)
            theirs.attn.out_proj.bias.copy_(a.w_o.bias)
            theirs.mlp[0].load_state_dict(ours.mlp[0].state_dict())
            theirs.mlp[3].load_state_dict(ours.mlp[3].state_dict())
            if norm == "batch":
                for i in (1, 2, 3):
                    ours_bn, theirs_bn = getattr(ours, f"norm{i}"), getattr(theirs, f"norm{i}").module
                    ours_bn.running_mean.copy_(torch.randn(8) * 0.1)
                    ours_bn.running_var.copy_(1 + torch.rand(8))
                    theirs_bn.load_state_dict(ours_bn.state_dict())
            out_ours = ours(gr.x, gr.edge_index, gr.batch)
            out_theirs = theirs(gr.x, gr.edge_index, gr.batch)
        torch.testing.assert_close(out_ours, out_theirs, msg=f"norm={norm}, PyG {pyg.__version__}")


def test_gps_layer_is_permutation_equivariant_and_graphs_do_not_mix():
    torch.manual_seed(3)
    gr = _random_batch(seed=3, d=8)
    layer = GPSLayer(8, MPNNLayer(8), n_heads=2, norm="layer").double().eval()
    out = layer(gr.x, gr.edge_index, gr.batch)
    # permute nodes inside each graph (keeps batch sorted)
    counts = torch.bincount(gr.batch).tolist()
    g = torch.Generator().manual_seed(0)
    starts = [sum(counts[:i]) for i in range(len(counts))]
    perm = torch.cat([s + torch.randperm(c, generator=g) for s, c in zip(starts, counts, strict=True)])
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm))
    out_p = layer(gr.x[perm], inv[gr.edge_index], gr.batch)
    torch.testing.assert_close(out_p, out[perm])
    # changing graph 1's features leaves graph 0's outputs alone
    x2 = gr.x.clone()
    x2[gr.batch == 1] += 1.0
    out2 = layer(x2, gr.edge_index, gr.batch)
    torch.testing.assert_close(out2[gr.batch == 0], out[gr.batch == 0])
    assert (out2[gr.batch == 1] - out[gr.batch == 1]).abs().max() > 1e-3


def test_virtual_node_matches_a_loop_over_graphs():
    torch.manual_seed(4)
    gr = _random_batch(seed=4, d=6)
    vn_mod = VirtualNode(6).double()
    vn0 = torch.randn(3, 6, dtype=torch.float64)
    h, vn = vn_mod(gr.x, vn0, gr.batch)
    for g in range(3):
        rows = gr.batch == g
        expect_vn = vn0[g] + vn_mod.mlp(gr.x[rows].sum(0))
        torch.testing.assert_close(vn[g], expect_vn)
        torch.testing.assert_close(h[rows], gr.x[rows] + expect_vn)


@pytest.mark.checks("prop-ch15-vn-linear-attention")
def test_one_virtual_node_round_is_linear_attention():
    """Cai et al. (2023): the gather/broadcast of one virtual-node round gives linear attention inside each graph."""
    g = torch.Generator().manual_seed(5)
    sizes = [4, 9, 1, 6]
    n = sum(sizes)
    q, k, v = (torch.randn(n, w, generator=g, dtype=torch.float64) for w in (5, 5, 3))
    batch = torch.arange(len(sizes)).repeat_interleave(torch.tensor(sizes))
    ours = virtual_node_linear_attention(q, k, v, batch)
    ref = torch.cat([
        linear_attention(qg, kg, vg, feature_map=elu_feature_map)
        for qg, kg, vg in zip(q.split(sizes), k.split(sizes), v.split(sizes), strict=True)
    ])  # fmt: skip
    torch.testing.assert_close(ours, ref)
    # and the dense N x N form: o_i = sum_j sim(q_i, k_j) v_j / sum_j sim(q_i, k_j), same graph only
    same = batch[:, None] == batch[None, :]
    sim = (elu_feature_map(q) @ elu_feature_map(k).T) * same
    torch.testing.assert_close(ours, (sim @ v) / (sim.sum(1, keepdim=True) + 1e-6))


def test_virtual_node_linear_attention_gradcheck():
    g = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    batch = torch.tensor([0, 0, 1, 1, 1])
    assert torch.autograd.gradcheck(lambda a, b, c: virtual_node_linear_attention(a, b, c, batch), (q, k, v))


@pytest.mark.checks("lem-ch15-receptive-field")
@pytest.mark.parametrize("kind", ["path", "cycle", "tree"])
@torch.no_grad()
def test_mpnn_target_is_blind_beyond_its_layers_and_global_models_are_not(kind):
    """An L-layer MPNN's output at a node is a function of its L-hop ball: changing every feature outside the ball
    leaves it unchanged; changing a node at exactly L hops changes it. VN and attention models see beyond."""
    torch.manual_seed(7)
    task = LongRangeTask(12, 3, 3, kind)
    b = task.sample(4, torch.Generator().manual_seed(7))
    for layers in (1, 2):
        for mixer in ("none", "virtual_node", "attention"):
            model = GraphNet(task.d_in, 3, 16, layers, mixer, 2).double().eval()
            x = b.x.double()
            with torch.no_grad():
                base = model(x, b.edge_index, b.batch)[b.target]
            for gi, t in enumerate(b.target.tolist()):
                dist = hop_distances(b.edge_index, len(x), t)
                far = (dist > layers) | (dist < 0)
                x_far = x.clone()
                x_far[far] = torch.randn(int(far.sum()), x.shape[1], dtype=x.dtype)
                out_far = model(x_far, b.edge_index, b.batch)[t]
                diff = float((out_far - base[gi]).abs().max().detach())
                if mixer == "none":
                    assert diff < 1e-12, f"{mixer} L={layers}: target moved by {diff} when only nodes > L hops changed"
                    at_edge = dist == layers
                    x_edge = x.clone()
                    x_edge[at_edge] += 1.0
                    moved = float((model(x_edge, b.edge_index, b.batch)[t] - base[gi]).abs().max())
                    assert moved > 1e-6, f"L={layers}: a change at exactly L hops did not reach the target"
                else:
                    assert diff > 1e-6, f"{mixer} L={layers}: target did not see beyond {layers} hops"


def test_topk_key_mask_keeps_the_largest_scores():
    g = torch.Generator().manual_seed(8)
    scores = torch.randn(3, 5, 7, generator=g)
    for k in (1, 3, 7, 9):
        keep = topk_key_mask(scores, k)
        kk = min(k, 7)
        assert keep.sum(-1).eq(kk).all()
        kth = scores.sort(-1, descending=True).values[..., kk - 1 : kk]
        assert torch.equal(keep, scores >= kth)  # distinct scores: the k largest are those >= the k-th largest


def test_random_key_mask_draws_k_distinct_keys_per_query_uniformly():
    keep = random_key_mask(2000, 6, 2, torch.Generator().manual_seed(9))
    assert keep.sum(-1).eq(2).all()
    freq = keep.float().mean(0)  # each key kept with probability 2/6
    assert (freq - 1 / 3).abs().max() < 0.05


@pytest.mark.parametrize("hops", [0, 1, 2, 4])
def test_hop_key_mask_matches_networkx_distances(hops):
    er = erdos_renyi_graph(10, 0.25, generator=torch.Generator().manual_seed(1))
    for ei, n in ((path_graph(9), 9), (cycle_graph(8), 8), (er, 10)):
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        graph.add_edges_from(ei.T.tolist())
        dist = dict(nx.all_pairs_shortest_path_length(graph))
        ref = torch.tensor([[j in dist[i] and dist[i][j] <= hops for j in range(n)] for i in range(n)])
        assert torch.equal(hop_key_mask(ei, n, hops), ref)


def test_sparse_attention_with_every_key_is_softmax_attention():
    g = torch.Generator().manual_seed(10)
    q, k, v = torch.randn(2, 4, 3, generator=g), torch.randn(2, 6, 3, generator=g), torch.randn(2, 6, 5, generator=g)
    out, dropped = sparse_attention(q, k, v, torch.ones(2, 4, 6, dtype=torch.bool))
    torch.testing.assert_close(out, torch.nn.functional.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(dropped, torch.zeros(2, 4))


@pytest.mark.checks("prop-ch15-sparse-attention-error")
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.integers(2, 12), temp=st.floats(0.1, 5.0))
def test_sparse_attention_error_is_bounded_by_dropped_mass_times_value_diameter(seed, t, temp):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(5, 4, generator=g, dtype=torch.float64) * temp
    k, v = torch.randn(t, 4, generator=g, dtype=torch.float64), torch.randn(t, 3, generator=g, dtype=torch.float64)
    keep = torch.rand(5, t, generator=g) < 0.5
    keep[:, 0] = True  # at least one key per query
    out, dropped = sparse_attention(q, k, v, keep)
    p = torch.softmax(q @ k.T / 2.0, dim=-1)  # scale 1/sqrt(4)
    full = p @ v
    # dropped mass from the definition, by a loop
    for i in range(5):
        assert abs(float(dropped[i]) - sum(float(p[i, j]) for j in range(t) if not keep[i, j])) < 1e-12
    err = (out - full).norm(dim=-1)
    bound = sparsity_error_bound(dropped, v)
    diam = max(float((v[a] - v[b]).norm()) for a in range(t) for b in range(t))
    torch.testing.assert_close(bound, dropped * diam)
    assert (err <= bound + 1e-12).all(), f"error {err.tolist()} above bound {bound.tolist()}"


def test_sparse_attention_bound_is_attained_by_two_valued_values():
    """Equality when the kept values are all u and the dropped ones all w: the error is m |u - w|."""
    q = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], dtype=torch.float64)
    v = torch.tensor([[1.0, 1.0], [-1.0, 2.0], [-1.0, 2.0]], dtype=torch.float64)
    keep = torch.tensor([[True, False, False]])
    out, dropped = sparse_attention(q, k, v, keep)
    full = torch.softmax(q @ k.T / 2**0.5, -1) @ v
    torch.testing.assert_close((out - full).norm(dim=-1), sparsity_error_bound(dropped, v))


def test_query_without_kept_keys_outputs_zero_and_drops_everything():
    q, k, v = torch.randn(2, 3), torch.randn(4, 3), torch.randn(4, 2)
    keep = torch.tensor([[True, False, False, False], [False] * 4])
    out, dropped = sparse_attention(q, k, v, keep)
    torch.testing.assert_close(out[1], torch.zeros(2))
    torch.testing.assert_close(dropped[1], torch.tensor(1.0))


def test_sparse_attention_gradcheck():
    g = torch.Generator().manual_seed(11)
    q, k, v = (torch.randn(3, 2, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    keep = torch.tensor([[True, True, False], [True, False, True], [False, True, True]])
    assert torch.autograd.gradcheck(lambda a, b, c: sparse_attention(a, b, c, keep), (q, k, v))


def test_graphnet_trains_on_its_data_contract():
    """One step of the three models on a task batch runs and gives finite (N, C) logits with gradients."""
    task = LongRangeTask(8, 3, 2, "path")
    b = task.sample(3, torch.Generator().manual_seed(12))
    for mixer in ("none", "virtual_node", "attention"):
        model = GraphNet(task.d_in, 3, 8, 2, mixer, 2)
        out = model(b.x, b.edge_index, b.batch)
        assert out.shape == (b.x.shape[0], 3) and torch.isfinite(out).all()
        out.sum().backward()
        unused = [name for name, p in model.named_parameters() if p.grad is None]
        assert not unused, f"{mixer}: parameters without a gradient: {unused}"
