"""Chapter 10's public functions (theory.att_svm) called as a careless user would: each ``BAD`` call raises naming
the argument, each ``HANDLED`` call gives its documented answer."""

from __future__ import annotations

import math

import pytest
import torch
from bad_calls import Bad, Handled, walker_tests

from minitorch_xf.theory.att_svm import (
    TokenData,
    att_svm,
    attention_output,
    direction_correlation,
    logistic_loss,
    loss_grad,
    loss_grad_direction,
    make_token_data,
    optimal_tokens,
    selected_tokens,
    support_tokens,
    svm_constraints,
    svm_feasible,
    token_scores,
    train_kq,
    train_w,
)

pytestmark = pytest.mark.ch10
NAN = math.nan
D = make_token_data(3, 4, 5, torch.Generator().manual_seed(0))
W = torch.zeros(5, 5, dtype=torch.float64)
OPT = torch.tensor([0, 1, 2])


def data(**override) -> TokenData:
    return D._replace(**override)


BAD = [
    Bad("make_token_data n=0", lambda: make_token_data(0, 4, 5), ValueError, r"n=0"),
    Bad("make_token_data t=1", lambda: make_token_data(2, 1, 5), ValueError, r"t=1"),
    Bad("make_token_data d float", lambda: make_token_data(2, 3, 2.5), TypeError, r"d must be an int"),
    Bad("make_token_data generator", lambda: make_token_data(2, 3, 4, generator=0), TypeError, r"generator must be"),
    Bad("scores x 2-D", lambda: token_scores(D.x[0], D.y, D.v), ValueError, r"x must have at least 3 dims"),
    Bad("scores x int", lambda: token_scores(D.x.long(), D.y, D.v), TypeError, r"x must be a floating"),
    Bad("scores y shape", lambda: token_scores(D.x, D.y[:2], D.v), ValueError, r"y must have shape \(3,\)"),
    Bad("scores v dtype", lambda: token_scores(D.x, D.y, D.v.float()), TypeError, r"v has dtype torch.float32"),
    Bad("scores v list", lambda: token_scores(D.x, D.y, [1.0]), TypeError, r"v must be a torch.Tensor"),
    Bad("output w shape", lambda: attention_output(D.x, D.z, W[:4], D.v), ValueError, r"w must have shape \(5, 5\)"),
    Bad("output z shape", lambda: attention_output(D.x, D.z[:, :4], W, D.v), ValueError, r"z must have shape"),
    Bad("loss one token", lambda: logistic_loss(D.x[:, :1], D.y, D.z, W, D.v), ValueError, r"T=1"),
    Bad("grad w int", lambda: loss_grad(D.x, D.y, D.z, W.long(), D.v), TypeError, r"w must be a floating"),
    Bad("direction z 3-D", lambda: loss_grad_direction(D.x, D.y, D.z[None], W, D.v), ValueError, r"z must have shape"),
    Bad("selected w None", lambda: selected_tokens(D.x, D.z, None), TypeError, r"w must be a torch.Tensor"),
    Bad("train lr 0", lambda: train_w(D, lr=0.0), ValueError, r"lr=0.0 must be > 0"),
    Bad("train lr nan", lambda: train_w(D, lr=NAN), ValueError, r"lr=nan"),
    Bad("train n_steps 0", lambda: train_w(D, n_steps=0), ValueError, r"n_steps=0"),
    Bad("train n_records 1", lambda: train_w(D, n_steps=3, n_records=1), ValueError, r"n_records=1"),
    Bad("train labels 0/1", lambda: train_w(data(y=(D.y > 0).double()), n_steps=2), ValueError, r"labels -1 or \+1"),
    Bad("train w0 shape", lambda: train_w(D, n_steps=2, w0=torch.zeros(4, 4)), ValueError, r"w0 must have shape"),
    Bad("train_kq m 0", lambda: train_kq(D, n_steps=2, m=0), ValueError, r"m=0"),
    Bad("train_kq init 0", lambda: train_kq(D, n_steps=2, init_scale=0.0), ValueError, r"init_scale=0.0"),
    Bad("train_kq generator", lambda: train_kq(D, n_steps=2, generator="g"), TypeError, r"generator must be"),
    Bad("corr zero", lambda: direction_correlation(W, W + 1), ValueError, r"zero matrix has no direction"),
    Bad("corr 1-D", lambda: direction_correlation(D.v, D.v), ValueError, r"w1 must have at least 2 dims"),
    Bad("svm batched", lambda: att_svm(D.x[None], D.z[None], OPT), ValueError, r"take one problem"),
    Bad("svm opt float", lambda: att_svm(D.x, D.z, OPT.double()), TypeError, r"opt must be an integer tensor"),
    Bad("svm opt length", lambda: att_svm(D.x, D.z, OPT[:2]), ValueError, r"opt must have one token index"),
    Bad("svm opt range", lambda: att_svm(D.x, D.z, torch.tensor([0, 1, 4])), ValueError, r"outside \[0, 3\]"),
    Bad("svm norm", lambda: att_svm(D.x, D.z, OPT, norm="l1"), ValueError, r"norm='l1' is not one of"),
    Bad("svm tol", lambda: att_svm(D.x, D.z, OPT, tol=-1.0), ValueError, r"tol=-1.0"),
    Bad("svm infeasible", lambda: att_svm(D.x, D.z * 0, OPT), ValueError, r"Att-SVM is infeasible"),
    Bad("constraints opt list", lambda: svm_constraints(D.x, D.z, [0, 1, 2]), TypeError, r"opt must be a torch.Tensor"),
    Bad("train_w w0 list", lambda: train_w(D, n_steps=2, w0=W.tolist()), TypeError, r"w0 must be a torch.Tensor"),
    Bad("train_w w0 float32", lambda: train_w(D, n_steps=2, w0=W.float()), TypeError, r"w0 has dtype torch.float32"),
    Bad("train_w w0 meta", lambda: train_w(D, n_steps=2, w0=W.to("meta")), ValueError, r"w0 on meta"),
    Bad("make_token_data dtype long", lambda: make_token_data(2, 3, 4, dtype=torch.long), TypeError, r"dtype=torch"),
    Bad("make_token_data dtype str", lambda: make_token_data(2, 3, 4, dtype="float64"), TypeError, r"dtype='float64'"),
    Bad("make_token_data n 2.0", lambda: make_token_data(2.0, 3, 4), TypeError, r"n must be an int"),
    Bad(
        "optimal_tokens y 0.5",
        lambda: optimal_tokens(D.x, D.y.abs() * 0.5, D.v),
        ValueError,
        r"labels -1 or \+1, got 0.5",
    ),
    Bad("optimal_tokens y 2", lambda: optimal_tokens(D.x, D.y.abs() * 2, D.v), ValueError, r"labels -1 or \+1, got 2"),
    Bad("optimal_tokens v shape", lambda: optimal_tokens(D.x, D.y, D.v[:4]), ValueError, r"v must have shape \(5,\)"),
    Bad("optimal_tokens x None", lambda: optimal_tokens(None, D.y, D.v), TypeError, r"x must be a torch.Tensor"),
    Bad("token_scores y 0", lambda: token_scores(D.x, D.y * 0, D.v), ValueError, r"labels -1 or \+1, got 0"),
    Bad("svm_feasible opt range", lambda: svm_feasible(D.x, D.z, OPT + 2), ValueError, r"outside \[0, 3\]"),
    Bad("svm_feasible opt bool", lambda: svm_feasible(D.x, D.z, OPT > 0), TypeError, r"opt must be an integer"),
    Bad("svm_feasible z dtype", lambda: svm_feasible(D.x, D.z.float(), OPT), TypeError, r"z has dtype"),
    Bad("support_tokens w_mm shape", lambda: support_tokens(D.x, D.z, OPT, W[:4, :4]), ValueError, r"w_mm must have"),
    Bad("support_tokens w_mm dtype", lambda: support_tokens(D.x, D.z, OPT, W.float()), TypeError, r"w_mm has dtype"),
    Bad("TokenData v None", lambda: TokenData(D.x, D.y, D.z, None), TypeError, r"v must be a torch.Tensor"),
    Bad("TokenData y float32", lambda: TokenData(D.x, D.y.float(), D.z, D.v), TypeError, r"y has dtype torch.float32"),
    Bad("TokenData z shape", lambda: TokenData(D.x, D.y, D.z[:2], D.v), ValueError, r"z must have shape \(3, 5\)"),
    Bad("direction_correlation meta", lambda: direction_correlation(W, W.to("meta")), ValueError, r"w2 on meta"),
    Bad("make_token_data 2**40", lambda: make_token_data(2**20, 2**10, 2**10), ValueError, r"would need"),
    Bad(
        "svm_constraints opt meta", lambda: svm_constraints(D.x, D.z, OPT.to("meta")), ValueError, r"opt is on the meta"
    ),
    Bad("train_w data None", lambda: train_w(None, n_steps=2), TypeError, r"data must be a TokenData"),
    Bad("train_kq data triple", lambda: train_kq(tuple(D)[:3], n_steps=2), TypeError, r"data must be a TokenData"),
    Bad("train_w x None", lambda: train_w(data(x=None), n_steps=2), TypeError, r"x must be a torch.Tensor"),
    Bad("support w_mm 3-D", lambda: support_tokens(D.x, D.z, OPT, W[None]), ValueError, r"w_mm must have 2 dims"),
]


