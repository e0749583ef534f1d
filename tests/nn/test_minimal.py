"""The minimal transformer: its attention against a loop reference, symmetry, parameter counts, shapes."""

from __future__ import annotations

import math

import pytest
import torch

from minitorch_xf.nn import count_parameters
from minitorch_xf.nn.minimal import MinimalAttention, SequenceClassifier

pytestmark = pytest.mark.ch12


def test_minimal_attention_matches_a_loop_reference():
    torch.manual_seed(0)
    attn = MinimalAttention(4).double()
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    w = attn.weight
    expected = torch.zeros_like(x)
    for b in range(2):
        for i in range(5):
            scores = torch.stack([x[b, i] @ w @ x[b, j] / math.sqrt(4) for j in range(5)])
            expected[b, i] = (torch.softmax(scores, 0)[:, None] * x[b]).sum(0)
    torch.testing.assert_close(attn(x), expected)


def test_similarity_is_symmetric_and_causal_mask_holds():
    torch.manual_seed(1)
    attn = MinimalAttention(6)
    torch.testing.assert_close(attn.weight, attn.weight.T)
    assert not torch.allclose(MinimalAttention(6, symmetric=False).weight, attn.weight.T)
    x = torch.randn(1, 4, 6)
    y = attn(x, causal=True)
    torch.testing.assert_close(y[:, 0], x[:, 0])  # the first token sees only itself


def test_parameter_counts():
    full = SequenceClassifier(8, 8, 10, d_model=32, n_layers=2, block="full")
    minimal = SequenceClassifier(8, 8, 10, d_model=32, n_layers=2, block="minimal")
    shared = 8 * 32 + 32 + 8 * 32 + 2 * 32 + 8 * 32 * 10 + 10  # embed, positions, final LN, head
    assert count_parameters(minimal) == shared + 2 * (32 * 32 + 2 * 32)  # one W and one LN per layer
    assert count_parameters(full) == shared + 2 * (4 * (32 * 32 + 32) + (32 * 128 + 128 + 128 * 32 + 32) + 4 * 32)
    assert count_parameters(minimal) <= 0.3 * count_parameters(full)
    assert minimal(torch.randn(3, 8, 8)).shape == (3, 10)
