"""Chapter 9's public functions (``minitorch_xf.theory.icl``, ``minitorch_xf.tasks.icl_regression``) called as a
careless user would: bad calls raise up front naming the argument; odd but valid calls get their documented
answer (zero examples, singular designs: no NaN)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.tasks import pair_tokens
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
X, Y, XQ = r(6, 3, dtype=F64), r(6, dtype=F64, seed=1), r(2, 3, dtype=F64, seed=2)
EMPTY_X, EMPTY_Y = torch.zeros(0, 3, dtype=F64), torch.zeros(0, dtype=F64)
W = gd_lsa_weights(3, 0.5, 6)
CTX = torch.cat([X, Y[:, None]], -1)


def _finite(shape):
    def check(out):
        assert tuple(out.shape) == shape and torch.isfinite(out).all(), out

    return check


def _close(expected):
    def check(out):
        torch.testing.assert_close(out, expected)

    return check


def _zeros(out):
    assert torch.equal(out, torch.zeros_like(out)), out


BAD = [
    Bad("ols-no-examples", lambda: ols_predict(EMPTY_X, EMPTY_Y, XQ), ValueError, "N=0 in-context examples"),
    Bad("gd-no-examples", lambda: gd_predict(EMPTY_X, EMPTY_Y, XQ, 0.1), ValueError, "N=0 in-context examples"),
    Bad("gd-step-no-examples", lambda: gd_step(EMPTY_X, EMPTY_Y, 0.1), ValueError, "N=0"),
    Bad("ols-y-shape", lambda: ols_predict(X, Y[:4], XQ), ValueError, "y has shape"),
    Bad("ols-y-dtype", lambda: ols_predict(X, Y.float(), XQ), TypeError, "y has dtype"),
    Bad("ols-query-dim", lambda: ols_predict(X, Y, r(2, 4, dtype=F64)), ValueError, "x_query has shape"),
    Bad("ols-x-int", lambda: ols_predict(X.long(), Y, XQ), TypeError, "x must be a floating-point"),
    Bad("ols-x-list", lambda: ols_predict([[1.0]], Y, XQ), TypeError, "x must be a torch.Tensor"),
    Bad("ridge-lam-zero", lambda: ridge_predict(X, Y, XQ, 0.0), ValueError, "lam=0.0 must be > 0"),
    Bad("ridge-lam-nan", lambda: ridge_predict(X, Y, XQ, math.nan), ValueError, "lam=nan must be finite"),
    Bad("gd-eta-inf", lambda: gd_predict(X, Y, XQ, math.inf), ValueError, "eta=inf must be finite"),
    Bad("gd-eta-bool", lambda: gd_predict(X, Y, XQ, True), TypeError, "eta must be a real number"),
    Bad("gd-steps-negative", lambda: gd_predict(X, Y, XQ, 0.1, steps=-1), ValueError, "steps=-1"),
    Bad("gd-w0-dim", lambda: gd_predict(X, Y, XQ, 0.1, w0=torch.zeros(4, dtype=F64)), ValueError, "w0 has shape"),
    Bad("prefix-method", lambda: prefix_predictions(X, Y, "newton"), ValueError, "method='newton'"),
    Bad(
        "best-eta-all-zero",
        lambda: best_gd_learning_rate(X, Y * 0, XQ, torch.zeros(2, dtype=F64)),
        ValueError,
        "every one-step prediction is 0",
    ),
    Bad(
        "best-eta-yq-shape",
        lambda: best_gd_learning_rate(X, Y, XQ, torch.zeros(3, dtype=F64)),
        ValueError,
        "y_query has shape",
    ),
    Bad("weights-d-zero", lambda: gd_lsa_weights(0, 0.1, 5), ValueError, "d=0"),
    Bad("weights-n-zero", lambda: gd_lsa_weights(3, 0.1, 0), ValueError, "n_context=0"),
    Bad("weights-w0-shape", lambda: gd_lsa_weights(3, 0.1, 5, w0=torch.zeros(2, dtype=F64)), ValueError, "w0 has"),
    Bad(
        "lsa-w-shape",
        lambda: linear_self_attention(CTX, CTX, W["w_k"][:3, :3], W["w_q"], W["w_v"], W["p"]),
        ValueError,
        "w_k has shape",
    ),
    Bad("lsa-query-dim", lambda: linear_self_attention(CTX, X, **W), ValueError, "queries have token dim 3"),
    Bad("lsa-dtype", lambda: linear_self_attention(CTX.float(), CTX.float(), **W), TypeError, "w_k has dtype"),
    Bad("module-d", lambda: LinearSelfAttention(0), ValueError, "d=0"),
    Bad("module-init-std", lambda: LinearSelfAttention(3, init_std=-1.0), ValueError, "init_std=-1.0"),
    Bad("module-x-dim", lambda: LinearSelfAttention(4).double()(X, Y, XQ), ValueError, "d=4"),
    Bad("module-dtype", lambda: LinearSelfAttention(3)(X, Y, XQ), TypeError, "x has dtype torch.float64"),
    Bad("error-shape", lambda: squared_error_per_dim(r(4, 3), r(4, 2), 3), ValueError, "pred has shape"),
    Bad("error-d", lambda: squared_error_per_dim(r(4, 3), r(4, 3), 0), ValueError, "d=0"),
    Bad("gd_lsa_weights dtype long", lambda: gd_lsa_weights(3, 0.1, 5, dtype=torch.long), TypeError, "dtype=torch"),
    Bad("gd_lsa_weights dtype str", lambda: gd_lsa_weights(3, 0.1, 5, dtype="float64"), TypeError, "dtype='float64'"),
    Bad("gd_lsa_weights w0 list", lambda: gd_lsa_weights(3, 0.1, 5, w0=[0.0] * 3), TypeError, "w0 must be a torch"),
    Bad("gd_lsa_weights d 3.0", lambda: gd_lsa_weights(3.0, 0.1, 5), TypeError, "d must be an int"),
    Bad("gd_step w0 list", lambda: gd_step(X, Y, 0.1, w0=[0.0] * 3), TypeError, "w0 must be a torch.Tensor"),
    Bad("gd_step w0 float32", lambda: gd_step(X, Y, 0.1, w0=torch.zeros(3)), TypeError, "w0 has dtype torch.float32"),
    Bad("gd_predict steps 2.0", lambda: gd_predict(X, Y, XQ, 0.1, steps=2.0), TypeError, "steps must be an int"),
    Bad("gd_predict x_query meta", lambda: gd_predict(X, Y, XQ.to("meta"), 0.1), ValueError, "x_query on meta"),
    Bad("ridge_predict y None", lambda: ridge_predict(X, None, XQ, 1.0), TypeError, "y must be a torch.Tensor"),
    Bad(
        "squared_error_per_dim meta", lambda: squared_error_per_dim(r(4, 3), r(4, 3).to("meta"), 3), ValueError, "meta"
    ),
    Bad("squared_error_per_dim d 3.0", lambda: squared_error_per_dim(r(4, 3), r(4, 3), 3.0), TypeError, "d must be an"),
    Bad(
        "best_gd_learning_rate y_query float32",
        lambda: best_gd_learning_rate(X, Y, XQ, torch.zeros(2)),
        TypeError,
        "y_query has dtype torch.float32 but x has dtype torch.float64",
    ),
    Bad(
        "LinearSelfAttention x meta",
        lambda: LinearSelfAttention(3)(*(t.float().to("meta") for t in (X, Y, XQ))),
        ValueError,
        "x on meta",
    ),
    Bad(
        "linear_self_attention p None",
        lambda: linear_self_attention(CTX, CTX, W["w_k"], W["w_q"], W["w_v"], None),
        TypeError,
        "p must be a torch.Tensor",
    ),
    Bad("prefix_predictions method None", lambda: prefix_predictions(X, Y, None), ValueError, "method=None"),
    Bad("prefix_predictions gd without eta", lambda: prefix_predictions(X, Y, "gd"), TypeError, r"needs \('eta',\)"),
    Bad(
        "prefix_predictions ols lam", lambda: prefix_predictions(X, Y, "ols", lam=1.0), TypeError, r"unknown \['lam'\]"
    ),
    Bad("gd_lsa_weights d 2**40", lambda: gd_lsa_weights(2**40, 0.1, 5), ValueError, r"d=1099511627776.*would need"),
    Bad("LinearSelfAttention d 2**40", lambda: LinearSelfAttention(2**40), ValueError, r"would need"),
    Bad(
        "gd_step w0 extra dim",
        lambda: gd_step(X, Y, 0.1, w0=torch.zeros(1, 3, dtype=F64)),
        ValueError,
        r"w0 has shape \(1, 3\); expected \(d,\)",
    ),
    Bad("ols_predict x nan", lambda: ols_predict(X * math.nan, Y, XQ), ValueError, r"x holds NaN or inf"),
    Bad("pair-y-shape", lambda: pair_tokens(r(2, 4, 3), r(2, 3)), ValueError, "y has shape"),
    Bad("pair-empty", lambda: pair_tokens(torch.zeros(2, 0, 3), torch.zeros(2, 0)), ValueError, "n >= 1"),
    Bad("pair-dtype", lambda: pair_tokens(r(2, 4, 3), r(2, 4, dtype=F64)), TypeError, "y has dtype"),
]


def gd_ref(steps, eta=0.1):
    """numpy: `steps` GD steps on (1/2N)|Xw - y|^2 from 0, then the query predictions."""
    x, y, xq = X.numpy(), Y.numpy(), XQ.numpy()
    w = np.zeros(3)
    for _ in range(steps):
        w = w - eta / len(x) * x.T @ (x @ w - y)
    return torch.from_numpy(xq @ w)


HANDLED = [
    # a numpy int number of steps; a transposed (non-contiguous) x
    Handled("gd_predict numpy steps", lambda: gd_predict(X, Y, XQ, 0.1, steps=np.int64(2)), _close(gd_ref(2))),
    Handled("gd_predict non-contiguous x", lambda: gd_predict(X.T.contiguous().T, Y, XQ, 0.1), _close(gd_ref(1))),
    Handled(
        "ols_predict non-contiguous x",
        lambda: ols_predict(X.T.contiguous().T, Y, XQ),
        _close(torch.from_numpy(XQ.numpy() @ np.linalg.lstsq(X.numpy(), Y.numpy(), rcond=None)[0])),
    ),
    # a batched w0 of shape (1, d) expands over a batch of 2 prompts: one GD step from w0 = 0 is eta/N X^T y
    Handled(
        "gd_step w0 (1, d) over a batch",
        lambda: gd_step(X.expand(2, 6, 3), Y.expand(2, 6), 0.1, w0=torch.zeros(1, 3, dtype=F64)),
        _close(torch.from_numpy(0.1 / 6 * X.numpy().T @ Y.numpy()).expand(2, 3)),
    ),
    # float32 weights on request, P = eta / N I
    Handled(
        "gd_lsa_weights float32",
        lambda: gd_lsa_weights(3, 0.5, 5, dtype=torch.float32)["p"],
        _close(torch.eye(4) * 0.1),
    ),
    Handled("ols-fewer-examples-than-d", lambda: ols_predict(X[:1], Y[:1], XQ), _finite((2,))),
    Handled("ols-repeated-examples", lambda: ols_predict(X[:1].repeat(5, 1), Y[:1].repeat(5), XQ), _finite((2,))),
    Handled("ols-all-zero-design", lambda: ols_predict(torch.zeros(4, 3, dtype=F64), Y[:4], XQ), _zeros),
    Handled("ridge-no-examples-prior-mean", lambda: ridge_predict(EMPTY_X, EMPTY_Y, XQ, 1.0), _zeros),
    Handled("prefix-position-zero-prior-mean", lambda: prefix_predictions(X[None], Y[None], "ols")[:, 0], _zeros),
    Handled("gd-zero-steps-predicts-w0", lambda: gd_predict(X, Y, XQ, 0.1, steps=0), _zeros),
    Handled("prefix-ridge-finite", lambda: prefix_predictions(X[None], Y[None], "ridge", lam=0.5), _finite((1, 6))),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
