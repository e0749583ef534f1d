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

**One answer per problem.** A completion $y \in \{0,\dots,V-1\}^f$ of the blank panel is *consistent* if some
rule per attribute (any of the eight, held-out combinations included) and, with ``permute=True``, some slot
permutation per column make the completed matrix obey every rule. Rules can coincide on a few rows (a row
$(1, 2, 3)$ is both a progression by $+1$ and an addition), so a raw draw can admit several consistent
completions: in our samples 6-8 % of draws at $f = 2$ without permutation, 21-25 % at the paper's $f = 4$ with
permutation. ``sample`` (with ``unique=True``, the default) redraws such problems, keeping their rules, until the
true answer is the only consistent completion; ``ambiguous`` is the test it applies.

Shape glossary: b problems, r rows, c columns, f features (attributes), V values, n tokens = grid**2 * f.
"""

from __future__ import annotations

import math
import warnings
from itertools import combinations_with_replacement, permutations, product

import torch

from .._validate import check_choice, check_generator, check_number, check_positive, check_tensor

__all__ = ["RULES", "SRavenTask", "ambiguous", "panel_accuracy"]

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
MAX_REDRAWS = 1000  # rounds of redrawing ambiguous problems before giving up (one round removes ~80 % of them)
MAX_LATENTS = 10**6  # rule combinations SRavenTask enumerates (n_features <= 20)
CHUNK = 4096  # problems per chunk of the ambiguity test (memory: about CHUNK * f**grid * V * grid integers)


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


def _rows_obey(rows: torch.Tensor, first: torch.Tensor, n_values: int) -> torch.Tensor:
    """Whether each row of ``rows`` (..., c) obeys each rule mod ``n_values``: (8, ...) booleans, in RULES order.

    Every rule is a condition on each row alone, except distribute_three, which also asks each row to hold the same
    values as the matrix's ``first`` row (..., c)."""
    step = (rows[..., 1:] - rows[..., :-1]) % n_values  # (..., c - 1)
    out = [(rows == rows[..., :1]).all(-1)]  # constant
    for inc in (1, 2, -1, -2):
        out.append((step == inc % n_values).all(-1))  # progression
    out.append((rows[..., :-1].sum(-1) - rows[..., -1]) % n_values == 0)  # addition
    out.append((rows[..., 0] - rows[..., 1:-1].sum(-1) - rows[..., -1]) % n_values == 0)  # subtraction
    ordered = rows.sort(-1).values
    distinct = (ordered[..., 1:] != ordered[..., :-1]).all(-1)
    out.append(distinct & (ordered == first.sort(-1).values).all(-1))  # distribute_three
    return torch.stack(out)


