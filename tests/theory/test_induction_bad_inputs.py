"""Every public function of ``minitorch_xf.theory.induction`` called as a careless user would.

Bad calls raise up front naming the argument; odd but valid calls give their documented answer (tests/bad_calls.py).
"""

from __future__ import annotations

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

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

W = induction_weights(3, 4)


def _equal(expected):
    def check(out):
        assert torch.equal(out, expected), (out, expected)

    return check


def _same_shape(shape):
    def check(out):
        assert tuple(out) == shape, out

    return check


BAD = [
    Bad("default_betas zero", lambda: default_betas(0), ValueError, r"n"),
    Bad("default_betas float", lambda: default_betas(2.5), TypeError, r"n"),
    Bad("causal_attention list", lambda: causal_attention([[1.0]], r(2, 2), r(2, 2)), TypeError, r"q must be"),
    Bad("causal_attention lengths", lambda: causal_attention(r(3, 2), r(4, 2), r(4, 2)), ValueError, r"share n"),
    Bad(
        "previous_token_head int",
        lambda: previous_token_head(torch.ones(3, 2, dtype=torch.long), 1.0),
        TypeError,
        r"onehot",
    ),
    Bad("previous_token_head nan beta", lambda: previous_token_head(r(3, 2), float("nan")), ValueError, r"beta"),
    Bad("previous_token_head negative beta", lambda: previous_token_head(r(3, 2), -1.0), ValueError, r"beta"),
    Bad("induction_head shapes", lambda: induction_head(r(3, 2), r(3, 4), 1.0), ValueError, r"prev has shape"),
    Bad("induction_head gamma", lambda: induction_head(r(3, 2), r(3, 2), 1.0, gamma=-1.0), ValueError, r"gamma"),
    Bad("induction_weights vocab", lambda: induction_weights(0, 4), ValueError, r"vocab_size"),
    Bad("induction_weights max_len", lambda: induction_weights(3, 0), ValueError, r"max_len"),
    Bad("induction_weights beta1", lambda: induction_weights(3, 4, beta1=float("inf")), ValueError, r"beta1"),
    Bad("induction_weights dtype", lambda: induction_weights(3, 4, dtype=torch.long), TypeError, r"dtype"),
    Bad(
        "forward weights",
        lambda: attention_only_forward("w", torch.zeros(1, 2, dtype=torch.long)),
        TypeError,
        r"weights must be",
    ),
    Bad("forward float tokens", lambda: attention_only_forward(W, r(1, 3)), TypeError, r"tokens"),
    Bad(
        "forward too long",
        lambda: attention_only_forward(W, torch.zeros(1, 5, dtype=torch.long)),
        ValueError,
        r"max_len=4",
    ),
    Bad(
        "forward id out of range",
        lambda: attention_only_forward(W, torch.tensor([[0, 3]])),
        ValueError,
        r"vocab_size=3",
    ),
    Bad(
        "two_layer_induction 3-d",
        lambda: two_layer_induction(torch.zeros(1, 1, 2, dtype=torch.long), 3),
        ValueError,
        r"tokens",
    ),
]

HANDLED = [
    Handled(
        "one token: no earlier occurrence, any prediction",
        lambda: two_layer_induction(torch.tensor([2]), 3).shape,
        _same_shape((1,)),
    ),
    Handled(
        "repeated token answers itself",
        lambda: two_layer_induction(torch.tensor([[1, 1, 1]]), 2)[0, 1:],
        _equal(torch.tensor([1, 1])),
    ),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
