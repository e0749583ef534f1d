"""Tests for minitorch_xf.theory.energy against independent references (autograd, torch's attention, loops)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from minitorch_xf.theory.energy import (
    EnergyTransformer,
    energy_descent_step,
    hopfield_energy,
    hopfield_update,
    kernel_weights,
    pairwise_energy,
    pairwise_energy_grad,
    relu_energy,
    relu_step,
    softmax_attention_update,
)

pytestmark = pytest.mark.ch03


def _setup(seed: int, n: int = 7, d: int = 5):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(n, d, generator=g, dtype=torch.float64)
    w = torch.randn(d, d, generator=g, dtype=torch.float64) / d**0.5
    return y, w, w.T @ w


def test_energy_matches_double_loop():
    y, _, w_s = _setup(0)
    expected = 0.0
    for i in range(y.shape[0]):
        for j in range(y.shape[0]):
            u = y[i] - y[j]
            expected -= torch.exp(-0.5 * u @ w_s @ u)
    torch.testing.assert_close(pairwise_energy(y, w_s), expected)


@pytest.mark.parametrize("seed", range(3))
def test_gradient_matches_autograd(seed):
    y, _, w_s = _setup(seed)
    y = y.requires_grad_()
    (auto,) = torch.autograd.grad(pairwise_energy(y, w_s), y)
    torch.testing.assert_close(pairwise_energy_grad(y.detach(), w_s), auto)


def test_gradcheck_energy():
    y, _, w_s = _setup(1, n=4, d=3)
    assert torch.autograd.gradcheck(lambda t: pairwise_energy(t, w_s), (y.requires_grad_(),))


def test_descent_step_is_preconditioned_gradient_step():
    y, _w, w_s = _setup(2)
    beta = kernel_weights(y, w_s)
    step = 0.3
    precond = 1.0 / (2.0 * beta.sum(-1, keepdim=True))
    expected = y - step * precond * pairwise_energy_grad(y, w_s) @ torch.linalg.inv(w_s)
    torch.testing.assert_close(energy_descent_step(y, step, w_s), expected)


@pytest.mark.checks("thm-step-is-attention")
@pytest.mark.parametrize("seed", range(3))
def test_descent_step_is_softmax_attention_for_equal_norms(seed):
    y, w, w_s = _setup(seed, n=9, d=6)
    y = y / (y @ w_s * y).sum(-1, keepdim=True).sqrt() * 1.3  # every token has W_s-norm 1.3
    q, k = (y @ w.T).unsqueeze(0), (y @ w.T).unsqueeze(0)  # scores y_i^T W^T W y_j
    expected = F.scaled_dot_product_attention(q, k, y.unsqueeze(0), scale=1.0)[0]
    torch.testing.assert_close(energy_descent_step(y, 1.0, w_s), expected)
    torch.testing.assert_close(softmax_attention_update(y, w.T, w.T), expected)


def test_descent_step_with_layernorm_tokens_identity_ws():
    g = torch.Generator().manual_seed(5)
    y = F.layer_norm(torch.randn(2, 6, 8, generator=g, dtype=torch.float64), (8,), eps=0.0)  # norms sqrt(d)
    expected = F.scaled_dot_product_attention(y, y, y, scale=1.0)
    torch.testing.assert_close(energy_descent_step(y, 1.0), expected)


@pytest.mark.checks("thm-energy-monotone")
@pytest.mark.parametrize("step", [0.1, 0.5, 1.0])
def test_energy_non_increasing_small_step(step):
    for seed in range(5):
        y, w, _ = _setup(seed, n=10, d=6)
        with torch.no_grad():
            _, energies = EnergyTransformer(6, 10, step, w).trajectory(y)
        rise = (energies[1:] - energies[:-1]) / energies[:-1].abs()
        assert float(rise.max()) <= 1e-9, f"seed {seed}: energy rose by {float(rise.max()):.3g} (relative)"


def test_large_step_breaks_monotonicity():
    y, w, _ = _setup(0, n=16, d=8)
    _, energies = EnergyTransformer(8, 12, 3.0, w, allow_step_above_one=True).trajectory(F.layer_norm(y, (8,)))
    assert bool((energies[1:] > energies[:-1]).any())


@pytest.mark.checks("thm-relu-projected")
def test_relu_step_is_relu_of_affine_and_decreases():
    g = torch.Generator().manual_seed(3)
    d = 6
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    w = (a + a.T) / 2
    w = 0.9 * w / torch.linalg.eigvalsh(w).abs().max()  # symmetric, spectral radius 0.9
    b = torch.randn(d, generator=g, dtype=torch.float64)
    x = torch.relu(torch.randn(5, d, generator=g, dtype=torch.float64))
    torch.testing.assert_close(relu_step(x, w, b), torch.relu(x @ w + b))
    for _ in range(20):
        x_new = relu_step(x, w, b)
        assert bool((relu_energy(x_new, w, b) <= relu_energy(x, w, b) + 1e-12).all())
        x = x_new


def test_relu_energy_infinite_off_orthant():
    w = torch.eye(3, dtype=torch.float64) * 0.5
    x = torch.tensor([[1.0, -0.1, 2.0]], dtype=torch.float64)
    assert torch.isinf(relu_energy(x, w)).all()


def test_hopfield_update_is_attention_and_decreases():
    g = torch.Generator().manual_seed(4)
    patterns = torch.randn(12, 5, generator=g, dtype=torch.float64)
    xi = torch.randn(3, 5, generator=g, dtype=torch.float64)
    beta = 2.0
    expected = F.scaled_dot_product_attention(xi[None], patterns[None], patterns[None], scale=beta)[0]
    torch.testing.assert_close(hopfield_update(xi, patterns, beta), expected)
    energy = hopfield_energy(xi, patterns, beta)
    assert bool((energy >= -1e-12).all())
    for _ in range(5):
        xi = hopfield_update(xi, patterns, beta)
        new = hopfield_energy(xi, patterns, beta)
        assert bool((new <= energy + 1e-10).all())
        energy = new


def test_bad_inputs():
    y, w, w_s = _setup(0)
    with pytest.raises(ValueError, match="step=0"):
        energy_descent_step(y, 0.0, w_s)
    with pytest.raises(ValueError, match="step=-1"):
        EnergyTransformer(5, 3, step=-1.0)
    with pytest.raises(ValueError, match="step=inf"):
        energy_descent_step(y, float("inf"))
    with pytest.raises(ValueError, match="w_s must have shape"):
        pairwise_energy(y, torch.eye(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="symmetric"):
        pairwise_energy(y, w)
    with pytest.raises(ValueError, match="token dimension 5"):
        EnergyTransformer(4, 2)(y)
    with pytest.raises(ValueError, match="w must have shape"):
        EnergyTransformer(5, 2, w=torch.eye(3))
    with pytest.raises(TypeError, match=r"y must be a torch\.Tensor"):
        pairwise_energy([[1.0, 2.0]])
    with pytest.raises(ValueError, match="symmetric"):
        relu_step(torch.ones(2, 5, dtype=torch.float64), w)
    with pytest.raises(ValueError, match="patterns have d=4"):
        hopfield_update(y, torch.ones(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="beta=0"):
        hopfield_energy(y, y, beta=0.0)
