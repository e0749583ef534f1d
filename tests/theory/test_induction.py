"""Tests for minitorch_xf.theory.induction against independent references: the induction targets computed by a loop
over positions, attention weights written out one query at a time, and torch's scaled_dot_product_attention."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch_xf.theory.induction import (
    attention_only_forward,
    causal_attention,
    default_betas,
    induction_head,
    induction_weights,
    previous_token_head,
    two_layer_induction,
)

pytestmark = pytest.mark.ch14


def loop_targets(seq: list[int]) -> list[int | None]:
    """The token after the rightmost earlier occurrence of each token, or None: a plain loop."""
    out = []
    for t, tok in enumerate(seq):
        found = None
        for j in range(t - 1, -1, -1):
            if seq[j] == tok:
                found = seq[j + 1]
                break
        out.append(found)
    return out


def assert_solves(tokens: torch.Tensor, vocab: int, **betas):
    pred = two_layer_induction(tokens, vocab, **betas)
    for row, prow in zip(tokens.tolist(), pred.tolist(), strict=True):
        for t, want in enumerate(loop_targets(row)):
            if want is not None:
                assert prow[t] == want, f"sequence {row}, position {t}: predicted {prow[t]}, expected {want}"


@pytest.mark.checks("prop-ch14-induction-construction")
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 6), st.integers(0, 10_000))
def test_two_layer_model_solves_every_random_input(n, vocab, seed):
    tokens = torch.randint(vocab, (3, n), generator=torch.Generator().manual_seed(seed))
    assert_solves(tokens, vocab)


@pytest.mark.parametrize(
    "seq",
    [
        [0] * 20,  # one token repeated: every answer is that token
        [0, 1] * 10,  # alternating
        [3, 3, 1, 3, 3, 2, 3],  # repeats next to each other and further back
        list(range(8)) + list(range(8)),  # a copied block: the textbook induction pattern
        [1, 2, 1, 3, 1, 4, 1],  # the same token followed by different tokens: only the latest counts
        [5] + [0, 1, 2, 3] * 6 + [5],  # first and last tokens match across the whole sequence
    ],
)
def test_two_layer_model_solves_edge_inputs(seq):
    assert_solves(torch.tensor([seq]), max(seq) + 1)


def test_small_beta2_breaks_the_tie_towards_the_wrong_match():
    seq = torch.tensor([[1, 2, 1, 3, 1, 4, 1]])  # 1 is followed by 2, then 3, then 4: the answer at the end is 4
    assert two_layer_induction(seq, 5)[0, -1] == 4
    assert two_layer_induction(seq, 5, beta2=1.0)[0, -1] != 4


def test_default_betas_meet_the_proposition():
    for n in (1, 2, 10, 100):
        b1, b2 = default_betas(n)
        assert (n - 1) * math.exp(-b1) <= 1 / (4 * n)
        assert b2 > 4 * n * math.log(max(n - 1, 1))


def loop_causal_attention(scores: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Row i: exp(scores[i, j]) v_j / sum_j exp(scores[i, j]) over j <= i, one row at a time (2-d inputs)."""
    out = torch.zeros(scores.shape[0], v.shape[-1], dtype=v.dtype)
    for i in range(scores.shape[0]):
        w = torch.exp(scores[i, : i + 1] - scores[i, : i + 1].max())
        out[i] = (w[:, None] * v[: i + 1]).sum(0) / w.sum()
    return out


def test_causal_attention_matches_sdpa():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 7, 5, generator=g, dtype=torch.float64) for _ in range(3))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0)
    torch.testing.assert_close(causal_attention(q, k, v), ref)


def test_previous_token_head_matches_loop():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(4, (9,), generator=g)
    onehot = torch.nn.functional.one_hot(x, 4).double()
    beta = 2.5
    scores = beta * torch.tensor(
        [[1.0 if j == i - 1 else 0.0 for j in range(9)] for i in range(9)], dtype=torch.float64
    )
    torch.testing.assert_close(previous_token_head(onehot, beta), loop_causal_attention(scores, onehot))


def test_previous_token_head_is_the_shift_for_large_beta():
    x = torch.tensor([2, 0, 3, 3, 1])
    onehot = torch.nn.functional.one_hot(x, 4).double()
    out = previous_token_head(onehot, 60.0)
    torch.testing.assert_close(out[1:], onehot[:-1])
    torch.testing.assert_close(out[0], onehot[0])  # position 0 has no previous token: it sees only itself


def test_induction_head_matches_loop():
    g = torch.Generator().manual_seed(2)
    x = torch.randint(3, (8,), generator=g)
    onehot = torch.nn.functional.one_hot(x, 3).double()
    prev = torch.rand(8, 3, generator=g, dtype=torch.float64)
    beta, gamma = 1.7, 0.05
    scores = torch.tensor(
        [[beta * (float(prev[k] @ onehot[t]) + gamma * k) for k in range(8)] for t in range(8)], dtype=torch.float64
    )
    torch.testing.assert_close(induction_head(onehot, prev, beta, gamma), loop_causal_attention(scores, onehot))


def test_residual_stream_carries_the_two_heads():
    """The weights-by-formula forward writes layer 1's previous-token head and layer 2's induction head into their
    slots of the residual stream, and the logits read the second."""
    g = torch.Generator().manual_seed(3)
    v, n = 5, 11
    x = torch.randint(v, (2, n), generator=g)
    weights = induction_weights(v, n, beta1=3.0, beta2=7.0)
    logits, res = attention_only_forward(weights, x, return_residuals=True)
    onehot = torch.nn.functional.one_hot(x, v).double()
    prev = previous_token_head(onehot, 3.0)
    prev_slot = slice(v + n + 2, 2 * v + n + 2)
    torch.testing.assert_close(res[1][..., prev_slot], prev)
    torch.testing.assert_close(logits, induction_head(onehot, prev, 7.0, 1 / (2 * n)))
    torch.testing.assert_close(res[0][..., :v], onehot)  # the token slot is the one-hot token


def test_weights_are_shorter_sequences_compatible():
    weights = induction_weights(3, 10)
    x = torch.tensor([[0, 1, 0, 2]])
    assert attention_only_forward(weights, x).shape == (1, 4, 3)
