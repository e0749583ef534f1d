"""Tests for minitorch_xf.theory.icl against independent references: autograd and torch.optim.SGD for gradient
descent, NumPy's lstsq for least squares and ridge, a plain loop for the attention sum."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch_xf.tasks import least_squares_predictions, pair_tokens
from minitorch_xf.theory.icl import (
    LinearSelfAttention,
    best_gd_learning_rate,
    gd_lsa_weights,
    gd_predict,
    gd_step,
    linear_self_attention,
    ols_predict,
    prefix_predictions,
    ridge_predict,
    squared_error_per_dim,
)

pytestmark = pytest.mark.ch09
F64 = torch.float64


def _prompt(seed: int, n: int = 10, d: int = 4, s: int = 3, b: int | None = None):
    g = torch.Generator().manual_seed(seed)
    lead = () if b is None else (b,)
    x = torch.randn(*lead, n, d, generator=g, dtype=F64)
    y = torch.randn(*lead, n, generator=g, dtype=F64)
    xq = torch.randn(*lead, s, d, generator=g, dtype=F64)
    w0 = torch.randn(d, generator=g, dtype=F64)
    return x, y, xq, w0


def _autograd_step(x, y, w0, eta):
    """One GD step on L(w) = 1/(2N) sum (w.x_i - y_i)^2, the gradient taken by autograd."""
    w = w0.clone().requires_grad_()
    loss = 0.5 * ((x @ w - y) ** 2).mean()
    (grad,) = torch.autograd.grad(loss, w)
    return (w0 - eta * grad).detach()


@pytest.mark.parametrize("seed", range(3))
def test_gd_step_matches_autograd(seed):
    x, y, _, w0 = _prompt(seed)
    torch.testing.assert_close(gd_step(x, y, 0.3, w0), _autograd_step(x, y, w0, 0.3))


def test_gd_predict_matches_torch_sgd():
    x, y, xq, w0 = _prompt(1)
    w = torch.nn.Parameter(w0.clone())
    opt = torch.optim.SGD([w], lr=0.2)
    for _ in range(5):
        opt.zero_grad()
        (0.5 * ((x @ w - y) ** 2).mean()).backward()
        opt.step()
    torch.testing.assert_close(gd_predict(x, y, xq, eta=0.2, steps=5, w0=w0), (xq @ w).detach())


def test_gd_many_steps_converge_to_least_squares():
    x, y, xq, _ = _prompt(2, n=12, d=3)
    expected = xq.numpy() @ np.linalg.lstsq(x.numpy(), y.numpy(), rcond=None)[0]
    torch.testing.assert_close(gd_predict(x, y, xq, eta=0.5, steps=2000), torch.from_numpy(expected))


def _loop_lsa(context, queries, w_k, w_q, w_v, p):
    """e_j + P W_V sum_i e_i (W_K e_i . W_Q e_j), one token at a time."""
    rows = []
    for e_j in queries:
        total = torch.zeros_like(e_j)
        for e_i in context:
            total = total + (w_v @ e_i) * torch.dot(w_k @ e_i, w_q @ e_j)
        rows.append(e_j + p @ total)
    return torch.stack(rows)


def test_linear_self_attention_matches_loop():
    g = torch.Generator().manual_seed(3)
    context, queries = torch.randn(6, 4, generator=g, dtype=F64), torch.randn(3, 4, generator=g, dtype=F64)
    ws = [torch.randn(4, 4, generator=g, dtype=F64) for _ in range(4)]
    torch.testing.assert_close(linear_self_attention(context, queries, *ws), _loop_lsa(context, queries, *ws))


@pytest.mark.checks("thm-lsa-gd")
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("use_w0", [False, True])
def test_hand_set_lsa_is_one_gd_step(seed, use_w0):
    """Every token moves by (0, -(w1 - w0).x_j) with w1 from autograd: max |diff| < 1e-10 in float64."""
    x, y, xq, w0 = _prompt(seed, n=9, d=5, s=4)
    w0 = w0 if use_w0 else torch.zeros(5, dtype=F64)
    eta = 0.37
    weights = gd_lsa_weights(5, eta, n_context=9, w0=w0 if use_w0 else None)
    context = torch.cat([x, y[:, None]], dim=-1)
    tokens = torch.cat([context, torch.cat([xq, torch.zeros(4, 1, dtype=F64)], -1)])  # examples, then queries
    out = linear_self_attention(context, tokens, **weights)
    w1 = _autograd_step(x, y, w0, eta)
    expected = tokens.clone()
    expected[:, -1] -= tokens[:, :-1] @ (w1 - w0)
    assert (out - expected).abs().max() < 1e-10
    if not use_w0:  # minus the query's y-entry is the GD prediction w1 . x_q
        assert (-out[9:, -1] - xq @ w1).abs().max() < 1e-10


def test_lsa_module_with_gd_weights_predicts_gd_batched():
    x, y, xq, _ = _prompt(4, n=8, d=3, s=2, b=5)
    layer = LinearSelfAttention(3).double()
    with torch.no_grad():
        for name, w in gd_lsa_weights(3, 0.8, n_context=8).items():
            getattr(layer, name).copy_(w)
    expected = torch.stack([xq[i] @ _autograd_step(x[i], y[i], torch.zeros(3, dtype=F64), 0.8) for i in range(5)])
    torch.testing.assert_close(layer(x, y, xq).detach(), expected, atol=1e-12, rtol=0)


def test_gradcheck_linear_self_attention():
    g = torch.Generator().manual_seed(5)
    args = [torch.randn(*shape, generator=g, dtype=F64, requires_grad=True) for shape in ((4, 3), (2, 3))]
    ws = [torch.randn(3, 3, generator=g, dtype=F64, requires_grad=True) for _ in range(4)]
    assert torch.autograd.gradcheck(linear_self_attention, (*args, *ws))


@pytest.mark.parametrize(("n", "d"), [(10, 4), (3, 5), (1, 4)])
def test_ols_matches_numpy_lstsq_including_singular(n, d):
    x, y, xq, _ = _prompt(6, n=n, d=d)
    expected = xq.numpy() @ np.linalg.lstsq(x.numpy(), y.numpy(), rcond=None)[0]  # minimum norm when singular
    got = ols_predict(x, y, xq)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, torch.from_numpy(expected))


def test_ols_repeated_examples_is_finite_and_minimum_norm():
    x, y, xq, _ = _prompt(7, n=1, d=3)
    x2, y2 = x.repeat(4, 1), y.repeat(4)  # four copies of one example: rank 1
    expected = xq.numpy() @ np.linalg.lstsq(x2.numpy(), y2.numpy(), rcond=None)[0]
    torch.testing.assert_close(ols_predict(x2, y2, xq), torch.from_numpy(expected))


@pytest.mark.parametrize("n", [2, 10])
def test_ridge_matches_augmented_lstsq(n):
    x, y, xq, _ = _prompt(8, n=n, d=4)
    lam = 0.7
    a = np.vstack([x.numpy(), np.sqrt(lam) * np.eye(4)])  # ridge = least squares on [X; sqrt(lam) I], [y; 0]
    rhs = np.concatenate([y.numpy(), np.zeros(4)])
    expected = xq.numpy() @ np.linalg.lstsq(a, rhs, rcond=None)[0]
    torch.testing.assert_close(ridge_predict(x, y, xq, lam), torch.from_numpy(expected))


@pytest.mark.checks("thm-ridge-bayes")
def test_ridge_tends_to_minimum_norm_ols():
    x, y, xq, _ = _prompt(9, n=2, d=5)
    torch.testing.assert_close(ridge_predict(x, y, xq, 1e-9), ols_predict(x, y, xq), atol=1e-6, rtol=1e-6)


@pytest.mark.checks("thm-bayes-ols")
@pytest.mark.parametrize(("n", "d"), [(1, 3), (2, 5), (4, 5), (8, 3)])
def test_noiseless_ols_is_the_gaussian_posterior_mean(n, d):
    """w ~ N(0, I), y = Xw: (w, y) is jointly Gaussian, so E[w | y] = Cov(w, y) Cov(y)^+ y = X^T (X X^T)^+ y (an
    n x n system, Gaussian conditioning); with n >= d examples the posterior is the point mass at w itself."""
    x, _, xq, _ = _prompt(30 + n, n=n, d=d)
    w = torch.randn(d, generator=torch.Generator().manual_seed(n), dtype=F64)
    y = x @ w
    if n <= d:  # X X^T (n x n) is invertible for Gaussian X
        posterior_mean = x.T @ torch.linalg.solve(x @ x.T, y)
    else:
        posterior_mean = w
    torch.testing.assert_close(ols_predict(x, y, xq), xq @ posterior_mean)


@pytest.mark.checks("thm-ridge-bayes")
@pytest.mark.parametrize(("n", "d", "sigma"), [(2, 5, 0.5), (10, 4, 0.3), (6, 6, 2.0)])
def test_ridge_is_the_gaussian_posterior_mean(n, d, sigma):
    """y = Xw + eps with w ~ N(0, I), eps ~ N(0, sigma^2 I): Gaussian conditioning gives
    E[w | y] = X^T (X X^T + sigma^2 I_n)^{-1} y, an n x n solve; ridge_predict with lam = sigma^2 solves the d x d
    normal equations instead."""
    x, y, xq, _ = _prompt(40 + n, n=n, d=d)
    posterior_mean = x.T @ torch.linalg.solve(x @ x.T + sigma**2 * torch.eye(n, dtype=F64), y)
    torch.testing.assert_close(ridge_predict(x, y, xq, sigma**2), xq @ posterior_mean)


def test_ridge_with_no_examples_predicts_zero():
    xq = torch.randn(3, 4, dtype=F64)
    out = ridge_predict(torch.zeros(0, 4, dtype=F64), torch.zeros(0, dtype=F64), xq, 1.0)
    torch.testing.assert_close(out, torch.zeros(3, dtype=F64))


def test_prefix_ols_matches_task_least_squares():
    x, y, _, _ = _prompt(10, n=9, d=3, b=4)
    torch.testing.assert_close(prefix_predictions(x, y, "ols"), least_squares_predictions(x, y))


def test_prefix_gd_matches_per_prefix_autograd():
    x, y, _, _ = _prompt(11, n=6, d=3)
    preds = prefix_predictions(x, y, "gd", eta=0.5, steps=1)
    zero = torch.zeros(3, dtype=F64)
    expected = torch.stack(
        [torch.zeros((), dtype=F64)] + [x[i] @ _autograd_step(x[:i], y[:i], zero, 0.5) for i in range(1, 6)]
    )
    torch.testing.assert_close(preds, expected)


def test_best_learning_rate_beats_a_grid():
    x, y, xq, _ = _prompt(12, n=10, d=5, s=1, b=400)
    yq = (
        torch.randn(400, 1, generator=torch.Generator().manual_seed(1), dtype=F64)
        + (xq @ x.transpose(1, 2) @ y[..., None])[..., 0] / 10
    )
    eta = best_gd_learning_rate(x, y, xq, yq)
    loss = [((gd_predict(x, y, xq, e) - yq) ** 2).mean() for e in np.linspace(eta - 0.5, eta + 0.5, 41)]
    assert min(loss) >= ((gd_predict(x, y, xq, eta) - yq) ** 2).mean() - 1e-12


@pytest.mark.checks("thm-best-eta")
def test_best_learning_rate_matches_gaussian_closed_form():
    """For x, w ~ N(0, I) noiseless, eta* = N / (N + d + 1) (derived in chapter 9); a Monte-Carlo estimate."""
    g = torch.Generator().manual_seed(13)
    n, d, b = 10, 5, 40_000
    x, w, xq = (
        torch.randn(b, n, d, generator=g, dtype=F64),
        torch.randn(b, d, generator=g, dtype=F64),
        torch.randn(b, 1, d, generator=g, dtype=F64),
    )
    y, yq = (x @ w[..., None])[..., 0], (xq @ w[..., None])[..., 0]
    assert abs(best_gd_learning_rate(x, y, xq, yq) - n / (n + d + 1)) < 0.02


def test_squared_error_per_dim_matches_mean():
    pred, target = torch.randn(7, 4, dtype=F64), torch.randn(7, 4, dtype=F64)
    torch.testing.assert_close(squared_error_per_dim(pred, target, 3), ((pred - target) ** 2).mean(0) / 3)


@pytest.mark.checks("thm-lsa-gd")
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 8), d=st.integers(1, 6), eta=st.floats(-2, 2), seed=st.integers(0, 10_000))
def test_property_hand_set_lsa_equals_gd(n, d, eta, seed):
    x, y, xq, _ = _prompt(seed, n=n, d=d, s=2)
    context = torch.cat([x, y[:, None]], dim=-1)
    queries = torch.cat([xq, torch.zeros(2, 1, dtype=F64)], dim=-1)
    out = linear_self_attention(context, queries, **gd_lsa_weights(d, eta, n_context=n))
    expected = xq @ _autograd_step(x, y, torch.zeros(d, dtype=F64), eta)
    scale = 1.0 + expected.abs().max()
    assert (-out[:, -1] - expected).abs().max() <= 1e-10 * scale


def test_pair_tokens_layout():
    g = torch.Generator().manual_seed(14)
    x, y = torch.randn(2, 4, 3, generator=g), torch.randn(2, 4, generator=g)
    t = pair_tokens(x, y)
    assert t.shape == (2, 4, 7)
    torch.testing.assert_close(t[:, 0], torch.cat([torch.zeros(2, 4), x[:, 0]], -1))
    for i in range(1, 4):
        torch.testing.assert_close(t[:, i], torch.cat([x[:, i - 1], y[:, i - 1, None], x[:, i]], -1))
