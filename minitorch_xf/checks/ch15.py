r"""Checks for chapter 15's exercises (graph transformers): neighbour sums, one round of 1-WL, random-walk encodings,
Laplacian eigenvector encodings.

References are independent of the package: loops over the edges, colour signatures built from Python tuples,
random-walk distributions propagated one step at a time, and numpy's symmetric eigensolver on a Laplacian built
entry by entry. Random graphs come from this module's own generator.
"""

from __future__ import annotations

import numpy as np
import torch

from ._core import Checker

__all__ = ["check_laplacian_pe", "check_neighbour_sum", "check_random_walk_se", "check_wl_refine"]


def _random_graph(c: Checker, n: int, p: float, connected: bool = False) -> list[tuple[int, int]]:
    """Undirected edges (u < v) of a random graph on n nodes; with ``connected``, a random spanning tree is added."""
    while True:
        edges = {(u, v) for u in range(n) for v in range(u + 1, n) if float(torch.rand(1, generator=c.generator)) < p}
        if connected:
            order = torch.randperm(n, generator=c.generator).tolist()
            for i in range(1, n):
                j = order[int(torch.randint(0, i, (1,), generator=c.generator))]
                edges.add((min(order[i], j), max(order[i], j)))
        if edges:
            return sorted(edges)


def _edge_index(edges: list[tuple[int, int]]) -> torch.Tensor:
    both = [(u, v) for u, v in edges] + [(v, u) for u, v in edges]
    return torch.tensor(both, dtype=torch.int64).T.contiguous()  # (2, E)


def _dense(edges: list[tuple[int, int]], n: int) -> torch.Tensor:
    a = torch.zeros(n, n, dtype=torch.float64)
    for u, v in edges:
        a[u, v] = a[v, u] = 1.0
    return a


def check_neighbour_sum(neighbour_sum, n_cases: int = 4, seed: int | None = None) -> None:
    """``neighbour_sum(x, edge_index)``: x (N, d), edge_index (2, E) -> (N, d), row v the sum of x[u] over the
    edges u -> v."""
    c = Checker("neighbour_sum", seed)
    for i in range(n_cases):
        n, d = c.randint(3, 9), c.randint(1, 4)
        edges = _random_graph(c, n, 0.4)
        ei, x = _edge_index(edges), c.randn(n, d)
        want = torch.zeros(n, d, dtype=torch.float64)
        for u, v in ei.T.tolist():
            want[v] += x[u]
        c.close(f"#{i} random graph, {n} nodes, {len(edges)} edges", want, c.call(neighbour_sum, x, ei))
    n = 4  # a node without neighbours gets zeros
    x, ei = c.randn(n, 2), _edge_index([(0, 1), (1, 2)])
    want = torch.stack([x[1], x[0] + x[2], x[1], torch.zeros(2, dtype=torch.float64)])
    c.close("isolated node 3", want, c.call(neighbour_sum, x, ei))
    c.done()


def _describe(x) -> str:
    return f"a tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else f"a {type(x).__name__}"


def _same_partition(a: list[int], b: list[int]) -> bool:
    """Whether two colourings split the nodes into the same classes (colour names may differ)."""
    forward, backward = {}, {}
    for x, y in zip(a, b, strict=True):
        if forward.setdefault(x, y) != y or backward.setdefault(y, x) != x:
            return False
    return True


