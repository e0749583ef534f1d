r"""In-context learning as gradient descent (chapter 9): a hand-set linear self-attention layer and its baselines.

A prompt holds $N$ in-context examples $(x_i, y_i)$, $x_i \in \mathbb R^d$, $y_i \in \mathbb R$, and queries $x_q$.
On the in-context least-squares loss (von Oswald et al., 2023, eq. 1)

$$ L(w) = \frac{1}{2N} \sum_{i=1}^N (w^\top x_i - y_i)^2, \qquad
   \nabla L(w) = \frac1N \sum_{i=1}^N (w^\top x_i - y_i)\, x_i , $$

one gradient-descent step from $w_0$ with learning rate $\eta$ gives $w_1 = w_0 - \eta \nabla L(w_0)$. Von Oswald
et al. (2023, prop. 1) write every example as a token $e_i = (x_i, y_i) \in \mathbb R^{d+1}$ and show that one
linear self-attention (LSA) layer

$$ e_j \leftarrow e_j + P\, W_V \sum_{i=1}^N e_i \,(W_K e_i)^\top (W_Q e_j) $$

with $W_K = W_Q = \begin{pmatrix} I_d & 0 \\ 0 & 0\end{pmatrix}$,
$W_V = \begin{pmatrix} 0 & 0 \\ w_0^\top & -1\end{pmatrix}$ and $P = \tfrac{\eta}{N} I_{d+1}$ moves every token
by $(0, -\Delta w^\top x_j)$ with $\Delta w = w_1 - w_0 = -\eta \nabla L(w_0)$: the token's $y$ becomes
$y_j - \Delta w^\top x_j$. A query token $(x_q, 0)$ therefore leaves the layer holding $-\Delta w^\top x_q$; for
$w_0 = 0$ minus that entry is the GD prediction $w_1^\top x_q$ (the paper's read-out).
Keys and values come from the $N$ example tokens only (the queries do not attend to themselves).

Baselines, all closed forms: ordinary least squares (minimum-norm when the design is singular, i.e. the limit
$\lambda \to 0^+$ of ridge), ridge regression, and $k$ steps of gradient descent on $L$.

Conventions: "error" is the squared error divided by $d$ (Garg et al., 2022): with $w \sim \mathcal N(0, I_d)$ and
$x \sim \mathcal N(0, I_d)$ the zero predictor scores 1. Zero in-context examples: OLS and GD raise a
``ValueError`` (the loss is undefined); ridge and :func:`prefix_predictions` return the prior mean 0. A singular
design (fewer examples than $d$, or repeated ones) makes OLS return the minimum-norm solution, never NaN.

Shape glossary: b batch (optional leading dims ``...``), N in-context examples, s queries, d input dim,
D = d + 1 token dim. ``x`` (..., N, d), ``y`` (..., N), ``x_query`` (..., s, d), tokens (..., N, D).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import (
    check_float_dtype,
    check_like,
    check_like_module,
    check_number,
    check_positive,
    check_same_device,
    check_size,
    check_tensor,
)

__all__ = [
    "LinearSelfAttention",
    "best_gd_learning_rate",
    "gd_lsa_weights",
    "gd_predict",
    "gd_step",
    "linear_self_attention",
    "ols_predict",
    "prefix_predictions",
    "ridge_predict",
    "squared_error_per_dim",
]

METHODS = ("ols", "ridge", "gd")


def _check_examples(x, y, allow_empty: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (..., N, d) floating, ``y`` (..., N) of x's dtype and device; N >= 1 unless ``allow_empty``."""
    x = check_tensor("x", x, min_ndim=2, floating=True)
    y = check_tensor("y", y, min_ndim=1, floating=True)
    if tuple(y.shape) != tuple(x.shape[:-1]):
        raise ValueError(f"y has shape {tuple(y.shape)}; expected x.shape[:-1] = {tuple(x.shape[:-1])}")
    check_like("y", y, "x", x)
    if x.shape[-1] == 0:
        raise ValueError(f"x has shape {tuple(x.shape)}: the input dimension d must be >= 1")
    if x.shape[-2] == 0 and not allow_empty:
        raise ValueError(
            f"x has shape {tuple(x.shape)}: N=0 in-context examples, so the least-squares loss is undefined; "
            "with no examples predict the prior mean 0 (ridge_predict and prefix_predictions do)"
        )
    return x, y


