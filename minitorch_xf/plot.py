"""The book's figure style and the plots that recur across chapters."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

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
    """Training loss per step (smoothed by a running mean), and one evaluation metric on a twin axis."""
    ax = ax or plt.subplots()[1]
    loss = np.asarray(history.loss)
    k = max(1, min(smooth, len(loss)))
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
    """Heat map of one (s, t) attention matrix; rows are queries, columns keys."""
    w = weights.detach().cpu().float().numpy()
    if w.ndim != 2:
        raise ValueError(f"attention_map wants one (s, t) matrix, got shape {w.shape}")
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
