"""Chapter 11's public functions and classes (nn.hyla, tasks.fuzzy_logic, tasks.sraven) called as a careless user
would: each ``BAD`` call raises naming the argument, each ``HANDLED`` call gives its documented answer."""

from __future__ import annotations

import math

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn.hyla import (
    HypernetworkAttention,
    HypernetworkTransformer,
    head_scores,
    hyla_values,
    hypernetwork_weights,
    rms_head_norm,
)
from minitorch_xf.tasks.fuzzy_logic import FuzzyLogicTask, r_squared, zadeh_dnf
from minitorch_xf.tasks.sraven import SRavenTask, ambiguous, panel_accuracy

pytestmark = pytest.mark.ch11


def _nan_logits():
    logits = torch.zeros(2, 3, 4)
    logits[0, 0, 0] = math.nan
    return panel_accuracy(logits, torch.zeros(2, 3, dtype=torch.long))


def _check_nan_scored_wrong(result):
    panel, attribute = result
    assert panel == 0.5 and attribute == pytest.approx(5 / 6)


def _nan_r2():
    tokens = torch.zeros(2, 3, 2)
    tokens[0, :2, -1] = torch.tensor([0.0, 1.0])
    return r_squared(torch.tensor([math.nan, 0.5]), torch.tensor([1.0, 0.5]), tokens)


BAD = [
    Bad("attn kind", lambda: HypernetworkAttention(4, 2, kind="relu"), ValueError, r"kind='relu' is not one of"),
    Bad("attn heads", lambda: HypernetworkAttention(6, 4), ValueError, r"d_model=6 is not divisible by n_heads=4"),
    Bad("attn d_head=0", lambda: HypernetworkAttention(6, 4, 0), ValueError, r"d_head=0"),
    Bad("attn width", lambda: HypernetworkAttention(4, 2)(r(1, 3, 5)), ValueError, r"d_model=4"),
    Bad("attn 2-D x", lambda: HypernetworkAttention(4, 2)(r(3, 4)), ValueError, r"x must have 3 dims"),
    Bad("attn dtype", lambda: HypernetworkAttention(4, 2)(r(1, 3, 4).double()), TypeError, r"x has dtype"),
    Bad("scores kind", lambda: head_scores(r(1, 2, 3, 4), r(1, 2, 3, 4), "soft"), ValueError, r"kind='soft'"),
    Bad("scores q/k", lambda: head_scores(r(1, 2, 3, 4), r(1, 3, 3, 4), "hyla"), ValueError, r"q \(1, 2, 3, 4\)"),
    Bad("rms eps=0", lambda: rms_head_norm(r(1, 2, 3, 3), eps=0.0), ValueError, r"eps=0.0"),
    Bad("rms 3-D", lambda: rms_head_norm(r(2, 3, 3)), ValueError, r"scores must have 4 dims"),
    Bad("hyla a/v", lambda: hyla_values(r(1, 2, 3, 3), r(1, 2, 4, 5)), ValueError, r"a \(1, 2, 3, 3\) and v"),
    Bad("W_qk shapes", lambda: hypernetwork_weights(r(1, 2, 3, 3), r(5, 4), r(4, 5)), ValueError, r"w_v \(5, 4\)"),
    Bad("model kind", lambda: HypernetworkTransformer(3, 1, 4, kind="x"), ValueError, r"kind='x'"),
    Bad("model max_len=0", lambda: HypernetworkTransformer(3, 1, 0), ValueError, r"max_len=0"),
    Bad("model too long", lambda: HypernetworkTransformer(3, 1, 4, 8, 2)(r(1, 5, 3)), ValueError, r"n=5 tokens"),
    Bad("model d_in", lambda: HypernetworkTransformer(3, 1, 4, 8, 2)(r(1, 2, 4)), ValueError, r"d_in=3"),
    Bad("fuzzy n_terms", lambda: FuzzyLogicTask(2, 4), ValueError, r"n_terms=4 exceeds the 3"),
    Bad("fuzzy frac_test=1", lambda: FuzzyLogicTask(frac_test=1.0), ValueError, r"frac_test=1.0"),
    Bad("fuzzy tiny frac_test", lambda: FuzzyLogicTask(3, 2, frac_test=0.01), ValueError, r"frac_test=0.01 leaves"),
    Bad("fuzzy uncoverable", lambda: FuzzyLogicTask(4, 2, frac_test=0.93), ValueError, r"frac_test=0.93 leaves 5"),
    Bad("fuzzy n_points=1", lambda: FuzzyLogicTask(n_points=1), ValueError, r"n_points=1"),
    Bad("fuzzy n_vars=11", lambda: FuzzyLogicTask(11), ValueError, r"n_vars=11"),
    Bad("fuzzy split", lambda: FuzzyLogicTask().sample(2, "valid"), ValueError, r"split='valid'"),
    Bad("fuzzy batch=0", lambda: FuzzyLogicTask().sample(0), ValueError, r"batch=0"),
    Bad("fuzzy generator", lambda: FuzzyLogicTask().sample(2, generator=3), TypeError, r"generator must be"),
    Bad("fuzzy no ood", lambda: FuzzyLogicTask(frac_ood=0.0).sample(2, "ood"), ValueError, r"split='ood' has no"),
    Bad("zadeh n", lambda: zadeh_dnf(torch.ones(2, 3), torch.rand(4, 2)), ValueError, r"signs has n=3"),
    Bad("sraven grid=1", lambda: SRavenTask(grid=1), ValueError, r"grid=1"),
    Bad("sraven values<grid", lambda: SRavenTask(n_values=2), ValueError, r"n_values=2 must be >= 3"),
    Bad("sraven permute str", lambda: SRavenTask(permute="yes"), TypeError, r"permute must be a bool"),
    Bad("sraven unique str", lambda: SRavenTask(unique=1), TypeError, r"unique must be a bool"),
    Bad("ambiguous 3-D", lambda: ambiguous(torch.zeros(2, 3, 3, dtype=torch.long), 8, False), ValueError, r"values"),
    Bad("ambiguous float", lambda: ambiguous(torch.zeros(1, 3, 3, 2), 8, False), TypeError, r"values must be an int"),
    Bad("ambiguous not square", lambda: ambiguous(torch.zeros(1, 2, 3, 2).long(), 8, False), ValueError, r"r=2, c=3"),
    Bad("ambiguous V=1", lambda: ambiguous(torch.zeros(1, 3, 3, 2).long(), 1, False), ValueError, r"n_values=1"),
    Bad("ambiguous permute", lambda: ambiguous(torch.zeros(1, 3, 3, 2).long(), 8, "no"), TypeError, r"permute must"),
    Bad("sraven frac_ood=1", lambda: SRavenTask(frac_ood=1.0), ValueError, r"frac_ood=1.0"),
    Bad("sraven split", lambda: SRavenTask().sample(2, "test"), ValueError, r"split='test'"),
    Bad("sraven no ood", lambda: SRavenTask(frac_ood=0.0).sample(2, "ood"), ValueError, r"split='ood' has no"),
    # a malformed model output is scored wrong (issue 21); a float answer (the ground truth) is a caller's error
    Bad(
        "panel_accuracy float answer",
        lambda: panel_accuracy(r(2, 4, 3), torch.zeros(2, 4)),
        TypeError,
        r"answer must be an integer tensor",
    ),
]

HANDLED = [
    Handled("NaN logits are wrong, not NaN", _nan_logits, _check_nan_scored_wrong),
    Handled("NaN prediction scores error 1", _nan_r2, lambda v: math.isfinite(v) or pytest.fail(f"R^2 = {v}")),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
