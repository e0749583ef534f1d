r"""The implicit bias of attention (chapter 10): gradient descent on softmax attention finds a max-margin SVM.

Tarzanagh, Li, Zhang & Oymak (2023, "Max-Margin Token Selection in Attention Mechanism") and Tarzanagh, Li,
Thrampoulidis & Oymak (2023, "Transformers as Support Vector Machines") study the one-layer model

$$ f(X_i) = v^\top X_i^\top \mathrm{softmax}(X_i W z_i), \qquad
   \mathcal L(W) = \frac1n \sum_{i=1}^n \log\!\big(1 + e^{-y_i f(X_i)}\big), $$

with tokens $X_i \in \mathbb R^{T\times d}$ (rows $x_{it}$), a query $z_i$, a fixed value head $v$ and labels
$y_i = \pm 1$. Token $t$ of sequence $i$ has the *score* $\gamma_{it} = y_i v^\top x_{it}$; attention that puts all
its mass on a high-score token drives the loss to zero, which needs $\lVert W\rVert \to \infty$. Normalized gradient
descent $W \leftarrow W - \eta \nabla\mathcal L / \lVert\nabla\mathcal L\rVert_F$ diverges in norm and converges in
*direction* to the solution of the attention SVM for the tokens $\alpha_i$ it selects,

$$ W^{\mathrm{mm}}_\alpha = \arg\min_W \lVert W\rVert_F \quad\text{s.t.}\quad
   (x_{i\alpha_i} - x_{it})^\top W z_i \ge 1 \quad \text{for all } i \text{ and } t \ne \alpha_i, $$

and with the factorization $W = KQ^\top$ trained on $(K, Q)$, to the same problem with the nuclear norm
$\lVert W\rVert_\star$ (chapter 10, page "Transformers as SVMs").

Shape glossary: n sequences, T tokens per sequence, d token dimension, m the inner width of $W = KQ^\top$,
``...`` independent problems batched in front (one per seed). ``x`` (..., n, T, d), ``y`` (..., n), ``z`` (..., n, d),
``v`` (..., d), ``w`` (..., d, d); the SVM solvers take one problem (no batch dims).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .._validate import (
    check_choice,
    check_float_dtype,
    check_generator,
    check_like,
    check_number,
    check_positive,
    check_same_device,
    check_size,
    check_tensor,
)

__all__ = [
    "AttSVMInfeasibleError",
    "TokenData",
    "TrainResult",
    "att_svm",
    "attention_output",
    "direction_correlation",
    "logistic_loss",
    "loss_grad",
    "loss_grad_direction",
    "make_token_data",
    "optimal_tokens",
    "selected_tokens",
    "support_tokens",
    "svm_constraints",
    "svm_feasible",
    "token_scores",
    "train_kq",
    "train_w",
]


class AttSVMInfeasibleError(ValueError):
    """No $W$ satisfies the Att-SVM constraints: these tokens cannot be separated by any attention matrix."""


class _TokenFields(NamedTuple):
    x: torch.Tensor  # (..., n, T, d) tokens, unit norm
    y: torch.Tensor  # (..., n) labels in {-1, +1}
    z: torch.Tensor  # (..., n, d) queries, unit norm
    v: torch.Tensor  # (..., d) value head, unit norm


class TokenData(_TokenFields):
    """One (or a batch of) classification data set(s) for the attention model; shapes in the module docstring.

    x (..., n, T, d), y (..., n), z (..., n, d), v (..., d): the constructor checks that the four agree in shape,
    dtype and device (``_replace`` does not, so that a walker can build a deliberately bad set).
    """

    __slots__ = ()

    def __new__(cls, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, v: torch.Tensor):
        _check_data(x, y=y, z=z, v=v)
        return super().__new__(cls, x, y, z, v)


class TrainResult(NamedTuple):
    """What a training run returns: the final weights and the recorded path."""

    w: torch.Tensor  # (..., d, d) final attention matrix (K Q^T for the factorized model)
    steps: torch.Tensor  # (r,) the iterations at which the path was recorded
    path: torch.Tensor  # (r, ..., d, d) W at those iterations
    loss: torch.Tensor  # (r, ...) the loss at those iterations


# ---------------------------------------------------------------------------------------------------- validation


def _check_data(x, **others) -> None:
    """Shapes and dtypes agree: x (..., n, T, d) and any of y (..., n), z (..., n, d), v (..., d), w (..., d, d)."""
    check_tensor("x", x, min_ndim=3, floating=True)
    *batch, n, t, d = x.shape
    if t < 2:
        raise ValueError(f"x has T={t} token(s) per sequence: attention needs T >= 2 tokens to select from")
    if n < 1 or d < 1:
        raise ValueError(f"x has shape {tuple(x.shape)}: need n >= 1 sequences and d >= 1 features")
    expected = {"y": (*batch, n), "z": (*batch, n, d), "v": (*batch, d), "w": (*batch, d, d)}
    for name, value in others.items():
        check_tensor(name, value, floating=True)
        if tuple(value.shape) != expected[name]:
            raise ValueError(
                f"{name} must have shape {expected[name]} to match x of shape {tuple(x.shape)}, "
                f"got {tuple(value.shape)}"
            )
        if value.dtype != x.dtype:
            raise TypeError(f"{name} has dtype {value.dtype} but x has dtype {x.dtype}: convert one of them")
        if value.device != x.device:
            raise ValueError(f"{name} is on {value.device} but x is on {x.device}")


def _check_labels(y: torch.Tensor) -> None:
    bad = (y != 1) & (y != -1)
    if bool(bad.any()):
        raise ValueError(f"y must hold labels -1 or +1, got {float(y[bad].flatten()[0]) + 0.0!r}")  # + 0.0: no "-0"


def _check_ids(name: str, ids, n: int, t: int) -> torch.Tensor:
    check_tensor(name, ids, ndim=1)
    if ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of token indices, got dtype={ids.dtype}")
    if ids.device.type == "meta":
        raise ValueError(f"{name} is on the meta device: its token indices are needed as values")
    if ids.shape[0] != n:
        raise ValueError(f"{name} must have one token index per sequence (n={n}), got shape {tuple(ids.shape)}")
    if bool(((ids < 0) | (ids >= t)).any()):
        raise ValueError(f"{name} holds indices outside [0, {t - 1}] (T={t}): {ids.tolist()}")
    return ids


# ---------------------------------------------------------------------------------------------------- data, model


def make_token_data(
    n: int, t: int, d: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64
) -> TokenData:
    r"""Random unit-norm tokens $x_{it}$ and queries $z_i$, labels $y_i = \pm1$ and a unit value head $v$.

    The synthetic setting of the authors' experiments (Tarzanagh et al., 2023, code umich-sota/TF-as-SVM): every
    entry standard normal, then each token, query and $v$ scaled to unit norm; labels are fair coin flips.
    Returns a :class:`TokenData` with x (n, T, d), y (n,), z (n, d), v (d,).
    """
    check_positive("n", n)
    check_positive("t", t)
    check_positive("d", d)
    check_float_dtype("dtype", dtype)
    check_size(f"make_token_data(n={n}, t={t}, d={d})'s tokens", n * t * d)
    if t < 2:
        raise ValueError(f"t={t}: attention needs T >= 2 tokens per sequence to select from")
    check_generator("generator", generator)
    v = torch.randn(d, generator=generator, dtype=dtype)
    v = v / v.norm()
    y = torch.where(torch.randn(n, generator=generator, dtype=dtype) > 0, 1.0, -1.0).to(dtype)
    x = torch.randn(n, t, d, generator=generator, dtype=dtype)
    x = x / x.norm(dim=-1, keepdim=True)
    z = torch.randn(n, d, generator=generator, dtype=dtype)
    z = z / z.norm(dim=-1, keepdim=True)
    return TokenData(x, y, z, v)


def token_scores(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r"""$\gamma_{it} = y_i\, v^\top x_{it}$: how much token $t$ helps classify sequence $i$ (Tarzanagh et al., 2023).

    x (..., n, T, d), y (..., n) labels in {-1, +1}, v (..., d) -> (..., n, T).
    """
    _check_data(x, y=y, v=v)
    _check_labels(y)  # a "label" of 0.5 or 2 would silently act as +1
    return (x @ v.unsqueeze(-2).unsqueeze(-1)).squeeze(-1) * y.unsqueeze(-1)  # (..., n, T)


def optimal_tokens(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r"""$\mathrm{opt}_i = \arg\max_t \gamma_{it}$: the globally optimal token of each sequence. -> (..., n) indices."""
    return token_scores(x, y, v).argmax(-1)


def _attention_weights(x: torch.Tensor, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    logits = (x @ (w.unsqueeze(-3) @ z.unsqueeze(-1))).squeeze(-1)  # (..., n, T): x_it^T W z_i
    return torch.softmax(logits, dim=-1)


def selected_tokens(x: torch.Tensor, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    r"""$\arg\max_t x_{it}^\top W z_i$: the token the attention of sequence $i$ puts most mass on. -> (..., n)."""
    _check_data(x, z=z, w=w)
    return (x @ (w.unsqueeze(-3) @ z.unsqueeze(-1))).squeeze(-1).argmax(-1)


def attention_output(x: torch.Tensor, z: torch.Tensor, w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r"""$f(X_i) = v^\top X_i^\top \mathrm{softmax}(X_i W z_i)$ (Tarzanagh et al., 2023, eq. 1 with $W = KQ^\top$).

    x (..., n, T, d), z (..., n, d), w (..., d, d), v (..., d) -> (..., n).
    """
    _check_data(x, z=z, v=v, w=w)
    s = _attention_weights(x, z, w)  # (..., n, T)
    values = (x @ v.unsqueeze(-2).unsqueeze(-1)).squeeze(-1)  # (..., n, T): v^T x_it
    return (s * values).sum(-1)


def logistic_loss(x, y, z, w, v) -> torch.Tensor:
    r"""$\mathcal L(W) = \frac1n\sum_i \log(1 + e^{-y_i f(X_i)})$, computed as a softplus. -> (...,)."""
    _check_data(x, y=y, z=z, v=v, w=w)
    return torch.nn.functional.softplus(-y * attention_output(x, z, w, v)).mean(-1)


def loss_grad(x, y, z, w, v) -> torch.Tensor:
    r"""$\nabla_W\mathcal L = \frac1n\sum_i \ell'_i y_i X_i^\top(\mathrm{diag}(s_i) - s_i s_i^\top) X_i v z_i^\top$.

    Closed form (derived on the chapter's page), with $s_i = \mathrm{softmax}(X_i W z_i)$ and
    $\ell'_i = -\sigma(-y_i f(X_i))$, the derivative of $\log(1+e^{-u})$ at $u = y_i f(X_i)$. -> (..., d, d).
    """
    _check_data(x, y=y, z=z, v=v, w=w)
    s = _attention_weights(x, z, w)  # (..., n, T)
    values = (x @ v.unsqueeze(-2).unsqueeze(-1)).squeeze(-1)  # (..., n, T): v^T x_it
    f = (s * values).sum(-1)  # (..., n)
    dl_df = -torch.sigmoid(-y * f) * y  # (..., n): d/df log(1 + exp(-y f))
    # (diag(s) - s s^T) X v, entry t: s_t (v^T x_t - f) = s_t sum_j s_j (v^T x_t - v^T x_j). Summing the pairwise
    # differences keeps it accurate once the attention saturates (v^T x_t - f would be pure rounding noise there).
    gaps = values.unsqueeze(-1) - values.unsqueeze(-2)  # (..., n, T, T): v^T x_t - v^T x_j
    ds = s * (gaps * s.unsqueeze(-2)).sum(-1)  # (..., n, T)
    g_rows = (ds.unsqueeze(-1) * x).sum(-2) * dl_df.unsqueeze(-1)  # (..., n, d): X^T ds, scaled
    return g_rows.transpose(-2, -1) @ z / x.shape[-3]  # (..., d, d): sum_i g_i z_i^T / n


def loss_grad_direction(x, y, z, w, v) -> torch.Tensor:
    r"""$\nabla_W\mathcal L / \lVert\nabla_W\mathcal L\rVert_F$ in the log domain, so that it survives saturation.

    Once the attention is nearly one-hot, every term of :func:`loss_grad` carries a product $s_{it} s_{ij}$ of a
    softmax weight and another, and past logit gaps of ~700 these underflow to 0 in float64: the gradient, and with it
    normalized GD, stops. The direction does not depend on a common factor, so we form each product as
    $\exp(\log s_{it} + \log s_{ij} - m)$ with $m$ the largest such log-product of the problem ($t \ne j$), which
    rescales the whole gradient by $e^{-m}$ and keeps it representable. -> (..., d, d), unit Frobenius norm.
    """
    _check_data(x, y=y, z=z, v=v, w=w)
    logits = (x @ (w.unsqueeze(-3) @ z.unsqueeze(-1))).squeeze(-1)  # (..., n, T)
    log_s = torch.log_softmax(logits, dim=-1)
    values = (x @ v.unsqueeze(-2).unsqueeze(-1)).squeeze(-1)  # (..., n, T): v^T x_it
    f = (log_s.exp() * values).sum(-1)  # (..., n)
    dl_df = -torch.sigmoid(-y * f) * y  # (..., n)
    t = x.shape[-2]
    off_diag = ~torch.eye(t, dtype=torch.bool, device=x.device)  # (T, T): the t = j terms have a zero gap
    log_pair = log_s.unsqueeze(-1) + log_s.unsqueeze(-2)  # (..., n, T, T): log(s_t s_j)
    log_pair = log_pair.masked_fill(~off_diag, -torch.inf)
    m = log_pair.flatten(-3).amax(-1)[..., None, None, None]  # (..., 1, 1, 1): one scale per problem
    gaps = values.unsqueeze(-1) - values.unsqueeze(-2)  # (..., n, T, T)
    ds = ((log_pair - m).exp() * gaps).sum(-1)  # (..., n, T): e^{-m} (diag(s) - s s^T) X v
    g_rows = (ds.unsqueeze(-1) * x).sum(-2) * dl_df.unsqueeze(-1)  # (..., n, d)
    return _normalized(g_rows.transpose(-2, -1) @ z)  # (..., d, d)


# ---------------------------------------------------------------------------------------------------- training


def _normalized(g: torch.Tensor) -> torch.Tensor:
    """g / ||g||_F per problem (the last two dims); a zero gradient (a stationary point) gives a zero step."""
    norm = g.flatten(-2).norm(dim=-1)[..., None, None]  # (..., 1, 1)
    return torch.where(norm > 0, g / norm.clamp_min(torch.finfo(g.dtype).tiny), torch.zeros_like(g))


def _record_steps(n_steps: int, n_records: int) -> list[int]:
    """``n_records`` iterations from 0 to ``n_steps``, log-spaced (the direction moves fast early, slowly later)."""
    if n_records >= n_steps + 1:
        return list(range(n_steps + 1))
    grid = np.unique(np.round(np.geomspace(1, n_steps + 1, n_records)).astype(int) - 1)
    return sorted({0, n_steps, *grid.tolist()})


def _unpack(data) -> tuple:
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise TypeError(f"data must be a TokenData (x, y, z, v), got {type(data).__name__}")
    return tuple(data)


def _check_train_args(lr, n_steps, n_records) -> None:
    check_number("lr", lr, low=0, low_open=True)
    check_positive("n_steps", n_steps)
    check_positive("n_records", n_records)
    if n_records < 2:
        raise ValueError(f"n_records={n_records} must be >= 2 (the start and the end of the path)")


def train_w(
    data: TokenData,
    lr: float = 0.1,
    n_steps: int = 2000,
    w0: torch.Tensor | None = None,
    n_records: int = 50,
) -> TrainResult:
    r"""Normalized gradient descent: $W \leftarrow W - \eta\nabla\mathcal L(W)/\lVert\nabla\mathcal L(W)\rVert_F$.

    The optimizer of Tarzanagh et al. (2023) (their code: $\eta = 0.1$). Batched: each problem in the leading dims
    gets its own normalization. ``w0`` (..., d, d) defaults to zeros. Records ``n_records`` log-spaced iterates.
    """
    x, y, z, v = _unpack(data)
    _check_train_args(lr, n_steps, n_records)
    _check_data(x, y=y, z=z, v=v)
    d = x.shape[-1]
    if w0 is None:
        w = torch.zeros((*x.shape[:-3], d, d), dtype=x.dtype, device=x.device)
    else:
        check_tensor("w0", w0, floating=True)
        if tuple(w0.shape) != (*x.shape[:-3], d, d):
            raise ValueError(
                f"w0 must have shape {(*x.shape[:-3], d, d)} to match x of shape {tuple(x.shape)}, "
                f"got {tuple(w0.shape)}"
            )
        check_like("w0", w0, "x", x)
        w = w0.clone()
    _check_labels(y)
    record = set(_record_steps(n_steps, n_records))
    steps, path, losses = [], [], []
    for k in range(n_steps + 1):
        if k in record:
            steps.append(k)
            path.append(w.clone())
            losses.append(logistic_loss(x, y, z, w, v))
        if k < n_steps:
            w = w - lr * loss_grad_direction(x, y, z, w, v)
    return TrainResult(w, torch.tensor(steps), torch.stack(path), torch.stack(losses))


def train_kq(
    data: TokenData,
    lr: float = 0.1,
    n_steps: int = 2000,
    m: int | None = None,
    generator: torch.Generator | None = None,
    init_scale: float = 0.1,
    n_records: int = 50,
) -> TrainResult:
    r"""Normalized GD on the factors of $W = KQ^\top$: each of $K$, $Q$ (d, m) takes its own normalized step.

    $\nabla_K = \nabla_W\mathcal L\, Q$ and $\nabla_Q = \nabla_W\mathcal L^\top K$ (chain rule). Tarzanagh et al.
    (2023) prove that this path converges in direction to the *nuclear*-norm Att-SVM. $K$, $Q$ start as
    ``init_scale`` times standard normal draws from ``generator`` (a zero start would be a saddle: both gradients
    vanish). ``m`` defaults to d. The recorded path is $KQ^\top$.
    """
    x, y, z, v = _unpack(data)
    _check_train_args(lr, n_steps, n_records)
    _check_data(x, y=y, z=z, v=v)
    _check_labels(y)
    check_generator("generator", generator)
    check_number("init_scale", init_scale, low=0, low_open=True)
    d = x.shape[-1]
    m = d if m is None else check_positive("m", m)
    shape = (*x.shape[:-3], d, m)
    k_f = init_scale * torch.randn(shape, generator=generator, dtype=x.dtype).to(x.device)
    q_f = init_scale * torch.randn(shape, generator=generator, dtype=x.dtype).to(x.device)
    record = set(_record_steps(n_steps, n_records))
    steps, path, losses = [], [], []
    for k in range(n_steps + 1):
        w = k_f @ q_f.transpose(-2, -1)  # (..., d, d)
        if k in record:
            steps.append(k)
            path.append(w.clone())
            losses.append(logistic_loss(x, y, z, w, v))
        if k < n_steps:
            g = loss_grad_direction(x, y, z, w, v)  # (..., d, d): a positive multiple of the gradient
            g_k, g_q = g @ q_f, g.transpose(-2, -1) @ k_f  # (..., d, m) each
            k_f, q_f = k_f - lr * _normalized(g_k), q_f - lr * _normalized(g_q)
    w = k_f @ q_f.transpose(-2, -1)
    return TrainResult(w, torch.tensor(steps), torch.stack(path), torch.stack(losses))


def direction_correlation(w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    r"""$\langle W_1, W_2\rangle / (\lVert W_1\rVert_F \lVert W_2\rVert_F)$: the cosine of two matrices' directions.

    The "correlation coefficient" of the authors' code. w1, w2 (..., d, d), broadcast -> (...,).
    """
    check_tensor("w1", w1, min_ndim=2, floating=True)
    check_tensor("w2", w2, min_ndim=2, floating=True)
    check_same_device(w1=w1, w2=w2)
    a, b = torch.broadcast_tensors(w1, w2)
    num = (a * b).sum((-2, -1))
    den = a.flatten(-2).norm(dim=-1) * b.flatten(-2).norm(dim=-1)
    if bool((den == 0).any()):
        raise ValueError("direction_correlation: a zero matrix has no direction (||W||_F = 0)")
    return num / den


# ---------------------------------------------------------------------------------------------------- the SVM


def _check_problem(x, z, opt) -> None:
    _check_data(x, z=z)
    if x.dim() != 3:
        raise ValueError(f"the SVM solvers take one problem: x must have shape (n, T, d), got {tuple(x.shape)}")
    _check_ids("opt", opt, x.shape[0], x.shape[1])


def svm_constraints(x: torch.Tensor, z: torch.Tensor, opt: torch.Tensor) -> torch.Tensor:
    r"""Rows $a_{it} = \mathrm{vec}((x_{i\,\mathrm{opt}_i} - x_{it}) z_i^\top)$, one per $t \ne \mathrm{opt}_i$.

    The Att-SVM constraint $(x_{i\,\mathrm{opt}_i} - x_{it})^\top W z_i \ge 1$ reads $a_{it}^\top \mathrm{vec}(W) \ge 1$
    (row-major vec). x (n, T, d), z (n, d), opt (n,) -> (n (T-1), d*d), rows ordered by i then t.
    """
    _check_problem(x, z, opt)
    n, t, d = x.shape
    rows = []
    for i in range(n):
        o = int(opt[i])
        for j in range(t):
            if j != o:
                rows.append(torch.outer(x[i, o] - x[i, j], z[i]).reshape(d * d))
    return torch.stack(rows)


def _feasible_point(a: np.ndarray) -> np.ndarray:
    """A point with ``a @ w >= 1``, or AttSVMInfeasibleError: a linear program (HiGHS) that also certifies failure."""
    from scipy.optimize import linprog

    n_con, n_var = a.shape
    # maximise the worst margin s subject to a w >= s, |w_k| <= 1: feasible iff the optimum s is > 0
    cost = np.zeros(n_var + 1)
    cost[-1] = -1.0
    a_ub = np.hstack([-a, np.ones((n_con, 1))])
    bounds = [(-1.0, 1.0)] * n_var + [(None, 1.0)]
    res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(n_con), bounds=bounds, method="highs")
    if res.status != 0 or res.x[-1] <= 1e-9:
        margin = float(res.x[-1]) + 0.0 if res.x is not None else float("nan")  # + 0.0: no "-0"
        raise AttSVMInfeasibleError(
            f"the Att-SVM is infeasible: no W separates the chosen tokens from the others (best margin with "
            f"|W_kl| <= 1 is {margin:.3g}; {n_con} constraints, {n_var} unknowns). Typical causes: a non-selected "
            "token equal to the selected one, a zero query z_i, or too many sequences for d (d >= max(n, T-1) makes "
            "it feasible for generic data)"
        )
    return res.x[:-1] / res.x[-1]


def svm_feasible(x: torch.Tensor, z: torch.Tensor, opt: torch.Tensor) -> bool:
    r"""Whether some $W$ meets every Att-SVM constraint (a linear program; no QP is solved).

    For generic data it is feasible whenever $d \ge \max(n, T-1)$ (Tarzanagh et al., 2023: over-parameterization
    makes the SVM feasible). x (n, T, d), z (n, d), opt (n,).
    """
    a = svm_constraints(x, z, opt).detach().cpu().double().numpy()
    try:
        _feasible_point(a)
    except AttSVMInfeasibleError:
        return False
    return True


def att_svm(
    x: torch.Tensor, z: torch.Tensor, opt: torch.Tensor, norm: str = "fro", tol: float = 1e-8, max_iter: int = 500
) -> torch.Tensor:
    r"""$W^{\mathrm{mm}} = \arg\min \lVert W\rVert$ s.t. $(x_{i\,\mathrm{opt}_i} - x_{it})^\top W z_i \ge 1$ (Att-SVM).

    ``norm="fro"``: the Frobenius-norm problem, a convex QP in $\mathrm{vec}(W)$ (the limit direction of
    normalized GD on $W$). ``norm="nuc"``: the nuclear norm, through its variational form
    $\lVert W\rVert_\star = \min_{KQ^\top = W} \tfrac12(\lVert K\rVert_F^2 + \lVert Q\rVert_F^2)$ started from the
    Frobenius solution (the limit direction of GD on $(K, Q)$). Feasibility is decided first by a linear program;
    infeasible data raise :class:`AttSVMInfeasibleError`. Solved with SciPy's SLSQP; the returned (d, d) tensor
    satisfies every constraint to 1e-6. x (n, T, d), z (n, d), opt (n,) integer indices.
    """
    from scipy.optimize import minimize

    check_choice("norm", norm, ("fro", "nuc"))
    check_number("tol", tol, low=0, low_open=True)
    check_positive("max_iter", max_iter)
    a_t = svm_constraints(x, z, opt)
    d = x.shape[-1]
    a = a_t.detach().cpu().double().numpy()
    w_start = _feasible_point(a)
    cons = {"type": "ineq", "fun": lambda w: a @ w - 1.0, "jac": lambda w: a}
    res = minimize(
        lambda w: (0.5 * w @ w, w),
        w_start,
        jac=True,
        method="SLSQP",
        constraints=[cons],
        options={"ftol": tol, "maxiter": max_iter},
    )
    w_fro = res.x
    if norm == "fro":
        w_best = w_fro
        ok = res.success
    else:
        u, s, vt = np.linalg.svd(w_fro.reshape(d, d))
        k0, q0 = u * np.sqrt(s), vt.T * np.sqrt(s)  # K Q^T = W_fro, ||K||^2 = ||Q||^2 = ||W_fro||_*

        def unpack(p):
            return p[: d * d].reshape(d, d), p[d * d :].reshape(d, d)

        def objective(p):
            return 0.5 * p @ p, p

        def margins(p):
            k_f, q_f = unpack(p)
            return a @ (k_f @ q_f.T).reshape(-1) - 1.0

        def margins_jac(p):
            k_f, q_f = unpack(p)
            a3 = a.reshape(-1, d, d)  # (c, d, d): constraint c is <A_c, K Q^T>
            return np.hstack([(a3 @ q_f).reshape(len(a), -1), (a3.transpose(0, 2, 1) @ k_f).reshape(len(a), -1)])

        res = minimize(
            objective,
            np.concatenate([k0.ravel(), q0.ravel()]),
            jac=True,
            method="SLSQP",
            constraints=[{"type": "ineq", "fun": margins, "jac": margins_jac}],
            options={"ftol": tol, "maxiter": max_iter},
        )
        k_f, q_f = unpack(res.x)
        w_best = (k_f @ q_f.T).reshape(-1)
        ok = res.success
    worst = float((a @ w_best).min()) if len(a) else 1.0
    if not ok or worst < 1.0 - 1e-6:
        raise RuntimeError(f"att_svm(norm={norm!r}): SLSQP did not converge ({res.message}; worst margin {worst:.6g})")
    return torch.as_tensor(w_best.reshape(d, d), dtype=x.dtype, device=x.device)


def support_tokens(x: torch.Tensor, z: torch.Tensor, opt: torch.Tensor, w_mm: torch.Tensor, tol: float = 1e-5):
    r"""The active constraints of an SVM solution: a boolean (n, T) mask of tokens $t$ with margin $\le 1 + $ tol.

    These are the *support tokens* $\mathcal T_i$ of sequence $i$; the selected tokens are *locally optimal*
    when $\gamma_{i\,\mathrm{opt}_i} > \gamma_{it}$ for every support token (Tarzanagh et al., 2023).
    """
    _check_problem(x, z, opt)
    check_tensor("w_mm", w_mm, ndim=2, floating=True)
    d = x.shape[-1]
    if tuple(w_mm.shape) != (d, d):
        raise ValueError(
            f"w_mm must have shape ({d}, {d}) to match x of shape {tuple(x.shape)}, got {tuple(w_mm.shape)}"
        )
    check_like("w_mm", w_mm, "x", x)
    check_number("tol", tol, low=0)
    margins = ((x[torch.arange(x.shape[0]), opt].unsqueeze(1) - x) @ (w_mm @ z.unsqueeze(-1))).squeeze(-1)  # (n, T)
    mask = margins <= 1.0 + tol
    mask[torch.arange(x.shape[0]), opt] = False
    return mask
