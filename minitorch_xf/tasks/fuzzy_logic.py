r"""The fuzzy-logic composition task of Schug et al. (2025): in-context regression of a fuzzy DNF formula.

A *conjunction* over $n$ variables fixes a sign for each, $c \in \{0, 1\}^n$ ($1$: the variable, $0$: its
negation), and a *term* is a disjunction of $K$ distinct conjunctions. With Zadeh's operators (not $= 1 - x$,
and $= \min$, or $= \max$) a term maps inputs $x \in [0, 1]^n$ to

$$ f(x) = \max_{j \le K} \min_{i \le n} \ell_{ji}(x_i), \qquad \ell_{ji}(x_i) = x_i \text{ if } c_{ji} = 1
   \text{ else } 1 - x_i . $$

A sequence holds ``n_points`` pairs $(x, f(x))$ of one hidden term, with the last target zeroed: the model must
infer the term in context and answer $f(x_{\text{last}})$. Compositional split, as in the authors' code: the
last ``frac_ood`` of the $2^n$ conjunctions are never used in training; the terms built from the others are
shuffled (by ``seed``) and a fraction ``frac_test`` of them is **held out**: every conjunction of a held-out term
was seen in training, inside other terms, but never this combination. A plain shuffle does not guarantee that (at
$n = 3$, 9 of the seeds 0-299 left some conjunction only in held-out terms), so the split is redrawn from the
seed's stream until the training terms contain every in-distribution conjunction, and built directly (a random
cover first) if a hundred draws miss; the arguments are rejected when no split can hold the property.

Shape glossary: b sequences, p points per sequence, n variables; a token is $(x, y) \in \mathbb{R}^{n+1}$.
"""

from __future__ import annotations

from itertools import combinations, product

import torch

from .._validate import (
    check_choice,
    check_generator,
    check_number,
    check_positive,
    check_same_device,
    check_tensor,
)

__all__ = ["FuzzyLogicTask", "r_squared", "zadeh_dnf"]

SPLITS = ("train", "test", "ood")
MAX_DRAWS = 100  # shuffles tried before the split is built around a random cover


