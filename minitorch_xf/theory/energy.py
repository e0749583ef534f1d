r"""Transformers as energy minimizers (chapter 3): attention, ReLU and Hopfield updates as descent steps.

Yang, Huang & Wipf (2022) ask for an energy $E(Y)$ over the n token vectors $Y = [y_1; \dots; y_n]$ whose
descent steps are the layers of a transformer. For self-attention they take a pairwise energy

$$ E_1(Y) = \sum_{i=1}^n \sum_{j=1}^n \rho\!\left(\tfrac12 \lVert y_i - y_j \rVert_{W_s}^2\right) (+ R(Y)),
   \qquad \rho(z) = -e^{-z}, $$

with $\lVert u \rVert_{W_s}^2 = u^\top W_s u$ and $W_s = W^\top W$ symmetric positive semi-definite. Because $\rho$ is
concave, one majorization--minimization (MM) step, taken as a preconditioned gradient step on the majorizer, is

$$ y_i \leftarrow (1-\alpha)\, y_i + \alpha \frac{\sum_j \beta_{ij} y_j}{\sum_j \beta_{ij}}, \qquad
   \beta_{ij} = \exp\!\left(-\tfrac12 \lVert y_i - y_j \rVert_{W_s}^2\right), $$

and when every token has the same $W_s$-norm (as after LayerNorm with $W_s = I$) the weights are exactly
$\mathrm{softmax}_j(y_i^\top W_s y_j)$: softmax attention with $W_Q^\top W_K = W_s$ symmetric and values $W_V = I$.
For step size $\alpha \in (0, 1]$ the energy never increases (chapter 3, theorem ``thm-energy-monotone``).

The position-wise ReLU layer $x \mapsto \mathrm{ReLU}(Wx + b)$ with symmetric $W$ is a projected-gradient step
(step 1) on $f(x) = \tfrac12 x^\top (I - W) x - b^\top x$ over $x \ge 0$; and the modern Hopfield update of
Ramsauer et al. (2021) is a CCCP step on $-\mathrm{lse}(\beta, X\xi) + \tfrac12 \xi^\top \xi + \text{const}$.

Row convention: tokens are rows, so a linear map acts as ``y @ w``; for the symmetric matrices here ``y @ w_s``
and ``w_s @ y_i`` agree.

Shape glossary: n tokens, d token dimension, N stored patterns (Hopfield), s queries, ``...`` batch dims.
Token states are (n, d) or batched (..., n, d); ``w_s`` is (d, d).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validate import check_flag, check_like, check_positive, check_same_device, check_size, check_tensor
from ..nn.attention import scaled_dot_product_attention

__all__ = [
    "EnergyTransformer",
    "energy_descent_step",
    "hopfield_energy",
    "hopfield_update",
    "kernel_weights",
    "pairwise_energy",
    "pairwise_energy_grad",
    "relu_energy",
    "relu_step",
    "softmax_attention_update",
]


def _check_tokens(y, name: str = "y") -> torch.Tensor:
    return check_tensor(name, y, min_ndim=2, floating=True)


def _check_square(name: str, w, d: int, like: tuple[str, torch.Tensor] | None = None) -> torch.Tensor:
    """``w`` is a floating (d, d) matrix, with the dtype and device of the tensor ``like = (name, tensor)``."""
    check_tensor(name, w, ndim=2, floating=True)
    if tuple(w.shape) != (d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}) to match the token dimension d={d}, got {tuple(w.shape)}")
    if like is not None:
        check_like(name, w, *like)
    return w


def _check_bias(b, x: torch.Tensor) -> None:
    if b is None:
        return
    check_tensor("b", b, floating=True)
    if tuple(b.shape) != (x.shape[-1],):
        raise ValueError(f"b must have shape ({x.shape[-1]},), got {tuple(b.shape)}")
    check_like("b", b, "x", x)


def _check_patterns(patterns, xi: torch.Tensor) -> None:
    check_tensor("patterns", patterns, ndim=2, floating=True)
    if patterns.shape[-1] != xi.shape[-1]:
        raise ValueError(f"patterns have d={patterns.shape[-1]} but xi has d={xi.shape[-1]}")
    if patterns.shape[0] == 0:
        raise ValueError(f"patterns has shape {tuple(patterns.shape)}: store at least one pattern (N >= 1)")
    check_like("patterns", patterns, "xi", xi)


def _check_symmetric(name: str, w: torch.Tensor) -> torch.Tensor:
    w_d = w.detach()
    tol = 1e-6 * max(1.0, float(w_d.abs().max()))
    asym = float((w_d - w_d.transpose(0, 1)).abs().max())
    if asym > tol:
        raise ValueError(f"{name} must be symmetric (max |{name} - {name}^T| = {asym:.3g}); the energy needs it")
    return w


def _check_psd(name: str, w: torch.Tensor) -> torch.Tensor:
    r"""``w`` (symmetric) has no eigenvalue below $-\sqrt{\epsilon}\,\max|\lambda|$: the round-off of a $W^\top W$."""
    w_d = w.detach().double().cpu()
    if not bool(torch.isfinite(w_d).all()):
        raise ValueError(f"{name} holds NaN or inf: it must be a finite positive semi-definite matrix")
    eigs = torch.linalg.eigvalsh(w_d)
    scale = max(float(eigs.abs().max()), torch.finfo(torch.float64).tiny)
    tol = torch.finfo(w.dtype).eps ** 0.5 * scale
    if float(eigs.min()) < -tol:
        raise ValueError(
            f"{name} must be positive semi-definite (a W^T W), but its smallest eigenvalue is {float(eigs.min()):.3g}: "
            f"with an indefinite {name} the 'distance' |y_i - y_j|^2_{name} can be negative, the energy is no longer "
            "bounded below by -n^2 and the descent guarantee does not hold"
        )
    return w


def _default_ws(y: torch.Tensor, w_s) -> torch.Tensor:
    d = y.shape[-1]
    if w_s is None:
        return torch.eye(d, dtype=y.dtype, device=y.device)
    return _check_psd("w_s", _check_symmetric("w_s", _check_square("w_s", w_s, d, like=("y", y))))


def _check_step(step, allow_step_above_one: bool) -> float:
    r"""A descent step $\alpha \in (0, 1]$, or any $\alpha > 0$ with the explicit opt-in."""
    check_flag("allow_step_above_one", allow_step_above_one)
    step = check_positive("step", step, integer=False)
    if step > 1 and not allow_step_above_one:
        raise ValueError(
            f"step={step!r} is outside (0, 1]: the energy is guaranteed not to increase only for 0 < step <= 1 "
            "(chapter 3, thm-energy-monotone); pass allow_step_above_one=True to take the step anyway"
        )
    return step


def _half_sq_dists(y: torch.Tensor, w_s: torch.Tensor) -> torch.Tensor:
    """$z_{ij} = \tfrac12 (y_i - y_j)^\top W_s (y_i - y_j)$, computed from differences (exact zeros on the diagonal)."""
    diff = y.unsqueeze(-2) - y.unsqueeze(-3)  # (..., n, n, d): diff[..., i, j] = y_i - y_j
    return 0.5 * ((diff @ w_s) * diff).sum(-1)  # (..., n, n)


def kernel_weights(y: torch.Tensor, w_s: torch.Tensor | None = None) -> torch.Tensor:
    r"""$\beta_{ij} = \rho'(z_{ij}) = \exp(-\tfrac12 \lVert y_i - y_j \rVert_{W_s}^2)$ (Yang et al., 2022).

    The MM weights of the pairwise energy with $\rho(z) = -e^{-z}$. ``y`` (..., n, d) -> (..., n, n), symmetric,
    ones on the diagonal. ``w_s`` (d, d), symmetric positive semi-definite, defaults to the identity.
    """
    y = _check_tokens(y)
    return torch.exp(-_half_sq_dists(y, _default_ws(y, w_s)))


def pairwise_energy(y: torch.Tensor, w_s: torch.Tensor | None = None) -> torch.Tensor:
    r"""$E_1(Y) = -\sum_{i,j} \exp(-\tfrac12 \lVert y_i - y_j \rVert_{W_s}^2)$ (Yang et al., 2022, $\rho(z)=-e^{-z}$).

    The attention energy without the optional regularizer $R(Y)$; the sum runs over all ordered pairs, the diagonal
    included (it adds the constant $-n$). Bounded: $-n^2 \le E_1 \le -n$ (``w_s`` must be symmetric positive
    semi-definite, else this bound fails: an indefinite one raises). ``y`` (..., n, d) -> (...,).
    """
    return -kernel_weights(y, w_s).sum(dim=(-2, -1))


def pairwise_energy_grad(y: torch.Tensor, w_s: torch.Tensor | None = None) -> torch.Tensor:
    r"""$\nabla_{y_i} E_1 = 2 \sum_j \beta_{ij} W_s (y_i - y_j)$ (derived from Yang et al., 2022).

    In matrix form $\nabla E_1 = 2 (D - B) Y W_s$ with $B = [\beta_{ij}]$, $D = \mathrm{diag}(B\mathbf 1)$: $D - B$
    is the graph Laplacian of the kernel weights. Each unordered pair appears twice in $E_1$, hence the factor 2.
    ``y`` (..., n, d) -> (..., n, d).
    """
    y = _check_tokens(y)
    w_s = _default_ws(y, w_s)
    beta = torch.exp(-_half_sq_dists(y, w_s))  # (..., n, n)
    lap_y = beta.sum(-1, keepdim=True) * y - beta @ y  # (..., n, d): (D - B) Y
    return 2.0 * lap_y @ w_s


def energy_descent_step(
    y: torch.Tensor, step: float = 1.0, w_s: torch.Tensor | None = None, *, allow_step_above_one: bool = False
) -> torch.Tensor:
    r"""$Y \leftarrow (1-\alpha) Y + \alpha D^{-1} B Y$: MM / preconditioned descent on $E_1$ (Yang et al., 2022).

    Equals $Y - \alpha (2D)^{-1} \nabla E_1(Y) W_s^{-1}$ when $W_s$ is invertible; with $\alpha = 1$ and tokens of
    equal $W_s$-norm it is softmax self-attention with $W_Q^\top W_K = W_s$ and $W_V = I$. Non-increasing energy
    for $0 < \alpha \le 1$: a larger ``step`` raises an error unless ``allow_step_above_one=True`` (to show the
    guarantee fail). ``w_s`` must be symmetric positive semi-definite. ``y`` (..., n, d) -> (..., n, d).
    """
    step = _check_step(step, allow_step_above_one)
    beta = kernel_weights(y, w_s)  # (..., n, n)
    attn = beta / beta.sum(-1, keepdim=True)  # (..., n, n): rows sum to one
    return (1.0 - step) * y + step * (attn @ y)


def softmax_attention_update(
    y: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, step: float = 1.0, w_v: torch.Tensor | None = None
) -> torch.Tensor:
    r"""$Y \leftarrow (1-\alpha) Y + \alpha\, \mathrm{softmax}(Y W_Q (Y W_K)^\top)\, Y W_V$ (Vaswani et al., 2017).

    Unscaled scores (fold any $1/\sqrt d$ into $W_Q$).

    The ordinary residual self-attention update, with no energy behind it in general: used to show where the
    conditions of Yang et al. (2022) matter (asymmetric $W_Q W_K^\top$, unequal token norms, untied $W_V$).
    ``y`` (..., n, d); ``w_q``, ``w_k``, ``w_v`` (d, d) -> (..., n, d).
    """
    check_positive("step", step, integer=False)
    y = _check_tokens(y)
    d = y.shape[-1]
    _check_square("w_q", w_q, d, like=("y", y))
    _check_square("w_k", w_k, d, like=("y", y))
    values = y if w_v is None else y @ _check_square("w_v", w_v, d, like=("y", y))  # (..., n, d)
    attended = scaled_dot_product_attention(y @ w_q, y @ w_k, values, scale=1.0)  # (..., n, d)
    return (1.0 - step) * y + step * attended


def relu_energy(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    r"""$f(x) = \tfrac12 x^\top (I - W) x - b^\top x + \iota_{\ge 0}(x)$ (Yang et al., 2022; derived in chapter 3).

    Projected gradient with step 1 on $f$ over the orthant is $x \mapsto \mathrm{ReLU}(Wx + b)$ for symmetric $W$;
    ``w`` must be symmetric. The indicator $\iota_{\ge 0}$ is $+\infty$ where a vector has a negative entry.
    ``x`` (..., d), ``w`` (d, d), ``b`` (d,) -> (...,): one energy per vector.
    """
    x = check_tensor("x", x, min_ndim=1, floating=True)
    w = _check_symmetric("w", _check_square("w", w, x.shape[-1], like=("x", x)))
    _check_bias(b, x)
    quad = 0.5 * ((x - x @ w) * x).sum(-1)  # (...): per row 1/2 x^T (I - W) x
    lin = (x * b).sum(-1) if b is not None else torch.zeros_like(quad)  # (...)
    per_row = quad - lin
    return torch.where((x < 0).any(-1), torch.full_like(per_row, math.inf), per_row)


def relu_step(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, step: float = 1.0) -> torch.Tensor:
    r"""$x \leftarrow \Pi_{\ge 0}\big(x - \alpha[(I - W)x - b]\big)$; at $\alpha = 1$ this is $\mathrm{ReLU}(Wx + b)$.

    Projected gradient (proximal step for the orthant's indicator) on :func:`relu_energy` (Yang et al.,
    2022). Non-increasing for symmetric $W$ with eigenvalues in $(1 - 2/\alpha, 1]$.
    ``x`` (..., d), ``w`` (d, d) symmetric, ``b`` (d,) -> (..., d).
    """
    check_positive("step", step, integer=False)
    x = check_tensor("x", x, min_ndim=1, floating=True)
    w = _check_symmetric("w", _check_square("w", w, x.shape[-1], like=("x", x)))
    _check_bias(b, x)
    grad = x - x @ w - (b if b is not None else 0.0)  # (..., d)
    return torch.relu(x - step * grad)


def hopfield_energy(xi: torch.Tensor, patterns: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    r"""$E(\xi) = -\mathrm{lse}(\beta, X\xi) + \tfrac12 \xi^\top\xi + \beta^{-1}\log N + \tfrac12 M^2$.

    The modern Hopfield energy (Ramsauer et al., 2021), with
    $\mathrm{lse}(\beta, z) = \beta^{-1}\log\sum_i e^{\beta z_i}$ and $M = \max_i \lVert x_i \rVert$; non-negative.
    ``xi`` (..., s, d) states (queries), ``patterns`` (N, d) stored patterns $x_i$ -> (..., s).
    """
    beta = check_positive("beta", beta, integer=False)
    xi = check_tensor("xi", xi, min_ndim=1, floating=True)
    _check_patterns(patterns, xi)
    n_pat = patterns.shape[0]
    big_m = patterns.norm(dim=-1).max()
    lse = torch.logsumexp(beta * xi @ patterns.transpose(0, 1), dim=-1)  # (..., s)
    return -lse / beta + 0.5 * (xi * xi).sum(-1) + math.log(n_pat) / beta + 0.5 * big_m**2


def hopfield_update(xi: torch.Tensor, patterns: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    r"""$\xi \leftarrow X^\top \mathrm{softmax}(\beta X \xi)$: CCCP step (Ramsauer et al., 2021).

    The concave-convex procedure on :func:`hopfield_energy`: attention with
    query $\xi$, keys = values = the stored patterns and scale $\beta$. Never increases the energy.
    ``xi`` (..., s, d), ``patterns`` (N, d) -> (..., s, d).
    """
    beta = check_positive("beta", beta, integer=False)
    xi = check_tensor("xi", xi, min_ndim=1, floating=True)
    _check_patterns(patterns, xi)
    return torch.softmax(beta * xi @ patterns.transpose(0, 1), dim=-1) @ patterns  # (..., s, d)


class EnergyTransformer(nn.Module):
    r"""An unrolled attention stack whose every layer is a descent step on $E_1$ (Yang et al., 2022).

    Layer $t$: $Y^{(t+1)} = (1-\alpha) Y^{(t)} + \alpha D^{-1} B Y^{(t)}$ with $W_s = W^\top W$ shared across layers
    (symmetric and PSD by construction: the paper's condition), values tied to the input ($W_V = I$).
    ``forward(y)`` returns the final tokens; ``trajectory(y)`` returns all ``n_layers + 1`` states and energies.
    ``step`` is $\alpha \in (0, 1]$ (larger only with ``allow_step_above_one=True``, as in
    :func:`energy_descent_step`).
    """

    def __init__(
        self,
        d: int,
        n_layers: int,
        step: float = 0.5,
        w: torch.Tensor | None = None,
        *,
        allow_step_above_one: bool = False,
    ):
        super().__init__()
        check_positive("d", d)
        check_positive("n_layers", n_layers)
        check_size(f"EnergyTransformer(d={d})'s matrix", d * d)
        self.d, self.n_layers, self.step = d, n_layers, _check_step(step, allow_step_above_one)
        self.allow_step_above_one = allow_step_above_one
        if w is None:
            w = torch.eye(d)
        _check_square("w", w, d)
        self.w = nn.Parameter(w.clone())

    @property
    def w_s(self) -> torch.Tensor:
        """$W_s = W^\top W$ (d, d): symmetric positive semi-definite."""
        return self.w.transpose(0, 1) @ self.w

    def _check_input(self, y: torch.Tensor) -> torch.Tensor:
        y = _check_tokens(y)
        if y.shape[-1] != self.d:
            raise ValueError(f"y has token dimension {y.shape[-1]} but the model has d={self.d}")
        check_same_device(y=y, w=self.w)
        return y

    def energy(self, y: torch.Tensor) -> torch.Tensor:
        """:func:`pairwise_energy` with this model's $W_s$; ``y`` (..., n, d) -> (...,)."""
        y = self._check_input(y)
        return pairwise_energy(y, self.w_s.to(y.dtype))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        y = self._check_input(y)
        w_s = self.w_s.to(y.dtype)
        for _ in range(self.n_layers):
            y = energy_descent_step(y, self.step, w_s, allow_step_above_one=self.allow_step_above_one)
        return y

    def trajectory(self, y: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """States $Y^{(0..L)}$ and energies (L+1, ...) along the unrolled layers."""
        y = self._check_input(y)
        w_s = self.w_s.to(y.dtype)
        states, energies = [y], [pairwise_energy(y, w_s)]
        for _ in range(self.n_layers):
            y = energy_descent_step(y, self.step, w_s, allow_step_above_one=self.allow_step_above_one)
            states.append(y)
            energies.append(pairwise_energy(y, w_s))
        return states, torch.stack(energies)
