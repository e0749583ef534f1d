r"""Message passing on graphs (chapter 15): an MPNN layer and attention restricted to a graph's neighbours.

Graphs follow the contract of ``minitorch_xf.tasks.graph_data``: ``x (N, d)`` node features and ``edge_index (2, E)``
int64 with both directions of every undirected edge; messages flow ``edge_index[0] -> edge_index[1]``.

Glossary: ``N`` nodes, ``E`` directed edges, ``d`` feature width, ``h`` heads, ``k`` head width (``d = h k``).

One round of message passing (Gilmer et al., 2017) updates every node from the multiset of its neighbours' states,

$$h_v' = \phi\Big(h_v,\ \bigoplus_{u \in N(v)} \psi(h_u, h_v)\Big),$$

with a permutation-invariant aggregation $\bigoplus$ (sum, mean). Attention is the same scheme with softmax weights;
on the complete graph with self-loops it is ordinary (full) self-attention.
"""

from __future__ import annotations

import torch
from torch import nn

from .._graph import check_edge_index
from .._validate import check_choice, check_flag, check_like_module, check_number, check_positive, check_tensor
from .ffn import FeedForward
from .norms import LayerNorm

__all__ = ["GraphAttentionLayer", "GraphTransformerLayer", "MPNNLayer", "scatter_softmax", "scatter_sum"]


def _check_graph_input(x: torch.Tensor, edge_index: torch.Tensor, module: nn.Module, d: int, loops: bool) -> None:
    check_tensor("x", x, ndim=2, floating=True)
    if x.shape[1] != d:
        raise ValueError(f"x has feature width {x.shape[1]} but the {type(module).__name__} expects d={d}")
    if x.shape[0] == 0:
        raise ValueError(f"x has no nodes (shape {tuple(x.shape)})")
    check_like_module("x", x, module)
    check_edge_index(edge_index, x.shape[0], allow_self_loops=loops)
    if edge_index.device != x.device:
        raise ValueError(f"tensors are on different devices: x on {x.device}, edge_index on {edge_index.device}")


def _check_scatter(src: torch.Tensor, index: torch.Tensor, num_nodes: int) -> None:
    check_tensor("src", src, min_ndim=1)
    check_tensor("index", index, ndim=1)
    if index.dtype != torch.int64:
        raise TypeError(f"index must have dtype torch.int64, got {index.dtype}")
    if index.shape[0] != src.shape[0]:
        raise ValueError(f"index has {index.shape[0]} entries but src has {src.shape[0]} rows")
    check_positive("num_nodes", num_nodes)
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= num_nodes):
        bad = index[(index < 0) | (index >= num_nodes)][0]
        raise ValueError(f"index contains {int(bad)}, outside [0, num_nodes={num_nodes})")


