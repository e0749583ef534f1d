r"""Chapter 15: what message passing can tell apart, and the node encodings that tell it more.

- 1-WL colour refinement (:func:`wl_colours`, :func:`wl_distinguishes`): the upper bound on what any message-passing
  network separates (Xu et al., 2019; Morris et al., 2019);
- Laplacian eigenvector positional encodings (:func:`laplacian_pe`, Dwivedi & Bresson, 2021) with their sign and
  basis ambiguity (:func:`random_signs`, :func:`rotate_within_eigenspaces`), the basis-free eigenspace projectors
  (:func:`eigenspace_projectors`) and a sign-invariant encoder (:class:`SignInvariantEncoder`, after SignNet,
  Lim et al., 2023);
- random-walk structural encodings (:func:`random_walk_se`, Dwivedi et al., 2022): the return probabilities
  $[(D^{-1}A)^t]_{vv}$, $t = 1..k$.

Graphs follow ``minitorch_xf.tasks.graph_data``: ``edge_index (2, E)`` int64 with both directions of every edge.
Glossary: ``N`` nodes, ``k`` encoding width (eigenvectors or walk lengths), ``m`` hidden width.
"""

from __future__ import annotations

import torch
from torch import nn

from .._graph import _check_batch, check_edge_index, to_dense_adjacency
from .._validate import check_flag, check_generator, check_number, check_positive, check_tensor

__all__ = [
    "SignInvariantEncoder",
    "eigenspace_projectors",
    "laplacian",
    "laplacian_pe",
    "random_signs",
    "random_walk_se",
    "rotate_within_eigenspaces",
    "sign_flip_sensitivity",
    "wl_colours",
    "wl_distinguishes",
]


def laplacian(edge_index: torch.Tensor, num_nodes: int, *, normalized: bool = True) -> torch.Tensor:
    r"""Graph Laplacian, float64 ``(N, N)``: $L = I - D^{-1/2} A D^{-1/2}$ (``normalized``, the default; an isolated
    node gets the row of $I$), or $L = D - A$."""
    check_edge_index(edge_index, num_nodes)
    check_flag("normalized", normalized)
    a = to_dense_adjacency(edge_index, num_nodes, dtype=torch.float64)
    deg = a.sum(1)  # (N,)
    if not normalized:
        return torch.diag(deg) - a
    inv_sqrt = torch.where(deg > 0, deg.clamp(min=1).rsqrt(), torch.zeros_like(deg))
    return torch.eye(num_nodes, dtype=torch.float64) - inv_sqrt[:, None] * a * inv_sqrt[None, :]


def _unreached(edge_index: torch.Tensor, num_nodes: int) -> int | None:
    """The smallest node a breadth-first search from node 0 does not reach, or None if the graph is connected."""
    a = to_dense_adjacency(edge_index, num_nodes, dtype=torch.float64) > 0
    seen = torch.zeros(num_nodes, dtype=torch.bool)
    seen[0] = True
    while True:
        grown = seen | a[:, seen].any(1)
        if torch.equal(grown, seen):
            break
        seen = grown
    return None if seen.all() else int((~seen).nonzero()[0])


