r"""A long-range task on graphs: a marked *target* node must output the colour of a marked *source* node that lies
more than ``min_distance - 1`` hops away (chapter 15).

Every node carries a random colour (one of ``n_colors``, one-hot) and two flags, *is source* and *is target*; the
label of a graph is the source's colour. An ``L``-layer message-passing network sees, at the target, only the
target's ``L``-hop ball; with ``min_distance > L`` the source is outside it, and since every colour is drawn
independently, nothing in the ball says anything about the label: such a network is at chance, whatever its weights.
A network with a global channel (attention, a virtual node) can read the source directly.

Graphs (``kind``): paths, cycles and random recursive trees (node ``i`` hangs from a uniform earlier node), each
with its node ids shuffled so that an id says nothing about a node's place. The batch follows the graph contract of
:mod:`minitorch_xf.tasks.graph_data` (disjoint union, both directions of every edge, sorted ``batch``).

Glossary: ``G`` graphs, ``n`` nodes per graph, ``N = G n`` nodes, ``E`` directed edges, ``C`` colours.
Features: ``x[:, 0]`` is source, ``x[:, 1]`` is target, ``x[:, 2:]`` the colour one-hot; ``x`` is ``(N, 2 + C)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._validate import check_choice, check_generator, check_number, check_positive, check_tensor
from .graph_data import check_edge_index, cycle_graph, path_graph

__all__ = ["KINDS", "LongRangeBatch", "LongRangeTask", "chance_ceiling", "hop_distances", "target_accuracy"]

KINDS = ("path", "cycle", "tree")


def hop_distances(edge_index: torch.Tensor, num_nodes: int, source: int) -> torch.Tensor:
    """Breadth-first hop distance from node ``source`` to every node: ``(num_nodes,)`` int64, ``-1`` if unreachable."""
    check_edge_index(edge_index, num_nodes, allow_self_loops=True, undirected=False)
    check_number("source", source, integer=True, low=0, high=num_nodes - 1)
    neighbours = [[] for _ in range(num_nodes)]
    for u, v in edge_index.T.tolist():
        neighbours[u].append(v)
    dist = [-1] * num_nodes
    dist[source], frontier, hops = 0, [source], 0
    while frontier:
        hops += 1
        nxt = []
        for u in frontier:
            for w in neighbours[u]:
                if dist[w] < 0:
                    dist[w] = hops
                    nxt.append(w)
        frontier = nxt
    return torch.tensor(dist, dtype=torch.int64)


def _tree(n: int, generator: torch.Generator | None) -> torch.Tensor:
    """A random recursive tree: node ``i >= 1`` is joined to a uniform node among ``0..i-1``."""
    if n == 1:
        return torch.zeros(2, 0, dtype=torch.int64)
    child = torch.arange(1, n)
    parent = (torch.rand(n - 1, generator=generator) * child).long()  # uniform in [0, i)
    return torch.cat([torch.stack([parent, child]), torch.stack([child, parent])], dim=1)


@dataclass
class LongRangeBatch:
    """A batch of ``G`` task graphs: ``x (N, 2 + C)``, ``edge_index (2, E)``, ``batch (N,)``, and per graph the
    global ids of its ``target`` and ``source`` nodes, its ``label`` (the source's colour) and the hop
    ``distance`` between the two (all ``(G,)`` int64)."""

    x: torch.Tensor
    edge_index: torch.Tensor
    batch: torch.Tensor
    target: torch.Tensor
    source: torch.Tensor
    label: torch.Tensor
    distance: torch.Tensor

    def to(self, device) -> LongRangeBatch:
        return LongRangeBatch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


class LongRangeTask:
    r"""Graphs of ``n_nodes`` nodes where the label of the target is the colour of a source at distance
    ``>= min_distance`` (and at most ``max_distance``, when given).

    Args:
        n_nodes: nodes per graph (>= 2).  n_colors: colours, so chance is ``1 / n_colors`` (>= 2).
        min_distance: the least hop distance between target and source (>= 1); an ``L``-layer message-passing
            network is blind to the label when ``min_distance > L``.
        kind: ``"path"``, ``"cycle"`` or ``"tree"``.
        max_distance: the largest distance drawn (default: any).
    """

    def __init__(
        self,
        n_nodes: int = 16,
        n_colors: int = 4,
        min_distance: int = 3,
        kind: str = "path",
        max_distance: int | None = None,
    ):
        self.n_nodes = check_positive("n_nodes", n_nodes)
        if n_nodes < 2:
            raise ValueError(f"n_nodes={n_nodes}: a source and a target need at least 2 nodes")
        self.n_colors = check_positive("n_colors", n_colors)
        if n_colors < 2:
            raise ValueError(f"n_colors={n_colors}: a label needs at least 2 colours")
        self.min_distance = check_positive("min_distance", min_distance)
        check_choice("kind", kind, KINDS)
        self.kind = kind
        diameter = n_nodes // 2 if kind == "cycle" else n_nodes - 1
        if kind == "cycle" and n_nodes < 3:
            raise ValueError(f"n_nodes={n_nodes}: a cycle needs at least 3 nodes")
        if min_distance > diameter:
            raise ValueError(
                f"min_distance={min_distance} exceeds the largest distance {diameter} in a {kind} of {n_nodes} nodes"
            )
        if max_distance is not None:
            check_number("max_distance", max_distance, integer=True, low=min_distance)
        self.max_distance = max_distance
        self.d_in = 2 + n_colors

    def _one(self, generator) -> tuple[torch.Tensor, int, int, int]:
        """One graph: (edge_index, target, source, distance) with node ids not yet shuffled."""
        n, hi = self.n_nodes, self.max_distance or self.n_nodes
        for _ in range(1000):
            if self.kind == "path":
                ei = path_graph(n)
            elif self.kind == "cycle":
                ei = cycle_graph(n)
            else:
                ei = _tree(n, generator)
            target = int(torch.randint(n, (1,), generator=generator))
            dist = hop_distances(ei, n, target)
            far = ((dist >= self.min_distance) & (dist <= hi)).nonzero().flatten()
            if len(far):
                source = int(far[torch.randint(len(far), (1,), generator=generator)])
                return ei, target, source, int(dist[source])
        raise RuntimeError(f"no {self.kind} of {self.n_nodes} nodes with a node at distance >= {self.min_distance}")

    def sample(self, n_graphs: int, generator: torch.Generator | None = None) -> LongRangeBatch:
        """A batch of ``n_graphs`` graphs (their disjoint union), colours and node orders drawn from ``generator``."""
        check_positive("n_graphs", n_graphs)
        check_generator("generator", generator)
        n, c = self.n_nodes, self.n_colors
        edges, xs, targets, sources, labels, dists = [], [], [], [], [], []
        for g in range(n_graphs):
            ei, target, source, dist = self._one(generator)
            perm = torch.randperm(n, generator=generator)  # old id i becomes perm[i]
            colour = torch.randint(c, (n,), generator=generator)
            x = torch.zeros(n, 2 + c)
            x[perm[source], 0] = 1.0
            x[perm[target], 1] = 1.0
            x[perm, 2 + colour] = 1.0
            edges.append(perm[ei] + g * n)
            xs.append(x)
            targets.append(int(perm[target]) + g * n)
            sources.append(int(perm[source]) + g * n)
            labels.append(int(colour[source]))
            dists.append(dist)
        as_long = lambda v: torch.tensor(v, dtype=torch.int64)  # noqa: E731
        return LongRangeBatch(
            torch.cat(xs),
            torch.cat(edges, dim=1),
            torch.arange(n_graphs).repeat_interleave(n),
            as_long(targets),
            as_long(sources),
            as_long(labels),
            as_long(dists),
        )


def target_accuracy(logits: torch.Tensor, label: torch.Tensor) -> tuple[float, dict[str, int]]:
    """Share of graphs whose target logits ``(G, C)`` put their maximum on ``label (G,)``, and why the others failed.

    A row with a NaN or an infinity is scored wrong (reason ``"non-finite"``), as is a row whose maximum is shared
    by several colours (``"tie"``): a model's malformed output costs its points, never crashes the scorer. Returns
    ``(accuracy, {"correct": ., "wrong": ., "non-finite": ., "tie": .})``.
    """
    check_tensor("logits", logits, ndim=2, floating=True)
    check_tensor("label", label, ndim=1)
    if label.dtype != torch.int64:
        raise TypeError(f"label must have dtype torch.int64, got {label.dtype}")
    if label.shape[0] != logits.shape[0] or logits.shape[0] == 0:
        raise ValueError(f"logits {tuple(logits.shape)} and label {tuple(label.shape)} need the same G >= 1 rows")
    if ((label < 0) | (label >= logits.shape[1])).any():
        raise ValueError(f"label has values outside [0, {logits.shape[1]}): {sorted(set(label.tolist()))[:10]}")
    logits, label = logits.detach().cpu(), label.cpu()
    finite = torch.isfinite(logits).all(dim=1)
    top = logits.max(dim=1).values
    ties = (logits == top[:, None]).sum(dim=1) > 1
    hit = finite & ~ties & (logits.argmax(dim=1) == label)
    counts = {
        "correct": int(hit.sum()),
        "wrong": int((finite & ~ties & ~hit).sum()),
        "non-finite": int((~finite).sum()),
        "tie": int((finite & ties).sum()),
    }
    return counts["correct"] / len(label), counts


def chance_ceiling(n_graphs: int, n_colors: int, delta: float = 1e-6) -> float:
    r"""An accuracy that a predictor blind to the label exceeds with probability at most ``delta``.

    If each of ``n_graphs`` predictions is right independently with probability ``1 / n_colors`` (the label is a
    uniform colour independent of everything the predictor sees), Hoeffding's inequality gives
    $P(\mathrm{acc} \ge 1/C + t) \le e^{-2 n t^2}$; the ceiling is $1/C + \sqrt{\ln(1/\delta) / (2n)}$.
    """
    check_positive("n_graphs", n_graphs)
    check_positive("n_colors", n_colors)
    check_number("delta", delta, low=0, high=1, low_open=True, high_open=True)
    return 1 / n_colors + math.sqrt(math.log(1 / delta) / (2 * n_graphs))
