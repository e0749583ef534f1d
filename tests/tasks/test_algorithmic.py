"""DigitTask: shapes, masked targets, answers for sort/reverse, accuracy of an oracle model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from minitorch_xf.tasks.algorithmic import DigitTask


@pytest.mark.parametrize("kind", ["sort", "reverse"])
def test_sample_shapes_and_masked_targets(kind):
    task = DigitTask(kind=kind, n=5, base=7, seed=0)
    x, y = task.sample(8)
    assert x.shape == (8, 10) and y.shape == (8, 10)
    assert task.seq_len == 11 and task.vocab_size == 8 and task.sep == 7
    assert (y[:, :5] == -100).all()  # the prompt digits are not scored
    assert (x[:, 5] == task.sep).all()
    assert ((x[:, :5] >= 0) & (x[:, :5] < 7)).all()
    # targets are the inputs shifted by one
    torch.testing.assert_close(y[:, 5:-1], x[:, 6:])
    digits = x[:, :5].tolist()
    answers = y[:, 5:].tolist()
    for d, a in zip(digits, answers, strict=True):
        assert a == (sorted(d) if kind == "sort" else d[::-1])


def test_seeded_and_independent_of_global_seed():
    torch.manual_seed(0)
    a = DigitTask(seed=3).sample(4)[0]
    torch.manual_seed(1)
    b = DigitTask(seed=3).sample(4)[0]
    torch.testing.assert_close(a, b)
    task = DigitTask(seed=3)
    assert not torch.equal(task.sample(4)[0], task.sample(4)[0])  # the generator advances


class Oracle(nn.Module):
    """Answers perfectly by reading the prompt; ``wrong`` flips the last digit of every answer."""

    def __init__(self, task: DigitTask, wrong: bool = False):
        super().__init__()
        self.task, self.wrong = task, wrong
        self.dummy = nn.Parameter(torch.zeros(1))

    def generate(self, prompt, n_new):
        answer = self.task.answer(prompt[:, : self.task.n]).clone()
        if self.wrong:
            answer[:, -1] = (answer[:, -1] + 1) % self.task.base
        return torch.cat([prompt, answer[:, :n_new]], dim=1)


@pytest.mark.parametrize("kind", ["sort", "reverse"])
def test_accuracy_of_oracle(kind):
    task = DigitTask(kind=kind, n=4)
    assert task.accuracy(Oracle(task), batch_size=64) == {"token_acc": 1.0, "seq_acc": 1.0}
    acc = task.accuracy(Oracle(task, wrong=True), batch_size=64)
    assert acc["token_acc"] == pytest.approx(0.75) and acc["seq_acc"] == 0.0


def test_prompts():
    task = DigitTask(kind="reverse", n=3)
    prompt, answer = task.prompts(5, torch.Generator().manual_seed(0))
    assert prompt.shape == (5, 4) and answer.shape == (5, 3)
    torch.testing.assert_close(answer, prompt[:, :3].flip(-1))


def test_bad_inputs():
    with pytest.raises(ValueError, match="kind='shuffle'"):
        DigitTask(kind="shuffle")
    with pytest.raises(ValueError, match="n=0"):
        DigitTask(n=0)
    with pytest.raises(ValueError, match="seed=-1"):
        DigitTask(seed=-1)
    with pytest.raises(ValueError, match="batch_size=0"):
        DigitTask().sample(0)
    with pytest.raises(ValueError, match="batch_size=-2"):
        DigitTask().prompts(-2)
