"""Chapter 12's public functions and classes called as a careless user would: each ``BAD`` call raises naming the
argument, each ``HANDLED`` call gives its documented answer."""

from __future__ import annotations

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn import MultiHeadAttention
from minitorch_xf.nn.kernelized import NormAttention, linear_attention, linear_attention_recurrent
from minitorch_xf.nn.memory_efficient import attention, memory_efficient_attention, peak_memory, set_attention_backend
from minitorch_xf.nn.minimal import MinimalAttention, SequenceClassifier
from minitorch_xf.nn.scan_attention import attention_rnn, prefix_scan_attention
from minitorch_xf.tasks.digits import digits_rows

pytestmark = pytest.mark.ch12


def _zero_rows(out):
    assert out.shape == (1, 4, 2) and torch.equal(out[:, :2], torch.zeros(1, 2, 2))


BAD = [
    Bad("linear q/k dims", lambda: linear_attention(r(2, 3, 4), r(2, 3, 5), r(2, 3, 2)), ValueError, r"head dim d"),
    Bad("linear causal s!=t", lambda: linear_attention(r(1, 2, 4), r(1, 3, 4), r(1, 3, 2), True), ValueError, r"q has"),
    Bad("linear eps<0", lambda: linear_attention(r(1, 2, 4), r(1, 2, 4), r(1, 2, 2), eps=-1.0), ValueError, r"eps=-1"),
    Bad(
        "linear map", lambda: linear_attention(r(1, 2, 4), r(1, 2, 4), r(1, 2, 2), feature_map=3), TypeError, "feature"
    ),
    Bad("linear causal str", lambda: linear_attention(r(1, 2, 4), r(1, 2, 4), r(1, 2, 2), "yes"), TypeError, "causal"),
    Bad("recurrent int", lambda: linear_attention_recurrent(r(1, 2, 4).long(), r(1, 2, 4), r(1, 2, 2)), TypeError, "q"),
    Bad(
        "recurrent state shape",
        lambda: linear_attention_recurrent(r(1, 2, 4), r(1, 2, 4), r(1, 2, 3), state=(r(1, 4, 2), r(1, 4))),
        ValueError,
        r"state has shapes S \(1, 4, 2\)",
    ),
    Bad(
        "recurrent state type",
        lambda: linear_attention_recurrent(r(1, 2, 4), r(1, 2, 4), r(1, 2, 3), state=r(1, 4, 3)),
        TypeError,
        r"state must be a pair",
    ),
    Bad(
        "recurrent state dtype",
        lambda: linear_attention_recurrent(r(1, 2, 4), r(1, 2, 4), r(1, 2, 3), state=(r(1, 4, 3).double(), r(1, 4))),
        TypeError,
        r"state_S: torch.float64",
    ),
    Bad(
        "recurrent return_state",
        lambda: linear_attention_recurrent(r(1, 2, 4), r(1, 2, 4), r(1, 2, 3), return_state="yes"),
        TypeError,
        r"return_state",
    ),
    Bad("normattn heads", lambda: NormAttention(6, 4), ValueError, r"d_model=6 is not divisible by n_heads=4"),
    Bad("normattn width", lambda: NormAttention(4, 2)(r(1, 3, 5)), ValueError, r"d_model=4"),
    Bad("scan n mismatch", lambda: prefix_scan_attention(r(1, 3, 4), r(1, 5, 4), r(1, 5, 2)), ValueError, r"n = 5"),
    Bad("scan scale", lambda: prefix_scan_attention(r(1, 4), r(1, 5, 4), r(1, 5, 2), scale=0.0), ValueError, "scale"),
    Bad("rnn per-position q", lambda: attention_rnn(r(1, 5, 4), r(1, 5, 4), r(1, 5, 2)), ValueError, r"one query"),
    Bad(
        "me block 0",
        lambda: memory_efficient_attention(r(1, 2, 4), r(1, 2, 4), r(1, 2, 2), block_size=0),
        ValueError,
        r"block_size=0",
    ),
    Bad("me v keys", lambda: memory_efficient_attention(r(1, 2, 4), r(1, 3, 4), r(1, 2, 2)), ValueError, r"k and v"),
    Bad(
        "me dtype", lambda: memory_efficient_attention(r(1, 2, 4), r(1, 2, 4).double(), r(1, 2, 2)), TypeError, "dtype"
    ),
    Bad("backend name", lambda: attention(r(1, 2, 4), r(1, 2, 4), r(1, 2, 2), backend="flash"), ValueError, "'flash'"),
    Bad(
        "backend me mask",
        lambda: attention(
            r(1, 2, 4), r(1, 2, 4), r(1, 2, 2), backend="memory_efficient", mask=torch.ones(1, 2, 2, dtype=torch.bool)
        ),
        ValueError,
        r"takes no mask",
    ),
    Bad(
        "sdpa mask shape",
        lambda: attention(r(1, 2, 4), r(1, 2, 4), r(1, 2, 2), backend="sdpa", mask=torch.ones(2, 2, dtype=torch.bool)),
        ValueError,
        r"mask of shape \(2, 2\)",
    ),
    Bad("mha backend", lambda: MultiHeadAttention(4, 2, backend="flash"), ValueError, r"'flash'"),
    Bad("set backend", lambda: set_attention_backend(MultiHeadAttention(4, 2), "x"), ValueError, r"'x'"),
    Bad("set backend model", lambda: set_attention_backend("model", "sdpa"), TypeError, r"str"),
    Bad("peak fn", lambda: peak_memory(3), TypeError, r"fn"),
    Bad("minimal d=0", lambda: MinimalAttention(0), ValueError, r"d_model=0"),
    Bad("minimal width", lambda: MinimalAttention(4)(r(1, 3, 5)), ValueError, r"d_model=4"),
    Bad("classifier block", lambda: SequenceClassifier(8, 8, 10, block="tiny"), ValueError, r"'tiny'"),
    Bad("classifier shape", lambda: SequenceClassifier(8, 8, 10)(r(2, 8, 7)), ValueError, r"n_features=8"),
    Bad("digits fraction", lambda: digits_rows(torch.Generator(), test_fraction=1.0), ValueError, r"test_fraction=1.0"),
    Bad("digits generator", lambda: digits_rows(0), TypeError, r"generator"),
]

HANDLED = [
    Handled(
        "me query sees no key", lambda: memory_efficient_attention(r(1, 4, 3), r(1, 2, 3), r(1, 2, 2), True), _zero_rows
    ),
    Handled(
        "scan one token",
        lambda: prefix_scan_attention(r(1, 3), r(1, 1, 3), r(1, 1, 2, seed=1)),
        lambda out: torch.testing.assert_close(out, r(1, 1, 2, seed=1)),
    ),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
