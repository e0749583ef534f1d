r"""Synthetic tasks that probe what a position encoding lets attention compute (after Luo et al., 2022).

* **Position Identification**: the input is n tokens (all one token, or random ones); the target at position i
  is $y_i = i$ (0-based; Luo et al. write $y_i = i$ with 1-based positions). A model must know where each
  token sits. With a constant input this is impossible for softmax RPE attention (chapter 5).
* **Even Token**: random tokens; the target at position i is 1 when token $x_i$ occurs an even number of times
  in the prefix $x_1, \dots, x_i$, else 0. (Our version of the paper's "even token prediction"; its exact
  wording was not checked against the paper.)

Shapes: b batch, n tokens. Tokens and targets are ``torch.long`` tensors of shape (b, n).
"""

from __future__ import annotations

import torch

from .._validate import check_choice, check_generator, check_positive

__all__ = ["even_token", "position_identification"]

MAX_ELEMENTS = 2**28  # entries of the largest tensor a generator here allocates


def position_identification(
    n_samples: int, n: int, vocab: int = 1, mode: str = "constant", generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Tokens (b, n) and targets $y_i = i$ (b, n).

    ``mode="constant"``: every sequence repeats one token (drawn per sequence from ``vocab`` tokens);
    ``mode="random"``: tokens drawn independently, uniform over ``vocab``.
    """
    check_positive("n_samples", n_samples)
    check_positive("n", n)
    check_positive("vocab", vocab)
    check_choice("mode", mode, ("constant", "random"))
    if n_samples * n > MAX_ELEMENTS:
        raise ValueError(f"n_samples={n_samples} and n={n} give {n_samples * n} tokens (at most {MAX_ELEMENTS})")
    check_generator("generator", generator)
    if mode == "constant":
        tokens = torch.randint(vocab, (n_samples, 1), generator=generator).expand(n_samples, n).clone()  # (b, n)
    else:
        tokens = torch.randint(vocab, (n_samples, n), generator=generator)  # (b, n)
    targets = torch.arange(n).expand(n_samples, n).clone()  # (b, n)
    return tokens, targets


def even_token(
    n_samples: int, n: int, vocab: int = 4, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random tokens (b, n) and targets (b, n): 1 where x_i has occurred an even number of times in x_1..x_i."""
    check_positive("n_samples", n_samples)
    check_positive("n", n)
    check_positive("vocab", vocab)
    if n_samples * n * vocab > MAX_ELEMENTS:
        raise ValueError(
            f"n_samples={n_samples}, n={n} and vocab={vocab} need a one-hot of {n_samples * n * vocab} entries "
            f"(at most {MAX_ELEMENTS})"
        )
    check_generator("generator", generator)
    tokens = torch.randint(vocab, (n_samples, n), generator=generator)  # (b, n)
    onehot = torch.nn.functional.one_hot(tokens, vocab)  # (b, n, vocab)
    counts = onehot.cumsum(dim=1).gather(2, tokens[..., None])[..., 0]  # (b, n): occurrences of x_i so far
    return tokens, (counts % 2 == 0).long()
