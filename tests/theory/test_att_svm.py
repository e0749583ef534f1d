"""Tests for minitorch_xf.theory.att_svm against independent references: loops, autograd, Decimal arithmetic, the SVM
dual solved by L-BFGS-B, KKT conditions and closed-form solutions of small SVMs."""

from __future__ import annotations

import math
from decimal import Decimal, getcontext

import numpy as np
import pytest
import torch
from scipy.optimize import minimize, nnls

from minitorch_xf.theory.att_svm import (
    AttSVMInfeasibleError,
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
F64 = torch.float64


def _data(seed: int, n: int = 4, t: int = 5, d: int = 6) -> TokenData:
    return make_token_data(n, t, d, torch.Generator().manual_seed(seed))


def _loop_output(x, z, w, v):
    out = []
    for i in range(x.shape[0]):
        s = torch.softmax(torch.stack([x[i, t] @ w @ z[i] for t in range(x.shape[1])]), 0)
        out.append(sum(s[t] * (x[i, t] @ v) for t in range(x.shape[1])))
    return torch.stack(out)


def test_make_token_data_shapes_norms_labels_and_reproducibility():
    x, y, z, v = _data(0)
    assert x.shape == (4, 5, 6) and y.shape == (4,) and z.shape == (4, 6) and v.shape == (6,)
    torch.testing.assert_close(x.norm(dim=-1), torch.ones(4, 5, dtype=F64))
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(4, dtype=F64))
    torch.testing.assert_close(v.norm(), torch.tensor(1.0, dtype=F64))
    assert set(y.tolist()) <= {-1.0, 1.0}
    torch.testing.assert_close(_data(0).x, x)
    assert not torch.allclose(_data(1).x, x)


def test_scores_and_optimal_tokens_match_a_loop():
    x, y, _z, v = _data(1)
    gamma = token_scores(x, y, v)
    for i in range(4):
        for t in range(5):
            assert math.isclose(float(gamma[i, t]), float(y[i] * (v @ x[i, t])), abs_tol=1e-12)
    assert optimal_tokens(x, y, v).tolist() == [int(np.argmax(gamma[i].numpy())) for i in range(4)]


def test_attention_output_matches_loop_and_batches():
    data = [_data(s) for s in range(3)]
    w = torch.randn(3, 6, 6, generator=torch.Generator().manual_seed(9), dtype=F64)
    batched = TokenData(*[torch.stack(c) for c in zip(*data, strict=True)])
    out = attention_output(batched.x, batched.z, w, batched.v)  # (3, n)
    for b, (x, _y, z, v) in enumerate(data):
        torch.testing.assert_close(out[b], _loop_output(x, z, w[b], v))


@pytest.mark.checks("lem-att-grad")
@pytest.mark.parametrize("seed", range(3))
def test_loss_grad_matches_autograd(seed):
    x, y, z, v = _data(seed)
    w = torch.randn(6, 6, generator=torch.Generator().manual_seed(seed + 10), dtype=F64).requires_grad_()
    (auto,) = torch.autograd.grad(logistic_loss(x, y, z, w, v), w)
    torch.testing.assert_close(loss_grad(x, y, z, w.detach(), v), auto)


def test_gradcheck_loss():
    x, y, z, v = _data(4, n=2, t=3, d=3)
    w = torch.randn(3, 3, generator=torch.Generator().manual_seed(1), dtype=F64).requires_grad_()
    assert torch.autograd.gradcheck(lambda m: logistic_loss(x, y, z, m, v), (w,))


def _decimal_grad_exact(x, y, z, w, v, digits: int = 80) -> list[list[Decimal]]:
    """The loss gradient in 80-digit Decimal arithmetic, by a plain loop (no cancellation issues)."""
    getcontext().prec = digits
    n, t, d = x.shape
    dec = [[[Decimal(float(x[i, j, k])) for k in range(d)] for j in range(t)] for i in range(n)]
    zd = [[Decimal(float(z[i, k])) for k in range(d)] for i in range(n)]
    wd = [[Decimal(float(w[a, b])) for b in range(d)] for a in range(d)]
    vd = [Decimal(float(c)) for c in v]
    grad = [[Decimal(0)] * d for _ in range(d)]
    for i in range(n):
        wz = [sum(wd[a][b] * zd[i][b] for b in range(d)) for a in range(d)]
        logits = [sum(dec[i][j][a] * wz[a] for a in range(d)) for j in range(t)]
        top = max(logits)
        e = [(lg - top).exp() for lg in logits]
        s = [ej / sum(e) for ej in e]
        vals = [sum(dec[i][j][a] * vd[a] for a in range(d)) for j in range(t)]
        f = sum(s[j] * vals[j] for j in range(t))
        yi = Decimal(float(y[i]))
        dl_df = -yi / (1 + (yi * f).exp())
        for a in range(d):
            for b in range(d):
                dfdw = sum(s[j] * (vals[j] - f) * dec[i][j][a] for j in range(t)) * zd[i][b]
                grad[a][b] += dl_df * dfdw / n
    return grad


