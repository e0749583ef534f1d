"""Chapter 13's checks accept right answers and reject wrong ones, naming the case."""

from __future__ import annotations

import pytest
import torch
from kernel_cases import needs_triton

from minitorch_xf.checks import ch13
from minitorch_xf.checks._core import CheckFailed
from minitorch_xf.kernels import softmax
from minitorch_xf.kernels.online import merge_states

pytestmark = pytest.mark.ch13


def intensity(n, d, elem, materialized):
    return 4 * n * n * d / (4 * n * d * elem + (4 * n * n * elem if materialized else 0))


def merge_without_rescaling(a, b):
    (m1, l1, o1), (m2, l2, o2) = a, b
    ell = l1 + l2
    return torch.maximum(m1, m2), ell, (l1[:, None] * o1 + l2[:, None] * o2) / ell[:, None]


@pytest.mark.parametrize(
    ("check", "right", "wrong", "match"),
    [
        (ch13.check_merge_states, merge_states, merge_without_rescaling, "merge_states"),
        (ch13.check_roofline_time, lambda f, b, p, w: max(f / p, b / w), lambda f, b, p, w: f / p, "roofline_time"),
        (ch13.check_attention_intensity, intensity, lambda n, d, e, m: intensity(n, d, e, False), "intensity"),
    ],
    ids=["merge_states", "roofline_time", "attention_intensity"],
)
def test_check_accepts_the_reference_and_rejects_a_wrong_answer(check, right, wrong, match, capsys):
    check(right, seed=0)
    assert "cases passed" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match=match):
        check(wrong, seed=0)


@needs_triton
def test_triton_softmax_check():
    ch13.check_triton_softmax(lambda x: softmax(x, backend="triton"), seed=0)
    with pytest.raises(CheckFailed, match=r"large logits .* received NaN"):
        ch13.check_triton_softmax(lambda x: torch.exp(x) / torch.exp(x).sum(-1, keepdim=True), seed=0)
