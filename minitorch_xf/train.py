r"""One small training loop for every experiment in the book.

``train`` runs AdamW on ``loss_fn(model, batch)`` for ``steps`` steps, keeps the loss history, calls an
evaluation hook every ``eval_every`` steps, and stops early once ``stop_when(metrics)`` is true or the
evaluation has not improved for ``patience`` evaluations. With a fixed seed it is deterministic on CPU.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from . import runtime
from ._validate import check_callable, check_flag, check_number, check_positive, check_same_device, check_tensor

__all__ = ["History", "cross_entropy_loss", "train"]


@dataclass
class History:
    """What happened during training: loss per step and the metrics of each evaluation."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    evals: list[tuple[int, dict]] = field(default_factory=list)
    stopped_early: bool = False
    reason: str = ""

    def metric(self, name: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one evaluation metric."""
        if self.evals and name not in self.evals[0][1]:
            raise KeyError(f"metric {name!r} was not recorded; recorded metrics: {sorted(self.evals[0][1])}")
        return [s for s, _ in self.evals], [m[name] for _, m in self.evals]

    @property
    def last(self) -> dict:
        return self.evals[-1][1] if self.evals else {}


def cross_entropy_loss(model: nn.Module, batch, ignore_index: int = -100) -> torch.Tensor:
    """Token-level cross-entropy for ``batch = (inputs (b, n), targets (b, n))``; targets -100 are ignored.

    ``targets`` are integer token ids in ``[0, V)`` for the model's ``V`` logits (or ``ignore_index``);
    ``model(inputs)`` must return logits ``(b, n, V)`` on the targets' device.
    """
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"batch must be a pair (inputs, targets), got {type(batch).__name__}")
    ignore_index = check_number("ignore_index", ignore_index, integer=True)
    x, y = batch
    check_tensor("inputs", x)
    check_tensor("targets", y)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"targets must be integer token ids (e.g. torch.long), got dtype={y.dtype}")
    logits = model(x)  # (b, n, V)
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"model(inputs) returned {type(logits).__name__}; cross_entropy_loss needs logits (b, n, V)")
    if tuple(y.shape) != tuple(logits.shape[:-1]) or logits.dim() < 2:
        raise ValueError(
            f"targets has shape {tuple(y.shape)}; expected {tuple(logits.shape[:-1])}, one per input token "
            f"(the model's logits have shape {tuple(logits.shape)})"
        )
    check_same_device(targets=y, logits=logits)
    vocab = logits.shape[-1]
    kept = y[y != ignore_index]
    if kept.numel() and (int(kept.min()) < 0 or int(kept.max()) >= vocab):
        bad = int(kept.min()) if int(kept.min()) < 0 else int(kept.max())
        raise ValueError(
            f"targets holds the id {bad}, outside the model's vocabulary [0, {vocab}) (and not ignore_index="
            f"{ignore_index})"
        )
    return nn.functional.cross_entropy(logits.flatten(0, -2), y.flatten(), ignore_index=ignore_index)


def train(
    model: nn.Module,
    batches: Callable[[int], object],
    steps: int,
    lr: float = 1e-3,
    loss_fn: Callable[[nn.Module, object], torch.Tensor] = cross_entropy_loss,
    eval_fn: Callable[[nn.Module], dict] | None = None,
    eval_every: int = 100,
    stop_when: Callable[[dict], bool] | None = None,
    patience: int | None = None,
    monitor: str = "loss",
    weight_decay: float = 0.0,
    warmup: int = 0,
    grad_clip: float | None = 1.0,
    progress: bool | None = None,
) -> History:
    r"""Train ``model`` in place and return its :class:`History`.

    Args:
        batches: ``batches(step)`` returns the batch for that step (the task's generator holds the seed).
        loss_fn: ``loss_fn(model, batch)`` -> scalar loss.
        eval_fn: ``eval_fn(model)`` -> dict of metrics, run under ``torch.no_grad`` in eval mode.
        stop_when: stop as soon as it returns True on the latest metrics (e.g. accuracy reached).
        patience: stop after this many evaluations without a new minimum of ``metrics[monitor]``.
        lr: peak learning rate, finite and > 0.  weight_decay: AdamW's, finite and >= 0.
        warmup: linear learning-rate warm-up steps (an int >= 0; longer than ``steps`` means the rate rises the
            whole run), then cosine decay to 0.1 lr.
        grad_clip: clip the gradient norm to this finite value > 0; ``None`` for no clipping (0 would never
            learn, a negative value would climb the loss).
        progress: show a tqdm bar; default: on, except under CI.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    check_callable("batches", batches)
    steps = check_positive("steps", steps)
    check_callable("loss_fn", loss_fn)
    for name, fn in (("eval_fn", eval_fn), ("stop_when", stop_when)):
        if fn is not None:
            check_callable(name, fn)
    eval_every = check_positive("eval_every", eval_every)
    lr = check_positive("lr", lr, integer=False)  # numpy numbers become Python ones
    weight_decay = check_positive("weight_decay", weight_decay, integer=False, allow_zero=True)
    warmup = check_positive("warmup", warmup, allow_zero=True)
    if grad_clip is not None:
        grad_clip = check_positive("grad_clip", grad_clip, integer=False)
    if progress is not None:
        check_flag("progress", progress)
    if patience is not None:
        patience = check_positive("patience", patience)
    if not isinstance(monitor, str):
        raise TypeError(f"monitor must be the name of a metric eval_fn returns (a str), got {monitor!r}")
    if eval_fn is None and (stop_when is not None or patience is not None):
        which = "stop_when" if stop_when is not None else f"patience={patience!r}"
        raise ValueError(f"{which} needs eval_fn: early stopping reads the evaluation metrics")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model has no trainable parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        frac = (step - warmup) / max(1, steps - warmup)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    history = History()
    best, since_best = math.inf, 0
    show = (not runtime.quiet()) if progress is None else progress
    bar = tqdm(range(steps), disable=not show, desc="train")
    for step in bar:
        model.train()
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        batch = batches(step)
        if batch is None:
            raise TypeError(f"batches({step}) returned None; it must return the batch for step {step}")
        loss = loss_fn(model, batch)
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"loss_fn returned {type(loss).__name__}; it must return a scalar tensor")
        if loss.numel() != 1:
            raise ValueError(f"loss_fn returned a tensor of shape {tuple(loss.shape)}; it must return a scalar")
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower lr={lr} or check the data")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        history.steps.append(step)
        history.loss.append(loss.item())
        last_step = step == steps - 1
        if eval_fn is not None and ((step + 1) % eval_every == 0 or last_step):
            model.eval()
            with torch.no_grad():
                metrics = eval_fn(model)
            if not isinstance(metrics, Mapping):
                raise TypeError(f"eval_fn returned {type(metrics).__name__}; it must return a dict of metrics")
            metrics = dict(metrics)
            if patience is not None and monitor not in metrics:
                raise KeyError(f"monitor={monitor!r} is not among the metrics eval_fn returned: {sorted(metrics)}")
            model.train()
            history.evals.append((step + 1, metrics))
            bar.set_postfix({str(k): f"{v:.3g}" for k, v in metrics.items() if isinstance(v, (int, float))})
            if stop_when is not None and stop_when(metrics):
                history.stopped_early, history.reason = not last_step, f"stop_when met at step {step + 1}"
                break
            if patience is not None:
                value = metrics[monitor]
                if isinstance(value, bool) or not isinstance(value, numbers.Real | torch.Tensor):
                    raise TypeError(f"eval_fn's {monitor!r} (the monitor) is {value!r}; patience needs a number")
                value = float(value)
                best, since_best = (value, 0) if value < best else (best, since_best + 1)
                if since_best >= patience:
                    history.stopped_early = True
                    history.reason = f"no improvement of {monitor} in {patience} evaluations (step {step + 1})"
                    break
    bar.close()
    model.eval()
    return history