def laplacian_pe(
    edge_index: torch.Tensor, num_nodes: int, k: int, *, batch: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The ``k`` eigenvectors of the normalized Laplacian with the smallest non-zero eigenvalues, one column each.

    Returns ``(pe (N, k), eigenvalues (k,))`` in float64 (with ``batch``: ``eigenvalues (G, k)``, one row per graph,
    each graph's encoding computed on its own). The trivial eigenvector (eigenvalue 0) is skipped, so every graph
    must be connected (ValueError naming an unreachable node) and have at least ``k + 1`` nodes. The sign of every
    column, and the basis within a repeated eigenvalue, are arbitrary: :func:`torch.linalg.eigh` picks one.
    """
    check_edge_index(edge_index, num_nodes)
    check_positive("k", k)
    if batch is None:
        batch = torch.zeros(num_nodes, dtype=torch.int64)
        single = True
    else:
        single = False
    n_graphs = _check_batch(batch, num_nodes)
    pe = torch.zeros(num_nodes, k, dtype=torch.float64)
    values = torch.zeros(n_graphs, k, dtype=torch.float64)
    start = 0
    for g, n in enumerate(torch.bincount(batch, minlength=n_graphs).tolist()):
        if n < k + 1:
            raise ValueError(f"graph {g} has {n} nodes: k={k} non-trivial eigenvectors need at least {k + 1}")
        mask = (edge_index[0] >= start) & (edge_index[0] < start + n)
        ei = edge_index[:, mask] - start
        missing = _unreached(ei, n)
        if missing is not None:
            raise ValueError(
                f"graph {g} is disconnected (node {start + missing} is not reachable from node {start}): the Laplacian "
                "encoding needs a connected graph (its zero eigenvalue repeats once per component)"
            )
        lam, vec = torch.linalg.eigh(laplacian(ei, n))  # ascending eigenvalues
        pe[start : start + n] = vec[:, 1 : k + 1]
        values[g] = lam[1 : k + 1]
        start += n
    return pe, (values[0] if single else values)


def eigenspace_projectors(
    edge_index: torch.Tensor, num_nodes: int, *, tol: float = 1e-6
) -> list[tuple[float, torch.Tensor]]:
    r"""``[(lambda, P)]``: every distinct eigenvalue of the normalized Laplacian (ascending) with the orthogonal
    projector $P = U U^\top$ onto its eigenspace, float64 ``(N, N)``. Unlike the eigenvectors, $P$ does not depend on
    a choice of sign or basis. Eigenvalues closer than ``tol`` count as one."""
    check_edge_index(edge_index, num_nodes)
    check_number("tol", tol, low=0, low_open=True)
    lam, vec = torch.linalg.eigh(laplacian(edge_index, num_nodes))
    out, start = [], 0
    for i in range(1, num_nodes + 1):
        if i == num_nodes or lam[i] - lam[start] > tol:
            u = vec[:, start:i]  # (N, multiplicity)
            out.append((float(lam[start:i].mean()), u @ u.T))
            start = i
    return out


def random_walk_se(edge_index: torch.Tensor, num_nodes: int, k: int) -> torch.Tensor:
    r"""Random-walk structural encoding ``(N, k)``, float64: entry ``[v, t-1]`` is $[(D^{-1}A)^t]_{vv}$, the
    probability that a random walk from ``v`` is back at ``v`` after ``t`` steps (an isolated node stays 0)."""
    check_edge_index(edge_index, num_nodes)
    check_positive("k", k)
    a = to_dense_adjacency(edge_index, num_nodes, dtype=torch.float64)
    p = a / a.sum(1, keepdim=True).clamp(min=1)  # (N, N) row-stochastic (rows of isolated nodes are 0)
    out, power = [], torch.eye(num_nodes, dtype=torch.float64)
    for _ in range(k):
        power = power @ p
        out.append(torch.diagonal(power))
    return torch.stack(out, dim=1)  # (N, k)


def wl_colours(
    edge_index: torch.Tensor,
    num_nodes: int,
    *,
    iterations: int | None = None,
    initial: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    r"""1-WL colour refinement: $c^{(t+1)}_v = \mathrm{hash}\big(c^{(t)}_v, \{\!\{c^{(t)}_u : u \in N(v)\}\!\}\big)$.

    Starts from ``initial`` (``(N,)`` int64 colours; default: all equal) and returns the colourings ``[c^(0), c^(1),
    ...]`` as ``(N,)`` int64 tensors, colours numbered 0, 1, ... in order of first appearance of their signature. Stops
    after ``iterations`` rounds, or (default) when a round no longer splits a colour class: the stable colouring.
    """
    check_edge_index(edge_index, num_nodes)
    if iterations is not None:
        check_positive("iterations", iterations, allow_zero=True)
    if initial is None:
        colours = [0] * num_nodes
    else:
        check_tensor("initial", initial, ndim=1)
        if initial.dtype != torch.int64 or initial.shape[0] != num_nodes:
            raise ValueError(
                f"initial must be ({num_nodes},) int64 colours, got shape {tuple(initial.shape)} and {initial.dtype}"
            )
        colours = initial.tolist()
    neighbours = [[] for _ in range(num_nodes)]
    for u, v in edge_index.T.tolist():
        neighbours[v].append(u)  # v receives from u
    history = [torch.tensor(colours, dtype=torch.int64)]
    rounds = 0
    while iterations is None or rounds < iterations:
        signatures = [(colours[v], tuple(sorted(colours[u] for u in neighbours[v]))) for v in range(num_nodes)]
        names: dict = {}
        new = [names.setdefault(s, len(names)) for s in signatures]
        rounds += 1
        stable = len(names) == len(set(colours))
        colours = new
        history.append(torch.tensor(colours, dtype=torch.int64))
        if iterations is None and stable:
            break
    return history


def wl_distinguishes(graph_a: tuple[torch.Tensor, int], graph_b: tuple[torch.Tensor, int]) -> bool:
    """Whether 1-WL tells two graphs ``(edge_index, num_nodes)`` apart: refine their disjoint union (so that both use
    one colour dictionary) until stable and compare the two graphs' colour histograms after every round."""
    (ea, na), (eb, nb) = graph_a, graph_b
    check_edge_index(ea, na)
    check_edge_index(eb, nb)
    if na != nb:
        return True
    union = torch.cat([ea, eb + na], dim=1)
    for c in wl_colours(union, na + nb):
        size = int(c.max()) + 1
        if not torch.equal(torch.bincount(c[:na], minlength=size), torch.bincount(c[na:], minlength=size)):
            return True
    return False


def random_signs(k: int, *, generator: torch.Generator | None = None, dtype=torch.float64) -> torch.Tensor:
    """``k`` independent signs, each +1 or -1 with probability 1/2: a random sign flip of ``k`` eigenvectors."""
    check_positive("k", k)
    check_generator("generator", generator)
    return (2 * torch.randint(0, 2, (k,), generator=generator) - 1).to(dtype)


def rotate_within_eigenspaces(
    pe: torch.Tensor, eigenvalues: torch.Tensor, *, generator: torch.Generator | None = None, tol: float = 1e-6
) -> torch.Tensor:
    r"""Another valid choice of eigenvectors: ``pe (N, k)`` times a random orthogonal block for every group of columns
    whose ``eigenvalues (k,)`` agree within ``tol`` (a single column only changes sign)."""
    check_tensor("pe", pe, ndim=2, floating=True)
    check_tensor("eigenvalues", eigenvalues, ndim=1, floating=True)
    if eigenvalues.shape[0] != pe.shape[1]:
        raise ValueError(f"eigenvalues has {eigenvalues.shape[0]} entries but pe has {pe.shape[1]} columns")
    check_generator("generator", generator)
    out, start, k = pe.clone(), 0, pe.shape[1]
    for i in range(1, k + 1):
        if i == k or eigenvalues[i] - eigenvalues[start] > tol:
            m = i - start
            q, r = torch.linalg.qr(torch.randn(m, m, generator=generator, dtype=pe.dtype))
            q = q * torch.sign(torch.diagonal(r))  # Haar-distributed orthogonal (m, m)
            out[:, start:i] = pe[:, start:i] @ q
            start = i
    return out


class SignInvariantEncoder(nn.Module):
    r"""Node encoding from ``k`` eigenvectors that ignores their signs (after SignNet, Lim et al., 2023):

    $$\mathrm{enc}(V)_v = \rho\big([\phi(V_{v1}) + \phi(-V_{v1}), \dots, \phi(V_{vk}) + \phi(-V_{vk})]\big),$$

    with $\phi: \mathbb R \to \mathbb R^m$ a small MLP shared by the columns and $\rho$ a linear map to ``d_out``.
    Flipping column $i$ swaps the two terms of its sum, so the output is unchanged; a rotation inside a repeated
    eigenspace is not a sign flip, and changes it. ``forward(pe (N, k)) -> (N, d_out)``.
    """

    def __init__(self, k: int, d_out: int, m: int = 16):
        super().__init__()
        check_positive("k", k)
        check_positive("d_out", d_out)
        check_positive("m", m)
        self.k, self.m = k, m
        self.phi = nn.Sequential(nn.Linear(1, m), nn.ReLU(), nn.Linear(m, m))
        self.rho = nn.Linear(k * m, d_out)

    def forward(self, pe: torch.Tensor) -> torch.Tensor:
        check_tensor("pe", pe, ndim=2, floating=True)
        if pe.shape[1] != self.k:
            raise ValueError(f"pe has {pe.shape[1]} columns but the encoder expects k={self.k}")
        v = pe.unsqueeze(-1).to(self.rho.weight.dtype)  # (N, k, 1)
        both = self.phi(v) + self.phi(-v)  # (N, k, m)
        return self.rho(both.flatten(1))  # (N, d_out)


def sign_flip_sensitivity(fn, pe: torch.Tensor, *, n_flips: int = 8, generator: torch.Generator | None = None) -> float:
    r"""$\max_s \lVert f(V \operatorname{diag}(s)) - f(V) \rVert / \lVert f(V) \rVert$ over ``n_flips`` random sign
    vectors $s$ (each column flipped with probability 1/2; a draw that flips nothing is redrawn as "flip all"). Zero
    for a sign-invariant ``fn``."""
    check_tensor("pe", pe, ndim=2, floating=True)
    check_positive("n_flips", n_flips)
    check_generator("generator", generator)
    with torch.no_grad():
        base = fn(pe)
        worst = 0.0
        for _ in range(n_flips):
            s = random_signs(pe.shape[1], generator=generator, dtype=pe.dtype)
            if (s > 0).all():
                s = -s
            change = (fn(pe * s) - base).norm() / base.norm().clamp(min=1e-300)
            worst = max(worst, float(change))
    return worst
