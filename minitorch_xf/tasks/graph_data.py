r"""Small graphs for chapter 15: the format every graph model of the package reads, checks and builders.

The graph contract (shared by ``minitorch_xf.nn.message_passing``, ``minitorch_xf.theory.graph_encodings`` and the
GPS / virtual-node code of chapter 15):

- ``x: (N, d)``: float node features, one row per node;
- ``edge_index: (2, E)``: int64, one column per *directed* edge; an undirected edge ``{u, v}`` appears twice, as
  ``(u, v)`` and ``(v, u)``. Messages flow ``edge_index[0] -> edge_index[1]`` (source to target), as in PyTorch
  Geometric. Graphs are simple: no repeated edge, and no self-loop unless a function says it allows them;
- ``batch: (N,)``: optional int64 graph id of every node, sorted, taking every value ``0..G-1``. A batch of ``G``
  graphs is their disjoint union: node ids are shifted so that graph ``g``'s nodes follow graph ``g-1``'s, and no
  edge joins two graphs.

Glossary: ``N`` nodes, ``E`` directed edges, ``G`` graphs in a batch, ``d`` feature width.

The classic pairs that 1-WL colour refinement cannot tell apart (:func:`wl_indistinguishable_pairs`): two triangles
vs a hexagon (both 2-regular on 6 nodes), the 4x4 rook's graph vs the Shrikhande graph (both strongly regular with
parameters (16, 6, 2, 2)), and circular-skip-link graphs ``CSL(41, s)`` for different skips (4-regular on 41 nodes,
Murphy et al. 2019). Every regular graph with the same number of nodes and degree gets the same 1-WL colours.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._graph import _check_batch, check_edge_index, check_graph, to_dense_adjacency
from .._validate import check_flag, check_generator, check_number, check_positive, check_tensor

__all__ = [
    "Graph",
    "batch_graphs",
    "check_edge_index",
    "check_graph",
    "circulant_graph",
    "complete_graph",
    "csl_graph",
    "cycle_graph",
    "degree",
    "disjoint_union",
    "edge_index_from_list",
    "erdos_renyi_graph",
    "is_connected",
    "path_graph",
    "rook_graph",
    "shrikhande_graph",
    "to_dense_adjacency",
    "unbatch",
    "wl_indistinguishable_pairs",
]


@dataclass
class Graph:
    """One graph (or a batch as a disjoint union): node features ``x (N, d)``, ``edge_index (2, E)``, the graph ids
    ``batch (N,)`` (None for a single graph) and an optional label ``y``. Checked on construction."""

    x: torch.Tensor
    edge_index: torch.Tensor
    batch: torch.Tensor | None = None
    y: torch.Tensor | None = None

    def __post_init__(self):
        check_graph(self.x, self.edge_index, self.batch)

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    @property
    def num_graphs(self) -> int:
        return 1 if self.batch is None else int(self.batch[-1]) + 1


def edge_index_from_list(edges, num_nodes: int) -> torch.Tensor:
    """``(2, E)`` int64 edge index with both directions of every undirected edge ``(u, v)`` in ``edges``.

    The columns are sorted (by source, then target). Raises ValueError for an edge to a node outside
    ``[0, num_nodes)``, a self-loop or a repeated edge, naming it.
    """
    check_positive("num_nodes", num_nodes)
    pairs = [tuple(e) for e in edges]
    for k, e in enumerate(pairs):
        if len(e) != 2 or not all(isinstance(u, int) and not isinstance(u, bool) for u in e):
            raise ValueError(f"edges[{k}] = {e!r} is not a pair of int node ids")
        u, v = e
        if not (0 <= u < num_nodes and 0 <= v < num_nodes):
            raise ValueError(f"edges[{k}] = ({u}, {v}) points to an unknown node: node ids must be in [0, {num_nodes})")
        if u == v:
            raise ValueError(f"edges[{k}] = ({u}, {v}) is a self-loop, not allowed in a simple graph")
    seen = {}
    for k, (u, v) in enumerate(pairs):
        key = (min(u, v), max(u, v))
        if key in seen:
            raise ValueError(f"edges[{k}] = ({u}, {v}) repeats edges[{seen[key]}] = {pairs[seen[key]]}")
        seen[key] = k
    both = sorted({(u, v) for u, v in pairs} | {(v, u) for u, v in pairs})
    if not both:
        return torch.zeros(2, 0, dtype=torch.int64)
    return torch.tensor(both, dtype=torch.int64).T.contiguous()  # (2, E)


def erdos_renyi_graph(n: int, p: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random graph ``G(n, p)``: each of the ``n(n-1)/2`` undirected edges is present with probability ``p``."""
    check_positive("n", n)
    check_number("p", p, low=0, high=1)
    check_generator("generator", generator)
    u, v = torch.triu_indices(n, n, offset=1)
    keep = torch.rand(u.shape[0], generator=generator) < p
    return edge_index_from_list(list(zip(u[keep].tolist(), v[keep].tolist(), strict=True)), n)


