r"""Algorithmic sequence tasks, generated on the fly: sort and reverse a string of digits.

A sample for the decoder-only model is ``x_1 .. x_n SEP y_1 .. y_n``; the loss is taken on the y tokens only.
Shapes: b batch, n digits; sequences have length 2n + 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import check_choice, check_generator, check_positive, check_tensor

__all__ = ["DigitTask"]


@dataclass
class DigitTask:
    """Digits 0..base-1 (tokens 0..base-1) and a separator token ``base``.

    Args:
        kind: ``"sort"`` (ascending) or ``"reverse"``.
        n: number of digits per example.
        base: number of distinct digits.
        seed: seed of the task's own generator (independent of the global seed).
    """

    kind: str = "sort"
    n: int = 8
    base: int = 10
    seed: int = 0

    def __post_init__(self):
        check_choice("kind", self.kind, ("sort", "reverse"))
        check_positive("n", self.n)
        check_positive("base", self.base)
        self.seed = check_positive("seed", self.seed, allow_zero=True)  # a Python int for manual_seed
        self.generator = torch.Generator().manual_seed(self.seed)

    @property
    def sep(self) -> int:
        return self.base

    @property
    def vocab_size(self) -> int:
        return self.base + 1

    @property
    def seq_len(self) -> int:
        return 2 * self.n + 1

    def answer(self, digits: torch.Tensor) -> torch.Tensor:
        """The target digits (b, n) for inputs (b, n)."""
        check_tensor("digits", digits, ndim=2)
        if digits.is_floating_point() or digits.is_complex() or digits.dtype == torch.bool:
            raise TypeError(f"digits must be an integer tensor, got dtype={digits.dtype}")
        if digits.shape[1] != self.n:
            raise ValueError(f"digits has shape {tuple(digits.shape)}; expected (b, n) with n={self.n}")
        if digits.numel() and (int(digits.min()) < 0 or int(digits.max()) >= self.base):
            lo, hi = int(digits.min()), int(digits.max())
            raise ValueError(f"digits hold values in [{lo}, {hi}], outside [0, base={self.base})")
        return digits.sort(dim=-1).values if self.kind == "sort" else digits.flip(-1)

    def sample(self, batch_size: int, generator: torch.Generator | None = None):
        """A batch for next-token training: inputs (b, 2n) and targets (b, 2n), -100 where not scored."""
        check_positive("batch_size", batch_size)
        check_generator("generator", generator)
        g = self.generator if generator is None else generator
        digits = torch.randint(0, self.base, (batch_size, self.n), generator=g)  # (b, n)
        sep = torch.full((batch_size, 1), self.sep)
        seq = torch.cat([digits, sep, self.answer(digits)], dim=1)  # (b, 2n+1)
        inputs, targets = seq[:, :-1], seq[:, 1:].clone()  # (b, 2n) each: predict token i+1 from tokens <= i
        targets[:, : self.n] = -100  # the prompt digits are random: do not score them
        return inputs, targets

    def prompts(self, batch_size: int, generator: torch.Generator | None = None):
        """Prompts ``x SEP`` (b, n+1) and the expected answers (b, n) for greedy-decoding evaluation."""
        check_positive("batch_size", batch_size)
        check_generator("generator", generator)
        g = self.generator if generator is None else generator
        digits = torch.randint(0, self.base, (batch_size, self.n), generator=g)
        prompt = torch.cat([digits, torch.full((batch_size, 1), self.sep)], dim=1)
        return prompt, self.answer(digits)

    @torch.no_grad()
    def accuracy(self, model, batch_size: int = 512, seed: int = 1234) -> dict:
        """Greedy-decoding accuracy on fresh examples: per digit and per whole sequence.

        ``model`` is a :class:`~minitorch_xf.nn.Decoder` (any module with ``generate(prompt, n_new)``) whose
        vocabulary holds the task's ``vocab_size`` tokens. Whatever ``generate`` returns is scored, never raised on:
        output that is not a (b, L) integer tensor starting with the prompt scores 0, and each answer digit the
        model did not write (too few new tokens) counts as wrong; a digit is never broadcast against the others.
        """
        if not isinstance(model, torch.nn.Module) or not callable(getattr(model, "generate", None)):
            kind = type(model).__name__
            raise TypeError(f"model must be an nn.Module with a generate(prompt, n_new) method (a Decoder), got {kind}")
        seed = check_positive("seed", seed, allow_zero=True)
        prompt, answer = self.prompts(batch_size, torch.Generator().manual_seed(seed))
        params = [*model.parameters(), *model.buffers()]
        device = params[0].device if params else torch.device("cpu")
        out = model.generate(prompt.to(device), self.n)
        correct = torch.zeros_like(answer, dtype=torch.bool)  # (b, n): a digit not written is wrong
        if (
            isinstance(out, torch.Tensor)
            and not out.is_meta
            and out.dim() == 2
            and out.shape[0] == batch_size
            and not (out.dtype == torch.bool or out.is_floating_point() or out.is_complex())
        ):
            out = out.detach().cpu().long()
            if torch.equal(out[:, : self.n + 1], prompt):
                new = out[:, self.n + 1 : 2 * self.n + 1]  # (b, <= n): what the model wrote
                correct[:, : new.shape[1]] = new == answer[:, : new.shape[1]]
        return {"token_acc": correct.float().mean().item(), "seq_acc": correct.all(-1).float().mean().item()}
