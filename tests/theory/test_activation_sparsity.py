"""The lazy-neuron statistic (theory.activation_sparsity) against counts read with hooks on the FFNs' first linear
map and torch.count_nonzero, and its value 1/2 at initialisation."""

from __future__ import annotations

import math

import pytest
import torch

from minitorch_xf.nn import Decoder, FeedForward
from minitorch_xf.nn.matformer import matformerize, set_widths
from minitorch_xf.theory.activation_sparsity import (
    ffn_preactivations,
    init_density_tolerance,
    nonzero_fraction,
    relu_density,
)

pytestmark = pytest.mark.ch14


def _model(d_ff=32, seed=0):
    torch.manual_seed(seed)
    return Decoder(13, d_model=16, n_heads=2, n_layers=3, d_ff=d_ff, max_len=10, activation="relu")


def _tokens(b=6, n=10):
    return torch.randint(0, 13, (b, n), generator=torch.Generator().manual_seed(4))


def _density_by_output_hooks(model, x, mask=None):
    """Count the non-zeros of every ReLU(w1 x + b1), read from w1's own output."""
    outs = []
    hooks = [blk.ffn.w1.register_forward_hook(lambda _m, _i, out: outs.append(torch.relu(out))) for blk in model.blocks]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    dens = []
    for a in outs:
        a = a if mask is None else a[mask]
        dens.append(torch.count_nonzero(a) / a.numel())
    return torch.stack(dens)


def test_density_matches_counts_from_hooks():
    model, x = _model(), _tokens()
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) > 0.5
    torch.testing.assert_close(relu_density(model, x), _density_by_output_hooks(model, x))
    torch.testing.assert_close(relu_density(model, x, mask=mask), _density_by_output_hooks(model, x, mask))


def test_preactivations_are_the_first_linear_maps_outputs():
    model, x = _model(), _tokens()
    outs = []
    hooks = [blk.ffn.w1.register_forward_hook(lambda _m, _i, out: outs.append(out)) for blk in model.blocks]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    for got, want in zip(ffn_preactivations(model, x), outs, strict=True):
        torch.testing.assert_close(got, want)


def test_nonzero_fraction_counts_relu_nonzeros():
    pre = torch.randn(7, 5, 33, generator=torch.Generator().manual_seed(0))
    pre[0, 0, :4] = 0.0  # ReLU(0) = 0: not active
    want = torch.count_nonzero(torch.relu(pre)) / pre.numel()
    torch.testing.assert_close(nonzero_fraction(pre), want)


@pytest.mark.checks("prop-ch14-relu-half")
def test_density_at_initialisation_is_one_half():
    """Symmetric weights and biases give symmetric pre-activations: E rho = 1/2 (the proposition of section 14.4).
    4 layers x 2048 units: within the Azuma-Hoeffding tolerance (0.022 at delta = 1e-3)."""
    torch.manual_seed(3)
    model = Decoder(13, d_model=32, n_heads=2, n_layers=4, d_ff=2048, max_len=10, activation="relu")
    dens = relu_density(model, _tokens())
    assert abs(float(dens.mean()) - 0.5) <= init_density_tolerance(2048, 4, 1e-3), dens


def test_a_matformer_layer_counts_only_its_active_prefix():
    model, x = _model(d_ff=32), _tokens()
    matformerize(model, [8, 16, 32])
    set_widths(model, [8, 16, 32])
    pres = ffn_preactivations(model, x)
    assert [p.shape[-1] for p in pres] == [8, 16, 32]
    full = matformerize(_model(d_ff=32), [8, 16, 32])
    full_pres = ffn_preactivations(full, x)
    torch.testing.assert_close(pres[0], full_pres[0][..., :8])


def test_a_lone_feedforward_is_measured():
    torch.manual_seed(0)
    ffn = FeedForward(8, 64, activation="relu")
    x = torch.randn(20, 8)
    want = torch.count_nonzero(torch.relu(ffn.w1(x))) / (20 * 64)
    torch.testing.assert_close(relu_density(ffn, x)[0], want.detach())


def _binomial_two_sided_tail(n, t):
    """Pr[|S/n - 1/2| > t] for S ~ Binomial(n, 1/2), summed exactly."""
    return sum(math.comb(n, s) for s in range(n + 1) if abs(s / n - 0.5) > t) / 2**n


@pytest.mark.parametrize(("d_ff", "n_layers"), [(1, 1), (4, 1), (8, 2), (16, 2), (64, 2), (128, 4)])
@pytest.mark.parametrize("delta", [0.5, 0.1, 1e-3])
def test_init_tolerance_bounds_the_worst_case_exactly(d_ff, n_layers, delta):
    """The worst case of the bound: every unit fires on all positions or on none, so the mean density is a mean of
    L f fair coins. Its exact two-sided tail beyond the tolerance is at most delta (Hoeffding is an upper bound).
    Nor is it vacuously loose: for small delta and enough units, where the normal approximation holds, Hoeffding's t
    is at most sqrt(2 ln(2/delta)) / z_delta < 1.5 times the exact quantile, so beyond t/2 the tail exceeds delta."""
    t = init_density_tolerance(d_ff, n_layers, delta)
    assert _binomial_two_sided_tail(d_ff * n_layers, t) <= delta
    if delta <= 0.1 and d_ff * n_layers >= 8:
        assert _binomial_two_sided_tail(d_ff * n_layers, t / 2) > delta


def test_init_tolerance_holds_for_random_ffn_stacks():
    """Simulation: 400 freshly initialised stacks of two ReLU FFNs (f = 8) on 40 Gaussian tokens; the share whose
    mean density leaves the tolerance at delta = 0.2 is at most 0.2 (plus 3 binomial standard deviations of a
    400-draw estimate)."""
    x = torch.randn(40, 8, generator=torch.Generator().manual_seed(5))
    misses = 0
    for seed in range(400):
        torch.manual_seed(10_000 + seed)
        stack = torch.nn.Sequential(FeedForward(8, 8, activation="relu"), FeedForward(8, 8, activation="relu"))
        misses += abs(float(relu_density(stack, x).mean()) - 0.5) > init_density_tolerance(8, 2, 0.2)
    assert misses / 400 <= 0.2 + 3 * math.sqrt(0.2 * 0.8 / 400), misses


def test_init_tolerance_shrinks_with_units():
    assert init_density_tolerance(16, 2) > init_density_tolerance(128, 2) > init_density_tolerance(128, 4)
    assert init_density_tolerance(16, 2, delta=0.1) < init_density_tolerance(16, 2, delta=1e-3)
