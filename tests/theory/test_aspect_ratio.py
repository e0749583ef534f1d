"""Tests for minitorch_xf.theory.aspect_ratio against the package's Decoder: parameters counted by torch
(``numel`` of every parameter) and FLOPs counted by ``torch.utils.flop_counter``."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from minitorch_xf.nn import Decoder
from minitorch_xf.nn.blocks import TransformerBlock
from minitorch_xf.theory.aspect_ratio import block_params, decoder_params, equal_param_shapes, forward_flops

pytestmark = pytest.mark.ch14


def numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 40), st.one_of(st.none(), st.integers(1, 50)))
def test_block_params_matches_the_package_block(d, f):
    assert block_params(d, f) == numel(TransformerBlock(d, 1, f))


@pytest.mark.checks("prop-ch14-equal-budget")
@pytest.mark.parametrize(("vocab", "d", "layers", "max_len"), [(16, 16, 2, 16), (7, 12, 3, 9), (50, 8, 1, 32)])
def test_decoder_params_matches_the_package_decoder(vocab, d, layers, max_len):
    model = Decoder(vocab, d_model=d, n_heads=1, n_layers=layers, max_len=max_len)
    assert decoder_params(vocab, d, layers, max_len) == numel(model)


def test_block_params_is_twelve_d_squared_plus_thirteen_d():
    for d in (1, 8, 64, 512):
        assert block_params(d) == 12 * d * d + 13 * d


@pytest.mark.parametrize(("vocab", "d", "layers", "n"), [(16, 16, 2, 16), (10, 8, 3, 7), (5, 24, 1, 12)])
def test_forward_flops_matches_the_flop_counter(vocab, d, layers, n):
    model = Decoder(vocab, d_model=d, n_heads=1, n_layers=layers, max_len=n)
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, n, dtype=torch.long))
    assert forward_flops(vocab, d, layers, n)["total"] == counter.get_total_flops()


def test_equal_param_shapes_are_within_tolerance_and_counted_exactly():
    budget = decoder_params(16, 16, 2, 16)
    shapes = equal_param_shapes(budget, [1, 2, 3, 4], 16, 16, rtol=0.1)
    assert [s["depth"] for s in shapes] == [1, 2, 3, 4]
    widths = [s["width"] for s in shapes]
    assert widths == sorted(widths, reverse=True)  # deeper means narrower
    for s in shapes:
        assert s["params"] == numel(Decoder(16, d_model=s["width"], n_heads=1, n_layers=s["depth"], max_len=16))
        assert abs(s["params"] - budget) <= 0.1 * budget
    assert shapes[1]["width"] == 16  # the budget's own shape is found


def test_equal_param_shapes_respects_heads():
    shapes = equal_param_shapes(20_000, [1, 2], 16, 16, n_heads=4, rtol=0.2)
    assert all(s["width"] % 4 == 0 for s in shapes)
