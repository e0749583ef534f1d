r"""Symbolic Raven Progressive Matrices (sraven) of Schug et al. (2025): rules per attribute, held-out combinations.

A problem is a ``grid`` x ``grid`` matrix of panels (3 x 3 in the paper); each panel has ``n_features``
attributes with values in $\{0, \dots, V-1\}$. Every attribute follows one of eight rules along the rows:

====================  ===============================================================
``constant``          each row repeats one value
``progression+1/+2``  each row counts up by 1 (2) mod V from a random start
``progression-1/-2``  each row counts down by 1 (2) mod V
``addition``          the last value of a row is the sum of the others mod V
``subtraction``       the last value is the first minus the others mod V
``distribute_three``  every row is a permutation of the same ``grid`` distinct values
====================  ===============================================================

The *latent* of a problem is the multiset of rules of its attributes (sorted rule indices, as the authors'
``combinations_with_replacement``); a fraction ``frac_ood`` of the latents (chosen by ``seed``) is **held out**
of training. With ``permute=True`` the attributes of each column are shuffled by one permutation shared down the
column, so the model must also find which slot carries which attribute. The model sees the ``grid**2 - 1`` first
panels, one token per attribute (a one-hot of its value), then ``n_features`` empty tokens where it answers the
attributes of the last panel.

Shape glossary: b problems, r rows, c columns, f features (attributes), V values, n tokens = grid**2 * f.
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import torch

from .._validate import check_choice, check_generator, check_number, check_positive, check_tensor

__all__ = ["RULES", "SRavenTask", "panel_accuracy"]

RULES = (
    "constant",
    "progression+1",
    "progression+2",
    "progression-1",
    "progression-2",
    "addition",
    "subtraction",
    "distribute_three",
)
SPLITS = ("train", "ood")


def _rule_grids(n: int, grid: int, n_values: int, generator) -> torch.Tensor:
    """Every rule applied to ``n`` fresh instances: (8, n, r, c) integer grids, rule index first."""
    cols = torch.arange(grid)  # (c,)
    start = torch.randint(n_values, (n, grid, 1), generator=generator)  # (n, r, 1)
    out = [start.expand(n, grid, grid)]  # constant
    for inc in (1, 2, -1, -2):
        out.append((start + inc * cols) % n_values)  # progression: (n, r, c)
    xs = torch.randint(n_values, (n, grid, grid - 1), generator=generator)  # (n, r, c - 1)
    out.append(torch.cat([xs, xs.sum(-1, keepdim=True) % n_values], -1))  # addition
    signed = torch.cat([xs[..., :1], -xs[..., 1:]], -1)
    out.append(torch.cat([xs, signed.sum(-1, keepdim=True) % n_values], -1))  # subtraction
    symbols = torch.rand(n, n_values, generator=generator).argsort(-1)[:, :grid]  # (n, c): distinct values
    order = torch.rand(n, grid, grid, generator=generator).argsort(-1)  # (n, r, c): a permutation per row
    out.append(torch.gather(symbols.unsqueeze(1).expand(n, grid, grid), 2, order))  # distribute_three
    return torch.stack(out)  # (8, n, r, c)


class SRavenTask:
    """sraven problems with held-out rule combinations; ``sample`` returns one-hot tokens and the answer."""

    def __init__(
        self,
        n_features: int = 4,
        n_values: int = 8,
        grid: int = 3,
        frac_ood: float = 0.25,
        permute: bool = True,
        seed: int = 0,
    ):
        check_positive("n_features", n_features)
        check_number("grid", grid, integer=True, low=2)
        check_number("n_values", n_values, integer=True, low=grid)  # distribute_three needs grid distinct values
        check_number("frac_ood", frac_ood, low=0, high=1, high_open=True)
        check_number("seed", seed, integer=True, low=0)
        if not isinstance(permute, bool):
            raise TypeError(f"permute must be a bool (True or False), got {permute!r}")
        self.n_features, self.n_values, self.grid, self.permute = n_features, n_values, grid, permute
        latents = torch.tensor(list(combinations_with_replacement(range(len(RULES)), n_features)), dtype=torch.long)
        latents = latents[torch.randperm(len(latents), generator=torch.Generator().manual_seed(seed))]
        n_ood = int(len(latents) * frac_ood)
        self.latents = {"train": latents[n_ood:], "ood": latents[:n_ood]}
        self.seq_len = grid * grid * n_features

    def grids(self, rules: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Fresh instances of the given ``rules`` (b, f) -> values (b, r, c, f), before any permutation."""
        b, f = rules.shape
        all_rules = _rule_grids(b * f, self.grid, self.n_values, generator)  # (8, b f, r, c)
        picked = all_rules[rules.flatten(), torch.arange(b * f)]  # (b f, r, c)
        return picked.view(b, f, self.grid, self.grid).permute(0, 2, 3, 1)  # (b, r, c, f)

    def sample(self, batch: int, split: str = "train", generator: torch.Generator | None = None):
        """``(tokens, answer, rules)``: tokens (b, n, V) float32, answer (b, f) the last panel's values (in the
        permuted slot order), rules (b, f) each attribute's rule index (in the latent's order)."""
        check_positive("batch", batch)
        check_choice("split", split, SPLITS)
        check_generator("generator", generator)
        pool = self.latents[split]
        if len(pool) == 0:
            raise ValueError(f"split={split!r} has no rule combinations (frac_ood=0?)")
        rules = pool[torch.randint(len(pool), (batch,), generator=generator)]  # (b, f)
        values = self.grids(rules, generator)  # (b, r, c, f)
        if self.permute:  # one permutation of the slots per column, shared by its rows
            perm = torch.rand(batch, 1, self.grid, self.n_features, generator=generator).argsort(-1)  # (b, 1, c, f)
            values = torch.gather(values, 3, perm.expand_as(values))
        panels = values.reshape(batch, self.grid * self.grid, self.n_features)  # (b, r c, f): row-major panels
        answer = panels[:, -1].clone()  # (b, f)
        tokens = torch.nn.functional.one_hot(panels, self.n_values).float()  # (b, r c, f, V)
        tokens[:, -1] = 0.0  # the answer panel is blank
        return tokens.reshape(batch, self.seq_len, self.n_values), answer, rules


def panel_accuracy(logits: torch.Tensor, answer: torch.Tensor) -> tuple[float, float]:
    """(panel accuracy, attribute accuracy) of ``logits`` (b, f, V) against ``answer`` (b, f).

    A panel counts only when every attribute is right; an attribute whose logits are not all finite counts as
    wrong (never as a NaN score).
    """
    check_tensor("logits", logits, ndim=3, floating=True)
    check_tensor("answer", answer, ndim=2)
    if logits.shape[:2] != answer.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and answer {tuple(answer.shape)} disagree in (b, f)")
    right = (logits.argmax(-1) == answer) & torch.isfinite(logits).all(-1)  # (b, f)
    return float(right.all(-1).float().mean()), float(right.float().mean())
