r"""The induction-heads task and a lag-copy task that needs no composition (chapter 14).

* **Induction heads** (as defined by Sanford, Hsu & Telgarsky, 2024): random tokens $x_0, \dots, x_{n-1}$; the
  target at position $t$ is the token that follows the rightmost earlier occurrence of $x_t$,
  $y_t = x_{j+1}$ with $j = \max\{j < t : x_j = x_t\}$, and there is none (``IGNORE``) when $x_t$ has not occurred
  before. Solving it composes two look-ups: which token preceded each position, then where the current token
  preceded something.
* **Lag copy**: random tokens; the target at position $t \ge \ell$ is $x_{t-\ell}$ (``IGNORE`` before). A single
  attention look-up by position solves it: the no-composition control of chapter 14.

Shapes: b batch, n tokens, V vocabulary. Tokens and targets are ``torch.long`` (b, n); targets hold ``IGNORE``
(-100, what ``cross_entropy`` skips) where no answer is defined.
"""

from __future__ import annotations

import torch

from .._validate import check_generator, check_number, check_positive, check_tensor

__all__ = [
    "IGNORE",
    "induction_batch",
    "induction_targets",
    "lag_copy_batch",
    "lag_copy_targets",
    "score_predictions",
]

IGNORE = -100
MAX_TOKENS = 2**26  # largest b * n a generator here allocates


def _check_tokens(name: str, tokens) -> torch.Tensor:
    check_tensor(name, tokens, ndim=(1, 2))
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of token ids, got dtype={tokens.dtype}")
    if tokens.numel() and int(tokens.min()) < 0:
        raise ValueError(f"{name} holds the negative id {int(tokens.min())}; token ids are >= 0")
    return tokens


def induction_targets(tokens: torch.Tensor) -> torch.Tensor:
    r"""$y_t = x_{j+1}$, $j = \max\{j < t: x_j = x_t\}$, else ``IGNORE``. ``tokens`` (n,) or (b, n) -> same shape.

    Vectorized: for every pair $j < t$ with $x_j = x_t$ keep the largest $j$ (an $n \times n$ comparison per
    sequence); the unit tests compare it with a loop over positions.
    """
    tokens = _check_tokens("tokens", tokens)
    x = tokens if tokens.dim() == 2 else tokens.unsqueeze(0)  # (b, n)
    n = x.shape[-1]
    j = torch.arange(n)
    same = (x.unsqueeze(-1) == x.unsqueeze(-2)) & (j.unsqueeze(0) < j.unsqueeze(1))  # (b, t, j): x_j = x_t, j < t
    last = torch.where(same, j, -1).amax(dim=-1) if n else torch.empty_like(x)  # (b, n): rightmost match or -1
    nxt = x.gather(-1, (last + 1).clamp(max=max(n - 1, 0)))  # (b, n): x_{j+1} (j + 1 <= t < n)
    y = torch.where(last >= 0, nxt, torch.full_like(x, IGNORE))
    return y if tokens.dim() == 2 else y.squeeze(0)


def lag_copy_targets(tokens: torch.Tensor, lag: int = 1) -> torch.Tensor:
    r"""$y_t = x_{t - \ell}$ for $t \ge \ell$, else ``IGNORE``. ``tokens`` (n,) or (b, n) -> same shape."""
    tokens = _check_tokens("tokens", tokens)
    lag = check_number("lag", lag, integer=True, low=1)
    y = torch.full_like(tokens, IGNORE)
    y[..., lag:] = tokens[..., :-lag] if lag < tokens.shape[-1] else y[..., lag:]
    return y


def _sample(n_samples, n, vocab_size, generator) -> torch.Tensor:
    check_positive("n_samples", n_samples)
    check_positive("n", n)
    check_number("vocab_size", vocab_size, integer=True, low=2)
    if n_samples * n > MAX_TOKENS:
        raise ValueError(f"n_samples={n_samples} and n={n} give {n_samples * n} tokens (at most {MAX_TOKENS})")
    check_generator("generator", generator)
    return torch.randint(vocab_size, (n_samples, n), generator=generator)  # (b, n)


def induction_batch(
    n_samples: int, n: int, vocab_size: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform random tokens (b, n) over ``vocab_size`` ids and their induction targets (b, n)."""
    tokens = _sample(n_samples, n, vocab_size, generator)
    return tokens, induction_targets(tokens)


def lag_copy_batch(
    n_samples: int, n: int, vocab_size: int, lag: int = 1, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform random tokens (b, n) and their lag-copy targets (b, n)."""
    check_number("lag", lag, integer=True, low=1)
    tokens = _sample(n_samples, n, vocab_size, generator)
    return tokens, lag_copy_targets(tokens, lag)


def score_predictions(predictions, targets: torch.Tensor) -> dict:
    """Accuracy of ``predictions`` (b, n) on the positions where ``targets`` (b, n) is not ``IGNORE``.

    A model's output is scored, never trusted: predictions of the wrong shape, a floating or boolean dtype, or ids
    outside the targets' range score 0 with the reason in ``"error"`` (no exception). Returns ``{"accuracy",
    "n_scored", "error"}``; ``accuracy`` is NaN when no position has a target.
    """
    targets = _check_tokens_or_ignore(targets)
    scored = targets != IGNORE
    n_scored = int(scored.sum())
    error = None
    if not isinstance(predictions, torch.Tensor):
        error = f"predictions must be a tensor of token ids, got {type(predictions).__name__}"
    elif tuple(predictions.shape) != tuple(targets.shape):
        error = f"predictions has shape {tuple(predictions.shape)}; expected {tuple(targets.shape)}"
    elif predictions.is_floating_point() or predictions.is_complex() or predictions.dtype == torch.bool:
        error = f"predictions must hold integer token ids, got dtype={predictions.dtype}"
    if error is not None:
        return {"accuracy": 0.0 if n_scored else float("nan"), "n_scored": n_scored, "error": error}
    if n_scored == 0:
        return {"accuracy": float("nan"), "n_scored": 0, "error": None}
    hits = (predictions.to(targets.device) == targets) & scored
    return {"accuracy": float(hits.sum()) / n_scored, "n_scored": n_scored, "error": None}


def _check_tokens_or_ignore(targets) -> torch.Tensor:
    check_tensor("targets", targets, ndim=(1, 2))
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(f"targets must be an integer tensor of token ids, got dtype={targets.dtype}")
    if targets.numel() and bool(((targets < 0) & (targets != IGNORE)).any()):
        bad = int(targets[(targets < 0) & (targets != IGNORE)][0])
        raise ValueError(f"targets holds the id {bad}: ids are >= 0, or IGNORE={IGNORE} where none is defined")
    return targets