def _check_queries(x_query, x: torch.Tensor) -> torch.Tensor:
    x_query = check_tensor("x_query", x_query, min_ndim=2, floating=True)
    if x_query.shape[-1] != x.shape[-1] or tuple(x_query.shape[:-2]) != tuple(x.shape[:-2]):
        raise ValueError(
            f"x_query has shape {tuple(x_query.shape)}; expected (..., s, {x.shape[-1]}) with the batch dims "
            f"{tuple(x.shape[:-2])} of x"
        )
    check_like("x_query", x_query, "x", x)
    return x_query


def _check_w0(w0, x: torch.Tensor) -> torch.Tensor:
    if w0 is None:
        return x.new_zeros(x.shape[:-2] + x.shape[-1:])  # (..., d)
    w0 = check_tensor("w0", w0, min_ndim=1, floating=True)
    want = (*x.shape[:-2], x.shape[-1])
    lead, batch = tuple(w0.shape[:-1]), want[:-1]
    fits = len(lead) <= len(batch) and all(
        a in (1, b) for a, b in zip(lead, batch[len(batch) - len(lead) :], strict=True)
    )
    if w0.shape[-1] != x.shape[-1] or not fits:
        raise ValueError(
            f"w0 has shape {tuple(w0.shape)}; expected (d,) = ({x.shape[-1]},) or one that expands to x's batch "
            f"dims + (d,) = {want}"
        )
    check_like("w0", w0, "x", x)
    return w0.expand(x.shape[:-2] + x.shape[-1:])


def gd_step(x: torch.Tensor, y: torch.Tensor, eta: float, w0: torch.Tensor | None = None) -> torch.Tensor:
    r"""$w_1 = w_0 - \frac{\eta}{N} X^\top (X w_0 - y)$: one GD step on $L(w) = \frac1{2N}\lVert Xw - y\rVert^2$.

    ``x`` (..., N, d), ``y`` (..., N), ``w0`` (d,) or (..., d), default 0 -> $w_1$ (..., d). N = 0 raises.
    """
    x, y = _check_examples(x, y)
    check_number("eta", eta)
    w = _check_w0(w0, x)
    residual = (x @ w[..., None])[..., 0] - y  # (..., N)
    return w - eta / x.shape[-2] * (x.transpose(-2, -1) @ residual[..., None])[..., 0]  # (..., d)


def gd_predict(
    x: torch.Tensor, y: torch.Tensor, x_query: torch.Tensor, eta: float, steps: int = 1, w0: torch.Tensor | None = None
) -> torch.Tensor:
    r"""$\hat y_q = w_k^\top x_q$ after $k$ = ``steps`` GD steps $w_{t+1} = w_t - \eta \nabla L(w_t)$ from $w_0$.

    The GD baseline of von Oswald et al. (2023). ``x`` (..., N, d), ``y`` (..., N), ``x_query`` (..., s, d)
    -> (..., s). ``steps=0`` predicts with $w_0$. N = 0 raises.
    """
    x, y = _check_examples(x, y)
    x_query = _check_queries(x_query, x)
    check_positive("steps", steps, allow_zero=True)
    w = _check_w0(w0, x)
    for _ in range(steps):
        w = gd_step(x, y, eta, w)
    return (x_query @ w[..., None])[..., 0]  # (..., s)


