"""Chapter 11's experiment pieces (theory.hypernetwork) called as a careless user would: each ``BAD`` call raises
naming the argument, each ``HANDLED`` call gives the answer of an independent reference (numpy or torch)."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_calls import Bad, Handled, r, walker_tests
from torch import nn

from minitorch_xf.theory.hypernetwork import fuzzy_loss, linear_probe, query_code_features, sraven_loss

V = 5
MODEL = nn.Linear(V, V)  # tokens (b, n, V) -> logits (b, n, V)
TOKENS = r(4, 6, V)
TARGET = r(4, seed=1)
ANSWER = torch.tensor([[0, 1], [2, 3], [4, 0], [1, 1]])  # (b, f) = (4, 2), values in [0, V)
CODES = [r(3, 4, 4, 2, seed=2), r(3, 4, 4, 2, seed=3)]  # L = 2 layers of (b, s, t, h)
LABELS = torch.arange(16) % 4
FEATS = r(16, 3, seed=4)


def as_list(model):
    return lambda tokens: model(tokens).tolist()


def codes_with(i, c):
    out = list(CODES)
    out[i] = c
    return out


BAD = [
    # ---- fuzzy_loss
    Bad("fuzzy_loss model None", lambda: fuzzy_loss(None, (TOKENS, TARGET)), TypeError, r"model must be callable"),
    Bad("fuzzy_loss batch None", lambda: fuzzy_loss(MODEL, None), TypeError, r"batch must be a tuple"),
    Bad("fuzzy_loss batch tensor", lambda: fuzzy_loss(MODEL, TOKENS), TypeError, r"batch must be a tuple"),
    Bad("fuzzy_loss tokens list", lambda: fuzzy_loss(MODEL, ([1.0], TARGET)), TypeError, r"batch\[0\] \(tokens\)"),
    # a (b, 1) target would broadcast against the (b,) read-out into a (b, b) error matrix
    Bad("fuzzy_loss target (b, 1)", lambda: fuzzy_loss(MODEL, (TOKENS, TARGET[:, None])), ValueError, r"target\)"),
    Bad("fuzzy_loss target long", lambda: fuzzy_loss(MODEL, (TOKENS, TARGET.long())), TypeError, r"target\) must be a"),
    Bad(
        "fuzzy_loss target rows", lambda: fuzzy_loss(MODEL, (TOKENS, TARGET[:3])), ValueError, r"target has shape \(3,"
    ),
    Bad("fuzzy_loss output list", lambda: fuzzy_loss(as_list(MODEL), (TOKENS, TARGET)), ValueError, r"model\(tokens\)"),
    Bad(
        "fuzzy_loss target meta", lambda: fuzzy_loss(MODEL, (TOKENS, TARGET.to("meta"))), ValueError, r"target on meta"
    ),
    # ---- sraven_loss
    Bad("sraven_loss model int", lambda: sraven_loss(3, (TOKENS, ANSWER)), TypeError, r"model must be callable"),
    Bad("sraven_loss batch short", lambda: sraven_loss(MODEL, (TOKENS,)), TypeError, r"batch must be a tuple"),
    Bad("sraven_loss answer float", lambda: sraven_loss(MODEL, (TOKENS, ANSWER.float())), TypeError, r"answer must be"),
    Bad("sraven_loss answer bool", lambda: sraven_loss(MODEL, (TOKENS, ANSWER > 0)), TypeError, r"answer must be an"),
    Bad("sraven_loss answer 1-D", lambda: sraven_loss(MODEL, (TOKENS, ANSWER[:, 0])), ValueError, r"answer\) must"),
    Bad("sraven_loss answer -1", lambda: sraven_loss(MODEL, (TOKENS, ANSWER - 1)), ValueError, r"answer holds .*\[-1"),
    Bad("sraven_loss answer V", lambda: sraven_loss(MODEL, (TOKENS, ANSWER + 1)), ValueError, r"outside \[0, 5\)"),
    Bad("sraven_loss answer rows", lambda: sraven_loss(MODEL, (TOKENS, ANSWER[:2])), ValueError, r"answer has shape"),
    Bad(
        "sraven_loss f > positions",
        lambda: sraven_loss(MODEL, (TOKENS[:, :1], ANSWER)),
        ValueError,
        r"answer has f=2 attributes but the model returned only 1",
    ),
    # ---- query_code_features
    Bad("query_code_features codes None", lambda: query_code_features(None), TypeError, r"codes must be a non-empty"),
    Bad("query_code_features codes []", lambda: query_code_features([]), TypeError, r"codes must be a non-empty"),
    Bad("query_code_features codes 3-D", lambda: query_code_features([r(3, 4, 4)]), ValueError, r"codes\[0\] must"),
    Bad("query_code_features query 3.0", lambda: query_code_features(CODES, 3.0), TypeError, r"query must be an int"),
    Bad("query_code_features query bool", lambda: query_code_features(CODES, True), TypeError, r"query must be an int"),
    Bad("query_code_features query 4", lambda: query_code_features(CODES, 4), ValueError, r"query=4 must be in \[-4"),
    Bad("query_code_features query -5", lambda: query_code_features(CODES, -5), ValueError, r"query=-5"),
    Bad(
        "query_code_features layers disagree",
        lambda: query_code_features(codes_with(1, r(3, 5, 5, 2))),
        ValueError,
        r"codes\[1\] has shape \(3, 5, 5, 2\) but codes\[0\]",
    ),
    Bad(
        "query_code_features dtype",
        lambda: query_code_features(codes_with(1, CODES[1].double())),
        TypeError,
        r"codes\[1\] has dtype torch.float64 but codes\[0\] has dtype torch.float32",
    ),
    Bad("query_code_features s != t", lambda: query_code_features([r(3, 2, 4, 2)]), ValueError, r"s=2 queries but t=4"),
    Bad("query_code_features t=2", lambda: query_code_features([r(3, 2, 2, 2)]), ValueError, r"t=2 keys"),
    # ---- linear_probe
    Bad("linear_probe label -1", lambda: linear_probe(FEATS, LABELS - 1), ValueError, r"labels .*got -1"),
    Bad("linear_probe labels float", lambda: linear_probe(FEATS, LABELS.float()), TypeError, r"labels must be an int"),
    Bad("linear_probe labels bool", lambda: linear_probe(FEATS, LABELS > 1), TypeError, r"labels must be an integer"),
    Bad("linear_probe labels list", lambda: linear_probe(FEATS, LABELS.tolist()), TypeError, r"labels must be a torch"),
    Bad("linear_probe features long", lambda: linear_probe(FEATS.long(), LABELS), TypeError, r"features must be a fl"),
    Bad("linear_probe features 1-D", lambda: linear_probe(FEATS[:, 0], LABELS), ValueError, r"features must have 2"),
    Bad("linear_probe rows", lambda: linear_probe(FEATS[:12], LABELS), ValueError, r"features \(12 rows\)"),
    Bad("linear_probe l2 nan", lambda: linear_probe(FEATS, LABELS, l2=math.nan), ValueError, r"l2=nan"),
    Bad("linear_probe generator int", lambda: linear_probe(FEATS, LABELS, 0), TypeError, r"generator must be"),
    Bad("linear_probe labels meta", lambda: linear_probe(FEATS, LABELS.to("meta")), ValueError, r"labels on meta"),
]


def _close(expected, **kw):
    def check(got):
        torch.testing.assert_close(torch.as_tensor(got, dtype=torch.float64), torch.as_tensor(expected), **kw)

    return check


def features_ref(codes, q):
    """numpy: for each layer, the mean and sample std of z_{q k} over the keys k != q, layers then heads."""
    zs = [np.asarray(c, dtype=np.float64)[:, q] for c in codes]  # each (b, t, h)
    z = np.concatenate(zs, -1)  # (b, t, L h)
    others = [k for k in range(z.shape[1]) if k != q % z.shape[1]]
    return torch.from_numpy(np.concatenate([z[:, others].mean(1), z[:, others].std(1, ddof=1)], -1))


def cross_entropy_ref(logits, answer):
    """numpy: the mean over (b, f) of -log softmax(logits)[answer]."""
    lg = np.asarray(logits.detach(), dtype=np.float64)
    lse = np.log(np.exp(lg).sum(-1))
    picked = np.take_along_axis(lg, np.asarray(answer)[..., None], -1)[..., 0]
    return float((lse - picked).mean())


SEPARABLE = torch.nn.functional.one_hot(LABELS, 4).double() * 5 + 0.01 * r(16, 4, seed=5, dtype=torch.float64)

HANDLED = [
    # numpy integers are ints; a non-contiguous (transposed) code tensor gives the same features
    Handled(
        "query_code_features numpy query",
        lambda: query_code_features(CODES, np.int64(1)),
        _close(features_ref(CODES, 1), check_dtype=False),
    ),
    Handled(
        "query_code_features non-contiguous",
        lambda: query_code_features([c.transpose(1, 2).contiguous().transpose(1, 2) for c in CODES], -1),
        _close(features_ref(CODES, -1), check_dtype=False),
    ),
    # an expanded target (every row the same label) is a valid (b,) target
    Handled(
        "fuzzy_loss expanded target",
        lambda: fuzzy_loss(MODEL, (TOKENS, torch.tensor(0.5).expand(4))).detach(),
        _close(float(((MODEL(TOKENS)[:, -1, 0].detach().numpy() - 0.5) ** 2).mean()), check_dtype=False),
    ),
    # one attribute (f = 1): a size-1 dim
    Handled(
        "sraven_loss one attribute",
        lambda: sraven_loss(MODEL, (TOKENS, ANSWER[:, :1])).detach(),
        _close(cross_entropy_ref(MODEL(TOKENS)[:, -1:], ANSWER[:, :1]), check_dtype=False),
    ),
    # int32 labels, classes one-hot in the features: every held-out row is classified right
    Handled(
        "linear_probe int32 separable",
        lambda: linear_probe(SEPARABLE, LABELS.int(), torch.Generator().manual_seed(0)),
        _close(1.0, check_dtype=False),
    ),
]


test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
