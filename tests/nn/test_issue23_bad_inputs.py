"""Issue 23's public functions called as a careless user would: the chunkwise form, the forms switch and the
attention dispatcher. Each ``BAD`` call raises naming the argument; each ``HANDLED`` call gives its answer."""

from __future__ import annotations

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn.chunkwise import causal_linear_chunkwise
from minitorch_xf.nn.dispatch import attention, register_attention_backend
from minitorch_xf.nn.kernelized import linear_attention, norm_linear_attention

pytestmark = pytest.mark.ch12

BAD = [
    Bad(
        "chunk size 0", lambda: causal_linear_chunkwise(r(1, 3, 4), r(1, 3, 4), r(1, 3, 2), 0), ValueError, "chunk_size"
    ),
    Bad("chunk n", lambda: causal_linear_chunkwise(r(1, 3, 4), r(1, 5, 4), r(1, 5, 2)), ValueError, r"share n and d"),
    Bad("chunk d", lambda: causal_linear_chunkwise(r(1, 3, 4), r(1, 3, 5), r(1, 3, 2)), ValueError, r"share n and d"),
    Bad("chunk int", lambda: causal_linear_chunkwise(r(1, 3, 4).long(), r(1, 3, 4), r(1, 3, 2)), TypeError, "fq"),
    Bad(
        "chunk dtype",
        lambda: causal_linear_chunkwise(r(1, 3, 4), r(1, 3, 4).double(), r(1, 3, 2)),
        TypeError,
        "dtype",
    ),
    Bad(
        "chunk batch",
        lambda: causal_linear_chunkwise(r(2, 3, 4), r(3, 3, 4), r(2, 3, 2)),
        ValueError,
        r"do not broadcast",
    ),
    Bad("linear form", lambda: linear_attention(r(1, 3, 4), r(1, 3, 4), r(1, 3, 2), form="scan"), ValueError, "'scan'"),
    Bad(
        "linear chunk",
        lambda: linear_attention(r(1, 3, 4), r(1, 3, 4), r(1, 3, 2), True, chunk_size=-2),
        ValueError,
        "chunk_size=-2",
    ),
    Bad(
        "norm linear form",
        lambda: norm_linear_attention(r(1, 3, 4), r(1, 3, 4), r(1, 3, 2), form=3),
        ValueError,
        "form=3",
    ),
]

BAD += [
    Bad("register name", lambda: register_attention_backend("", lambda *a: a[0]), TypeError, "name"),
    Bad("register fn", lambda: register_attention_backend("mine", 3), TypeError, "fn"),
    Bad("register flag", lambda: register_attention_backend("mine", print, takes_mask="no"), TypeError, "takes_mask"),
    Bad(
        "dispatch backend", lambda: attention(r(1, 2, 4), r(1, 2, 4), r(1, 2, 2), backend="fast"), ValueError, "'fast'"
    ),
    Bad("dispatch scale", lambda: attention(r(1, 2, 4), r(1, 2, 4), r(1, 2, 2), scale=-1.0), ValueError, "scale"),
    Bad("dispatch q", lambda: attention(r(1, 2, 4), r(1, 2, 3), r(1, 2, 2), backend="sdpa"), ValueError, "head dim"),
]

HANDLED = [
    Handled(
        "chunk longer than n",
        lambda: causal_linear_chunkwise(r(1, 3, 4).abs(), r(1, 3, 4).abs(), r(1, 3, 2), chunk_size=1000),
        lambda out: torch.testing.assert_close(
            out, causal_linear_chunkwise(r(1, 3, 4).abs(), r(1, 3, 4).abs(), r(1, 3, 2), chunk_size=1)
        ),
    ),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