def _slot_tuples(n_features: int, grid: int, permute: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``slots`` (m, c): the slot read in each column for one attribute; ``index`` (P, f): for each assignment of
    slots to attributes (column 0 fixes the attributes' names, the other columns are permuted), the row of
    ``slots`` that attribute ``a`` reads."""
    if not permute:
        return torch.arange(n_features).unsqueeze(1).expand(n_features, grid), torch.arange(n_features).unsqueeze(0)
    slots = list(product(range(n_features), repeat=grid))
    row = {t: i for i, t in enumerate(slots)}
    index = [
        [row[(a, *(perm[a] for perm in perms))] for a in range(n_features)]
        for perms in product(permutations(range(n_features)), repeat=grid - 1)
    ]
    return torch.tensor(slots), torch.tensor(index)


def ambiguous(values: torch.Tensor, n_values: int, permute: bool) -> torch.Tensor:
    r"""Whether a completion other than the true one is consistent with each problem: (b,) booleans.

    ``values`` (b, r, c, f): the full matrices as shown (slots permuted), the blank panel ``values[:, -1, -1]``
    holding the true answer. A completion is consistent when some rule per attribute and (``permute``) some slot
    permutation of each column make the completed matrix obey every rule. Brute force over every slot tuple, rule
    and blank value: for each attribute and permutation the consistent values of its blank slot, then the
    permutations under which every attribute has one and some attribute has one other than the answer.
    """
    check_tensor("values", values, ndim=4)
    if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
        raise TypeError(f"values must be an integer tensor of attribute values, got dtype={values.dtype}")
    check_number("n_values", n_values, integer=True, low=2)
    if not isinstance(permute, bool):
        raise TypeError(f"permute must be a bool (True or False), got {permute!r}")
    b, r, c, f = values.shape
    if r != c:
        raise ValueError(f"values must hold square grids (b, r, c, f), got r={r}, c={c}")
    if values.numel() and (int(values.min()) < 0 or int(values.max()) >= n_values):
        lo, hi = int(values.min()), int(values.max())
        raise ValueError(f"values hold [{lo}, {hi}], outside [0, n_values={n_values})")
    if b > CHUNK:
        return torch.cat([ambiguous(part, n_values, permute) for part in values.split(CHUNK)])
    slots, index = _slot_tuples(f, c, permute)  # (m, c), (P, f)
    cols = values.permute(0, 1, 3, 2)  # (b, r, f, c)
    grids = torch.stack([cols[:, :, slots[:, j], j] for j in range(c)], -1).transpose(1, 2)  # (b, m, r, c)
    complete = _rows_obey(grids[:, :, :-1], grids[:, :, :1], n_values).all(-1)  # (8, b, m): the full rows obey
    last = grids[:, :, -1:].repeat(1, 1, n_values, 1)  # (b, m, V, c): the last row, every value in the blank
    last[..., -1] = torch.arange(n_values)
    fits = (complete.unsqueeze(-1) & _rows_obey(last, grids[:, :, :1], n_values)).any(0)  # (b, m, V): some rule
    answer = torch.gather(values[:, -1, -1], 1, slots[:, -1].expand(b, -1))  # (b, m): true value of the blank slot
    other = fits.scatter(2, answer.unsqueeze(-1), False).any(-1)  # (b, m): a consistent value besides the answer
    possible = fits.any(-1)[:, index].all(-1)  # (b, P): every attribute has a consistent value
    return (possible & other[:, index].any(-1)).any(-1)


class SRavenTask:
    """sraven problems with held-out rule combinations; ``sample`` returns one-hot tokens and the answer, and with
    ``unique=True`` every problem it returns has exactly one consistent answer (see ``ambiguous``)."""

    def __init__(
        self,
        n_features: int = 4,
        n_values: int = 8,
        grid: int = 3,
        frac_ood: float = 0.25,
        permute: bool = True,
        seed: int = 0,
        unique: bool = True,
    ):
        check_positive("n_features", n_features)
        check_number("grid", grid, integer=True, low=2)
        check_number("n_values", n_values, integer=True, low=grid)  # distribute_three needs grid distinct values
        check_number("frac_ood", frac_ood, low=0, high=1, high_open=True)
        seed = check_number("seed", seed, integer=True, low=0)  # a Python int for manual_seed
        if not isinstance(permute, bool):
            raise TypeError(f"permute must be a bool (True or False), got {permute!r}")
        if not isinstance(unique, bool):
            raise TypeError(f"unique must be a bool (True or False), got {unique!r}")
        n_latents = math.comb(len(RULES) + n_features - 1, n_features)
        if n_latents > MAX_LATENTS:
            raise ValueError(
                f"n_features={n_features} gives {n_latents} rule combinations to enumerate (at most {MAX_LATENTS})"
            )
        self.n_features, self.n_values, self.grid, self.permute = n_features, n_values, grid, permute
        self.unique = unique
        latents = torch.tensor(list(combinations_with_replacement(range(len(RULES)), n_features)), dtype=torch.long)
        latents = latents[torch.randperm(len(latents), generator=torch.Generator().manual_seed(seed))]
        n_ood = int(len(latents) * frac_ood)
        self.latents = {"train": latents[n_ood:], "ood": latents[:n_ood]}
        self.seq_len = grid * grid * n_features

    def grids(self, rules: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Fresh instances of the given ``rules`` (b, f) -> values (b, r, c, f), before any permutation."""
        check_tensor("rules", rules, ndim=2)
        if rules.is_meta:
            raise ValueError("rules is a tensor without data (device meta)")
        if rules.is_floating_point() or rules.is_complex() or rules.dtype == torch.bool:
            raise TypeError(f"rules must be an integer tensor of rule indices, got dtype={rules.dtype}")
        b, f = rules.shape
        if f != self.n_features:
            raise ValueError(f"rules has shape {tuple(rules.shape)}; expected (b, n_features={self.n_features})")
        if rules.numel() and (int(rules.min()) < 0 or int(rules.max()) >= len(RULES)):
            raise ValueError(
                f"rules holds rule indices in [{int(rules.min())}, {int(rules.max())}], outside [0, {len(RULES)})"
            )
        check_generator("generator", generator)
        all_rules = _rule_grids(b * f, self.grid, self.n_values, generator)  # (8, b f, r, c)
        picked = all_rules[rules.flatten(), torch.arange(b * f)]  # (b f, r, c)
        return picked.view(b, f, self.grid, self.grid).permute(0, 2, 3, 1)  # (b, r, c, f)

    def _draw(self, rules: torch.Tensor, generator) -> torch.Tensor:
        """Fresh instances of ``rules`` (b, f) as shown: values (b, r, c, f), slots permuted if ``permute``."""
        values = self.grids(rules, generator)  # (b, r, c, f)
        if self.permute:  # one permutation of the slots per column, shared by its rows
            perm = torch.rand(len(rules), 1, self.grid, self.n_features, generator=generator).argsort(-1)  # (b,1,c,f)
            values = torch.gather(values, 3, perm.expand_as(values))
        return values

    def _redraw_ambiguous(self, values: torch.Tensor, rules: torch.Tensor, generator) -> torch.Tensor:
        """Redraw (same rules, fresh values and permutations) every problem with more than one consistent answer."""
        todo = torch.arange(len(rules))
        for _ in range(MAX_REDRAWS):
            todo = todo[ambiguous(values[todo], self.n_values, self.permute)]  # the problems still ambiguous
            if len(todo) == 0:
                return values
            values[todo] = self._draw(rules[todo], generator)
        raise RuntimeError(
            f"no unambiguous instance of rules {rules[todo[0]].tolist()} in {MAX_REDRAWS} draws "
            f"(n_features={self.n_features}, n_values={self.n_values}, grid={self.grid}); use unique=False"
        )

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
        values = self._draw(rules, generator)  # (b, r, c, f)
        if self.unique:
            values = self._redraw_ambiguous(values, rules, generator)
        panels = values.reshape(batch, self.grid * self.grid, self.n_features)  # (b, r c, f): row-major panels
        answer = panels[:, -1].clone()  # (b, f)
        tokens = torch.nn.functional.one_hot(panels, self.n_values).float()  # (b, r c, f, V)
        tokens[:, -1] = 0.0  # the answer panel is blank
        return tokens.reshape(batch, self.seq_len, self.n_values), answer, rules


def panel_accuracy(logits: torch.Tensor, answer: torch.Tensor) -> tuple[float, float]:
    """(panel accuracy, attribute accuracy) of ``logits`` (b, f, V) against ``answer`` (b, f).

    A panel counts only when every attribute is right; an attribute whose logits are not all finite counts as
    wrong (never as a NaN score). ``answer`` (the task's, an integer tensor) is checked; ``logits`` is the model's
    output and is scored, never raised on: logits that are not a floating (b, f, V) tensor matching ``answer``
    score (0.0, 0.0), with a ``RuntimeWarning`` saying why.
    """
    check_tensor("answer", answer, ndim=2)
    if answer.is_floating_point() or answer.is_complex() or answer.dtype == torch.bool:
        raise TypeError(f"answer must be an integer tensor of attribute values, got dtype={answer.dtype}")
    if answer.numel() == 0:
        raise ValueError(f"answer has shape {tuple(answer.shape)}: nothing to score")
    why = None
    if not isinstance(logits, torch.Tensor):
        why = f"logits is a {type(logits).__name__}, not a tensor"
    elif logits.is_meta:
        why = "logits is a tensor without data (device meta)"
    elif logits.dim() != 3 or tuple(logits.shape[:2]) != tuple(answer.shape) or logits.shape[2] == 0:
        why = f"logits {tuple(logits.shape)} is not (b, f, V) with (b, f) = answer's {tuple(answer.shape)}"
    elif not logits.is_floating_point():
        why = f"logits has dtype {logits.dtype}, not a floating dtype"
    if why is not None:
        warnings.warn(f"panel_accuracy: malformed model output scored wrong: {why}", RuntimeWarning, stacklevel=2)
        return 0.0, 0.0
    logits = logits.detach().cpu()
    right = (logits.argmax(-1) == answer.cpu()) & torch.isfinite(logits).all(-1)  # (b, f)
    return float(right.all(-1).float().mean()), float(right.float().mean())
