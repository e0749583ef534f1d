r"""The ODE view of a transformer layer: particles, splitting schemes, and their local errors (chapter 2).

Lu et al. (2019) read the n token vectors of a sequence as particles $x_1, \dots, x_n \in \mathbb{R}^d$ that
move under the multi-particle ODE

$$ \frac{dx_i}{dt} = F(x_i, [x_1, \dots, x_n], t) + G(x_i, t), $$

where $F$ is the interaction term (self-attention: each particle is pulled by the others) and $G$ acts on each
particle alone (the position-wise FFN). A *splitting scheme* advances the two terms separately:

* Lie--Trotter:  $x \mapsto \Phi^G_\gamma \circ \Phi^F_\gamma (x)$, local error $O(\gamma^2)$;
* Strang--Marchuk:  $x \mapsto \Phi^G_{\gamma/2} \circ \Phi^F_\gamma \circ \Phi^G_{\gamma/2}(x)$, local error
  $O(\gamma^3)$,

with $\Phi^F_\gamma$ the flow of $dx/dt = F(x)$ over a time $\gamma$. Replacing each flow by one Euler step
$\Phi_\gamma(x) \approx x + \gamma f(x)$ turns Lie--Trotter into the (pre-norm-free) transformer layer
$x + \gamma F(x)$ then $+\gamma G(\cdot)$, and Strang into the Macaron layer: half-step FFN, attention,
half-step FFN.

A *flow* here is a callable ``flow(x, gamma) -> x`` and a *vector field* a callable ``field(x) -> dx/dt``.

Shape glossary: n particles (tokens), d particle dimension, k hidden width of G, g number of step sizes.
Particle states are (n, d) or batched (..., n, d).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .._validate import (
    check_callable,
    check_float_dtype,
    check_like,
    check_number,
    check_positive,
    check_size,
    check_tensor,
)
from ..nn.attention import scaled_dot_product_attention

__all__ = [
    "Flow",
    "ParticleSystem",
    "VectorField",
    "euler_flow",
    "fit_loglog_slope",
    "integrate",
    "lie_trotter_step",
    "local_errors",
    "random_particle_system",
    "rk4_flow",
    "strang_step",
]

VectorField = Callable[[torch.Tensor], torch.Tensor]
Flow = Callable[[torch.Tensor, float], torch.Tensor]


def _returned(name: str, out, x: torch.Tensor) -> torch.Tensor:
    """``out``, what ``name`` returned for ``x``, is a tensor of x's shape (flows and fields keep the shape)."""
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"{name} returned {got} for x of shape {tuple(x.shape)}: it must keep x's shape")
    return out


def euler_flow(field: VectorField) -> Flow:
    r"""One explicit Euler step as an approximate flow: $\Phi_\gamma(x) \approx x + \gamma f(x)$.

    Euler (1768); local error $O(\gamma^2)$. This is exactly a residual sub-layer $x + \gamma f(x)$.
    """
    check_callable("field", field)

    def flow(x: torch.Tensor, gamma: float) -> torch.Tensor:
        check_tensor("x", x, min_ndim=1, floating=True)
        gamma = float(check_positive("gamma", gamma, integer=False))
        return x + gamma * _returned("field", field(x), x)

    flow.__name__ = f"euler_flow({getattr(field, '__name__', 'field')})"
    return flow


def rk4_flow(field: VectorField, n_substeps: int = 32) -> Flow:
    r"""An accurate reference flow: ``n_substeps`` classical Runge--Kutta steps of size $h = \gamma / N$.

    RK4 (Kutta, 1901): $x \leftarrow x + \tfrac{h}{6}(k_1 + 2k_2 + 2k_3 + k_4)$ with $k_1 = f(x)$,
    $k_2 = f(x + \tfrac h2 k_1)$, $k_3 = f(x + \tfrac h2 k_2)$, $k_4 = f(x + h k_3)$; error $O(\gamma^5/N^4)$.
    """
    check_callable("field", field)
    check_positive("n_substeps", n_substeps)

    def flow(x: torch.Tensor, gamma: float) -> torch.Tensor:
        check_tensor("x", x, min_ndim=1, floating=True)
        gamma = float(check_positive("gamma", gamma, integer=False))
        h = gamma / n_substeps
        for _ in range(n_substeps):
            k1 = _returned("field", field(x), x)
            k2 = field(x + 0.5 * h * k1)
            k3 = field(x + 0.5 * h * k2)
            k4 = field(x + h * k3)
            x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        return x

    flow.__name__ = f"rk4_flow({getattr(field, '__name__', 'field')}, {n_substeps})"
    return flow