def ridge_predict(x: torch.Tensor, y: torch.Tensor, x_query: torch.Tensor, lam: float) -> torch.Tensor:
    r"""$\hat y_q = x_q^\top (X^\top X + \lambda I)^{-1} X^\top y$, ridge regression with $\lambda > 0$.

    The posterior mean of $w$ for the prior $\mathcal N(0, I)$ and label noise of variance $\lambda$: the
    Bayes-optimal predictor in that setting (Akyürek et al., 2023). ``x`` (..., N, d), ``y`` (..., N),
    ``x_query`` (..., s, d) -> (..., s). N = 0 is allowed: it predicts the prior mean 0.
    """
    x, y = _check_examples(x, y, allow_empty=True)
    x_query = _check_queries(x_query, x)
    lam = check_number("lam", lam, low=0, low_open=True)
    d = x.shape[-1]
    gram = x.transpose(-2, -1) @ x + lam * torch.eye(d, dtype=x.dtype, device=x.device)  # (..., d, d)
    w = torch.linalg.solve(gram, x.transpose(-2, -1) @ y[..., None])  # (..., d, 1)
    return (x_query @ w)[..., 0]  # (..., s)


def ols_predict(x: torch.Tensor, y: torch.Tensor, x_query: torch.Tensor) -> torch.Tensor:
    r"""$\hat y_q = x_q^\top X^{+} y$: ordinary least squares, the minimum-norm solution when $X^\top X$ is singular.

    With N < d examples (or repeated ones) $X^\top X$ has no inverse; $X^+ y$ is then the limit of ridge as
    $\lambda \to 0^+$ (the documented fall-back), computed by an SVD so that it never returns NaN. For noiseless
    $w \sim \mathcal N(0, I)$ it is the Bayes-optimal predictor (the posterior mean) for every N.
    ``x`` (..., N, d), ``y`` (..., N), ``x_query`` (..., s, d) -> (..., s). N = 0 raises.
    """
    x, y = _check_examples(x, y)
    x_query = _check_queries(x_query, x)
    try:
        w = torch.linalg.pinv(x) @ y[..., None]  # (..., d, 1)
    except torch.linalg.LinAlgError as err:
        raise ValueError("x holds NaN or inf: its least-squares solution is undefined") from err
    return (x_query @ w)[..., 0]  # (..., s)


def prefix_predictions(x: torch.Tensor, y: torch.Tensor, method: str, **kwargs) -> torch.Tensor:
    r"""$\hat y_i$ from the first $i$ examples, for every position $i = 0, \dots, n-1$ of a prompt.

    ``method`` is ``"ols"``, ``"ridge"`` (``lam=``) or ``"gd"`` (``eta=``, ``steps=``). Position 0 (no examples)
    predicts the prior mean 0 for every method. ``x`` (..., n, d), ``y`` (..., n) -> (..., n): the curve of
    Garg et al. (2022, fig. 2) when scored with :func:`squared_error_per_dim`.
    """
    x, y = _check_examples(x, y)
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {METHODS}")
    allowed, needed = {"ols": ((), ()), "ridge": (("lam",), ("lam",)), "gd": (("eta", "steps", "w0"), ("eta",))}[method]
    unknown, missing = sorted(set(kwargs) - set(allowed)), [k for k in needed if k not in kwargs]
    if unknown or missing:
        raise TypeError(
            f"method={method!r} takes keyword arguments {allowed or 'none'} and needs {needed or 'none'}: "
            f"got {sorted(kwargs)} ({'unknown ' + str(unknown) if unknown else 'missing ' + str(missing)})"
        )
    predict = {"ols": ols_predict, "ridge": ridge_predict, "gd": gd_predict}[method]
    preds = [torch.zeros_like(y[..., 0])]
    for i in range(1, x.shape[-2]):
        preds.append(predict(x[..., :i, :], y[..., :i], x[..., i : i + 1, :], **kwargs)[..., 0])  # (...,)
    return torch.stack(preds, dim=-1)  # (..., n)


