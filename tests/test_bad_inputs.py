"""``minitorch_xf.train`` and ``minitorch_xf.plot`` called as a careless user would.

Each entry of ``BAD`` is a bad call that must raise up front with a message naming the bad argument (the
``match`` pattern); each entry of ``HANDLED`` is an odd but valid call whose documented answer we check.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import torch
from torch import nn

matplotlib.use("Agg")  # headless backend, chosen before plot imports pyplot

from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf import plot
from minitorch_xf.train import History, cross_entropy_loss, train

NAN, INF = math.nan, math.inf


XB, YB = r(16, 2), r(16, 1, seed=1)


def model():
    torch.manual_seed(0)
    return nn.Linear(2, 1)


def mse(m, batch):
    x, y = batch
    return ((m(x) - y) ** 2).mean()


def fit(m=None, batches=None, steps=3, **kw):
    kw.setdefault("loss_fn", mse)
    kw.setdefault("progress", False)
    return train(model() if m is None else m, (lambda step: (XB, YB)) if batches is None else batches, steps, **kw)


def loss_at(m):
    return {"loss": float(mse(m, (XB, YB)))}


def history(n_steps=5, evals=True):
    h = History(steps=list(range(n_steps)), loss=[1.0 / (i + 1) for i in range(n_steps)])
    if evals:
        h.evals = [(n_steps, {"acc": 0.5})]
    return h


class TokenModel(nn.Module):
    def forward(self, x):
        return torch.zeros(*x.shape, 7, requires_grad=True)


class TokenModel_(nn.Module):
    """Trainable: logits (b, n, 7) from an embedding of each input id."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 7)

    def forward(self, x):
        return self.emb(x)


TOK = torch.tensor([[1, 2, 3], [4, 5, 6]])  # (2, 3) token ids below the vocabulary size 7


