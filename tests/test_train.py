"""train(): determinism, early stopping, evaluation hook, quiet output and bad arguments."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from minitorch_xf import runtime
from minitorch_xf.train import History, cross_entropy_loss, train


def regression_setup(seed=0):
    runtime.seed_everything(seed)
    model = nn.Linear(4, 1)
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(4, 1, generator=g)
    data = [torch.randn(16, 4, generator=g) for _ in range(50)]

    def batches(step):
        x = data[step % len(data)]
        return x, x @ w

    def loss_fn(m, batch):
        x, y = batch
        return nn.functional.mse_loss(m(x), y)

    return model, batches, loss_fn


def test_deterministic_on_cpu():
    histories = []
    for _ in range(2):
        model, batches, loss_fn = regression_setup()
        histories.append(train(model, batches, steps=40, lr=5e-2, loss_fn=loss_fn, progress=False).loss)
    assert histories[0] == histories[1]
    first, last = sum(histories[0][:5]) / 5, sum(histories[0][-5:]) / 5
    assert last < 0.5 * first, f"loss went from {first:.3g} to {last:.3g}"


def test_eval_hook_records_metrics():
    model, batches, loss_fn = regression_setup()
    calls = []

    def eval_fn(m):
        calls.append(m.training)
        return {"loss": float(loss_fn(m, batches(0))), "step_count": len(calls)}

    h = train(model, batches, steps=25, lr=1e-2, loss_fn=loss_fn, eval_fn=eval_fn, eval_every=10, progress=False)
    assert [s for s, _ in h.evals] == [10, 20, 25]  # every 10 steps and at the last step
    assert calls == [False, False, False]  # evaluated in eval mode
    steps, values = h.metric("step_count")
    assert steps == [10, 20, 25] and values == [1, 2, 3]
    assert h.last["step_count"] == 3
    assert len(h.loss) == 25 and not h.stopped_early
    with pytest.raises(KeyError, match="'acc'"):
        h.metric("acc")


def test_early_stop_via_stop_when():
    model, batches, loss_fn = regression_setup()
    counter = iter(range(100))
    h = train(
        model,
        batches,
        steps=100,
        lr=1e-2,
        loss_fn=loss_fn,
        eval_fn=lambda m: {"n": next(counter)},
        eval_every=5,
        stop_when=lambda metrics: metrics["n"] >= 2,
        progress=False,
    )
    assert h.stopped_early and "stop_when" in h.reason
    assert len(h.loss) == 15 and h.evals[-1][0] == 15


def test_early_stop_via_patience():
    model, batches, loss_fn = regression_setup()
    values = iter([5.0, 4.0, 4.5, 4.2, 4.1, 3.0, 2.0])
    h = train(
        model,
        batches,
        steps=100,
        lr=1e-2,
        loss_fn=loss_fn,
        eval_fn=lambda m: {"loss": next(values)},
        eval_every=2,
        patience=3,
        progress=False,
    )
    assert h.stopped_early and "no improvement of loss in 3 evaluations" in h.reason
    assert len(h.evals) == 5 and len(h.loss) == 10


def test_quiet_under_ci(monkeypatch, capsys):
    monkeypatch.setenv("CI", "true")
    model, batches, loss_fn = regression_setup()
    train(model, batches, steps=5, loss_fn=loss_fn, eval_fn=lambda m: {"a": 1.0}, eval_every=2)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_cross_entropy_loss_ignores_masked_targets():
    class Fixed(nn.Module):
        def forward(self, x):
            return torch.log_softmax(torch.tensor([[[2.0, 0.0], [0.0, 2.0]]]), -1).expand(x.shape[0], 2, 2)

    x = torch.zeros(1, 2, dtype=torch.long)
    loss = cross_entropy_loss(Fixed(), (x, torch.tensor([[-100, 1]])))
    expected = -torch.log_softmax(torch.tensor([0.0, 2.0]), -1)[1]
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("lr", [0, -0.5, float("nan")])
def test_bad_lr(lr):
    model, batches, loss_fn = regression_setup()
    with pytest.raises(ValueError, match=f"lr={lr!r}"):
        train(model, batches, steps=5, lr=lr, loss_fn=loss_fn)


def test_bad_steps_and_patience():
    model, batches, loss_fn = regression_setup()
    with pytest.raises(ValueError, match="steps=0"):
        train(model, batches, steps=0, loss_fn=loss_fn)
    with pytest.raises(ValueError, match="patience=0"):
        train(model, batches, steps=5, loss_fn=loss_fn, patience=0)
    with pytest.raises(ValueError, match="patience=2 needs eval_fn"):
        train(model, batches, steps=5, loss_fn=loss_fn, patience=2)
    with pytest.raises(ValueError, match="stop_when needs eval_fn"):
        train(model, batches, steps=5, loss_fn=loss_fn, stop_when=lambda m: True)
    with pytest.raises(ValueError, match="eval_every=-1"):
        train(model, batches, steps=5, loss_fn=loss_fn, eval_every=-1)


def test_frozen_model_and_diverging_loss():
    model, batches, loss_fn = regression_setup()
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(model, batches, steps=5, loss_fn=loss_fn)
    model.requires_grad_(True)
    with pytest.raises(FloatingPointError, match="nan"):
        train(model, batches, steps=5, loss_fn=lambda m, b: m(b[0]).sum() * float("nan"), progress=False)


def test_history_defaults():
    h = History()
    assert h.last == {} and h.metric("anything") == ([], [])


def test_metrics_with_non_string_keys_show_in_the_progress_bar():
    """eval_fn may key its metrics by anything (accuracy per lookahead: {1: 0.9, 2: 0.6}); the bar must not crash."""
    model, batches, loss_fn = regression_setup()
    h = train(
        model,
        batches,
        steps=4,
        lr=1e-2,
        loss_fn=loss_fn,
        eval_fn=lambda m: {1: 0.5, 2: 0.25},
        eval_every=2,
        progress=True,
    )
    assert h.last == {1: 0.5, 2: 0.25}
