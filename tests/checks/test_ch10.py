"""Chapter 10's checks accept the package's answers and reject wrong ones, naming the case."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf.checks import ch10
from minitorch_xf.checks._core import CheckFailed
from minitorch_xf.theory.att_svm import attention_output, logistic_loss, loss_grad, loss_grad_direction

pytestmark = pytest.mark.ch10


def margins(x, z, opt, w):
    chosen = x[torch.arange(x.shape[0]), opt]  # (n, d)
    return ((chosen[:, None, :] - x) @ (w @ z[:, :, None])).squeeze(-1)


def step(x, y, z, w, v, lr):
    return w - lr * loss_grad_direction(x, y, z, w, v)


def factors(w):
    u, s, vh = torch.linalg.svd(w)
    return u * s.sqrt(), vh.T * s.sqrt()


@pytest.mark.parametrize(
    ("check", "right", "wrong"),
    [
        (ch10.check_attention_output, attention_output, lambda x, z, w, v: attention_output(x, z, w.T, v)),
        (ch10.check_loss_grad, loss_grad, lambda x, y, z, w, v: 2 * loss_grad(x, y, z, w, v)),
        (ch10.check_svm_margins, margins, lambda x, z, opt, w: -margins(x, z, opt, w)),
        (ch10.check_normalized_step, step, lambda x, y, z, w, v, lr: w - lr * loss_grad(x, y, z, w, v)),
        (ch10.check_balanced_factors, factors, lambda w: (w, torch.eye(w.shape[0], dtype=w.dtype))),
    ],
    ids=["attention_output", "loss_grad", "svm_margins", "normalized_step", "balanced_factors"],
)
def test_check_accepts_the_reference_and_rejects_a_wrong_answer(check, right, wrong, capsys):
    check(right, seed=0)
    assert "all" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="case"):
        check(wrong, seed=0)


def test_logistic_loss_is_what_the_checks_differentiate():
    # the checks' loop loss and the package's loss agree, so check_loss_grad grades the right function
    g = torch.Generator().manual_seed(0)
    x, z = torch.randn(3, 4, 5, generator=g, dtype=torch.float64), torch.randn(3, 5, generator=g, dtype=torch.float64)
    w, v = torch.randn(5, 5, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(ch10._loop_loss(x, y, z, w, v), logistic_loss(x, y, z, w, v))