BAD = [
    # ---- train
    Bad("train steps=0", lambda: fit(steps=0), ValueError, r"steps=0"),
    Bad("train steps float", lambda: fit(steps=2.0), TypeError, r"steps must be an int"),
    Bad("train lr=0", lambda: fit(lr=0), ValueError, r"lr=0"),
    Bad("train lr nan", lambda: fit(lr=NAN), ValueError, r"lr=nan"),
    Bad("train lr inf", lambda: fit(lr=INF), ValueError, r"lr=inf"),
    Bad("train lr bool", lambda: fit(lr=True), TypeError, r"lr must be a real number"),
    Bad("train grad_clip<0", lambda: fit(grad_clip=-1.0), ValueError, r"grad_clip=-1.0"),
    Bad("train grad_clip=0", lambda: fit(grad_clip=0), ValueError, r"grad_clip=0"),
    Bad("train grad_clip nan", lambda: fit(grad_clip=NAN), ValueError, r"grad_clip=nan"),
    Bad("train grad_clip bool", lambda: fit(grad_clip=True), TypeError, r"grad_clip must be"),
    Bad("train weight_decay<0", lambda: fit(weight_decay=-0.1), ValueError, r"weight_decay"),
    Bad("train weight_decay nan", lambda: fit(weight_decay=NAN), ValueError, r"weight_decay"),
    Bad("train warmup<0", lambda: fit(warmup=-5), ValueError, r"warmup=-5"),
    Bad("train warmup float", lambda: fit(warmup=2.5), TypeError, r"warmup must be an int"),
    Bad("train eval_every=0", lambda: fit(eval_every=0), ValueError, r"eval_every=0"),
    Bad("train patience=0", lambda: fit(eval_fn=loss_at, patience=0), ValueError, r"patience=0"),
    Bad("train patience without eval_fn", lambda: fit(patience=2), ValueError, r"patience=2 needs eval_fn"),
    Bad("train stop_when without eval_fn", lambda: fit(stop_when=lambda m: True), ValueError, r"stop_when needs"),
    Bad("train batches list", lambda: fit(batches=[(XB, YB)]), TypeError, r"batches must be callable"),
    Bad("train loss_fn int", lambda: fit(loss_fn=5), TypeError, r"loss_fn must be callable"),
    Bad("train eval_fn int", lambda: fit(eval_fn=5), TypeError, r"eval_fn must be callable"),
    Bad("train stop_when int", lambda: fit(eval_fn=loss_at, stop_when=5), TypeError, r"stop_when must be callable"),
    Bad("train model str", lambda: fit(m="model"), TypeError, r"model must be an nn.Module"),
    Bad("train frozen", lambda: fit(m=model().requires_grad_(False)), ValueError, r"model has no trainable"),
    Bad("train loss not scalar", lambda: fit(loss_fn=lambda m, b: m(b[0]) - b[1]), ValueError, r"loss_fn returned"),
    Bad("train loss float", lambda: fit(loss_fn=lambda m, b: 1.0), TypeError, r"loss_fn returned float"),
    Bad(
        "train monitor missing",
        lambda: fit(eval_fn=loss_at, patience=2, monitor="acc", eval_every=1),
        KeyError,
        r"monitor='acc'",
    ),
    Bad("train eval_fn list", lambda: fit(eval_fn=lambda m: [1.0], eval_every=1), TypeError, r"eval_fn returned list"),
    Bad("train diverges", lambda: fit(loss_fn=lambda m, b: mse(m, b) * NAN), FloatingPointError, r"loss became nan"),
    Bad("cross_entropy batch tensor", lambda: cross_entropy_loss(TokenModel(), XB), TypeError, r"batch must be a pair"),
    Bad(
        "cross_entropy target shape",
        lambda: cross_entropy_loss(TokenModel(), (torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4).long())),
        ValueError,
        r"targets has shape \(2, 4\)",
    ),
    Bad("History metric missing", lambda: history().metric("loss"), KeyError, r"metric 'loss' was not recorded"),
    # ---- plot
    Bad("learning_curve empty", lambda: plot.learning_curve(History()), ValueError, r"history has no loss"),
    Bad("learning_curve str", lambda: plot.learning_curve("h"), TypeError, r"history must be a History"),
    Bad("learning_curve smooth float", lambda: plot.learning_curve(history(), smooth=2.5), TypeError, r"smooth must"),
    Bad("learning_curve smooth=0", lambda: plot.learning_curve(history(), smooth=0), ValueError, r"smooth=0"),
    Bad("learning_curve metric", lambda: plot.learning_curve(history(), metric="bleu"), KeyError, r"metric 'bleu'"),
    Bad("learning_curve metric_label", lambda: plot.learning_curve(history(), metric_label=3), TypeError, r"metric_l"),
    Bad("describe_figure axes", lambda: plot.describe_figure(plot.plt.subplots()[1]), TypeError, r"a matplotlib"),
    Bad("attention_map 3-D", lambda: plot.attention_map(r(3, 3, 3)), ValueError, r"\(s, t\) matrix"),
    Bad("attention_map str", lambda: plot.attention_map("w"), TypeError, r"weights must be a torch.Tensor"),
    Bad("attention_map queries", lambda: plot.attention_map(r(3, 4), queries=["a", "b"]), ValueError, r"queries"),
    Bad("attention_map keys", lambda: plot.attention_map(r(3, 4), keys=["a"]), ValueError, r"keys has 1"),
    Bad("attention_map empty", lambda: plot.attention_map(r(0, 4)), ValueError, r"weights has shape \(0, 4\)"),
    # ---- issue 21: None or a wrong type where a tensor or a batch is meant, ids out of range, non-finite weights
    Bad("train batch None", lambda: fit(batches=lambda step: None), TypeError, r"batches\(0\) returned None"),
    Bad("train loss_fn None", lambda: fit(loss_fn=None), TypeError, r"loss_fn must be callable"),
    Bad("train batches None", lambda: train(model(), None, 3, progress=False), TypeError, r"batches must be callable"),
    Bad("train monitor int", lambda: fit(eval_fn=loss_at, patience=2, monitor=3), TypeError, r"monitor must be"),
    Bad(
        "train monitor not a number",
        lambda: fit(eval_fn=lambda m: {"loss": "low"}, patience=2, eval_every=1),
        TypeError,
        r"eval_fn's 'loss' \(the monitor\) is 'low'",
    ),
    Bad(
        "train default loss float targets",
        lambda: fit(TokenModel_(), batches=lambda s: (TOK, TOK.float()), loss_fn=cross_entropy_loss),
        TypeError,
        r"targets must be integer token ids",
    ),
    Bad(
        "cross_entropy inputs None",
        lambda: cross_entropy_loss(TokenModel(), (None, TOK)),
        TypeError,
        r"inputs must be a torch.Tensor, got NoneType",
    ),
    Bad(
        "cross_entropy targets list",
        lambda: cross_entropy_loss(TokenModel(), (TOK, [[1, 2, 3]])),
        TypeError,
        r"targets must be a torch.Tensor, got list",
    ),
    Bad(
        "cross_entropy targets float",
        lambda: cross_entropy_loss(TokenModel(), (TOK, TOK.float())),
        TypeError,
        r"targets must be integer token ids.*float32",
    ),
    Bad(
        "cross_entropy target id too large",
        lambda: cross_entropy_loss(TokenModel(), (TOK, torch.full((2, 3), 7))),
        ValueError,
        r"targets holds the id 7, outside the model's vocabulary \[0, 7\)",
    ),
    Bad(
        "cross_entropy target id negative",
        lambda: cross_entropy_loss(TokenModel(), (TOK, torch.full((2, 3), -1))),
        ValueError,
        r"targets holds the id -1",
    ),
    Bad(
        "cross_entropy ignore_index float",
        lambda: cross_entropy_loss(TokenModel(), (TOK, TOK), ignore_index=-100.0),
        TypeError,
        r"ignore_index must be an int",
    ),
    Bad(
        "cross_entropy device",
        lambda: cross_entropy_loss(TokenModel(), (TOK, TOK.to("meta"))),
        ValueError,
        r"targets on meta, logits on cpu",
    ),
    Bad(
        "cross_entropy model returns list",
        lambda: cross_entropy_loss(lambda x: [0.0], (TOK, TOK)),
        TypeError,
        r"model\(inputs\) returned list",
    ),
    Bad(
        "learning_curve steps and loss differ",
        lambda: plot.learning_curve(History(steps=[0, 1], loss=[1.0])),
        ValueError,
        r"history has 2 steps but 1 loss values",
    ),
    Bad("learning_curve metric int", lambda: plot.learning_curve(history(), metric=3), TypeError, r"metric must be a"),
    Bad("learning_curve label list", lambda: plot.learning_curve(history(), label=["a"]), TypeError, r"label must"),
    Bad(
        "attention_map nan",
        lambda: plot.attention_map(torch.tensor([[0.5, NAN], [1.0, 0.0]])),
        ValueError,
        r"weights has a non-finite entry nan at \(0, 1\)",
    ),
    Bad("attention_map complex", lambda: plot.attention_map(r(2, 2).cfloat()), TypeError, r"weights must be real"),
    Bad(
        "attention_map keys str", lambda: plot.attention_map(r(2, 3), keys="abc"), TypeError, r"keys must be a sequence"
    ),
    Bad("attention_map queries int", lambda: plot.attention_map(r(2, 3), queries=2), TypeError, r"queries must be"),
    Bad("use_style argument", lambda: plot.use_style("dark"), TypeError, r"positional argument"),
    Bad("History metric None", lambda: history().metric(None), KeyError, r"metric None was not recorded"),
]