def lie_trotter_step(x: torch.Tensor, gamma: float, flow_f: Flow, flow_g: Flow) -> torch.Tensor:
    r"""Lie--Trotter splitting $x \mapsto \Phi^G_\gamma(\Phi^F_\gamma(x))$ (Lu et al., 2019).

    Local error $O(\gamma^2)$ for exact sub-flows, from the commutator $\tfrac{\gamma^2}{2}[F, G]$.
    With Euler sub-flows it is the transformer layer: attention step, then FFN step.
    """
    check_tensor("x", x, min_ndim=1, floating=True)
    gamma = float(check_positive("gamma", gamma, integer=False))
    check_callable("flow_f", flow_f)
    check_callable("flow_g", flow_g)
    y = _returned("flow_f", flow_f(x, gamma), x)
    return _returned("flow_g", flow_g(y, gamma), x)


def strang_step(x: torch.Tensor, gamma: float, flow_f: Flow, flow_g: Flow) -> torch.Tensor:
    r"""Strang--Marchuk splitting $x \mapsto \Phi^G_{\gamma/2}(\Phi^F_\gamma(\Phi^G_{\gamma/2}(x)))$ (Lu et al., 2019).

    Local error $O(\gamma^3)$ for exact sub-flows: the symmetric composition cancels the $\gamma^2$ commutator.
    With Euler sub-flows it is the Macaron layer: half-step FFN, attention, half-step FFN.
    """
    check_tensor("x", x, min_ndim=1, floating=True)
    gamma = float(check_positive("gamma", gamma, integer=False))
    check_callable("flow_f", flow_f)
    check_callable("flow_g", flow_g)
    y = _returned("flow_g", flow_g(x, gamma / 2), x)
    y = _returned("flow_f", flow_f(y, gamma), x)
    return _returned("flow_g", flow_g(y, gamma / 2), x)


def integrate(step, x0: torch.Tensor, gamma: float, n_steps: int, flow_f: Flow, flow_g: Flow) -> torch.Tensor:
    r"""Apply a splitting ``step`` $n$ times: $x_{k+1} = S_\gamma(x_k)$; returns the trajectory $(x_0, \dots, x_n)$.

    The stacked trajectory has shape (n_steps + 1, *x0.shape): layer k of a deep network is step k.
    """
    check_callable("step", step)
    check_tensor("x0", x0, min_ndim=1, floating=True)
    gamma = float(check_positive("gamma", gamma, integer=False))
    check_positive("n_steps", n_steps)
    xs = [x0]
    for _ in range(n_steps):
        xs.append(_returned("step", step(xs[-1], gamma, flow_f, flow_g), x0))
    return torch.stack(xs)  # (n_steps + 1, *x0.shape)


def local_errors(
    step, reference: Flow, x0: torch.Tensor, gammas: Sequence[float], flow_f: Flow, flow_g: Flow
) -> torch.Tensor:
    r"""Local (one-step) errors $e(\gamma) = \lVert S_\gamma(x_0) - \Phi^{F+G}_\gamma(x_0) \rVert_F$ for each $\gamma$.

    ``reference`` is an accurate flow of the full field $F + G$ (e.g. :func:`rk4_flow`). ``gammas`` is a sequence
    of step sizes, a 1-D tensor or a 1-D NumPy array. Returns a (g,) tensor.
    """
    check_callable("step", step)
    check_tensor("x0", x0, min_ndim=1, floating=True)
    check_callable("reference", reference)
    if not isinstance(gammas, Sequence) and hasattr(gammas, "tolist"):
        gammas = gammas.tolist()  # a 1-D tensor or NumPy array
    if not isinstance(gammas, Sequence):
        raise TypeError(f"gammas must be a sequence of step sizes or a 1-D tensor, got {type(gammas).__name__}")
    if len(gammas) == 0:
        raise ValueError("gammas must hold at least one step size, got an empty sequence")
    errs = []
    for i, gamma in enumerate(gammas):
        gamma = float(check_positive(f"gammas[{i}]", gamma, integer=False))
        diff = _returned("step", step(x0, gamma, flow_f, flow_g), x0) - _returned("reference", reference(x0, gamma), x0)
        errs.append(torch.linalg.vector_norm(diff))
    return torch.stack(errs)  # (g,)


def fit_loglog_slope(gammas, errors) -> float:
    r"""Least-squares slope $p$ of $\log e = p \log \gamma + c$: the observed order of the local error.

    A scheme with local error $C\gamma^{p}$ gives slope $p$ (e.g. 2 for Lie--Trotter, 3 for Strang). ``gammas``
    and ``errors`` are sequences of numbers or tensors, with at least two distinct gammas.
    """
    try:
        g = torch.as_tensor(gammas, dtype=torch.float64).flatten()  # (g,)
        e = torch.as_tensor(errors, dtype=torch.float64).flatten()  # (g,)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"gammas and errors must be sequences of numbers or tensors ({err})") from None
    if g.numel() != e.numel():
        raise ValueError(f"gammas has {g.numel()} entries but errors has {e.numel()}")
    if g.numel() < 2:
        raise ValueError(f"need at least 2 (gamma, error) pairs to fit a slope, got {g.numel()}")
    if (g <= 0).any() or (e <= 0).any() or not (torch.isfinite(g).all() and torch.isfinite(e).all()):
        raise ValueError(
            f"gammas and errors must be finite and > 0 for a log-log fit, got gammas={g.tolist()}, errors={e.tolist()}"
        )
    lx, ly = g.log(), e.log()
    lx_c = lx - lx.mean()
    if not (lx_c != 0).any():
        raise ValueError(f"gammas must hold at least 2 distinct values to fit a slope, got gammas={g.tolist()}")
    return float((lx_c * (ly - ly.mean())).sum() / (lx_c**2).sum())


