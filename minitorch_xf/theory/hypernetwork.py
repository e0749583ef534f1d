r"""Chapter 11's experiment pieces: losses for the two tasks, the query's latent-code features, a linear probe.

The probe asks how much of the task a latent code carries (Schug et al., 2025, sec. 4): a multinomial logistic
regression $\hat c = \arg\max_c (W f + b)_c$ on features $f$ of the codes $z_{qk}$, fitted on three quarters of
the examples and scored on the rest, beside the same probe fitted on shuffled labels (its chance level).

Shape glossary: b sequences, s queries, t keys, h heads, L layers, f features, C classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import check_generator, check_number, check_tensor

__all__ = ["fuzzy_loss", "linear_probe", "query_code_features", "sraven_loss"]


def fuzzy_loss(model: nn.Module, batch) -> torch.Tensor:
    """Squared error of the model's read-out on the last token against the hidden label (the authors' loss)."""
    tokens, target = batch[0], batch[1]
    return (model(tokens)[:, -1, 0] - target).pow(2).mean()


def sraven_loss(model: nn.Module, batch) -> torch.Tensor:
    """Cross-entropy of the last ``f`` tokens' logits against the answer panel's ``f`` attribute values."""
    tokens, answer = batch[0], batch[1]
    f = answer.shape[1]
    return F.cross_entropy(model(tokens)[:, -f:].flatten(0, 1), answer.flatten())


def query_code_features(codes: list[torch.Tensor], query: int = -1) -> torch.Tensor:
    r"""Features of the last query's codes: for each layer and head, the mean and the standard deviation of
    $z_{qk}$ over the keys $k \ne q$. ``codes``: L tensors (b, s, t, h) -> (b, 2 L h)."""
    if not isinstance(codes, (list, tuple)) or not codes:
        raise TypeError(f"codes must be a non-empty list of (b, s, t, h) tensors, got {type(codes).__name__}")
    for i, c in enumerate(codes):
        check_tensor(f"codes[{i}]", c, ndim=4, floating=True)
    z = torch.cat([c[:, query] for c in codes], -1)  # (b, t, L h)
    keep = torch.ones(z.shape[1], dtype=torch.bool)
    keep[query] = False  # the query's code with itself is left out
    z = z[:, keep]  # (b, t - 1, L h)
    return torch.cat([z.mean(1), z.std(1)], -1)  # (b, 2 L h)


def linear_probe(
    features: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None, l2: float = 1e-3
) -> float:
    """Held-out accuracy of a multinomial logistic regression (L-BFGS, ``l2`` penalty) on standardized features.

    ``features`` (b, f), ``labels`` (b,) ints in [0, C); a random quarter (from ``generator``) is held out.
    """
    check_tensor("features", features, ndim=2, floating=True)
    check_tensor("labels", labels, ndim=1)
    check_generator("generator", generator)
    check_number("l2", l2, low=0)
    if len(labels) != len(features) or len(labels) < 8:
        raise ValueError(f"features ({len(features)} rows) and labels ({len(labels)}) must agree, with >= 8 rows")
    n_classes = int(labels.max()) + 1
    perm = torch.randperm(len(labels), generator=generator)
    train, test = perm[: 3 * len(labels) // 4], perm[3 * len(labels) // 4 :]
    x = features.detach().double()
    x = (x - x[train].mean(0)) / (x[train].std(0) + 1e-6)  # (b, f), standardized on the training rows
    w = torch.zeros(x.shape[1], n_classes, dtype=x.dtype, requires_grad=True)
    b = torch.zeros(n_classes, dtype=x.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x[train] @ w + b, labels[train]) + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((x[test] @ w + b).argmax(-1) == labels[test]).double().mean())