def _grad_clip_none_learns(h):
    assert h.loss[-1] < h.loss[0], f"loss went from {h.loss[0]} to {h.loss[-1]}"


def _plotted(ax):
    assert len(ax.lines) == 1


def _three_steps(h):
    assert h.steps == [0, 1, 2] and len(h.loss) == 3


def _token_model():
    torch.manual_seed(0)
    return TokenModel_()


HANDLED = [
    # grad_clip=None means no clipping (documented), and training still goes downhill
    Handled("train grad_clip None", lambda: fit(grad_clip=None, steps=20, lr=0.05), _grad_clip_none_learns),
    # a warm-up longer than the run ramps the rate up the whole time
    Handled("train warmup > steps", lambda: fit(warmup=100, steps=20, lr=0.5), _grad_clip_none_learns),
    # a single recorded step plots one point (no smoothing window larger than the history)
    Handled("learning_curve one step", lambda: plot.learning_curve(history(1, evals=False)), _plotted),
    # numpy ints where an int is meant
    Handled("train numpy steps", lambda: fit(steps=np.int64(3), warmup=np.int32(1)), _three_steps),
    # ignore_index: ignored positions may hold any id (here -100 and an id past the vocabulary is not there)
    Handled(
        "cross_entropy ignores ignore_index",
        lambda: cross_entropy_loss(TokenModel(), (TOK, torch.tensor([[1, -100, 3], [-100, -100, 6]]))),
        lambda loss: torch.testing.assert_close(loss, torch.tensor(math.log(7.0))),  # uniform logits over 7 ids
    ),
    Handled(
        "cross_entropy non-contiguous targets",
        lambda: cross_entropy_loss(_token_model(), (TOK, TOK.T.contiguous().T)),  # targets: a transposed view
        lambda loss: torch.testing.assert_close(
            loss, nn.functional.cross_entropy(_token_model().emb.weight[TOK].reshape(6, 7), TOK.reshape(6))
        ),
    ),
    # a non-contiguous (transposed) attention matrix is drawn as its values
    Handled(
        "attention_map non-contiguous",
        lambda: plot.attention_map(torch.tensor([[0.0, 0.25], [1.0, 0.75]]).T),
        lambda ax: np.testing.assert_allclose(ax.images[0].get_array(), [[0.0, 1.0], [0.25, 0.75]]),
    ),
]


test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
