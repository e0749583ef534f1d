"""Chapter 14's MatFormer layers (nn.matformer) called as a careless user would."""

from __future__ import annotations

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn import Decoder, FeedForward
from minitorch_xf.nn.matformer import MatFormerFFN, extract, matformer_loss, matformerize, set_widths
from minitorch_xf.train import cross_entropy_loss

pytestmark = pytest.mark.ch14
torch.manual_seed(0)
F = MatFormerFFN(4, 16)
X = torch.randint(0, 7, (2, 5), generator=torch.Generator().manual_seed(0))


def _decoder(activation="relu"):
    torch.manual_seed(0)
    return Decoder(7, d_model=8, n_heads=2, n_layers=2, d_ff=16, max_len=5, activation=activation)


MAT = matformerize(_decoder(), [4, 8, 16])


def _set_width(k):
    F.width = k


BAD = [
    Bad("ffn d_model 0", lambda: MatFormerFFN(0, 16), ValueError, r"d_model=0"),
    Bad("ffn d_ff float", lambda: MatFormerFFN(4, 16.0), TypeError, r"d_ff must be an int"),
    Bad("ffn activation", lambda: MatFormerFFN(4, 16, activation="swiglu"), ValueError, r"activation='swiglu'"),
    Bad("ffn granularities unsorted", lambda: MatFormerFFN(4, 16, [8, 4, 16]), ValueError, r"strictly increasing"),
    Bad("ffn granularities end", lambda: MatFormerFFN(4, 16, [4, 8]), ValueError, r"end with the full width d_ff=16"),
    Bad("ffn granularities zero", lambda: MatFormerFFN(4, 16, [0, 16]), ValueError, r"granularities\[0\]=0"),
    Bad("ffn granularities int", lambda: MatFormerFFN(4, 16, 16), TypeError, r"granularities must be a non-empty"),
    Bad("ffn granularities empty", lambda: MatFormerFFN(4, 16, []), TypeError, r"granularities must be a non-empty"),
    Bad("ffn width 5", lambda: _set_width(5), ValueError, r"width=5 is not one of"),
    Bad("ffn width bool", lambda: _set_width(True), ValueError, r"width=True"),
    Bad("ffn x shape", lambda: F(r(3, 5)), ValueError, r"d_model=4"),
    Bad("ffn x int", lambda: F(torch.ones(3, 4, dtype=torch.long)), TypeError, r"x must be a floating"),
    Bad("ffn x float64", lambda: F(r(3, 4, dtype=torch.float64)), TypeError, r"x has dtype torch.float64"),
    Bad("matformerize ffn", lambda: matformerize(FeedForward(4)), TypeError, r"model must be a stack of blocks"),
    Bad("matformerize swiglu", lambda: matformerize(_decoder("swiglu")), ValueError, r"activation='swiglu'"),
    Bad("matformerize twice", lambda: matformerize(matformerize(_decoder())), TypeError, r"no FeedForward"),
    Bad("matformerize granularities", lambda: matformerize(_decoder(), [4, 8]), ValueError, r"d_ff=16"),
    Bad("set_widths plain", lambda: set_widths(_decoder(), 16), TypeError, r"call matformerize"),
    Bad("set_widths length", lambda: set_widths(MAT, [4, 8, 16]), ValueError, r"3 entries for a model of 2 layers"),
    Bad("set_widths width", lambda: set_widths(MAT, 6), ValueError, r"width=6 is not one of"),
    Bad("set_widths str", lambda: set_widths(MAT, "4"), TypeError, r"widths must be an int or a sequence"),
    Bad("extract width", lambda: extract(MAT, [4, 5]), ValueError, r"width=5"),
    Bad("extract plain", lambda: extract(_decoder(), 16), TypeError, r"call matformerize"),
    Bad("loss empty", lambda: matformer_loss(MAT, (X, X), [], cross_entropy_loss), TypeError, r"non-empty list"),
    Bad("loss fn", lambda: matformer_loss(MAT, (X, X), [4], None), TypeError, r"loss_fn must be callable"),
    Bad(
        "loss fused str", lambda: matformer_loss(MAT, (X, X), [4], cross_entropy_loss, fused="yes"), TypeError, r"fused"
    ),
    Bad(
        "loss fused list batch",
        lambda: matformer_loss(MAT, [X, 1], [4], cross_entropy_loss, fused=True),
        TypeError,
        r"batch of tensors",
    ),
    Bad("loss width", lambda: matformer_loss(MAT, (X, X), [3], cross_entropy_loss), ValueError, r"width=3"),
]


def _left_full(loss):
    assert loss.ndim == 0
    assert [b.ffn.width for b in MAT.blocks] == [16, 16]


HANDLED = [
    Handled("extract full width", lambda: extract(MAT, 16), lambda sub: sub.blocks[0].ffn.d_ff == 16),
    Handled(
        "loss after a failed width leaves full",
        lambda: matformer_loss(MAT, (X, X), [4, 8], cross_entropy_loss),
        _left_full,
    ),
    Handled("one granularity", lambda: MatFormerFFN(4, 3, [3]), lambda f: f.granularities == (3,)),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
