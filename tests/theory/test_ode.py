"""Splitting schemes of chapter 2 against independent references.

For linear fields F(x) = x A^T and G(x) = x B^T the exact flows are matrix exponentials, so every scheme has a
closed form that shares no code with minitorch_xf.theory.ode.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch_xf.theory.ode import (
    euler_flow,
    fit_loglog_slope,
    integrate,
    lie_trotter_step,
    local_errors,
    random_particle_system,
    rk4_flow,
    strang_step,
)

pytestmark = pytest.mark.ch02

GAMMAS = [0.025 * 2**k for k in range(5)]  # 0.025 ... 0.4


def _linear(d: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    b = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    x = torch.randn(3, d, generator=g, dtype=torch.float64)  # (n, d): rows are particles

    def exact(mat):
        return lambda y, gamma: y @ torch.linalg.matrix_exp(gamma * mat).T

    return a, b, x, exact


def test_exact_subflows_match_matrix_exponentials():
    a, b, x, exact = _linear()
    gamma = 0.3
    ea, eb = torch.linalg.matrix_exp(gamma * a), torch.linalg.matrix_exp(gamma * b)
    eb_half = torch.linalg.matrix_exp(0.5 * gamma * b)
    torch.testing.assert_close(lie_trotter_step(x, gamma, exact(a), exact(b)), x @ (eb @ ea).T)
    torch.testing.assert_close(strang_step(x, gamma, exact(a), exact(b)), x @ (eb_half @ ea @ eb_half).T)


def test_euler_substeps_are_the_residual_layers():
    a, b, x, _ = _linear(seed=1)
    gamma, eye = 0.2, torch.eye(4, dtype=torch.float64)
    fa, fb = euler_flow(lambda y: y @ a.T), euler_flow(lambda y: y @ b.T)
    lt = x @ ((eye + gamma * b) @ (eye + gamma * a)).T  # transformer: attention then FFN residual step
    mac = x @ ((eye + 0.5 * gamma * b) @ (eye + gamma * a) @ (eye + 0.5 * gamma * b)).T  # Macaron
    torch.testing.assert_close(lie_trotter_step(x, gamma, fa, fb), lt)
    torch.testing.assert_close(strang_step(x, gamma, fa, fb), mac)


def test_rk4_flow_matches_matrix_exponential_at_fourth_order():
    a, _, x, _ = _linear(seed=2)
    exact = x @ torch.linalg.matrix_exp(0.7 * a).T
    err = [float((rk4_flow(lambda y: y @ a.T, n)(x, 0.7) - exact).abs().max()) for n in (8, 16)]
    assert err[1] < 1e-7, f"RK4 with 16 sub-steps is off by {err[1]:.3g}"
    assert 12 < err[0] / err[1] < 20, f"halving h should divide the error by ~16, got {err[0] / err[1]:.2f}"


@pytest.mark.checks("thm-lie-trotter", "thm-strang")
@pytest.mark.parametrize("scheme, order", [(lie_trotter_step, 2.0), (strang_step, 3.0)])
def test_linear_splitting_error_orders(scheme, order):
    a, b, x, exact = _linear(seed=3)
    errors = torch.stack(
        [
            torch.linalg.vector_norm(scheme(x, g, exact(a), exact(b)) - x @ torch.linalg.matrix_exp(g * (a + b)).T)
            for g in GAMMAS
        ]
    )
    slope = fit_loglog_slope(GAMMAS, errors)
    assert abs(slope - order) < 0.3, f"{scheme.__name__}: slope {slope:.3f}, expected about {order}"


def test_local_errors_on_particle_system_orders():
    system = random_particle_system(d=3, hidden=8, seed=0)
    x0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = rk4_flow(system.field, 4)
    ff, fg = rk4_flow(system.interaction, 4), rk4_flow(system.per_particle, 4)
    lt = fit_loglog_slope(GAMMAS, local_errors(lie_trotter_step, ref, x0, GAMMAS, ff, fg))
    st_ = fit_loglog_slope(GAMMAS, local_errors(strang_step, ref, x0, GAMMAS, ff, fg))
    assert 1.7 <= lt <= 2.3, f"Lie-Trotter slope {lt:.3f}"
    assert 2.7 <= st_ <= 3.3, f"Strang slope {st_:.3f}"


def test_particle_system_interaction_against_torch_sdpa():
    system = random_particle_system(d=4, hidden=8, seed=5)
    x = torch.randn(2, 6, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = torch.nn.functional.scaled_dot_product_attention(x @ system.w_q, x @ system.w_k, x @ system.w_v)
    torch.testing.assert_close(system.interaction(x), expected)
    torch.testing.assert_close(system.per_particle(x), torch.tanh(x @ system.w_1 + system.b_1) @ system.w_2)


def test_integrate_trajectory_shape_and_start():
    a, b, x, exact = _linear(seed=4)
    traj = integrate(strang_step, x, 0.1, 5, exact(a), exact(b))
    assert traj.shape == (6, *x.shape)
    torch.testing.assert_close(traj[0], x)
    torch.testing.assert_close(traj[-1], strang_step(traj[-2], 0.1, exact(a), exact(b)))


@settings(max_examples=25, deadline=None)
@given(p=st.floats(0.5, 4.0), c=st.floats(-3.0, 3.0))
def test_fit_loglog_slope_recovers_power_law(p, c):
    gammas = [0.025, 0.05, 0.1, 0.2, 0.4]
    errors = [math.exp(c) * g**p for g in gammas]
    assert math.isclose(fit_loglog_slope(gammas, errors), p, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("gamma", [0.0, -0.1, -1])
def test_bad_step_size_raises_naming_it(gamma):
    a, b, x, exact = _linear()
    for scheme in (lie_trotter_step, strang_step):
        with pytest.raises(ValueError, match="gamma"):
            scheme(x, gamma, exact(a), exact(b))
    with pytest.raises(ValueError, match="gamma"):
        euler_flow(lambda y: y)(x, gamma)
    with pytest.raises(ValueError, match="gamma"):
        rk4_flow(lambda y: y)(x, gamma)


def test_bad_inputs():
    a, b, x, exact = _linear()
    with pytest.raises(TypeError, match="gamma"):
        strang_step(x, True, exact(a), exact(b))
    with pytest.raises(ValueError, match="gamma"):
        strang_step(x, float("inf"), exact(a), exact(b))
    with pytest.raises(TypeError, match="flow_g"):
        strang_step(x, 0.1, exact(a), None)
    with pytest.raises(ValueError, match="n_substeps"):
        rk4_flow(lambda y: y, 0)
    with pytest.raises(ValueError, match="errors"):
        fit_loglog_slope([0.1, 0.2], [1.0, 0.0])
    with pytest.raises(ValueError, match="entries"):
        fit_loglog_slope([0.1, 0.2, 0.3], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2"):
        fit_loglog_slope([0.1], [1.0])
    with pytest.raises(ValueError, match="gammas"):
        local_errors(strang_step, exact(a), x, [], exact(a), exact(b))
    with pytest.raises(ValueError, match="particle dim"):
        random_particle_system(d=3).interaction(torch.zeros(2, 4, dtype=torch.float64))