def cycle_graph(n: int) -> torch.Tensor:
    """The cycle ``C_n`` (n >= 3): edges ``{i, i+1 mod n}``."""
    check_positive("n", n)
    if n < 3:
        raise ValueError(f"n={n}: a cycle needs at least 3 nodes")
    return edge_index_from_list([(i, (i + 1) % n) for i in range(n)], n)


def path_graph(n: int) -> torch.Tensor:
    """The path ``P_n`` on nodes ``0 - 1 - ... - n-1`` (n >= 1)."""
    check_positive("n", n)
    return edge_index_from_list([(i, i + 1) for i in range(n - 1)], n)


def complete_graph(n: int, *, self_loops: bool = False) -> torch.Tensor:
    """The complete graph ``K_n``; with ``self_loops`` every node is also its own neighbour (the graph full attention
    passes messages on)."""
    check_positive("n", n)
    check_flag("self_loops", self_loops)
    src, dst = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = torch.ones(n, n, dtype=torch.bool) if self_loops else ~torch.eye(n, dtype=torch.bool)
    return torch.stack([src[keep], dst[keep]])  # (2, n^2) or (2, n(n-1))


def circulant_graph(n: int, jumps) -> torch.Tensor:
    """The circulant graph on ``Z_n``: ``i ~ i ± s`` for every jump ``s`` in ``jumps`` (each in ``[1, n/2]``)."""
    check_positive("n", n)
    jumps = list(jumps)
    for s in jumps:
        check_positive("jump", s)
        if not 1 <= s <= n // 2:
            raise ValueError(f"jump={s} must be in [1, {n // 2}] for n={n}")
    edges = {(min(i, (i + s) % n), max(i, (i + s) % n)) for s in jumps for i in range(n)}
    return edge_index_from_list(sorted(edges), n)


def csl_graph(n: int, skip: int) -> torch.Tensor:
    """Circular skip link graph ``CSL(n, skip)`` (Murphy et al., 2019): the cycle ``C_n`` plus the chords
    ``i ~ i + skip mod n``. For ``2 <= skip <= n/2 - 1`` (so the chords are neither cycle edges nor doubled) it is
    4-regular; CSL graphs with different skips are then 1-WL-indistinguishable."""
    check_positive("n", n)
    check_positive("skip", skip)
    if not 2 <= skip < n / 2:
        raise ValueError(f"skip={skip} must satisfy 2 <= skip < n/2 = {n / 2} for a 4-regular CSL graph")
    return circulant_graph(n, [1, skip])


def rook_graph(k: int = 4) -> torch.Tensor:
    """The ``k x k`` rook's graph ``K_k □ K_k``: node ``k*r + c``, adjacent when in the same row or column."""
    check_positive("k", k)
    cells = [(r, c) for r in range(k) for c in range(k)]
    edges = [
        (k * r1 + c1, k * r2 + c2)
        for i, (r1, c1) in enumerate(cells)
        for (r2, c2) in cells[i + 1 :]
        if r1 == r2 or c1 == c2
    ]
    return edge_index_from_list(edges, k * k)


def shrikhande_graph() -> torch.Tensor:
    """The Shrikhande graph: the Cayley graph of ``Z_4 x Z_4`` with connection set ``±(1,0), ±(0,1), ±(1,1)``.

    Node ``4a + b`` is ``(a, b)``. Strongly regular (16, 6, 2, 2) like the 4x4 rook's graph but not isomorphic to it.
    """
    gens = [(1, 0), (0, 1), (1, 1)]
    edges = set()
    for a in range(4):
        for b in range(4):
            for ga, gb in gens:
                u, v = 4 * a + b, 4 * ((a + ga) % 4) + (b + gb) % 4
                edges.add((min(u, v), max(u, v)))
    return edge_index_from_list(sorted(edges), 16)


