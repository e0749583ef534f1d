"""Chapter 8's public functions and classes (nn.higher_order, tasks.match3) called as a careless user would: each
``BAD`` call raises naming the argument, each ``HANDLED`` call gives its documented answer."""

from __future__ import annotations

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn.higher_order import (
    OneLayerClassifier,
    TensorAttention,
    khatri_rao,
    match3_head,
    match3_sharpness,
    polynomial_tensor_attention,
    tensor_attention,
    tensor_attention_explicit,
)
from minitorch_xf.tasks.match3 import match3_batch, match3_labels, match3_worst_case

pytestmark = pytest.mark.ch08


def _five(**change):
    args = {"q": r(3, 2), "k1": r(4, 2, seed=1), "k2": r(5, 2, seed=2), "v1": r(4, 3, seed=3), "v2": r(5, 3, seed=4)}
    args.update(change)
    return args


NAN = float("nan")


def _check_close_to_one(out):
    torch.testing.assert_close(out, torch.ones_like(out))


BAD = [
    Bad("kr widths", lambda: khatri_rao(r(2, 3), r(2, 4)), ValueError, r"a has d=3 columns but b has d=4"),
    Bad("kr batch", lambda: khatri_rao(r(2, 2, 3), r(3, 2, 3)), ValueError, r"a has batch shape \(2,\)"),
    Bad("kr 1-D", lambda: khatri_rao(r(3), r(2, 3)), ValueError, r"a must have at least 2 dims"),
    Bad("kr dtype", lambda: khatri_rao(r(2, 3), r(2, 3).double()), TypeError, r"b has dtype torch.float64"),
    Bad("kr list", lambda: khatri_rao([[1.0]], r(1, 1)), TypeError, r"a must be a torch.Tensor"),
    Bad("ta key width", lambda: tensor_attention(**_five(k2=r(5, 3))), ValueError, r"k2 has width 3 but q has d=2"),
    Bad("ta value width", lambda: tensor_attention(**_five(v2=r(5, 2))), ValueError, r"v1 has width 3 but v2 has 2"),
    Bad("ta key count", lambda: tensor_attention(**_five(v1=r(3, 3))), ValueError, r"k1 has 4 keys but v1 has 3"),
    Bad("ta no keys", lambda: tensor_attention(**_five(k1=r(0, 2), v1=r(0, 3))), ValueError, r"k1 has shape \(0, 2\)"),
    Bad("ta int q", lambda: tensor_attention(**_five(q=torch.ones(3, 2, dtype=torch.long))), TypeError, r"q must be"),
    Bad("ta dtype", lambda: tensor_attention(**_five(v2=r(5, 3).double())), TypeError, r"v2 has dtype"),
    Bad("ta batch", lambda: tensor_attention(**_five(q=r(2, 3, 2))), ValueError, r"batch shapes differ"),
    Bad("ta scale 0", lambda: tensor_attention(**_five(), scale=0.0), ValueError, r"scale=0.0 must be > 0"),
    Bad("ta scale nan", lambda: tensor_attention(**_five(), scale=float("nan")), ValueError, r"scale=nan"),
    Bad("tx scale str", lambda: tensor_attention_explicit(**_five(), scale="1"), TypeError, r"scale must be"),
    Bad("layer d_model", lambda: TensorAttention(0), ValueError, r"d_model=0"),
    Bad("layer width", lambda: TensorAttention(4)(r(1, 3, 5)), ValueError, r"x has width 5 but the layer"),
    Bad("layer 2-D", lambda: TensorAttention(4)(r(3, 4)), ValueError, r"x must have 3 dims"),
    Bad("layer dtype", lambda: TensorAttention(4)(r(1, 3, 4).double()), TypeError, r"x has dtype torch.float64"),
    Bad("clf order", lambda: OneLayerClassifier(5, 4, order=4), ValueError, r"order=4 is not one of \(2, 3\)"),
    Bad("clf vocab", lambda: OneLayerClassifier(0, 4), ValueError, r"vocab_size=0"),
    Bad("clf float", lambda: OneLayerClassifier(5, 4)(r(2, 3)), TypeError, r"tokens must be an integer tensor"),
    Bad("clf range", lambda: OneLayerClassifier(5, 4)(torch.tensor([[0, 5]])), ValueError, r"vocab_size=5"),
    Bad("head float", lambda: match3_head(r(2, 3), 7), TypeError, r"tokens must be an integer tensor"),
    Bad("head modulus", lambda: match3_head(torch.zeros(2, 3, dtype=torch.long), 1), ValueError, r"modulus=1"),
    Bad("head sharpness", lambda: match3_head(torch.zeros(2, 3, dtype=torch.long), 7, -1.0), ValueError, r"sharpness"),
    Bad("labels modulus", lambda: match3_labels(torch.tensor([0, 1]), 1), ValueError, r"modulus=1 must be >= 2"),
    Bad("labels range", lambda: match3_labels(torch.tensor([0, 7]), 7), ValueError, r"outside \[0, modulus=7\)"),
    Bad("labels neg", lambda: match3_labels(torch.tensor([-1, 2]), 7), ValueError, r"values in \[-1, 2\]"),
    Bad("labels float", lambda: match3_labels(torch.tensor([0.0, 1.0]), 7), TypeError, r"x must be an integer"),
    Bad("labels 3-D", lambda: match3_labels(torch.zeros(1, 1, 2, dtype=torch.long), 7), ValueError, r"x must have"),
    Bad("labels bool mod", lambda: match3_labels(torch.tensor([0]), True), TypeError, r"modulus must be an int"),
    Bad("batch n", lambda: match3_batch(0, 5, 7), ValueError, r"n_samples=0"),
    Bad("batch length", lambda: match3_batch(2, -1, 7), ValueError, r"length=-1"),
    Bad("batch gen", lambda: match3_batch(2, 3, 7, generator=0), TypeError, r"generator must be a torch.Generator"),
    Bad("sharp length", lambda: match3_sharpness(0, 7), ValueError, r"length=0"),
    Bad("sharp float", lambda: match3_sharpness(2.5, 7), TypeError, r"length must be an int"),
    Bad("sharp modulus", lambda: match3_sharpness(3, 1), ValueError, r"modulus=1 must be >= 2"),
    Bad("worst even", lambda: match3_worst_case(2, 3, 10), ValueError, r"modulus=10 must be odd"),
    Bad("worst n", lambda: match3_worst_case(0, 3, 7), ValueError, r"n_samples=0"),
    Bad("worst gen", lambda: match3_worst_case(2, 3, 7, generator=1), TypeError, r"generator must be a torch"),
    Bad("poly empty", lambda: polynomial_tensor_attention(**_five(), coeffs=[]), ValueError, r"coeffs is empty"),
    Bad("poly str", lambda: polynomial_tensor_attention(**_five(), coeffs="1"), TypeError, r"coeffs must be a list"),
    Bad("poly nan", lambda: polynomial_tensor_attention(**_five(), coeffs=[1.0, NAN]), ValueError, r"coeffs\[1\]=nan"),
    Bad(
        "poly int tensor",
        lambda: polynomial_tensor_attention(**_five(), coeffs=torch.ones(3, dtype=torch.long)),
        TypeError,
        r"coeffs must be a floating-point tensor",
    ),
    Bad(
        "poly features",
        lambda: polynomial_tensor_attention(**_five(q=r(3, 40), k1=r(4, 40), k2=r(5, 40)), coeffs=[1.0] * 9),
        ValueError,
        r"d=40 and degree=8 need r=C\(d\+g, g\)=\d+ features",
    ),
    Bad("poly width", lambda: polynomial_tensor_attention(**_five(k1=r(4, 3)), coeffs=[1.0]), ValueError, r"k1 has"),
]