def squared_error_per_dim(pred: torch.Tensor, target: torch.Tensor, d: int) -> torch.Tensor:
    r"""$\frac1d \mathbb E_b (\hat y - y)^2$ per position: the normalized error of Garg et al. (2022).

    ``pred``, ``target`` (b, n) -> (n,): the mean over the batch of the squared error, divided by the input
    dimension ``d`` (the zero predictor then scores about 1 on noiseless tasks).
    """
    check_tensor("pred", pred, ndim=2, floating=True)
    check_tensor("target", target, ndim=2, floating=True)
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)} but target has {tuple(target.shape)}")
    check_same_device(pred=pred, target=target)
    check_positive("d", d)
    return ((pred - target.to(pred.dtype)) ** 2).mean(0) / d


def best_gd_learning_rate(x: torch.Tensor, y: torch.Tensor, x_query: torch.Tensor, y_query: torch.Tensor) -> float:
    r"""$\eta^\star = \arg\min_\eta \sum (\hat y^{GD}_\eta - y_q)^2$ for one GD step from $w_0 = 0$ (closed form).

    From 0, one step predicts $\eta\, g$ with $g = \frac1N x_q^\top X^\top y$: linear in $\eta$, so the best rate
    over a sample of prompts is $\eta^\star = \sum g\, y_q / \sum g^2$ (von Oswald et al.'s code trains it instead).
    ``x`` (b, N, d), ``y`` (b, N), ``x_query`` (b, s, d), ``y_query`` (b, s) -> a float.
    """
    g = gd_predict(x, y, x_query, eta=1.0)  # (b, s): the one-step prediction at eta = 1
    check_tensor("y_query", y_query, floating=True)
    if y_query.shape != g.shape:
        raise ValueError(f"y_query has shape {tuple(y_query.shape)}; expected {tuple(g.shape)}")
    check_like("y_query", y_query, "x", x)
    denom = float((g * g).sum())
    if denom == 0.0:
        raise ValueError("every one-step prediction is 0 (all y or all x_q^T X^T y vanish): no best rate exists")
    return float((g * y_query).sum()) / denom


def gd_lsa_weights(
    d: int, eta: float, n_context: int, w0: torch.Tensor | None = None, dtype: torch.dtype = torch.float64
) -> dict[str, torch.Tensor]:
    r"""The weights of von Oswald et al. (2023, prop. 1) that make one LSA layer one GD step.

    $W_K = W_Q = \begin{pmatrix} I_d & 0\\ 0 & 0\end{pmatrix}$, $W_V = \begin{pmatrix} 0 & 0\\ w_0^\top & -1
    \end{pmatrix}$, $P = \frac{\eta}{N} I_{d+1}$. Returns ``{"w_k", "w_q", "w_v", "p"}``, each (D, D), D = d + 1.
    """
    check_positive("d", d)
    check_number("eta", eta)
    check_positive("n_context", n_context)
    check_float_dtype("dtype", dtype)
    check_size(f"gd_lsa_weights(d={d})'s matrices", (d + 1) ** 2)
    big_d = d + 1
    w_kq = torch.zeros(big_d, big_d, dtype=dtype)
    w_kq[:d, :d] = torch.eye(d, dtype=dtype)
    w_v = torch.zeros(big_d, big_d, dtype=dtype)
    if w0 is not None:
        check_tensor("w0", w0, ndim=1, floating=True)
        if w0.shape[0] != d:
            raise ValueError(f"w0 has shape {tuple(w0.shape)}; expected ({d},)")
        w_v[d, :d] = w0.to(dtype)
    w_v[d, d] = -1.0
    p = eta / n_context * torch.eye(big_d, dtype=dtype)
    return {"w_k": w_kq, "w_q": w_kq.clone(), "w_v": w_v, "p": p}


