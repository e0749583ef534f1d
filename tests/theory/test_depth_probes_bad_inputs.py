"""Chapter 14's depth probes (theory.depth_probes) called as a careless user would: each ``BAD`` call raises naming
the argument, each ``HANDLED`` call gives its documented answer."""

from __future__ import annotations

import math

import pytest
import torch
from bad_calls import Bad, Handled, walker_tests

from minitorch_xf.nn import Decoder, FeedForward
from minitorch_xf.theory.depth_probes import layer_contributions, logit_lens, residual_stream, skip_layer_effects

pytestmark = pytest.mark.ch14
torch.manual_seed(0)
M = Decoder(7, d_model=8, n_heads=2, n_layers=2, d_ff=8, max_len=5)
X = torch.randint(0, 7, (2, 5), generator=torch.Generator().manual_seed(0))
MASK = torch.ones(2, 5, dtype=torch.bool)

BAD = [
    Bad("stream model ffn", lambda: residual_stream(FeedForward(8), X), TypeError, r"model must be a TransformerStack"),
    Bad("stream tokens float", lambda: residual_stream(M, X.float()), TypeError, r"tokens must be an int64"),
    Bad("stream tokens 1-D", lambda: residual_stream(M, X[0]), ValueError, r"tokens must have 2 dims"),
    Bad("stream tokens list", lambda: residual_stream(M, X.tolist()), TypeError, r"tokens must be a torch.Tensor"),
    Bad("stream tokens empty", lambda: residual_stream(M, X[:, :0]), ValueError, r"at least one sequence"),
    Bad(
        "stream tokens long", lambda: residual_stream(M, torch.zeros(1, 6, dtype=torch.long)), ValueError, r"max_len=5"
    ),
    Bad("stream token id 7", lambda: residual_stream(M, X.clamp(max=6) + 1), ValueError, r"vocab_size=7"),
    Bad("stream token id -1", lambda: residual_stream(M, X - 1), ValueError, r"min -1"),
    Bad("stream skip 2", lambda: residual_stream(M, X, skip=2), ValueError, r"skip=2 is not a layer"),
    Bad("stream skip -1", lambda: residual_stream(M, X, skip=-1), ValueError, r"skip=-1"),
    Bad("stream skip float", lambda: residual_stream(M, X, skip=1.0), TypeError, r"skip must be an int"),
    Bad("stream skip bool", lambda: residual_stream(M, X, skip=True), TypeError, r"skip must be an int"),
    Bad("contrib one state", lambda: layer_contributions(torch.zeros(1, 3)), ValueError, r"at least two states"),
    Bad("contrib int", lambda: layer_contributions(torch.zeros(3, 3, dtype=torch.long)), TypeError, r"stream must be"),
    Bad("contrib 1-D", lambda: layer_contributions(torch.zeros(3)), ValueError, r"stream must have at least 2 dims"),
    Bad("lens model none", lambda: logit_lens(None, X), TypeError, r"model must be a TransformerStack"),
    Bad("lens tokens nan", lambda: logit_lens(M, X.float() * math.nan), TypeError, r"tokens must be an int64"),
    Bad("effects mask int", lambda: skip_layer_effects(M, X, mask=MASK.long()), ValueError, r"mask must be a bool"),
    Bad(
        "effects mask shape", lambda: skip_layer_effects(M, X, mask=MASK[:, :3]), ValueError, r"tokens' shape \(2, 5\)"
    ),
    Bad("effects mask empty", lambda: skip_layer_effects(M, X, mask=~MASK), ValueError, r"mask selects no position"),
    Bad(
        "effects mask list", lambda: skip_layer_effects(M, X, mask=[[True]]), TypeError, r"mask must be a torch.Tensor"
    ),
    Bad("effects tokens float", lambda: skip_layer_effects(M, X.double()), TypeError, r"tokens must be an int64"),
]


def _one_layer_effects(eff):
    assert eff.future.shape == (1, 1) and bool(torch.isnan(eff.future).all())
    assert bool(torch.isnan(eff.future_max).all())  # a single layer has no future to change
    assert float(eff.output_kl[0]) >= 0.0


torch.manual_seed(1)
ONE = Decoder(7, d_model=8, n_heads=2, n_layers=1, d_ff=8, max_len=5)

HANDLED = [
    Handled("stream int32 tokens", lambda: residual_stream(M, X.int()), lambda s: s.shape == (3, 2, 5, 8)),
    Handled("one layer has no future", lambda: skip_layer_effects(ONE, X), _one_layer_effects),
    Handled("one-token sequences", lambda: logit_lens(M, X[:, :1]), lambda lens: lens.shape == (3, 2, 1, 7)),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
