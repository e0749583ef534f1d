"""The graph format's checks, shared by ``nn`` (message passing, GPS) and ``tasks.graph_data``, which documents the
contract and re-exports them: ``edge_index (2, E)`` int64 with both directions of every undirected edge, messages
flowing ``edge_index[0] -> edge_index[1]``; ``x (N, d)`` float; ``batch (N,)`` sorted graph ids. Private so that the
one-way rule holds (``nn`` never imports ``tasks``).
"""

from __future__ import annotations

import torch

from ._validate import check_flag, check_positive, check_tensor

__all__ = ["check_edge_index", "check_graph", "to_dense_adjacency"]


def check_edge_index(
    edge_index: torch.Tensor, num_nodes: int, *, allow_self_loops: bool = False, undirected: bool = True
) -> torch.Tensor:
    """``edge_index`` is a ``(2, E)`` int64 tensor of a simple graph on nodes ``0..num_nodes-1``; returns it.

    Raises ValueError naming the first offending edge: an endpoint outside ``[0, num_nodes)`` (an edge to an unknown
    node), a self-loop (unless ``allow_self_loops``), an edge listed twice, or, when ``undirected``, an edge
    ``(u, v)`` whose reverse ``(v, u)`` is missing.
    """
    check_tensor("edge_index", edge_index, ndim=2)
    if edge_index.dtype != torch.int64:
        raise TypeError(f"edge_index must have dtype torch.int64, got {edge_index.dtype}")
    if edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got shape {tuple(edge_index.shape)}")
    check_positive("num_nodes", num_nodes)
    check_flag("allow_self_loops", allow_self_loops)
    check_flag("undirected", undirected)
    if edge_index.shape[1] == 0:
        return edge_index
    ei = edge_index.cpu()
    bad = ((ei < 0) | (ei >= num_nodes)).any(dim=0).nonzero()
    if len(bad):
        k = int(bad[0])
        u, v = ei[:, k].tolist()
        raise ValueError(
            f"edge_index[:, {k}] = ({u}, {v}) points to an unknown node: node ids must be in [0, {num_nodes})"
        )
    if not allow_self_loops:
        loops = (ei[0] == ei[1]).nonzero()
        if len(loops):
            k = int(loops[0])
            raise ValueError(
                f"edge_index[:, {k}] = ({int(ei[0, k])}, {int(ei[1, k])}) is a self-loop, not allowed here"
            )
    codes = ei[0] * num_nodes + ei[1]  # one integer per directed edge
    uniq, counts = torch.unique(codes, return_counts=True)
    if (counts > 1).any():
        code = int(uniq[counts > 1][0])
        k = int((codes == code).nonzero()[1])
        raise ValueError(f"edge_index[:, {k}] = ({code // num_nodes}, {code % num_nodes}) is listed twice")
    if undirected:
        reverse = ei[1] * num_nodes + ei[0]
        missing = (~torch.isin(reverse, uniq)).nonzero()
        if len(missing):
            k = int(missing[0])
            u, v = ei[:, k].tolist()
            raise ValueError(
                f"edge_index[:, {k}] = ({u}, {v}) has no reverse edge ({v}, {u}): an undirected graph lists both "
                "directions (use edge_index_from_list)"
            )
    return edge_index


def check_graph(
    x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor | None = None, *, allow_self_loops: bool = False
) -> None:
    """``x`` is ``(N, d)`` float, ``edge_index`` passes :func:`check_edge_index` for ``N`` nodes, and ``batch`` (if
    given) is a sorted ``(N,)`` int64 vector of graph ids ``0..G-1`` with no edge between two graphs."""
    check_tensor("x", x, ndim=2, floating=True)
    n = x.shape[0]
    if n == 0:
        raise ValueError(f"x has no nodes (shape {tuple(x.shape)}): a graph needs at least one node")
    check_edge_index(edge_index, n, allow_self_loops=allow_self_loops)
    if edge_index.device != x.device:
        raise ValueError(f"tensors are on different devices: x on {x.device}, edge_index on {edge_index.device}")
    if batch is not None:
        _check_batch(batch, n)
        if edge_index.shape[1] and (batch[edge_index[0]] != batch[edge_index[1]]).any():
            k = int((batch[edge_index[0]] != batch[edge_index[1]]).nonzero()[0])
            u, v = edge_index[:, k].tolist()
            raise ValueError(f"edge_index[:, {k}] = ({u}, {v}) joins graph {int(batch[u])} to graph {int(batch[v])}")


def _check_batch(batch: torch.Tensor, num_nodes: int) -> int:
    """``batch`` is a sorted ``(num_nodes,)`` int64 vector taking every value 0..G-1; returns G."""
    check_tensor("batch", batch, ndim=1)
    if batch.dtype != torch.int64:
        raise TypeError(f"batch must have dtype torch.int64, got {batch.dtype}")
    if batch.shape[0] != num_nodes:
        raise ValueError(f"batch has {batch.shape[0]} entries but there are {num_nodes} nodes")
    steps = batch[1:] - batch[:-1]
    if int(batch[0]) != 0 or ((steps != 0) & (steps != 1)).any():
        raise ValueError(f"batch must be sorted graph ids 0, ..., G-1 with none skipped, got {batch.tolist()[:20]}")
    return int(batch[-1]) + 1


def to_dense_adjacency(edge_index: torch.Tensor, num_nodes: int, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``A (num_nodes, num_nodes)`` with ``A[v, u] = 1`` for each edge ``u -> v`` (row = target): then ``A @ x`` sums
    each node's incoming messages. For an undirected graph ``A`` is symmetric."""
    check_edge_index(edge_index, num_nodes, allow_self_loops=True, undirected=False)
    a = torch.zeros(num_nodes, num_nodes, dtype=dtype, device=edge_index.device)
    a[edge_index[1], edge_index[0]] = 1
    return a
