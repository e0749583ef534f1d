"""Chapter 5's public functions and classes (nn.relative, tasks.positions, theory.universality) called as a
careless user would: each ``BAD`` call raises naming the argument, each ``HANDLED`` call gives its documented answer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn.relative import RelativeAttention, relative_attention, toeplitz
from minitorch_xf.tasks.positions import even_token, position_identification
from minitorch_xf.theory.universality import (
    PositionClassifier,
    RandomSeqMap,
    SmallTransformer,
    permutation_equivariance_gap,
    width_sweep,
)

pytestmark = pytest.mark.ch05
NAN = math.nan
Q = r(1, 2, 3, 4)


def ident(x):
    return x


SMALL = SmallTransformer(2, 2, 4)


def classifier():
    return PositionClassifier(2, 4, 8, 2, 1, 4, universal=True)


BAD = [
    Bad("toeplitz even length", lambda: toeplitz(r(4), 2), ValueError, r"last dim must be odd"),
    Bad("toeplitz n too big", lambda: toeplitz(r(5), 4), ValueError, r"n=4 exceeds max_len=3"),
    Bad("toeplitz n=0", lambda: toeplitz(r(5), 0), ValueError, r"n=0"),
    Bad("toeplitz values list", lambda: toeplitz([1.0, 2.0, 3.0], 1), TypeError, r"values must be a torch.Tensor"),
    Bad("rel attn q 3-D", lambda: relative_attention(r(2, 3, 4), Q, Q, r(3, 3)), ValueError, r"q must have 4 dims"),
    Bad("rel attn bias shape", lambda: relative_attention(Q, Q, Q, r(4, 4)), ValueError, r"bias has shape \(4, 4\)"),
    Bad("rel attn C shape", lambda: relative_attention(Q, Q, Q, r(3, 3), r(3, 3, 3)), ValueError, r"scale_matrix has"),
    Bad("rel attn dtype", lambda: relative_attention(Q, Q, Q, r(3, 3).double()), TypeError, r"bias: torch.float64"),
    Bad("rel attn k shape", lambda: relative_attention(Q, r(1, 2, 4, 4), Q, r(3, 3)), ValueError, r"k \(1, 2, 4, 4\)"),
    Bad("RelAttn heads", lambda: RelativeAttention(6, 4, 5), ValueError, r"d_model=6 is not divisible by n_heads=4"),
    Bad("RelAttn max_len=0", lambda: RelativeAttention(4, 2, 0), ValueError, r"max_len=0"),
    Bad("RelAttn universal str", lambda: RelativeAttention(4, 2, 3, "yes"), TypeError, r"universal must be a bool"),
    Bad("RelAttn too long", lambda: RelativeAttention(4, 2, 3)(r(1, 5, 4)), ValueError, r"n=5 tokens"),
    Bad("RelAttn width", lambda: RelativeAttention(4, 2, 3)(r(1, 2, 5)), ValueError, r"d_model=4"),
    Bad("RelAttn dtype", lambda: RelativeAttention(4, 2, 3)(r(1, 2, 4).double()), TypeError, r"x has dtype"),
    Bad("PI n=0", lambda: position_identification(2, 0), ValueError, r"n=0"),
    Bad("PI mode", lambda: position_identification(2, 3, mode="shuffled"), ValueError, r"mode='shuffled'"),
    Bad("PI vocab float", lambda: position_identification(2, 3, vocab=2.0), TypeError, r"vocab must be an int"),
    Bad("PI generator", lambda: position_identification(2, 3, generator=0), TypeError, r"generator must be"),
    Bad("even n_samples", lambda: even_token(0, 3), ValueError, r"n_samples=0"),
    Bad("even vocab", lambda: even_token(2, 3, vocab=-1), ValueError, r"vocab=-1"),
    Bad(
        "gap perm not perm",
        lambda: permutation_equivariance_gap(ident, r(1, 3, 2), torch.tensor([0, 0, 1])),
        ValueError,
        r"perm=\[0, 0, 1\] is not a permutation",
    ),
    Bad(
        "gap perm length",
        lambda: permutation_equivariance_gap(ident, r(1, 3, 2), torch.tensor([1, 0])),
        ValueError,
        r"n=3",
    ),
    Bad("gap fn", lambda: permutation_equivariance_gap(3, r(1, 3, 2), torch.tensor([1, 0, 2])), TypeError, r"fn"),
    Bad(
        "gap x 2-D",
        lambda: permutation_equivariance_gap(ident, r(3, 2), torch.tensor([1, 0, 2])),
        ValueError,
        r"x must have 3 dims",
    ),
    Bad("SmallTransformer width=0", lambda: SmallTransformer(2, 2, 0), ValueError, r"width=0"),
    Bad("RandomSeqMap d", lambda: RandomSeqMap(3)(r(1, 2, 4)), ValueError, r"d=3"),
    Bad("RandomSeqMap d=0", lambda: RandomSeqMap(0), ValueError, r"d=0"),
    Bad("sweep one width", lambda: width_sweep(ident, [4], 2, 2), ValueError, r"widths=\[4\]"),
    Bad("sweep width 0", lambda: width_sweep(ident, [0, 4], 2, 2), ValueError, r"widths\[0\]=0"),
    Bad("sweep lr nan", lambda: width_sweep(ident, [2, 4], 2, 2, lr=NAN), ValueError, r"lr=nan"),
    Bad(
        "sweep lr per width negative",
        lambda: width_sweep(ident, [2, 4], 2, 2, lr=lambda w: -1e-3 if w == 4 else 1e-3),
        ValueError,
        r"lr at width 4=-0.001",
    ),
    Bad("sweep target", lambda: width_sweep(None, [2, 4], 2, 2), TypeError, r"target must be callable"),
    Bad("classifier token range", lambda: classifier()(torch.tensor([[0, 2]])), ValueError, r"vocab=2"),
    Bad("classifier float tokens", lambda: classifier()(r(1, 2)), TypeError, r"tokens must be an integer"),
    Bad(
        "permutation_equivariance_gap perm meta",
        lambda: permutation_equivariance_gap(ident, r(1, 3, 2), torch.tensor([1, 0, 2]).to("meta")),
        ValueError,
        r"perm on meta",
    ),
    Bad(
        "permutation_equivariance_gap fn list",
        lambda: permutation_equivariance_gap(lambda a: a.tolist(), r(1, 3, 2), torch.tensor([1, 0, 2])),
        ValueError,
        r"fn must map x of shape \(1, 3, 2\).*got list",
    ),
    Bad(
        "permutation_equivariance_gap fn drops a token",
        lambda: permutation_equivariance_gap(lambda a: a[:, :2], r(1, 3, 2), torch.tensor([1, 0, 2])),
        ValueError,
        r"fn must map .*got \(1, 2, 2\)",
    ),
    Bad("SmallTransformer x width", lambda: SmallTransformer(2, 2, 4)(r(1, 3, 3)), ValueError, r"d_in=2"),
    Bad("SmallTransformer x no tokens", lambda: SmallTransformer(2, 2, 4)(r(1, 0, 2)), ValueError, r"n >= 1"),
    Bad("SmallTransformer x float64", lambda: SmallTransformer(2, 2, 4)(r(1, 3, 2).double()), TypeError, r"x has dt"),
    Bad("SmallTransformer x list", lambda: SmallTransformer(2, 2, 4)([[1.0, 2.0]]), TypeError, r"x must be a torch"),
    Bad("SmallTransformer n_heads", lambda: SmallTransformer(2, 2, 4, n_heads=3), ValueError, r"width=4 is not div"),
    Bad("SmallTransformer d_in 2.0", lambda: SmallTransformer(2.0, 2, 4), TypeError, r"d_in must be an int"),
    Bad("RandomSeqMap x int", lambda: RandomSeqMap(2)(torch.ones(1, 2, 2, dtype=torch.long)), TypeError, r"x must"),
    Bad("RandomSeqMap generator", lambda: RandomSeqMap(2, generator=1), TypeError, r"generator must be"),
    Bad("width_sweep widths int", lambda: width_sweep(ident, 4, 2, 2), TypeError, r"widths must be a sequence"),
    Bad("width_sweep widths str", lambda: width_sweep(ident, "24", 2, 2), TypeError, r"widths must be a sequence"),
    Bad("width_sweep widths float", lambda: width_sweep(ident, [2, 4.0], 2, 2), TypeError, r"widths\[1\] must be"),
    Bad(
        "width_sweep target shape",
        lambda: width_sweep(lambda a: a[..., :1], [2, 4], 2, 2, steps=1, batch=2, n_test=4),
        ValueError,
        r"target must map x of shape \(4, 2, 2\) to a tensor of shape \(4, 2, 2\), got \(4, 2, 1\)",
    ),
    Bad(
        "width_sweep target constant",
        lambda: width_sweep(lambda a: a * 0, [2, 4], 2, 2, steps=1, batch=2, n_test=4),
        ValueError,
        r"target is constant",
    ),
    Bad(
        "PositionClassifier tokens too long",
        lambda: classifier()(torch.zeros(1, 5, dtype=torch.long)),
        ValueError,
        r"tokens has shape \(1, 5\): n=5 must lie in \[1, max_len=4\]",
    ),
    Bad("PositionClassifier max_len 0", lambda: PositionClassifier(2, 4, 8, 2, 1, 0, True), ValueError, r"max_len=0"),
    Bad("PositionClassifier n_heads", lambda: PositionClassifier(2, 4, 8, 3, 1, 4, True), ValueError, r"d_model=8"),
    Bad(
        "PositionClassifier tokens meta",
        lambda: classifier()(torch.zeros(1, 2, dtype=torch.long, device="meta")),
        ValueError,
        r"tokens on meta",
    ),
    Bad("SmallTransformer width 2**40", lambda: SmallTransformer(2, 2, 2**40), ValueError, r"width=.*would need"),
    Bad("RandomSeqMap d 2**40", lambda: RandomSeqMap(2**40), ValueError, r"d=1099511627776.*would need"),
    Bad(
        "PositionClassifier vocab 2**40",
        lambda: PositionClassifier(2**40, 4, 8, 2, 1, 4, True),
        ValueError,
        r"vocab=.*would need",
    ),
    Bad("classifier vocab", lambda: PositionClassifier(0, 4, 8, 2, 1, 4, True), ValueError, r"vocab=0"),
]


def _zeros(y):
    assert y.tolist() == [[0], [0]], y


def _rows_equal(out):
    assert float((out - out[:, :1]).abs().max()) < 1e-6


def cumsum_tokens(x):
    return x.cumsum(1)


HANDLED = [
    # f = cumsum over tokens on x = (1, 1): f(x) = (1, 2), and swapping the tokens gives (2, 1) against (1, 2)
    Handled(
        "permutation_equivariance_gap cumsum by hand",
        lambda: permutation_equivariance_gap(
            cumsum_tokens, torch.ones(1, 2, 1), torch.tensor([1, 0], dtype=torch.int32)
        ),
        lambda g: abs(g - 1.0) < 1e-12 or pytest.fail(f"gap {g} != 1"),
    ),
    # a non-contiguous input gives what the same values, contiguous, give
    Handled(
        "SmallTransformer non-contiguous x",
        lambda: (SMALL(r(1, 2, 3).transpose(1, 2)), SMALL(r(1, 2, 3).transpose(1, 2).contiguous())),
        lambda pair: torch.testing.assert_close(*pair),
    ),
    # numpy ints are widths: the record holds Python ints
    Handled(
        "width_sweep numpy widths",
        lambda: width_sweep(ident, np.array([2, 4]), 2, 2, steps=1, batch=2, n_test=4, generator=torch.Generator()),
        lambda sweep: (sweep.widths == [2, 4] and all(type(w) is int for w in sweep.widths)) or pytest.fail(str(sweep)),
    ),
    # one token: the Toeplitz matrix is the single entry at offset 0
    Handled(
        "toeplitz one token",
        lambda: toeplitz(torch.tensor([1.0, 2.0, 3.0]), 1),
        lambda t: torch.testing.assert_close(t, torch.tensor([[2.0]])),
    ),
    # a length-1 sequence: every position is 0
    Handled("PI one token", lambda: position_identification(2, 1)[1], _zeros),
    # vocab 1 in random mode is the constant input
    Handled("PI random vocab 1", lambda: position_identification(2, 4, mode="random")[0], _rows_equal),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