def check_wl_refine(wl_refine, n_cases: int = 5, seed: int | None = None) -> None:
    """``wl_refine(colours, edge_index)``: colours (N,) int64 -> (N,) int64, one round of 1-WL colour refinement.
    Two nodes get the same new colour exactly when they had the same colour and the same multiset of neighbour
    colours. The names of the new colours are free; the partition they define is checked."""
    c = Checker("wl_refine", seed)
    for i in range(n_cases):
        n = c.randint(4, 10)
        edges = _random_graph(c, n, 0.35)
        ei = _edge_index(edges)
        colours = torch.randint(0, c.randint(1, 3), (n,), generator=c.generator)
        neighbours = {v: [] for v in range(n)}
        for u, v in ei.T.tolist():
            neighbours[v].append(int(colours[u]))
        signature = [(int(colours[v]), tuple(sorted(neighbours[v]))) for v in range(n)]
        got = c.call(wl_refine, colours.clone(), ei)
        if not isinstance(got, torch.Tensor) or got.shape != (n,):
            c.fail(f"case #{i}: expected a tensor of shape ({n},), received {_describe(got)}")
        ok = _same_partition(signature, got.tolist())
        c.true(
            f"#{i} {n} nodes, {len(edges)} edges, {len(set(colours.tolist()))} initial colours",
            ok,
            f"the new colours {got.tolist()} do not split the nodes by (own colour, multiset of neighbour colours) = "
            f"{signature}",
        )
    c.done()


def check_random_walk_se(random_walk_se, n_cases: int = 4, seed: int | None = None) -> None:
    """``random_walk_se(adj, k)``: adj (N, N) symmetric 0/1 adjacency -> (N, k), entry [v, t-1] the probability that
    a random walk from v (uniform over neighbours at every step) is back at v after t steps."""
    c = Checker("random_walk_se", seed)
    for i in range(n_cases):
        n, k = c.randint(3, 8), c.randint(1, 5)
        edges = _random_graph(c, n, 0.5, connected=True)
        adj = _dense(edges, n)
        nbrs = {v: [] for v in range(n)}
        for u, v in edges:
            nbrs[u].append(v)
            nbrs[v].append(u)
        want = torch.zeros(n, k, dtype=torch.float64)
        for start in range(n):
            dist = {start: 1.0}
            for t in range(k):
                step = {}
                for u, p in dist.items():
                    for w in nbrs[u]:
                        step[w] = step.get(w, 0.0) + p / len(nbrs[u])
                dist = step
                want[start, t] = dist.get(start, 0.0)
        c.close(f"#{i} connected graph, {n} nodes, k={k}", want, c.call(random_walk_se, adj.clone(), k))
    c.done()


def _normalized_laplacian(edges: list[tuple[int, int]], n: int) -> np.ndarray:
    deg = [0] * n
    for u, v in edges:
        deg[u] += 1
        deg[v] += 1
    lap = np.eye(n)
    for u, v in edges:
        lap[u, v] = lap[v, u] = -1.0 / np.sqrt(deg[u] * deg[v])
    return lap


def check_laplacian_pe(laplacian_pe, n_cases: int = 4, seed: int | None = None) -> None:
    """``laplacian_pe(adj, k)``: adj (N, N) adjacency of a connected graph -> (N, k), unit eigenvectors of
    $L = I - D^{-1/2} A D^{-1/2}$ for its k smallest non-zero eigenvalues, in increasing order. Signs are free: each
    column is compared with the reference through its projector $v v^\\top$."""
    c = Checker("laplacian_pe", seed)
    for i in range(n_cases):
        for _ in range(20):  # a graph whose first k + 2 eigenvalues are simple, so that each column is defined
            n, k = c.randint(5, 10), c.randint(1, 3)
            edges = _random_graph(c, n, 0.4, connected=True)
            vals, vecs = np.linalg.eigh(_normalized_laplacian(edges, n))
            if np.min(np.diff(vals[: k + 2])) > 1e-3:
                break
        got = c.call(laplacian_pe, _dense(edges, n), k)
        if not isinstance(got, torch.Tensor) or got.shape != (n, k):
            c.fail(f"case #{i}: expected a tensor of shape ({n}, {k}), received {_describe(got)}")
        got = got.detach().double()
        for j in range(k):
            want_p = torch.as_tensor(np.outer(vecs[:, j + 1], vecs[:, j + 1]))
            c.close(
                f"#{i} {n} nodes, column {j} (eigenvalue {vals[j + 1]:.4f}) up to sign",
                want_p,
                torch.outer(got[:, j], got[:, j]),
            )
    c.done()
