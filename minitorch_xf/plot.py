"""The book's figure style and the plots that recur across chapters."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ._validate import check_positive, check_tensor
from .train import History

__all__ = ["attention_map", "describe_figure", "learning_curve", "use_style"]


def use_style() -> None:
    """One figure style for the book: clean axes, readable type, sharp (2x) PNGs whose alt text names the axes.

    In a notebook (IPython with the inline backend) every figure is sent as a pixel-doubled PNG together with an
    ``alt`` text built by :func:`describe_figure`; the book turns that into the image's alt attribute, and its browser
    test fails a figure whose axes are unlabelled. Outside IPython only the rcParams change. Safe to call again.
    """
    plt.rcParams.update(
        {
            "figure.figsize": (6.0, 3.6),
            "figure.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "font.size": 10,
            "legend.fontsize": 9,
            "legend.frameon": False,
            "lines.linewidth": 1.6,
        }
    )
    _register_figure_formatter()


def describe_figure(fig) -> str:
    """Alt text of a figure: its title and, for every panel that draws something, the words on its axes.

    A panel with data but no x or y label is described as ``unlabelled x axis`` / ``unlabelled y axis`` (a twin
    axis sharing x needs only its y label), a colour bar without its label as ``unlabelled colour bar``; the test
    harness and the book's browser test look for the word ``unlabelled``.
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure (plt.subplots()[0]), got {type(fig).__name__}")
    parts = []
    title = _words(fig._suptitle.get_text()) if getattr(fig, "_suptitle", None) is not None else ""
    if title:
        parts.append(title)
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.has_data():
            continue
        if getattr(ax, "_colorbar", None) is not None:  # a colour bar needs one label: what its colours mean
            label = _words(ax.get_ylabel()) or _words(ax.get_xlabel())
            parts.append(f"colour bar: {label or 'unlabelled colour bar'}")
            continue
        if ax.images and not (ax.lines or ax.collections or ax.patches):
            kind = "image"
        else:
            kind = "plot"
        twin = any(other is not ax and other.bbox.bounds == ax.bbox.bounds for other in fig.axes[:i])
        xlabel = _words(ax.get_xlabel()) or ("shared x axis" if twin else "unlabelled x axis")
        ylabel = _words(ax.get_ylabel()) or "unlabelled y axis"
        name = _words(ax.get_title())
        head = f"{kind} “{name}”" if name else kind
        parts.append(f"{head}: x = {xlabel}; y = {ylabel}")
    if not parts:
        return "figure without data"
    return "Figure. " + " | ".join(parts)


def _words(text: str) -> str:
    """A label as a screen reader should read it: mathtext's ``$`` and backslashes dropped (``$\\gamma$`` -> gamma)."""
    return " ".join(text.replace("$", "").replace("\\", "").split())


def _png_with_alt(fig):
    """IPython formatter: a 2x PNG of ``fig`` and metadata {width, height, alt} (None for an empty figure)."""
    from IPython.core.pylabtools import retina_figure

    out = retina_figure(fig, base64=True, bbox_inches="tight")
    if out is None:
        return None
    data, metadata = out
    metadata["alt"] = describe_figure(fig)
    return data, metadata


def _register_figure_formatter() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: rcParams only
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    # Load the backend now: the inline backend installs its own formatters when it loads (at the first figure
    # otherwise), which would replace ours.
    if "inline" in str(plt.rcParams._get("backend")):
        import matplotlib_inline.backend_inline  # noqa: F401
    _install_formatter(shell)
    # ...and, loaded from a kernel, again after the first cell: so ours goes back in before every cell.
    if not getattr(shell, "_xf_figure_hook", False):
        shell.events.register("pre_run_cell", lambda *args: _install_formatter(shell))
        shell._xf_figure_hook = True


def _install_formatter(shell) -> None:
    from matplotlib.figure import Figure

    formatters = shell.display_formatter.formatters
    for mime in ("image/svg+xml", "image/jpeg", "application/pdf"):
        formatters[mime].pop(Figure, None)
    formatters["image/png"].for_type(Figure, _png_with_alt)


def learning_curve(
    history,
    metric: str | None = None,
    ax=None,
    smooth: int = 20,
    label: str | None = None,
    metric_label: str | None = None,
):
    """Training loss per step, smoothed by a running mean, and one evaluation metric on a twin axis.

    ``smooth`` (an int >= 1) is the window of the running mean, capped at the number of recorded steps; ``metric``
    (the key in the history), ``label`` (the loss line's legend) and ``metric_label`` (the twin axis's words, e.g.
    "exact-match accuracy"; default the key) are strings (or None).
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
    for name, text in (("metric", metric), ("label", label), ("metric_label", metric_label)):
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
        twin.plot(steps, values, "o-", color="C1", ms=3, label=metric_label or metric)
        twin.set_ylabel(metric_label or metric)
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
