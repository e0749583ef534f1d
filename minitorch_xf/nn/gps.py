r"""Local + global graph layers (chapter 15): the GPS layer, a virtual node, and attention restricted to a subset of
keys.

Graphs follow the contract of ``minitorch_xf.tasks.graph_data`` (checked by ``minitorch_xf._graph``):
``x (N, d)``, ``edge_index (2, E)`` int64 with both directions of every undirected edge (messages flow
``edge_index[0] -> edge_index[1]``), ``batch (N,)`` sorted graph ids ``0..G-1`` (``None``: one graph).

Glossary: ``N`` nodes, ``E`` directed edges, ``G`` graphs, ``n`` nodes of the largest graph, ``d`` width,
``h`` heads; for the key-subset functions ``s`` queries, ``t`` keys, ``e`` value width.

- :class:`GPSLayer` (Rampášek et al., 2022): a local message-passing module and global attention run side
  by side on the same input, their outputs summed, then an MLP. Cost per layer: ``O(E)`` local, ``O(sum_g n_g^2)``
  global.
- :class:`VirtualNode` (Gilmer et al., 2017; Cai et al., 2023): one extra node per graph joined to every node; it
  sums the nodes' states and sends the result back, so any two nodes are two hops apart. Cost ``O(N)``.
- :func:`virtual_node_linear_attention`: one virtual-node round computes linear (kernelized) self-attention exactly
  (after Cai et al., 2023).
- :func:`sparse_attention` with :func:`topk_key_mask`, :func:`random_key_mask`, :func:`hop_key_mask`: softmax
  attention over a subset of the keys, and the softmax mass it drops, which bounds its error
  (:func:`sparsity_error_bound`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._graph import check_graph, to_dense_adjacency
from .._validate import (
    check_choice,
    check_flag,
    check_generator,
    check_like_module,
    check_number,
    check_positive,
    check_tensor,
)
from .attention import MultiHeadAttention, scaled_dot_product_attention
from .kernelized import elu_feature_map
from .message_passing import MPNNLayer, scatter_sum
from .norms import LayerNorm

__all__ = [
    "MIXERS",
    "NORMS",
    "GPSLayer",
    "GraphNet",
    "VirtualNode",
    "dense_batch",
    "hop_key_mask",
    "random_key_mask",
    "sparse_attention",
    "sparsity_error_bound",
    "topk_key_mask",
    "virtual_node_linear_attention",
]

NORMS = ("batch", "layer", None)
MIXERS = ("none", "virtual_node", "attention")


def _check_batch(batch: torch.Tensor, num_nodes: int, device: torch.device) -> None:
    """``batch`` is a sorted ``(num_nodes,)`` int64 vector of graph ids ``0..G-1`` (the graph contract's check)."""
    check_graph(torch.zeros(num_nodes, 1, device=device), torch.zeros(2, 0, dtype=torch.int64, device=device), batch)


def _graph_ids(x: torch.Tensor, batch: torch.Tensor | None) -> tuple[torch.Tensor, int]:
    """``batch`` or all zeros, and the number of graphs ``G``."""
    if batch is None:
        return torch.zeros(x.shape[0], dtype=torch.int64, device=x.device), 1
    return batch, int(batch[-1]) + 1


def dense_batch(x: torch.Tensor, batch: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad the node rows of each graph into ``(G, n, d)`` and return it with the ``(G, n)`` bool mask of real nodes;
    ``out[mask]`` gives back ``x``."""
    check_tensor("x", x, min_ndim=1)
    if batch is not None:
        _check_batch(batch, x.shape[0], x.device)
    ids, g = _graph_ids(x, batch)
    counts = torch.bincount(ids, minlength=g)  # (G,)
    n = int(counts.max())
    start = torch.cumsum(counts, 0) - counts  # first node of each graph
    slot = torch.arange(x.shape[0], device=x.device) - start[ids]  # position inside its graph
    out = x.new_zeros((g, n, *x.shape[1:]))
    out[ids, slot] = x
    mask = torch.zeros(g, n, dtype=torch.bool, device=x.device)
    mask[ids, slot] = True
    return out, mask


def _norm(kind: str | None, d: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(d)
    return LayerNorm(d) if kind == "layer" else nn.Identity()


class GPSLayer(nn.Module):
    r"""One GPS layer (Rampášek et al., 2022), arranged as PyTorch Geometric's ``GPSConv``:

    $$X_M = \mathrm{N}_1\big(X + \mathrm{MPNN}(X, A)\big),\quad X_T = \mathrm{N}_2\big(X + \mathrm{Attn}(X)\big),\quad
      X' = \mathrm{N}_3\big(Y + \mathrm{MLP}(Y)\big),\ Y = X_M + X_T,$$

    where the attention of each graph runs over that graph's nodes only.

    Args:
        d_model: width ``d``.
        local: the message-passing module, called ``local(x, edge_index) -> (N, d)``, or ``None`` (global only).
        n_heads: heads of the global attention (``d`` divisible by it).
        attention: whether the global branch is there (``False`` with a ``local`` module: an MPNN layer with the
            same residuals, norms and MLP).
        norm: ``"batch"`` (the paper's BatchNorm over nodes), ``"layer"`` (LayerNorm per node, which keeps nodes of
            different graphs independent in training too) or ``None``.
        dropout: applied to both branches' outputs and inside the MLP while training.
    """

    def __init__(
        self,
        d_model: int,
        local: nn.Module | None,
        n_heads: int = 1,
        attention: bool = True,
        norm: str | None = "batch",
        dropout: float = 0.0,
    ):
        super().__init__()
        check_positive("d_model", d_model)
        if local is not None and not isinstance(local, nn.Module):
            raise TypeError(f"local must be an nn.Module (a message-passing layer) or None, got {type(local).__name__}")
        check_flag("attention", attention)
        if local is None and not attention:
            raise ValueError("local=None and attention=False leave the layer with no branch: give at least one")
        check_choice("norm", norm, NORMS)
        check_number("dropout", dropout, low=0, high=1, high_open=True)
        self.d_model, self.local, self.dropout = d_model, local, dropout
        self.attn = MultiHeadAttention(d_model, n_heads) if attention else None
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 2 * d_model), nn.ReLU(), nn.Dropout(dropout), nn.Linear(2 * d_model, d_model),
            nn.Dropout(dropout),
        )  # fmt: skip
        self.norm1 = _norm(norm, d_model) if local is not None else None  # after the local branch
        self.norm2 = _norm(norm, d_model) if attention else None  # after the global branch
        self.norm3 = _norm(norm, d_model)

    def global_attention(self, x: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
        """Multi-head self-attention inside each graph: ``(N, d)``; padded slots are masked as keys."""
        xd, mask = dense_batch(x, batch)  # (G, n, d), (G, n)
        out = self.attn(xd, mask=mask[:, None, None, :])  # (G, n, d)
        return out[mask]  # (N, d)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
        check_graph(x, edge_index, batch)
        if x.shape[1] != self.d_model:
            raise ValueError(f"x has feature width {x.shape[1]} but the GPSLayer expects d_model={self.d_model}")
        check_like_module("x", x, self)
        drop = lambda h: nn.functional.dropout(h, self.dropout, self.training)  # noqa: E731
        y = 0
        if self.local is not None:
            y = y + self.norm1(x + drop(self.local(x, edge_index)))  # X_M (N, d)
        if self.attn is not None:
            y = y + self.norm2(x + drop(self.global_attention(x, batch)))  # X_T (N, d)
        return self.norm3(y + self.mlp(y))  # (N, d)


class VirtualNode(nn.Module):
    r"""A virtual node per graph (Gilmer et al., 2017; Cai et al., 2023): it gathers, then broadcasts,

    $$\mathrm{vn}_g' = \mathrm{vn}_g + \mathrm{MLP}\Big(\sum_{i \in g} h_i\Big), \qquad
      h_i' = h_i + \mathrm{vn}_{g(i)}'.$$

    ``forward(h, vn, batch) -> (h', vn')`` with ``h (N, d)``, ``vn (G, d)`` (zeros before the first layer).
    """

    def __init__(self, d_model: int):
        super().__init__()
        check_positive("d_model", d_model)
        self.d_model = d_model
        self.mlp = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Linear(d_model, d_model))

    def forward(
        self, h: torch.Tensor, vn: torch.Tensor, batch: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor("h", h, ndim=2, floating=True)
        check_tensor("vn", vn, ndim=2, floating=True)
        ids, g = _graph_ids(h, batch)
        if batch is not None:
            _check_batch(batch, h.shape[0], h.device)
        if h.shape[1] != self.d_model or vn.shape != (g, self.d_model):
            raise ValueError(
                f"h {tuple(h.shape)} and vn {tuple(vn.shape)} must be (N, {self.d_model}) and ({g}, {self.d_model})"
                f" for {g} graph(s)"
            )
        check_like_module("h", h, self)
        vn = vn + self.mlp(scatter_sum(h, ids, g))  # gather: (G, d)
        return h + vn[ids], vn  # broadcast: (N, d)


class GraphNet(nn.Module):
    r"""Node classifier: an MLP encoder, ``n_layers`` layers of :class:`GPSLayer` with a GIN-style local module
    (:class:`~minitorch_xf.nn.message_passing.MPNNLayer`), and a linear read-out per node.

    ``mixer`` chooses the global channel: ``"none"`` (a plain MPNN: each layer sees one hop further),
    ``"virtual_node"`` (a :class:`VirtualNode` before each layer) or ``"attention"`` (GPS).
    ``forward(x, edge_index, batch=None) -> (N, n_out)`` logits.
    """

    def __init__(
        self,
        d_in: int,
        n_out: int,
        d_model: int = 32,
        n_layers: int = 2,
        mixer: str = "attention",
        n_heads: int = 4,
        norm: str | None = "layer",
    ):
        super().__init__()
        for name, value in (("d_in", d_in), ("n_out", n_out), ("d_model", d_model), ("n_layers", n_layers)):
            check_positive(name, value)
        check_choice("mixer", mixer, MIXERS)
        self.d_in, self.mixer = d_in, mixer
        self.encoder = nn.Sequential(nn.Linear(d_in, d_model), nn.ReLU(), nn.Linear(d_model, d_model))
        self.layers = nn.ModuleList(
            GPSLayer(d_model, MPNNLayer(d_model), n_heads, attention=mixer == "attention", norm=norm)
            for _ in range(n_layers)
        )
        self.vns = nn.ModuleList(VirtualNode(d_model) for _ in range(n_layers)) if mixer == "virtual_node" else None
        self.readout = nn.Linear(d_model, n_out)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
        check_graph(x, edge_index, batch)
        if x.shape[1] != self.d_in:
            raise ValueError(f"x has feature width {x.shape[1]} but the GraphNet expects d_in={self.d_in}")
        check_like_module("x", x, self)
        h = self.encoder(x)  # (N, d)
        _, g = _graph_ids(x, batch)
        vn = h.new_zeros(g, h.shape[1])  # (G, d)
        for i, layer in enumerate(self.layers):
            if self.vns is not None:
                h, vn = self.vns[i](h, vn, batch)
            h = layer(h, edge_index, batch)
        return self.readout(h)  # (N, n_out)


def virtual_node_linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    batch: torch.Tensor | None = None,
    feature_map=elu_feature_map,
    eps: float = 1e-6,
) -> torch.Tensor:
    r"""Linear self-attention inside each graph, computed by one virtual-node round (after Cai et al., 2023):

    $$\text{gather: } S_g = \sum_{j \in g} \phi(k_j) v_j^\top,\ z_g = \sum_{j \in g} \phi(k_j);\qquad
      \text{broadcast: } o_i = \frac{\phi(q_i)^\top S_{g(i)}}{\phi(q_i)^\top z_{g(i)} + \varepsilon}.$$

    The virtual node holds ``S_g`` (``f x e`` numbers) and ``z_g``; the work is ``O(N f e)``, linear in ``N``.
    Args: ``q, k (N, d)``, ``v (N, e)`` (the nodes' projections), ``batch (N,)`` or None, ``feature_map`` phi
    (non-negative features), ``eps >= 0``. Returns ``(N, e)``.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, t, ndim=2, floating=True)
    if q.shape != k.shape or v.shape[0] != q.shape[0]:
        raise ValueError(f"q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} need q, k (N, d), v (N, e)")
    if not callable(feature_map):
        raise TypeError(f"feature_map must be callable, got {type(feature_map).__name__}")
    check_number("eps", eps, low=0)
    if batch is not None:
        _check_batch(batch, q.shape[0], q.device)
    ids, g = _graph_ids(q, batch)
    fq, fk = feature_map(q), feature_map(k)  # (N, f)
    if (fq < 0).any() or (fk < 0).any():
        raise ValueError("feature_map returned negative features: linear attention needs phi >= 0")
    s = scatter_sum(fk[:, :, None] * v[:, None, :], ids, g)  # gather: S_g (G, f, e)
    z = scatter_sum(fk, ids, g)  # gather: z_g (G, f)
    num = torch.einsum("nf,nfe->ne", fq, s[ids])  # broadcast (N, e)
    den = (fq * z[ids]).sum(-1, keepdim=True) + eps  # (N, 1)
    return num / den


def topk_key_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Keep, for each query (row of ``scores (..., s, t)``), its ``k`` highest-scoring keys: a bool mask of the same
    shape (``k >= t`` keeps every key). Ties are broken by ``torch.topk``."""
    check_tensor("scores", scores, min_ndim=2, floating=True)
    check_positive("k", k)
    k = min(k, scores.shape[-1])
    keep = torch.zeros_like(scores, dtype=torch.bool)
    return keep.scatter_(-1, scores.topk(k, dim=-1).indices, True)


def random_key_mask(s: int, t: int, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Keep ``k`` keys drawn uniformly without replacement for each of ``s`` queries: ``(s, t)`` bool."""
    check_positive("s", s)
    check_positive("t", t)
    check_positive("k", k)
    check_generator("generator", generator)
    k = min(k, t)
    pick = torch.rand(s, t, generator=generator).argsort(dim=-1)[:, :k]  # (s, k)
    return torch.zeros(s, t, dtype=torch.bool).scatter_(-1, pick, True)


def hop_key_mask(edge_index: torch.Tensor, num_nodes: int, hops: int) -> torch.Tensor:
    """Keep the keys within ``hops`` hops of each query: ``(num_nodes, num_nodes)`` bool, ``[i, j]`` true when
    ``dist(i, j) <= hops`` (``hops=0``: each node only itself). Computed by ``hops`` products with ``A + I``."""
    check_positive("num_nodes", num_nodes)
    check_graph(torch.zeros(num_nodes, 1, device=edge_index.device), edge_index)
    check_positive("hops", hops, allow_zero=True)
    step = to_dense_adjacency(edge_index, num_nodes) + torch.eye(num_nodes, device=edge_index.device)  # A + I
    reach = torch.eye(num_nodes, device=edge_index.device)
    for _ in range(hops):
        reach = ((step @ reach) > 0).float()
    return reach.bool()


def sparse_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor, scale: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Softmax attention over the kept keys only, and the full softmax's mass on the dropped ones.

    With $p = \mathrm{softmax}(q K^\top \cdot \mathrm{scale})$ over all keys and $S$ the kept set, the output is
    $\tilde o = \sum_{j \in S} p_j v_j / p(S)$ and the dropped mass $m = 1 - p(S)$.
    Args: ``q (..., s, d)``, ``k (..., t, d)``, ``v (..., t, e)``, ``keep (..., s, t)`` bool (one per score).
    Returns ``(out (..., s, e), dropped (..., s))``. A query with no kept key outputs 0 and drops mass 1.
    """
    check_tensor("q", q, min_ndim=2, floating=True)
    check_tensor("k", k, min_ndim=2, floating=True)
    check_tensor("v", v, min_ndim=2, floating=True)
    check_tensor("keep", keep, min_ndim=2)
    if keep.dtype != torch.bool:
        raise TypeError(f"keep must be a bool mask, got dtype={keep.dtype}")
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-1] != v.shape[:-1] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)} must be (..., s, d), "
                         f"(..., t, d), (..., t, e)")  # fmt: skip
    if keep.shape != (*q.shape[:-1], k.shape[-2]):
        raise ValueError(f"keep has shape {tuple(keep.shape)}; it must be (..., s, t) = {(*q.shape[:-1], k.shape[-2])}")
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else check_number("scale", scale, low=0, low_open=True)
    p = torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1)  # (..., s, t) full softmax
    dropped = (p * ~keep).sum(-1)  # (..., s)
    out = scaled_dot_product_attention(q, k, v, mask=keep, scale=scale)  # (..., s, e)
    return out, dropped


def sparsity_error_bound(dropped: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r"""The bound $\|o - \tilde o\|_2 \le m \cdot \max_{j,l} \|v_j - v_l\|_2$ (section 15.6)
    for each query: ``dropped (..., s)`` times the diameter of the values ``v (..., t, e)``; returns ``(..., s)``."""
    check_tensor("dropped", dropped, min_ndim=1, floating=True)
    check_tensor("v", v, min_ndim=2, floating=True)
    if dropped.shape[:-1] != v.shape[:-2]:
        raise ValueError(f"dropped {tuple(dropped.shape)} and v {tuple(v.shape)} need the same batch dims")
    diameter = torch.cdist(v, v).amax(dim=(-2, -1))  # (...,)
    return dropped * diameter[..., None]