def _decimal_grad(x, y, z, w, v) -> np.ndarray:
    return np.array([[float(g) for g in row] for row in _decimal_grad_exact(x, y, z, w, v)])


def _decimal_direction(grad: list[list[Decimal]]) -> np.ndarray:
    norm = sum(g * g for row in grad for g in row).sqrt()
    return np.array([[float(g / norm) for g in row] for row in grad])


def test_loss_grad_stays_accurate_when_attention_saturates():
    # W = 40 W_mm: every non-optimal token trails the optimal one by a logit gap >= 40, so its softmax weight is
    # below e^-40 ~ 4e-18, under float64's resolution of 1 - s_opt: the regime where v^T x_t - f is rounding noise
    x, y, z, v = _data(5, n=2, t=3, d=3)
    w = 40.0 * att_svm(x, z, optimal_tokens(x, y, v))
    ref = _decimal_grad(x, y, z, w, v)
    got = loss_grad(x, y, z, w, v).numpy()
    assert 0 < np.abs(ref).max() < 1e-15
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("seed", range(2))
def test_gradient_direction_is_the_normalized_gradient(seed):
    x, y, z, v = _data(seed)
    w = torch.randn(6, 6, generator=torch.Generator().manual_seed(seed + 20), dtype=F64)
    g = loss_grad(x, y, z, w, v)
    torch.testing.assert_close(loss_grad_direction(x, y, z, w, v), g / g.norm())


def test_gradient_direction_survives_where_the_gradient_underflows():
    # W = 1000 W_mm: logit gaps >= 1000, softmax weights ~e^-1000 = 0 in float64, so loss_grad is exactly zero;
    # the 80-digit Decimal gradient still has a direction, and loss_grad_direction must match it
    x, y, z, v = _data(5, n=2, t=3, d=3)
    w = 1000.0 * att_svm(x, z, optimal_tokens(x, y, v))
    assert float(loss_grad(x, y, z, w, v).abs().max()) == 0.0
    exact = _decimal_grad_exact(x, y, z, w, v, digits=1000)  # v_sel - f ~ e^-1000 cancels ~435 leading digits
    assert all(float(g) == 0.0 for row in exact for g in row)  # the true gradient is below float64's range
    ref_dir = _decimal_direction(exact)
    np.testing.assert_allclose(loss_grad_direction(x, y, z, w, v).numpy(), ref_dir, atol=1e-8)


def test_normalized_gd_takes_steps_of_length_lr_and_lowers_the_loss():
    data = _data(6)
    res = train_w(data, lr=0.05, n_steps=30, n_records=31)
    steps = (res.path[1:] - res.path[:-1]).flatten(-2).norm(dim=-1)
    torch.testing.assert_close(steps, torch.full_like(steps, 0.05))
    assert float(res.loss[-1]) < float(res.loss[0])


def test_direction_correlation_is_the_cosine_of_the_flattened_matrices():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(4, 5, 5, generator=g, dtype=F64), torch.randn(4, 5, 5, generator=g, dtype=F64)
    expected = torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)
    torch.testing.assert_close(direction_correlation(a, b), expected)
    torch.testing.assert_close(direction_correlation(a, -3.0 * a), -torch.ones(4, dtype=F64))


# ---------------------------------------------------------------------------------------------------- the SVM


def _dual_solution(a: np.ndarray) -> np.ndarray:
    """min ||w|| s.t. a w >= 1 through its dual max 1'l - |a'l|^2/2, l >= 0 (L-BFGS-B with bounds): w = a' l."""
    res = minimize(
        lambda lam: (0.5 * np.sum((a.T @ lam) ** 2) - lam.sum(), a @ (a.T @ lam) - 1.0),
        np.zeros(len(a)),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * len(a),
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 20000},
    )
    return a.T @ res.x