@dataclass
class ParticleSystem:
    r"""A toy multi-particle system: softmax-attention interaction $F$ and a small per-particle MLP $G$.

    $F(x)_i = \sum_j \mathrm{softmax}_j\!\big(x_i W_Q (x_j W_K)^\top / \sqrt d\big)\, x_j W_V$ (one attention head,
    Lu et al., 2019) and $G(x)_i = \tanh(x_i W_1 + b_1) W_2$ (the FFN, acting on each particle alone).
    States x are (..., n, d).
    """

    w_q: torch.Tensor  # (d, d)
    w_k: torch.Tensor  # (d, d)
    w_v: torch.Tensor  # (d, d)
    w_1: torch.Tensor  # (d, k)
    b_1: torch.Tensor  # (k,)
    w_2: torch.Tensor  # (k, d)

    def __post_init__(self):
        check_tensor("w_q", self.w_q, ndim=2, floating=True)
        check_tensor("w_1", self.w_1, ndim=2, floating=True)
        d, k = self.w_q.shape[0], self.w_1.shape[1]
        shapes = {"w_q": (d, d), "w_k": (d, d), "w_v": (d, d), "w_1": (d, k), "b_1": (k,), "w_2": (k, d)}
        for name, shape in shapes.items():
            w = check_tensor(name, getattr(self, name), floating=True)
            if tuple(w.shape) != shape:
                raise ValueError(f"{name} has shape {tuple(w.shape)}; expected {shape} (d={d}, hidden k={k})")
            check_like(name, w, "w_q", self.w_q)

    @property
    def d(self) -> int:
        return self.w_q.shape[0]

    def _check_x(self, x: torch.Tensor) -> None:
        check_tensor("x", x, min_ndim=2, floating=True)
        if x.shape[-1] != self.d:
            raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be the particle dim d={self.d}")
        check_like("x", x, "w_q", self.w_q)

    def interaction(self, x: torch.Tensor) -> torch.Tensor:
        r"""$F(x)$: the attention pull on every particle, (..., n, d) -> (..., n, d)."""
        self._check_x(x)
        return scaled_dot_product_attention(x @ self.w_q, x @ self.w_k, x @ self.w_v)  # (..., n, d), scale 1/sqrt(d)

    def per_particle(self, x: torch.Tensor) -> torch.Tensor:
        r"""$G(x)$: the MLP applied to each particle alone, (..., n, d) -> (..., n, d)."""
        self._check_x(x)
        return torch.tanh(x @ self.w_1 + self.b_1) @ self.w_2  # (..., n, d)

    def field(self, x: torch.Tensor) -> torch.Tensor:
        r"""The full right-hand side $F(x) + G(x)$."""
        return self.interaction(x) + self.per_particle(x)


def random_particle_system(
    d: int, hidden: int = 16, scale: float = 1.0, seed: int = 0, dtype: torch.dtype = torch.float64
) -> ParticleSystem:
    r"""A :class:`ParticleSystem` with Gaussian weights $W \sim \mathcal N(0, \mathrm{scale}^2 / \text{fan-in})$.

    float64 by default: the local errors at $\gamma = 0.025$ reach $10^{-7}$, far above float64 round-off.
    """
    check_positive("d", d)
    check_positive("hidden", hidden)
    scale = check_positive("scale", scale, integer=False)
    seed = check_number("seed", seed, integer=True, low=0, high=2**64 - 1)  # torch's seed range
    check_float_dtype("dtype", dtype)
    check_size(f"random_particle_system(d={d}, hidden={hidden})'s weights", d * max(d, hidden))
    gen = torch.Generator().manual_seed(seed)

    def w(rows: int, cols: int) -> torch.Tensor:
        return scale * torch.randn(rows, cols, generator=gen, dtype=dtype) / math.sqrt(rows)

    return ParticleSystem(
        w_q=w(d, d),
        w_k=w(d, d),
        w_v=w(d, d),
        w_1=w(d, hidden),
        b_1=0.5 * torch.randn(hidden, generator=gen, dtype=dtype),
        w_2=w(hidden, d),
    )
