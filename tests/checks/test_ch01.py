"""Chapter 1's attention check: its masks have one dim per score dim, so the package's attention (which refuses an
(s, t) mask against (b, s, t) scores) and a learner's broadcasting answer both pass, and a wrong answer fails."""

from __future__ import annotations

import math

import pytest
import torch

from minitorch_xf.checks import ch01
from minitorch_xf.checks._core import CheckFailed
from minitorch_xf.nn.attention import scaled_dot_product_attention

pytestmark = pytest.mark.ch01


def learner_attention(q, k, v, mask=None):
    """The exercise's answer: masked_fill broadcasts the mask against the (..., s, t) scores."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = (scores - scores.amax(-1, keepdim=True)).exp()
    return (weights / weights.sum(-1, keepdim=True)) @ v


def ignores_the_mask(q, k, v, mask=None):
    return learner_attention(q, k, v)


@pytest.mark.parametrize("answer", [scaled_dot_product_attention, learner_attention], ids=["package", "learner"])
def test_check_attention_accepts_the_package_and_a_broadcasting_answer(answer, capsys):
    ch01.check_attention(answer, seed=0)


def test_check_attention_rejects_an_answer_that_ignores_the_mask(capsys):
    with pytest.raises(CheckFailed, match="mask"):
        ch01.check_attention(ignores_the_mask, seed=0)


def test_the_package_still_refuses_an_ambiguous_two_dim_mask():
    q = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match="mask"):
        scaled_dot_product_attention(q, q, q, mask=torch.ones(3, 3, dtype=torch.bool))