def _held_out_first(terms: torch.Tensor, n_test: int, n_in: int, seed: int) -> torch.Tensor:
    """An order of ``terms`` (T, K) whose first ``n_test`` rows are held out and whose other rows contain every
    conjunction ``0 .. n_in - 1``: the seed's first shuffle that does, else one built around a random cover."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(MAX_DRAWS):
        order = torch.randperm(len(terms), generator=g)
        if len(terms[order[n_test:]].unique()) == n_in:
            return order
    k = terms.shape[1]
    conj = torch.randperm(n_in, generator=g)
    conj = torch.cat([conj, conj[: -n_in % k]])  # (ceil(n_in / k) k,): the last group padded with earlier ones
    cover = {tuple(sorted(group)) for group in conj.view(-1, k).tolist()}  # terms that together hold every one
    is_cover = torch.tensor([tuple(t) in cover for t in terms.tolist()])
    order = torch.randperm(len(terms), generator=g)
    rest = order[~is_cover[order]]  # the other terms, in a random order
    n_free = len(rest) - n_test  # training rows left after the cover
    return torch.cat([rest[n_free:], rest[:n_free], is_cover.nonzero().squeeze(1)])


def zadeh_dnf(signs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r"""$f(x) = \max_j \min_i \ell_{ji}(x_i)$ with Zadeh's not/and/or (Schug et al., 2025, fuzzy-logic task).

    ``signs`` (..., K, n) in {0, 1}, ``x`` (..., p, n) in [0, 1] -> (..., p); the batch dims must broadcast.
    """
    check_tensor("signs", signs, min_ndim=2)
    check_tensor("x", x, min_ndim=2, floating=True)
    if signs.shape[-1] != x.shape[-1]:
        raise ValueError(f"signs has n={signs.shape[-1]} variables but x has n={x.shape[-1]}")
    if signs.is_complex() or x.is_complex():
        raise TypeError(f"signs and x must be real, got dtypes {signs.dtype} and {x.dtype}")
    check_same_device(signs=signs, x=x)
    try:
        torch.broadcast_shapes(signs.shape[:-2], x.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"the batch dims of signs {tuple(signs.shape)} and x {tuple(x.shape)} do not broadcast"
        ) from None
    if signs.shape[-2] == 0 or signs.shape[-1] == 0:
        raise ValueError(f"signs has shape {tuple(signs.shape)}: a term needs K >= 1 conjunctions of n >= 1 variables")
    if not signs.is_meta and not ((signs == 0) | (signs == 1)).all():
        raise ValueError("signs must hold only 0 and 1 (1: the variable, 0: its negation)")
    if not x.is_meta and x.numel() and not ((x >= 0) & (x <= 1)).all():
        raise ValueError(f"x must lie in [0, 1] (NaN is not), got values in [{x.min().item()}, {x.max().item()}]")
    s = signs.to(torch.bool).unsqueeze(-3)  # (..., 1, K, n)
    xx = x.unsqueeze(-2)  # (..., p, 1, n)
    literals = torch.where(s, xx, 1 - xx)  # (..., p, K, n): not
    return literals.amin(-1).amax(-1)  # and over variables, or over conjunctions -> (..., p)


class FuzzyLogicTask:
    """Sequences of ``n_points`` labelled points of a hidden fuzzy term; splits ``train``, ``test`` (held-out
    combinations of seen conjunctions) and ``ood`` (terms of unseen conjunctions)."""

    def __init__(
        self,
        n_vars: int = 4,
        n_terms: int = 2,
        n_points: int = 16,
        frac_test: float = 0.5,
        frac_ood: float = 0.25,
        seed: int = 0,
    ):
        check_positive("n_vars", n_vars)
        check_positive("n_terms", n_terms)
        check_number("n_points", n_points, integer=True, low=2)
        check_number("frac_test", frac_test, low=0, high=1, low_open=True, high_open=True)
        check_number("frac_ood", frac_ood, low=0, high=1, high_open=True)
        seed = check_number("seed", seed, integer=True, low=0)  # a Python int for manual_seed
        if n_vars > 10:
            raise ValueError(f"n_vars={n_vars} gives 2**{n_vars} conjunctions; use n_vars <= 10")
        self.n_vars, self.n_terms, self.n_points = n_vars, n_terms, n_points
        self.conjunctions = torch.tensor(list(product([0, 1], repeat=n_vars)), dtype=torch.long)  # (2^n, n)
        n_conj = len(self.conjunctions)
        n_in = n_conj - int(n_conj * frac_ood)
        if n_in < n_terms:
            raise ValueError(
                f"n_terms={n_terms} exceeds the {n_in} in-distribution conjunctions (n_vars={n_vars}, "
                f"frac_ood={frac_ood})"
            )
        terms = torch.tensor(list(combinations(range(n_in), n_terms)), dtype=torch.long)  # (T, K) conj. indices
        n_test = int(len(terms) * frac_test)
        if n_test == 0 or n_test == len(terms):
            raise ValueError(
                f"frac_test={frac_test} leaves an empty split: {len(terms)} in-distribution terms, {n_test} held out"
            )
        if (len(terms) - n_test) * n_terms < n_in:
            raise ValueError(
                f"frac_test={frac_test} leaves {len(terms) - n_test} training terms of {n_terms} conjunctions, too "
                f"few to contain all {n_in} in-distribution conjunctions: some held-out term would use a conjunction "
                "never seen in training"
            )
        terms = terms[_held_out_first(terms, n_test, n_in, seed)]
        ood = list(combinations(range(n_in, n_conj), n_terms))
        self.terms = {
            "train": terms[n_test:],
            "test": terms[:n_test],
            "ood": torch.tensor(ood, dtype=torch.long).view(-1, n_terms),
        }

    def signs(self, split: str, term_ids: torch.Tensor) -> torch.Tensor:
        """The sign patterns (b, K, n) of the terms ``term_ids`` (indices into ``self.terms[split]``)."""
        check_choice("split", split, SPLITS)
        check_tensor("term_ids", term_ids)
        if term_ids.is_floating_point() or term_ids.is_complex() or term_ids.dtype == torch.bool:
            raise TypeError(f"term_ids must be an integer tensor of term indices, got dtype={term_ids.dtype}")
        n_terms = len(self.terms[split])
        if term_ids.numel() and (int(term_ids.min()) < 0 or int(term_ids.max()) >= n_terms):
            lo, hi = int(term_ids.min()), int(term_ids.max())
            raise ValueError(f"term_ids hold values in [{lo}, {hi}], outside [0, {n_terms}) (the {split!r} terms)")
        return self.conjunctions[self.terms[split][term_ids]]

    def sample(self, batch: int, split: str = "train", generator: torch.Generator | None = None):
        """``(tokens, target, term_ids)``: tokens (b, p, n + 1) float32 with the last label zeroed, target (b,)
        the answer $f(x_{\\text{last}})$, and term_ids (b,) the index of each sequence's term in its split."""
        check_positive("batch", batch)
        check_choice("split", split, SPLITS)
        check_generator("generator", generator)
        if len(self.terms[split]) == 0:
            raise ValueError(f"split={split!r} has no terms (frac_ood=0 or too few unseen conjunctions)")
        term_ids = torch.randint(len(self.terms[split]), (batch,), generator=generator)
        x = torch.rand(batch, self.n_points, self.n_vars, generator=generator)  # (b, p, n)
        y = zadeh_dnf(self.signs(split, term_ids), x)  # (b, p)
        target = y[:, -1].clone()
        y[:, -1] = 0.0
        return torch.cat([x, y.unsqueeze(-1)], dim=-1), target, term_ids