def _svm_feasible(w):
    a = svm_constraints(D.x, D.z, OPT)
    assert float((a @ w.reshape(-1)).min()) > 1 - 1e-6


HANDLED = [
    Handled(
        "zero W: uniform attention",
        lambda: attention_output(D.x, D.z, W, D.v),
        lambda f: torch.testing.assert_close(f, (D.x @ D.v).mean(-1)),
    ),
    Handled(
        "batched optimal tokens",
        lambda: optimal_tokens(D.x[None].expand(2, -1, -1, -1), D.y[None].expand(2, -1), D.v[None].expand(2, -1)),
        lambda o: torch.testing.assert_close(o[0], o[1]),
    ),
    # zero queries: every constraint reads 0 >= 1, so no W is feasible (by hand)
    Handled("svm_feasible zero queries", lambda: svm_feasible(D.x, D.z * 0, OPT), lambda ok: ok is False),
    # a non-contiguous (transposed) zero start is the default zero start
    Handled(
        "train_w w0 transposed zeros",
        lambda: train_w(D, n_steps=3, n_records=2, w0=W.T).w,
        lambda w: torch.testing.assert_close(w, train_w(D, n_steps=3, n_records=2).w),
    ),
    Handled("svm for any chosen tokens (d >= max(n, T-1))", lambda: att_svm(D.x, D.z, OPT), _svm_feasible),
    Handled(
        "corr broadcast",
        lambda: direction_correlation(torch.eye(5)[None].expand(3, 5, 5), torch.eye(5)),
        lambda c: torch.testing.assert_close(c, torch.ones(3)),
    ),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