def linear_self_attention(
    context: torch.Tensor,
    queries: torch.Tensor,
    w_k: torch.Tensor,
    w_q: torch.Tensor,
    w_v: torch.Tensor,
    p: torch.Tensor,
) -> torch.Tensor:
    r"""$e_j \leftarrow e_j + P W_V \sum_i e_i (W_K e_i)^\top (W_Q e_j)$: one LSA layer (von Oswald et al., 2023).

    Keys and values are the example tokens ``context`` (..., N, D); every row of ``queries`` (..., s, D) is
    updated (pass the context itself to update the examples). No softmax, no normalization. -> (..., s, D).
    """
    context = check_tensor("context", context, min_ndim=2, floating=True)
    queries = check_tensor("queries", queries, min_ndim=2, floating=True)
    big_d = context.shape[-1]
    if queries.shape[-1] != big_d:
        raise ValueError(f"queries have token dim {queries.shape[-1]} but context has {big_d}")
    check_like("queries", queries, "context", context)
    for name, w in (("w_k", w_k), ("w_q", w_q), ("w_v", w_v), ("p", p)):
        check_tensor(name, w, ndim=2, floating=True)
        if tuple(w.shape) != (big_d, big_d):
            raise ValueError(f"{name} has shape {tuple(w.shape)}; expected ({big_d}, {big_d}) for token dim {big_d}")
        check_like(name, w, "context", context)
    keys = context @ w_k.T  # (..., N, D): rows W_K e_i
    values = context @ w_v.T  # (..., N, D): rows W_V e_i
    q = queries @ w_q.T  # (..., s, D): rows W_Q e_j
    scores = q @ keys.transpose(-2, -1)  # (..., s, N): (W_K e_i)^T (W_Q e_j)
    return queries + (scores @ values) @ p.T  # (..., s, D)


class LinearSelfAttention(nn.Module):
    r"""One trainable LSA layer on tokens $(x, y)$: :func:`linear_self_attention` with learned $W_K, W_Q, W_V, P$.

    ``forward(x, y, x_query)`` builds the example tokens $(x_i, y_i)$ and query tokens $(x_q, 0)$ and returns minus
    the $y$-entry of the updated queries: the layer's prediction, read out as in von Oswald et al. (2023), so that
    the weights of :func:`gd_lsa_weights` predict $w_1^\top x_q$.
    ``x`` (b, N, d), ``y`` (b, N), ``x_query`` (b, s, d) -> (b, s). Weights start at ``init_std`` times N(0, 1).
    """

    def __init__(self, d: int, init_std: float = 0.01):
        super().__init__()
        check_positive("d", d)
        init_std = check_number("init_std", init_std, low=0)
        check_size(f"LinearSelfAttention(d={d})'s matrices", (d + 1) ** 2)
        self.d = d
        big_d = d + 1
        self.w_k = nn.Parameter(init_std * torch.randn(big_d, big_d))
        self.w_q = nn.Parameter(init_std * torch.randn(big_d, big_d))
        self.w_v = nn.Parameter(init_std * torch.randn(big_d, big_d))
        self.p = nn.Parameter(init_std * torch.randn(big_d, big_d))

    def forward(self, x: torch.Tensor, y: torch.Tensor, x_query: torch.Tensor) -> torch.Tensor:
        x, y = _check_examples(x, y)
        x_query = _check_queries(x_query, x)
        if x.shape[-1] != self.d:
            raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be d={self.d}")
        check_like_module("x", x, self)
        context = torch.cat([x, y[..., None]], dim=-1)  # (..., N, D): tokens (x_i, y_i)
        queries = torch.cat([x_query, torch.zeros_like(x_query[..., :1])], dim=-1)  # (..., s, D): (x_q, 0)
        out = linear_self_attention(context, queries, self.w_k, self.w_q, self.w_v, self.p)  # (..., s, D)
        return -out[..., -1]  # (..., s): minus the y-entry, the paper's read-out
