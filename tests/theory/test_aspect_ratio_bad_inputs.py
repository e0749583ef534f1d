"""Every public function of ``minitorch_xf.theory.aspect_ratio`` called as a careless user would."""

from __future__ import annotations

import pytest
from bad_calls import Bad, Handled, walker_tests

from minitorch_xf.theory.aspect_ratio import block_params, decoder_params, equal_param_shapes, forward_flops

pytestmark = pytest.mark.ch14


def _is(expected):
    def check(out):
        assert out == expected, (out, expected)

    return check


BAD = [
    Bad("block_params zero", lambda: block_params(0), ValueError, r"d_model"),
    Bad("block_params float", lambda: block_params(4.0), TypeError, r"d_model"),
    Bad("block_params d_ff", lambda: block_params(4, -1), ValueError, r"d_ff"),
    Bad("decoder_params layers", lambda: decoder_params(10, 8, 0, 16), ValueError, r"n_layers"),
    Bad("decoder_params vocab", lambda: decoder_params(None, 8, 1, 16), TypeError, r"vocab_size"),
    Bad("equal_param_shapes depths int", lambda: equal_param_shapes(1000, 2, 10, 8), TypeError, r"depths"),
    Bad("equal_param_shapes empty", lambda: equal_param_shapes(1000, [], 10, 8), ValueError, r"depths is empty"),
    Bad("equal_param_shapes bad depth", lambda: equal_param_shapes(1000, [1, 0], 10, 8), ValueError, r"depths"),
    Bad("equal_param_shapes rtol", lambda: equal_param_shapes(1000, [1], 10, 8, rtol=0), ValueError, r"rtol"),
    Bad(
        "equal_param_shapes unreachable",
        lambda: equal_param_shapes(10, [1], 10, 8, rtol=0.01),
        ValueError,
        r"budget=10",
    ),
    Bad("forward_flops n", lambda: forward_flops(10, 8, 1, 0), ValueError, r"\bn\b"),
]

HANDLED = [
    Handled("one-wide block", lambda: block_params(1), _is(25)),
    Handled(
        "flops split adds up",
        lambda: sum(forward_flops(3, 2, 1, 2).values()) == 2 * forward_flops(3, 2, 1, 2)["total"],
        _is(True),
    ),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
