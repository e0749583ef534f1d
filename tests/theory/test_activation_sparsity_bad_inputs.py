"""Chapter 14's activation-sparsity statistic (theory.activation_sparsity) called as a careless user would."""

from __future__ import annotations

import math

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn import Decoder, FeedForward, LayerNorm
from minitorch_xf.theory.activation_sparsity import (
    ffn_preactivations,
    init_density_tolerance,
    nonzero_fraction,
    relu_density,
)

pytestmark = pytest.mark.ch14
torch.manual_seed(0)
M = Decoder(7, d_model=8, n_heads=2, n_layers=2, d_ff=8, max_len=5, activation="relu")
GELU = Decoder(7, d_model=8, n_heads=2, n_layers=2, d_ff=8, max_len=5, activation="gelu")
X = torch.randint(0, 7, (2, 5), generator=torch.Generator().manual_seed(0))
PRE = r(2, 5, 8)

BAD = [
    Bad("pre model str", lambda: ffn_preactivations("model", X), TypeError, r"model must be an nn.Module"),
    Bad("pre no ffn", lambda: ffn_preactivations(LayerNorm(8), r(2, 8)), ValueError, r"has no FeedForward"),
    Bad("pre gelu", lambda: ffn_preactivations(GELU, X), ValueError, r"activation='gelu'"),
    Bad("pre bad tokens", lambda: ffn_preactivations(M, X + 7), ValueError, r"vocab_size=7"),
    Bad("frac int", lambda: nonzero_fraction(PRE.long()), TypeError, r"pre must be a floating"),
    Bad("frac list", lambda: nonzero_fraction([1.0, -1.0]), TypeError, r"pre must be a torch.Tensor"),
    Bad("frac scalar", lambda: nonzero_fraction(torch.tensor(1.0)), ValueError, r"pre must have at least 1 dims"),
    Bad("frac no units", lambda: nonzero_fraction(torch.zeros(3, 0)), ValueError, r"no unit to count"),
    Bad(
        "frac mask shape",
        lambda: nonzero_fraction(PRE, mask=torch.ones(2, 4, dtype=torch.bool)),
        ValueError,
        r"\(2, 5\)",
    ),
    Bad("frac mask float", lambda: nonzero_fraction(PRE, mask=torch.ones(2, 5)), ValueError, r"mask must be a bool"),
    Bad(
        "frac mask empty",
        lambda: nonzero_fraction(PRE, mask=torch.zeros(2, 5, dtype=torch.bool)),
        ValueError,
        r"no position",
    ),
    Bad("density gelu", lambda: relu_density(GELU, X), ValueError, r"activation='gelu'"),
    Bad("density mask shape", lambda: relu_density(M, X, mask=torch.ones(5, 2, dtype=torch.bool)), ValueError, r"mask"),
    Bad("density no module", lambda: relu_density(None, X), TypeError, r"model must be an nn.Module"),
    Bad("tol zero width", lambda: init_density_tolerance(0), ValueError, r"d_ff=0 must be > 0"),
    Bad("tol float width", lambda: init_density_tolerance(16.0), TypeError, r"d_ff must be an int, got 16.0"),
    Bad("tol bool layers", lambda: init_density_tolerance(16, True), TypeError, r"n_layers must be an int, got True"),
    Bad("tol delta one", lambda: init_density_tolerance(16, 2, 1.0), ValueError, r"delta=1.0 must be in \(0.0, 1.0\)"),
    Bad("tol delta nan", lambda: init_density_tolerance(16, 2, math.nan), ValueError, r"delta=nan must be finite"),
    Bad("tol delta str", lambda: init_density_tolerance(16, 2, "0.1"), TypeError, r"delta must be a real number"),
]

HANDLED = [
    Handled(
        "frac nan counts inactive", lambda: nonzero_fraction(torch.full((4,), math.nan)), lambda v: float(v) == 0.0
    ),
    Handled("frac all positive", lambda: nonzero_fraction(torch.ones(3, 4)), lambda v: float(v) == 1.0),
    Handled(
        "density lone ffn",
        lambda: relu_density(FeedForward(8, 16, activation="relu"), r(3, 8)),
        lambda d: d.shape == (1,),
    ),
    Handled("tol numpy int", lambda: init_density_tolerance(__import__("numpy").int64(16), 2), lambda t: 0 < t < 1),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
