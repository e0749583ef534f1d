"""The book's figure style and the plots that recur across chapters."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ._validate import check_positive, check_tensor
from .train import History

__all__ = ["attention_map", "learning_curve", "use_style"]


def use_style() -> None:
    """Small, clean figures that read well in the HTML book and in a notebook."""
    plt.rcParams.update(
        {
            "figure.figsize": (5.5, 3.5),
            "figure.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
        }
    )


def learning_curve(history, metric: str | None = None, ax=None, smooth: int = 20, label: str | None = None):
    """Training loss per step, smoothed by a running mean, and one evaluation metric on a twin axis.

    ``smooth`` (an int >= 1) is the window of the running mean, capped at the number of recorded steps; ``metric``
    and ``label`` are strings (or None).
    """
    if not isinstance(history, History):
        raise TypeError(f"history must be a History (what train returns), got {type(history).__name__}")
    if not history.loss:
        raise ValueError("history has no loss values to plot (was it trained for 0 steps?)")
    if len(history.steps) != len(history.loss):
        raise ValueError(
            f"history has {len(history.steps)} steps but {len(history.loss)} loss values: one loss per step"
        )
    check_positive("smooth", smooth)
    for name, text in (("metric", metric), ("label", label)):
        if text is not None and not isinstance(text, str):
            raise TypeError(f"{name} must be a str or None, got {text!r} ({type(text).__name__})")
    if metric is not None:
        history.metric(metric)  # raises KeyError naming the metric before anything is drawn
    ax = ax or plt.subplots()[1]
    loss = np.asarray(history.loss)
    k = min(smooth, len(loss))
    smoothed = np.convolve(loss, np.ones(k) / k, mode="valid")
    ax.plot(np.asarray(history.steps)[k - 1 :], smoothed, label=label or "training loss")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if metric is not None:
        twin = ax.twinx()
        steps, values = history.metric(metric)
        twin.plot(steps, values, "o-", color="C1", ms=3, label=metric)
        twin.set_ylabel(metric)
        twin.grid(False)
    return ax


def attention_map(
    weights: torch.Tensor,
    queries: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
):
    """Heat map of one (s, t) attention matrix; rows are queries, columns keys (one label per row / column).

    ``weights`` is real and finite (a NaN would silently rescale the colours); ``queries`` and ``keys`` are
    sequences of labels (a plain string is refused rather than split into characters).
    """
    check_tensor("weights", weights)
    if weights.dim() != 2:
        raise ValueError(f"attention_map wants one (s, t) matrix, got shape {tuple(weights.shape)}")
    if weights.numel() == 0:
        raise ValueError(f"weights has shape {tuple(weights.shape)}: nothing to draw")
    if weights.is_complex():
        raise TypeError(f"weights must be real, got dtype={weights.dtype}")
    finite = torch.isfinite(weights.detach())
    if not bool(finite.all()):
        where = tuple(int(i) for i in (~finite).nonzero()[0])
        raise ValueError(f"weights has a non-finite entry {float(weights[where])} at {where}: nothing sensible to draw")
    for name, labels in (("queries", queries), ("keys", keys)):
        if isinstance(labels, str) or (labels is not None and not isinstance(labels, Sequence)):
            raise TypeError(f"{name} must be a sequence of labels (e.g. a list of str), got {labels!r}")
    for name, labels, n in (("queries", queries, weights.shape[0]), ("keys", keys, weights.shape[1])):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{name} has {len(labels)} labels but weights has shape {tuple(weights.shape)}: need {n}")
    w = weights.detach().cpu().float().numpy()
    ax = ax or plt.subplots(figsize=(4, 4))[1]
    ax.imshow(w, cmap="viridis", vmin=0, vmax=max(1e-12, float(w.max())))
    ax.grid(False)
    if keys is not None:
        ax.set_xticks(range(len(keys)), keys)
    if queries is not None:
        ax.set_yticks(range(len(queries)), queries)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    if title:
        ax.set_title(title)
    return ax