HANDLED = [
    # One key in each set: the single pair gets weight 1, the output is v1[0] * v2[0] for every query.
    Handled(
        "ta one pair",
        lambda: tensor_attention(r(3, 2), r(1, 2), r(1, 2), torch.full((1, 2), 2.0), torch.full((1, 2), 0.5)),
        _check_close_to_one,
    ),
    # Huge scores do not overflow: the row max is subtracted before exp.
    Handled(
        "ta huge scores",
        lambda: tensor_attention(**_five(q=1e4 * r(3, 2))),
        lambda out: (out.shape == (3, 3) and bool(torch.isfinite(out).all())) or pytest.fail(f"{out}"),
    ),
    # A constant polynomial weighs every pair alike: the output is the plain mean of v1[j] * v2[k] over all pairs.
    Handled(
        "poly degree 0",
        lambda: polynomial_tensor_attention(**_five(), coeffs=[3.0]),
        lambda out: torch.testing.assert_close(
            out, (r(4, 3, seed=3)[:, None] * r(5, 3, seed=4)[None]).mean((0, 1)).expand(3, 3)
        ),
    ),
    # A length-0 sequence has no positions to label: an empty (0,) tensor.
    Handled(
        "labels empty",
        lambda: match3_labels(torch.zeros(0, dtype=torch.long), 5),
        lambda out: out.shape == (0,) or pytest.fail(f"{out.shape}"),
    ),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