def r_squared(pred: torch.Tensor, target: torch.Tensor, tokens: torch.Tensor) -> float:
    r"""$R^2 = 1 - \overline{(\hat y - y)^2} / \overline{(y - \bar y_{\text{ctx}})^2}$: 0 for the in-context mean.

    The baseline predicts each sequence's mean context label, as the authors' ``base_mse``. A non-finite prediction
    is scored as wrong with the largest error a label in [0, 1] allows (1), never as NaN. ``pred`` and ``target``
    are (b,), ``tokens`` (b, p, n + 1) with p >= 2 (a context label); a zero baseline error (every target equal to
    its context mean) leaves $R^2$ undefined and is refused.
    """
    check_tensor("tokens", tokens, ndim=3, floating=True)
    check_tensor("target", target, ndim=1, floating=True)
    check_tensor("pred", pred, ndim=1)
    b, p, _ = tokens.shape
    if b == 0 or p < 2:
        raise ValueError(f"tokens has shape {tuple(tokens.shape)}; it needs b >= 1 sequences of p >= 2 points")
    if tuple(target.shape) != (b,):
        raise ValueError(f"target has shape {tuple(target.shape)}; expected (b,) = ({b},) as tokens")
    if tuple(pred.shape) != (b,):
        raise ValueError(f"pred has shape {tuple(pred.shape)}; expected (b,) = ({b},) as target")
    if pred.is_complex() or pred.dtype == torch.bool:
        raise TypeError(f"pred must be a real tensor, got dtype={pred.dtype}")
    check_same_device(pred=pred, target=target, tokens=tokens)
    ctx_mean = tokens[:, :-1, -1].mean(-1)  # (b,)
    base = (target - ctx_mean).pow(2).mean()
    if not base > 0:
        raise ValueError(f"the baseline error of target against tokens' context mean is {base.item()}: R^2 undefined")
    err = (pred.to(target.dtype) - target).pow(2)
    err = torch.where(torch.isfinite(err), err, torch.ones_like(err))
    return float(1 - err.mean() / base)
