"""Tests for minitorch_xf.theory.universality: equivariance against an explicit permutation loop, the sweep
against its definition, the position classifier's structural blindness."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf.tasks.positions import position_identification
from minitorch_xf.theory.universality import (
    PositionClassifier,
    RandomSeqMap,
    SmallTransformer,
    permutation_equivariance_gap,
    width_sweep,
)

pytestmark = pytest.mark.ch05


@pytest.mark.checks("thm-equivariance")
@pytest.mark.parametrize("seed", range(3))
def test_position_free_transformer_is_equivariant(seed):
    torch.manual_seed(seed)
    model = SmallTransformer(3, 2, 8, n_layers=2, n_heads=2).double()
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    perm = torch.randperm(6)
    assert permutation_equivariance_gap(model, x, perm) < 1e-12
    # against a loop: output token perm[i] of f(x) is output token i of f(x permuted)
    out, out_p = model(x), model(x[:, perm])
    for i in range(6):
        torch.testing.assert_close(out_p[:, i], out[:, int(perm[i])])


def test_gap_detects_non_equivariant_map():
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    assert permutation_equivariance_gap(lambda z: z.cumsum(1), x, torch.tensor([4, 3, 2, 1, 0])) > 1e-3


def test_random_map_is_equivariant_and_fixed():
    g = torch.Generator().manual_seed(0)
    f = RandomSeqMap(3, g)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    assert permutation_equivariance_gap(f, x, torch.tensor([1, 0, 4, 2, 3])) < 1e-12
    torch.testing.assert_close(f(x), f(x))


def test_width_sweep_errors_and_slope():
    g = torch.Generator().manual_seed(0)
    target = RandomSeqMap(2, g)
    sweep = width_sweep(target, [2, 16], d=2, n=3, steps=150, generator=g)
    assert sweep.widths == [2, 16] and len(sweep.errors) == 2
    assert all(0 < e < 2 for e in sweep.errors)
    lx = torch.log(torch.tensor([2.0, 16.0]))
    ly = torch.log(torch.tensor(sweep.errors))
    assert sweep.slope == pytest.approx(float((ly[1] - ly[0]) / (lx[1] - lx[0])), rel=1e-6)


@pytest.mark.checks("thm-rpe-constant")
def test_rpe_classifier_outputs_one_answer_on_constant_input():
    torch.manual_seed(0)
    model = PositionClassifier(1, 8, 16, 2, 2, 8, universal=False)
    x, _ = position_identification(3, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(x)
    assert float((logits - logits[:, :1]).abs().max()) < 1e-5


def test_width_sweep_takes_a_learning_rate_per_width():
    """A function width -> lr gives each width its own rate: a rate of ~0 leaves that width's model untrained."""
    target = RandomSeqMap(2, torch.Generator().manual_seed(0))
    frozen = width_sweep(
        target,
        [8, 16],
        d=2,
        n=3,
        steps=100,
        lr=lambda w: 1e-12 if w == 16 else 3e-3,
        generator=torch.Generator().manual_seed(1),
    )
    assert frozen.errors[1] > 5 * frozen.errors[0], frozen.errors  # the untrained width stays far worse
