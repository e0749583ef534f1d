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

from .._validate import (
    check_callable,
    check_generator,
    check_like,
    check_number,
    check_same_device,
    check_tensor,
)

__all__ = ["fuzzy_loss", "linear_probe", "query_code_features", "sraven_loss"]


def _check_batch(batch, parts: str) -> tuple:
    """``batch`` is a tuple or list whose first two items are tensors (``parts`` names them for the message)."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError(f"batch must be a tuple ({parts}, ...), got {type(batch).__name__}")
    first, second = parts.split(", ")
    return check_tensor(f"batch[0] ({first})", batch[0]), check_tensor(f"batch[1] ({second})", batch[1])


def _check_output(out, tokens: torch.Tensor, ndim: int = 3) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.dim() != ndim or out.shape[0] != tokens.shape[0]:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model(tokens) must return a ({tokens.shape[0]}, n, k) tensor for the batch, got {got}")
    return out


def fuzzy_loss(model: nn.Module, batch) -> torch.Tensor:
    """Squared error of the model's read-out on the last token against the hidden label (the authors' loss).

    ``batch`` = (tokens (b, n, ...), target (b,) float, ...); ``model(tokens)`` (b, n, k) is read at [:, -1, 0].
    """
    check_callable("model", model)
    tokens, target = _check_batch(batch, "tokens, target")
    check_tensor("batch[1] (target)", target, ndim=1, floating=True)
    if target.shape[0] != tokens.shape[0]:
        raise ValueError(f"target has shape {tuple(target.shape)} but tokens has {tokens.shape[0]} rows: one per row")
    out = _check_output(model(tokens), tokens)
    check_same_device(output=out, target=target)
    return (out[:, -1, 0] - target).pow(2).mean()


def sraven_loss(model: nn.Module, batch) -> torch.Tensor:
    """Cross-entropy of the last ``f`` tokens' logits against the answer panel's ``f`` attribute values.

    ``batch`` = (tokens (b, n, ...), answer (b, f) ints in [0, V), ...); ``model(tokens)`` (b, n, V) logits.
    """
    check_callable("model", model)
    tokens, answer = _check_batch(batch, "tokens, answer")
    check_tensor("batch[1] (answer)", answer, ndim=2)
    if answer.is_floating_point() or answer.dtype == torch.bool:
        raise TypeError(f"answer must be an integer tensor of attribute values, got dtype={answer.dtype}")
    if answer.shape[0] != tokens.shape[0]:
        raise ValueError(f"answer has shape {tuple(answer.shape)} but tokens has {tokens.shape[0]} rows: one per row")
    f = answer.shape[1]
    logits = _check_output(model(tokens), tokens)
    check_same_device(logits=logits, answer=answer)
    if f > logits.shape[1]:
        raise ValueError(f"answer has f={f} attributes but the model returned only {logits.shape[1]} positions")
    if answer.numel() and (int(answer.min()) < 0 or int(answer.max()) >= logits.shape[-1]):
        raise ValueError(
            f"answer holds values in [{int(answer.min())}, {int(answer.max())}], outside [0, {logits.shape[-1]}) "
            "(the model's number of logits V)"
        )
    return F.cross_entropy(logits[:, -f:].flatten(0, 1), answer.flatten())


def query_code_features(codes: list[torch.Tensor], query: int = -1) -> torch.Tensor:
    r"""Features of the last query's codes: for each layer and head, the mean and the standard deviation of
    $z_{qk}$ over the keys $k \ne q$. ``codes``: L tensors (b, s, t, h) of self-attention (s = t, at least 3 keys)
    -> (b, 2 L h). ``query`` (an int in [-s, s)) picks the query; its key is the one left out."""
    if not isinstance(codes, (list, tuple)) or not codes:
        raise TypeError(f"codes must be a non-empty list of (b, s, t, h) tensors, got {type(codes).__name__}")
    for i, c in enumerate(codes):
        check_tensor(f"codes[{i}]", c, ndim=4, floating=True)
        if c.shape[:3] != codes[0].shape[:3]:
            raise ValueError(
                f"codes[{i}] has shape {tuple(c.shape)} but codes[0] has {tuple(codes[0].shape)}: every layer's "
                "codes must share (b, s, t)"
            )
        check_like(f"codes[{i}]", c, "codes[0]", codes[0])
    _, s, t, _ = codes[0].shape
    if s != t:
        raise ValueError(f"codes have s={s} queries but t={t} keys: the query's own key is left out, so s must be t")
    if t < 3:
        raise ValueError(f"codes have t={t} keys: the standard deviation over the other keys needs t >= 3")
    query = check_number("query", query, integer=True, low=-s, high=s - 1)
    z = torch.cat([c[:, query] for c in codes], -1)  # (b, t, L h)
    keep = torch.ones(z.shape[1], dtype=torch.bool, device=z.device)
    keep[query] = False  # the query's code with itself is left out
    z = z[:, keep]  # (b, t - 1, L h)
    return torch.cat([z.mean(1), z.std(1)], -1)  # (b, 2 L h)


def linear_probe(
    features: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None, l2: float = 1e-3
) -> float:
    """Held-out accuracy of a multinomial logistic regression (L-BFGS, ``l2`` penalty) on standardized features.

    ``features`` (b, f), ``labels`` (b,) ints in [0, C) (a negative label raises); a random quarter (from
    ``generator``) is held out.
    """
    check_tensor("features", features, ndim=2, floating=True)
    check_tensor("labels", labels, ndim=1)
    if labels.is_floating_point() or labels.dtype == torch.bool or labels.is_complex():
        raise TypeError(f"labels must be an integer tensor of class ids, got dtype={labels.dtype}")
    check_same_device(features=features, labels=labels)
    check_generator("generator", generator)
    check_number("l2", l2, low=0)
    if len(labels) != len(features) or len(labels) < 8:
        raise ValueError(f"features ({len(features)} rows) and labels ({len(labels)}) must agree, with >= 8 rows")
    if int(labels.min()) < 0:
        raise ValueError(f"labels must be class ids in [0, C), got {int(labels.min())}")
    features, labels = features.cpu(), labels.cpu().long()  # fitted on the CPU (float64 L-BFGS), int64 class ids
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
