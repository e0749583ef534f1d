"""Checks for chapter 7's exercises: BFS reachability, the frontier superposition, and one continuous-thought step.

References are independent of the package's graph code: reachability is the nonzero pattern of powers of
$(I + A)$ (no search), the superposition is written from its formula, and the thought step is compared with the
superposition of the vertices within $t + 1$ steps, read off the same matrix powers. The learner's functions get
plain edge lists (lists of ``(u, v)`` pairs) and tensors, and must return plain values.
"""

from __future__ import annotations

import math

import torch

from ._core import Checker

__all__ = ["check_bfs_reachable", "check_continuous_thought_step", "check_frontier_superposition"]


def _graph(c: Checker, n: int, p: float, dag: bool = True) -> list[tuple[int, int]]:
    """Random edges: forward pairs of a random order (a DAG), or any ordered pair (cycles allowed)."""
    order = torch.randperm(n, generator=c.generator).tolist()
    coins = torch.rand(n, n, generator=c.generator)
    if dag:
        return [(order[i], order[j]) for i in range(n) for j in range(i + 1, n) if coins[i, j] < p]
    return [(i, j) for i in range(n) for j in range(n) if i != j and coins[i, j] < p]


def _within(edges, n: int, source: int, t: int) -> list[int]:
    """Vertices reachable from ``source`` in <= t steps: the nonzero entries of row ``source`` of (I + A)^t."""
    a = torch.eye(n, dtype=torch.float64)
    for u, v in edges:
        a[u, v] = 1.0
    row = torch.linalg.matrix_power(a, t)[source]
    return torch.nonzero(row > 0).flatten().tolist()


def _as_bools(got, n: int):
    if isinstance(got, torch.Tensor):
        got = got.tolist()
    if not isinstance(got, (list, tuple)) or len(got) != n:
        return None
    return [bool(x) for x in got]


def check_bfs_reachable(bfs_reachable, n_cases: int = 25, seed: int | None = None) -> None:
    """``bfs_reachable(edges, n, source)`` -> n bools (a list or a bool tensor): which vertices ``source`` reaches."""
    c = Checker("bfs_reachable", seed)
    fixed = [
        ([], 3, 1, "no edges: only the source"),
        ([(0, 1), (1, 2), (2, 0)], 4, 1, "a cycle"),
        ([(0, 1), (2, 3)], 4, 3, "a sink"),
    ]
    cases = [(list(e), n, s, why) for e, n, s, why in fixed]
    for i in range(n_cases):
        n = c.randint(2, 12)
        dag = i % 3 != 0  # every third graph may have cycles
        edges = _graph(c, n, 0.1 + 0.3 * float(torch.rand(1, generator=c.generator)), dag)
        cases.append((edges, n, c.randint(0, n - 1), f"random #{i} ({'DAG' if dag else 'cycles allowed'})"))
    for edges, n, source, why in cases:
        got = c.call(bfs_reachable, [tuple(e) for e in edges], n, source)
        want = [v in set(_within(edges, n, source, n)) for v in range(n)]
        bools = _as_bools(got, n)
        where = f"{why}: n={n}, source={source}, edges={edges}"
        c.true(where, bools is not None, f"expected a list (or bool tensor) of {n} values, got {got!r}")
        c.true(where, bools == want, f"expected {want}, got {bools}")
    c.done()


def check_frontier_superposition(frontier_superposition, n_cases: int = 15, seed: int | None = None) -> None:
    """``frontier_superposition(embeddings, vertices)`` -> (d,): $|V|^{-1/2}\\sum_{v \\in V} u_v$."""
    c = Checker("frontier_superposition", seed)
    for i in range(n_cases):
        n, d = c.randint(1, 10), c.randint(1, 16)
        u = torch.randn(n, d, generator=c.generator, dtype=torch.float64)
        k = c.randint(1, n)
        vertices = torch.randperm(n, generator=c.generator)[:k].tolist()
        want = torch.zeros(d, dtype=torch.float64)
        for v in vertices:
            want += u[v]
        want /= math.sqrt(len(vertices))
        got = c.call(frontier_superposition, u.clone(), list(vertices))
        c.close(f"#{i}: n={n}, d={d}, vertices={vertices}", want, got, atol=1e-10, rtol=1e-8)
    c.done()


def check_continuous_thought_step(continuous_thought_step, n_cases: int = 15, seed: int | None = None) -> None:
    """``continuous_thought_step(embeddings, edges, thought)`` -> the next thought, $c_{t+1}$ from $c_t$.

    Cases use orthonormal embeddings (a random rotation of one-hot rows) and $c_t$ the superposition of the vertices
    within $t$ steps of a root; the answer must be the superposition of those within $t + 1$ steps.
    """
    c = Checker("continuous_thought_step", seed)
    for i in range(n_cases):
        n = c.randint(2, 10)
        d = n + c.randint(0, 4)
        q, _ = torch.linalg.qr(torch.randn(d, n, generator=c.generator, dtype=torch.float64))  # (d, n)
        u = q.T.contiguous()  # (n, d): orthonormal rows
        edges = _graph(c, n, 0.3, dag=i % 2 == 0)
        root, t = c.randint(0, n - 1), c.randint(0, 3)
        now, nxt = _within(edges, n, root, t), _within(edges, n, root, t + 1)
        thought = u[now].sum(0) / math.sqrt(len(now))
        want = u[nxt].sum(0) / math.sqrt(len(nxt))
        got = c.call(continuous_thought_step, u.clone(), [tuple(e) for e in edges], thought.clone())
        c.close(f"#{i}: n={n}, d={d}, root={root}, V_t={now}, edges={edges}", want, got, atol=1e-8, rtol=1e-6)
    c.done()