def disjoint_union(*edge_indices_and_sizes) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint union of graphs given as ``(edge_index, num_nodes)`` pairs: returns ``(edge_index, batch)`` with the
    node ids of graph ``g`` shifted past those of graphs ``0..g-1``."""
    if not edge_indices_and_sizes:
        raise ValueError("disjoint_union needs at least one (edge_index, num_nodes) pair")
    parts, batch, offset = [], [], 0
    for g, pair in enumerate(edge_indices_and_sizes):
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(f"argument {g} must be an (edge_index, num_nodes) pair, got {type(pair).__name__}")
        ei, n = pair
        check_edge_index(ei, n)
        parts.append(ei + offset)
        batch.append(torch.full((n,), g, dtype=torch.int64))
        offset += n
    return torch.cat(parts, dim=1), torch.cat(batch)


def batch_graphs(graphs) -> Graph:
    """One :class:`Graph` holding the disjoint union of ``graphs`` (single graphs, each with ``batch=None``); the
    labels ``y`` are stacked when every graph has one."""
    graphs = list(graphs)
    if not graphs:
        raise ValueError("batch_graphs needs at least one graph")
    for g, gr in enumerate(graphs):
        if not isinstance(gr, Graph):
            raise TypeError(f"graphs[{g}] must be a Graph, got {type(gr).__name__}")
        if gr.batch is not None:
            raise ValueError(f"graphs[{g}] is already a batch of {gr.num_graphs} graphs; pass single graphs")
        if gr.x.shape[1] != graphs[0].x.shape[1]:
            raise ValueError(f"graphs[{g}].x has width {gr.x.shape[1]} but graphs[0].x has {graphs[0].x.shape[1]}")
    ei, batch = disjoint_union(*[(gr.edge_index, gr.num_nodes) for gr in graphs])
    ys = [gr.y for gr in graphs]
    y = torch.stack([torch.as_tensor(t) for t in ys]) if all(t is not None for t in ys) else None
    return Graph(torch.cat([gr.x for gr in graphs]), ei.to(graphs[0].x.device), batch.to(graphs[0].x.device), y)


def unbatch(x: torch.Tensor, batch: torch.Tensor) -> list[torch.Tensor]:
    """Split node rows ``x (N, ...)`` into one tensor per graph of ``batch``."""
    check_tensor("x", x, min_ndim=1)
    g = _check_batch(batch, x.shape[0])
    return list(torch.split(x, torch.bincount(batch, minlength=g).tolist()))


def degree(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """In-degree of every node (the number of messages it receives): ``(num_nodes,)`` int64."""
    check_edge_index(edge_index, num_nodes, allow_self_loops=True, undirected=False)
    return torch.bincount(edge_index[1], minlength=num_nodes)


def is_connected(edge_index: torch.Tensor, num_nodes: int) -> bool:
    """Whether the undirected graph is connected (a breadth-first search from node 0)."""
    check_edge_index(edge_index, num_nodes, allow_self_loops=True, undirected=False)
    neighbours = [[] for _ in range(num_nodes)]
    for u, v in edge_index.T.tolist():
        neighbours[u].append(v)
        neighbours[v].append(u)
    seen, frontier = {0}, [0]
    while frontier:
        frontier = [w for u in frontier for w in neighbours[u] if w not in seen and not seen.add(w)]
    return len(seen) == num_nodes


def wl_indistinguishable_pairs() -> dict[str, tuple[tuple[torch.Tensor, int], tuple[torch.Tensor, int]]]:
    """Named pairs of non-isomorphic graphs with equal 1-WL colour histograms: ``{name: ((ei_a, n), (ei_b, n))}``.

    ``"C6 vs 2xC3"``: a hexagon and two disjoint triangles; ``"rook vs Shrikhande"``: the 4x4 rook's graph and the
    Shrikhande graph; ``"CSL(41,2) vs CSL(41,3)"``: circular skip link graphs.
    """
    two_triangles, _ = disjoint_union((cycle_graph(3), 3), (cycle_graph(3), 3))
    return {
        "C6 vs 2xC3": ((cycle_graph(6), 6), (two_triangles, 6)),
        "rook vs Shrikhande": ((rook_graph(4), 16), (shrikhande_graph(), 16)),
        "CSL(41,2) vs CSL(41,3)": ((csl_graph(41, 2), 41), (csl_graph(41, 3), 41)),
    }