@pytest.mark.parametrize("seed", range(4))
def test_frobenius_svm_matches_the_dual_and_meets_kkt(seed):
    x, y, z, v = _data(seed, n=5, t=6, d=6)  # d >= max(n, T - 1): feasible for generic data
    opt = optimal_tokens(x, y, v)
    w_mm = att_svm(x, z, opt)
    a = svm_constraints(x, z, opt).numpy()
    w_vec = w_mm.reshape(-1).numpy()
    np.testing.assert_allclose(w_vec, _dual_solution(a), atol=1e-5 * np.abs(w_vec).max())
    margins = a @ w_vec
    assert margins.min() > 1 - 1e-7  # primal feasible
    active = margins < 1 + 1e-6
    _lam, resid = nnls(a[active].T, w_vec)  # stationarity: w = sum over active constraints of lam * a, lam >= 0
    assert resid < 1e-6 * np.linalg.norm(w_vec), f"w is not a non-negative combination of active rows ({resid:.2e})"
    # support_tokens reports exactly the active constraints
    mask = support_tokens(x, z, opt, w_mm, tol=1e-6)
    assert int(mask.sum()) == int(active.sum())


def test_svm_constraint_rows_give_the_margins():
    x, y, z, v = _data(7)
    opt = optimal_tokens(x, y, v)
    w = torch.randn(6, 6, generator=torch.Generator().manual_seed(0), dtype=F64)
    rows = svm_constraints(x, z, opt) @ w.reshape(-1)
    expected = [
        float((x[i, opt[i]] - x[i, t]) @ w @ z[i]) for i in range(x.shape[0]) for t in range(x.shape[1]) if t != opt[i]
    ]
    np.testing.assert_allclose(rows.numpy(), expected, atol=1e-12)


def test_one_dimensional_svm_has_a_closed_form():
    # d = 1: constraints c_k w >= 1 with c_k = (x_opt - x_t) z > 0, so w_mm = max_k 1 / c_k
    x = torch.tensor([[[2.0], [0.5], [-1.0]], [[1.0], [1.5], [0.2]]], dtype=F64)
    z = torch.tensor([[1.0], [-2.0]], dtype=F64)
    opt = torch.tensor([0, 2])
    c = [(2.0 - 0.5) * 1, (2.0 + 1.0) * 1, (0.2 - 1.0) * -2.0, (0.2 - 1.5) * -2.0]
    for norm in ("fro", "nuc"):
        torch.testing.assert_close(att_svm(x, z, opt, norm=norm), torch.tensor([[max(1 / ck for ck in c)]], dtype=F64))


def _two_query_problem(cos: float):
    """n = 2, T = 2, d = 2, z_1 = e_1, z_2 = e_2, unit x_opt - x_other = c_1, c_2 with c_1 . c_2 = cos."""
    theta = math.acos(cos)
    c1 = torch.tensor([1.0, 0.0], dtype=F64)
    c2 = torch.tensor([math.cos(theta), math.sin(theta)], dtype=F64)
    x = torch.stack([torch.stack([c1 / 2, -c1 / 2]), torch.stack([c2 / 2, -c2 / 2])])
    return x, torch.eye(2, dtype=F64), torch.tensor([0, 0]), c1, c2


@pytest.mark.parametrize("cos", [0.3, 0.5, 0.8])
def test_frobenius_and_nuclear_svms_differ_as_derived(cos):
    # W e_i = column i, so the constraints are c_1 . W[:, 0] >= 1 and c_2 . W[:, 1] >= 1. Frobenius: W = [c_1 c_2].
    # Nuclear: the rank-one W = a (1, 1) with a = (c_1 + c_2) / (1 + cos), norm 2 / sqrt(1 + cos) (the dual matrix
    # G = lam [c_1 c_2] with lam = 1 / sqrt(1 + cos) has spectral norm 1 and certifies it).
    x, z, opt, c1, c2 = _two_query_problem(cos)
    torch.testing.assert_close(att_svm(x, z, opt, norm="fro"), torch.stack([c1, c2], dim=1), atol=1e-7, rtol=1e-7)
    w_nuc = att_svm(x, z, opt, norm="nuc")
    a = (c1 + c2) / (1 + cos)
    torch.testing.assert_close(w_nuc, torch.outer(a, torch.ones(2, dtype=F64)), atol=1e-5, rtol=1e-5)
    assert math.isclose(float(torch.linalg.matrix_norm(w_nuc, "nuc")), 2 / math.sqrt(1 + cos), rel_tol=1e-7)