def scatter_sum(src: torch.Tensor, index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """``out[v] = sum of src[e] over the edges e with index[e] = v``: ``src (E, ...)`` -> ``(num_nodes, ...)``."""
    _check_scatter(src, index, num_nodes)
    out = src.new_zeros((num_nodes, *src.shape[1:]))
    return out.index_add_(0, index, src)


def scatter_softmax(scores: torch.Tensor, index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    r"""Softmax of ``scores (E, ...)`` over the edges that share a target: $w_e = e^{s_e} / \sum_{e': t(e')=t(e)}
    e^{s_{e'}}$. The per-target maximum is subtracted first, so large scores do not overflow."""
    _check_scatter(scores, index, num_nodes)
    check_tensor("scores", scores, min_ndim=1, floating=True)
    shape = (num_nodes, *scores.shape[1:])
    idx = index.view(-1, *([1] * (scores.dim() - 1))).expand_as(scores)
    top = scores.new_full(shape, float("-inf")).scatter_reduce(0, idx, scores, "amax", include_self=True)
    e = torch.exp(scores - top[index])  # (E, ...)
    return e / scatter_sum(e, index, num_nodes)[index]


class MPNNLayer(nn.Module):
    r"""GIN-style message passing (Xu et al., 2019): $h_v' = \mathrm{MLP}\big((1+\epsilon) h_v + \bigoplus_{u \in N(v)}
    h_u\big)$ with $\bigoplus$ = ``aggr`` (``"sum"``, injective on multisets, or ``"mean"``).

    The MLP is ``Linear(d, d_hidden) -> ReLU -> Linear(d_hidden, d)`` (``d_hidden`` defaults to ``d``); ``eps`` is a
    fixed number, or a learned one when ``train_eps``. ``forward(x, edge_index) -> (N, d)``.
    """

    def __init__(
        self, d: int, d_hidden: int | None = None, aggr: str = "sum", eps: float = 0.0, train_eps: bool = False
    ):
        super().__init__()
        check_positive("d", d)
        d_hidden = d if d_hidden is None else d_hidden
        check_positive("d_hidden", d_hidden)
        check_choice("aggr", aggr, ("sum", "mean"))
        check_number("eps", eps)
        check_flag("train_eps", train_eps)
        self.d, self.d_hidden, self.aggr = d, d_hidden, aggr
        eps_t = torch.tensor(float(eps))
        if train_eps:
            self.eps = nn.Parameter(eps_t)
        else:
            self.register_buffer("eps", eps_t)
        self.mlp = nn.Sequential(nn.Linear(d, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d))

    def aggregate(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Sum (or mean) of the neighbours' states at every node: ``(N, d)``; a node with no neighbour gets 0."""
        src, dst = edge_index
        total = scatter_sum(x[src], dst, x.shape[0])  # (N, d)
        if self.aggr == "mean":
            count = torch.bincount(dst, minlength=x.shape[0]).clamp(min=1).to(x.dtype)  # (N,)
            total = total / count[:, None]
        return total

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        _check_graph_input(x, edge_index, self, self.d, loops=False)
        return self.mlp((1 + self.eps) * x + self.aggregate(x, edge_index))  # (N, d)


class GraphAttentionLayer(nn.Module):
    r"""Multi-head attention restricted to a graph's edges (Dwivedi & Bresson, 2021, eq. 4-5): for every head,

    $$h_v' = \sum_{u \in N(v)} w_{vu} V h_u, \qquad w_{vu} = \operatorname{softmax}_{u \in N(v)}
    \frac{(Q h_v)^\top (K h_u)}{\sqrt{k}},$$

    then the heads are concatenated and projected by ``O``. With ``self_loops`` (the default) every node also attends
    to itself, so a node without neighbours keeps a value; on the complete graph with self-loops the layer is full
    multi-head self-attention. ``forward(x, edge_index) -> (N, d)``; ``attention_weights`` returns the ``(E', h)``
    weights and the edge list they belong to.
    """

    def __init__(self, d: int, n_heads: int = 1, self_loops: bool = True, bias: bool = True):
        super().__init__()
        check_positive("d", d)
        check_positive("n_heads", n_heads)
        if d % n_heads:
            raise ValueError(f"d={d} is not divisible by n_heads={n_heads}")
        check_flag("self_loops", self_loops)
        check_flag("bias", bias)
        self.d, self.n_heads, self.self_loops = d, n_heads, self_loops
        self.w_q, self.w_k, self.w_v = (nn.Linear(d, d, bias=bias) for _ in range(3))
        self.w_o = nn.Linear(d, d, bias=bias)

    def _edges(self, edge_index: torch.Tensor, n: int) -> torch.Tensor:
        if not self.self_loops:
            return edge_index
        keep = edge_index[0] != edge_index[1]  # a loop already present is not doubled
        loops = torch.arange(n, device=edge_index.device).expand(2, n)
        return torch.cat([edge_index[:, keep], loops], dim=1)  # (2, E')

    def attention_weights(self, x: torch.Tensor, edge_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(w, edges)``: ``w (E', h)`` softmax weights of the edges ``edges (2, E')`` (self-loops included)."""
        _check_graph_input(x, edge_index, self, self.d, loops=True)
        w, _, edges = self._attend(x, edge_index)
        return w, edges

    def _attend(self, x, edge_index):
        n, h = x.shape[0], self.n_heads
        k = self.d // h
        edges = self._edges(edge_index, n)
        src, dst = edges
        q = self.w_q(x).view(n, h, k)  # (N, h, k)
        kk = self.w_k(x).view(n, h, k)  # (N, h, k)
        v = self.w_v(x).view(n, h, k)  # (N, h, k)
        scores = (q[dst] * kk[src]).sum(-1) / k**0.5  # (E', h)
        w = scatter_softmax(scores, dst, n)  # (E', h)
        return w, v, edges

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        _check_graph_input(x, edge_index, self, self.d, loops=True)
        n = x.shape[0]
        w, v, (src, dst) = self._attend(x, edge_index)
        out = scatter_sum(w[..., None] * v[src], dst, n)  # (N, h, k); a node with no in-edge gets 0
        return self.w_o(out.reshape(n, self.d))  # (N, d)


class GraphTransformerLayer(nn.Module):
    r"""Dwivedi & Bresson's graph transformer layer (2021, eq. 6-9) with LayerNorm:
    $\hat h = \mathrm{LN}(h + \mathrm{Attn}_{N}(h))$, $h' = \mathrm{LN}(\hat h + \mathrm{FFN}(\hat h))$, where
    $\mathrm{Attn}_N$ is :class:`GraphAttentionLayer` (attention over neighbours only).
    ``forward(x, edge_index) -> (N, d)``."""

    def __init__(self, d: int, n_heads: int = 1, d_ff: int | None = None, self_loops: bool = True):
        super().__init__()
        self.attn = GraphAttentionLayer(d, n_heads, self_loops=self_loops)
        self.ffn = FeedForward(d, 2 * d if d_ff is None else d_ff, activation="relu")
        self.norm1, self.norm2 = LayerNorm(d), LayerNorm(d)
        self.d = d

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x + self.attn(x, edge_index))  # (N, d)
        return self.norm2(h + self.ffn(h))  # (N, d)