def test_shared_query_gives_the_same_rank_one_solution_for_both_norms():
    # z_i = z for all i: only u = W z is constrained, the optimum is W = u* z^T / |z|^2 for both norms, with u* the
    # ordinary hard-margin SVM of the differences x_opt - x_t (solved here by its dual).
    x, y, _, v = _data(8, n=3, t=4, d=5)
    z = torch.ones(3, 5, dtype=F64) / math.sqrt(5)
    opt = optimal_tokens(x, y, v)
    diffs = np.stack([(x[i, opt[i]] - x[i, t]).numpy() for i in range(3) for t in range(4) if t != opt[i]])
    expected = torch.outer(torch.as_tensor(_dual_solution(diffs)), z[0])
    for norm in ("fro", "nuc"):
        torch.testing.assert_close(att_svm(x, z, opt, norm=norm), expected, atol=1e-5, rtol=1e-5)


def test_nuclear_solution_has_lower_nuclear_norm_and_rank():
    x, y, z, v = _data(2, n=6, t=8, d=10)
    opt = optimal_tokens(x, y, v)
    w_fro, w_nuc = att_svm(x, z, opt, "fro"), att_svm(x, z, opt, "nuc")
    assert float(torch.linalg.matrix_norm(w_nuc, "nuc")) < float(torch.linalg.matrix_norm(w_fro, "nuc"))
    assert float(w_fro.norm()) <= float(w_nuc.norm()) + 1e-8  # each is optimal for its own norm

    def rank(w):
        sv = torch.linalg.svdvals(w)
        return int((sv > 1e-4 * sv[0]).sum())

    assert rank(w_nuc) < rank(w_fro)


@pytest.mark.checks("lem-nuclear-variational")
@pytest.mark.parametrize("rank", [1, 3, 5])
def test_nuclear_norm_is_the_smallest_factor_cost(rank):
    """||W||_* = min over K Q^T = W of (|K|^2 + |Q|^2)/2: the SVD factors attain torch's nuclear norm; every other
    factorization (K A, Q A^{-T}) costs at least as much; for invertible W, minimizing the cost over A from a random
    factorization reaches it (for rank(W) < d the minimum needs a singular K, outside that orbit)."""
    g = torch.Generator().manual_seed(rank)
    d = 5
    w = torch.randn(d, rank, generator=g, dtype=F64) @ torch.randn(rank, d, generator=g, dtype=F64)
    nuc = float(torch.linalg.matrix_norm(w, "nuc"))

    def cost(k, q):
        return 0.5 * (k.norm() ** 2 + q.norm() ** 2)

    u, s, vh = torch.linalg.svd(w)
    k, q = u * s.sqrt(), vh.T * s.sqrt()  # (d, d) each, K Q^T = W
    torch.testing.assert_close(k @ q.T, w)
    assert math.isclose(float(cost(k, q)), nuc, rel_tol=1e-10)
    for _ in range(100):
        a = torch.randn(d, d, generator=g, dtype=F64)
        k2, q2 = k @ a, q @ torch.linalg.inv(a).T
        torch.testing.assert_close(k2 @ q2.T, w)
        assert float(cost(k2, q2)) >= nuc * (1 - 1e-10)
    if rank < d:
        return
    a = (torch.eye(d, dtype=F64) + 0.5 * torch.randn(d, d, generator=g, dtype=F64)).requires_grad_()
    k0 = torch.randn(d, d, generator=g, dtype=F64)  # a random factorization K0 Q0^T = W (K0 invertible)
    q0 = torch.linalg.solve(k0, w).T  # Q0^T = K0^{-1} W
    opt = torch.optim.LBFGS(
        [a], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14, line_search_fn="strong_wolfe"
    )

    def closure():
        opt.zero_grad()
        c = cost(k0 @ a, q0 @ torch.linalg.inv(a).T)
        c.backward()
        return c

    opt.step(closure)
    with torch.no_grad():
        reached = float(cost(k0 @ a, q0 @ torch.linalg.inv(a).T))
    assert math.isclose(reached, nuc, rel_tol=1e-5), f"minimized factor cost {reached:.8f} vs nuclear norm {nuc:.8f}"


def test_duplicate_token_makes_the_svm_infeasible():
    x, y, z, v = _data(3)
    opt = optimal_tokens(x, y, v)
    other = int((opt[0] + 1) % x.shape[1])
    x = x.clone()
    x[0, other] = x[0, opt[0]]  # (x_opt - x_other)^T W z = 0 < 1 for every W
    with pytest.raises(AttSVMInfeasibleError, match="infeasible"):
        att_svm(x, z, opt)


@pytest.mark.checks("lem-feasible")
def test_feasibility_matches_the_solver_and_overparameterization():
    # d >= max(n, T - 1): feasible for generic data; the solver and the feasibility test agree either way
    for d, expected in ((7, True), (10, True)):
        x, y, z, v = _data(d, n=6, t=8, d=d)
        assert svm_feasible(x, z, optimal_tokens(x, y, v)) is expected
    x, y, z, v = _data(0, n=12, t=8, d=2)  # 84 constraints, 4 unknowns
    opt = optimal_tokens(x, y, v)
    assert svm_feasible(x, z, opt) is False
    with pytest.raises(AttSVMInfeasibleError):
        att_svm(x, z, opt)


@pytest.mark.checks("lem-feasible")
@pytest.mark.parametrize(("n", "t", "d"), [(6, 8, 10), (3, 4, 3), (2, 6, 5)])
def test_the_feasibility_construction_meets_every_constraint_with_margin_one(n, t, d):
    """The lemma's proof: u_i = D_i^T (D_i D_i^T)^{-1} 1 and W = U (Z^T Z)^{-1} Z^T give (x_opt - x_t)^T W z_i = 1 for
    every constraint when d >= max(n, T - 1); the margins are computed by a plain loop."""
    x, y, z, v = _data(20 + d, n=n, t=t, d=d)
    opt = optimal_tokens(x, y, v)
    us = []
    for i in range(n):
        diffs = torch.stack([x[i, opt[i]] - x[i, j] for j in range(t) if j != opt[i]])  # (T - 1, d)
        us.append(diffs.T @ torch.linalg.solve(diffs @ diffs.T, torch.ones(t - 1, dtype=F64)))
    zt, u = z.T, torch.stack(us, dim=1)  # (d, n) each
    w = u @ torch.linalg.solve(zt.T @ zt, zt.T)  # (d, d): W z_i = u_i
    margins = [float((x[i, opt[i]] - x[i, j]) @ w @ z[i]) for i in range(n) for j in range(t) if j != opt[i]]
    np.testing.assert_allclose(margins, 1.0, atol=1e-9)
    assert svm_feasible(x, z, opt)


def test_conflicting_constraints_are_infeasible():
    # d = 1: sequence 0 asks w >= 1, sequence 1 asks -w >= 1
    x = torch.tensor([[[1.0], [0.0]], [[1.0], [0.0]]], dtype=F64)
    z = torch.tensor([[1.0], [-1.0]], dtype=F64)
    with pytest.raises(AttSVMInfeasibleError, match="no W separates"):
        att_svm(x, z, torch.tensor([0, 0]))


# ---------------------------------------------------------------------------------------------------- the claims


@pytest.fixture
def one_thread():
    """Tiny tensors: a second intra-op thread only adds contention (8x slower on a shared 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.checks("thm-att-svm-convergence")
def test_normalized_gd_converges_in_direction_to_the_svm_of_the_selected_tokens(one_thread):
    data = _data(11, n=6, t=8, d=10)
    res = train_w(data, lr=0.1, n_steps=2000)
    sel = selected_tokens(data.x, data.z, res.w)
    corr = direction_correlation(res.path[1:], att_svm(data.x, data.z, sel))  # path[0] = 0 has no direction
    assert float(corr[-1]) > 0.99, f"correlation with the Att-SVM direction {float(corr[-1]):.4f}"
    assert float(corr[-1]) > float(corr[len(corr) // 4]), "the direction did not move toward the SVM"


def test_kq_step_is_the_chain_rule_of_the_w_gradient():
    data = _data(12)
    g = torch.Generator().manual_seed(0)
    res = train_kq(data, lr=0.01, n_steps=1, generator=g, n_records=2)
    gen = torch.Generator().manual_seed(0)  # the same draws as train_kq's start: K first, then Q
    k0 = 0.1 * torch.randn(6, 6, generator=gen, dtype=F64)
    q0 = 0.1 * torch.randn(6, 6, generator=gen, dtype=F64)
    k, q = k0.clone().requires_grad_(), q0.clone().requires_grad_()
    gk, gq = torch.autograd.grad(logistic_loss(data.x, data.y, data.z, k @ q.T, data.v), (k, q))
    k1, q1 = k0 - 0.01 * gk / gk.norm(), q0 - 0.01 * gq / gq.norm()
    torch.testing.assert_close(res.path[0], k0 @ q0.T)
    torch.testing.assert_close(res.w, k1 @ q1.T)
