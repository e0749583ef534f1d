r"""Match3, the three-way matching task of Sanford, Hsu & Telgarsky (2023) (chapter 8).

A sequence $x_1, \dots, x_n$ of residues modulo $M$; position $i$ is labelled 1 when some pair of positions
$j, k$ (any, repeats and $i$ itself allowed) completes a zero-sum triple:

$$ \mathrm{Match3}(x)_i = \mathbf 1\{\exists\, j, k \in [n]:\ x_i + x_j + x_k \equiv 0 \pmod M\}. $$

Token format: one token per position, the residue itself (an int in ``[0, M)``); no separators and no positions
(the labels do not depend on the order). Labels are (b, n) floats in {0, 1}.

:func:`match3_labels` is the plain reference (set of pair sums, one sequence at a time); :func:`match3_batch`
samples sequences and labels them with a vectorized count (the circular self-convolution of the histogram), tested
against the reference. :func:`match3_worst_case` builds the hardest inputs for chapter 8's hand-built head (one
match, every other pair a near miss).
"""

from __future__ import annotations

import torch

from .._validate import check_generator, check_number, check_positive, check_tensor

__all__ = ["match3_batch", "match3_labels", "match3_positive_rate", "match3_worst_case"]


def _check_modulus(modulus) -> int:
    return check_number("modulus", modulus, integer=True, low=2)


def _check_tokens(x, modulus: int) -> torch.Tensor:
    check_tensor("x", x, ndim=(1, 2))
    if x.is_floating_point() or x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"x must be an integer tensor of residues, got dtype={x.dtype}")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= modulus):
        raise ValueError(f"x holds values in [{int(x.min())}, {int(x.max())}], outside [0, modulus={modulus})")
    return x


def match3_labels(x: torch.Tensor, modulus: int) -> torch.Tensor:
    r"""Reference labels: (n,) or (b, n) residues -> float tensor of the same shape, 1 where a triple matches.

    Plain Python: the set of pair sums $\{(x_j + x_k) \bmod M\}$, then a membership test of $-x_i \bmod M$.
    """
    modulus = _check_modulus(modulus)
    x = _check_tokens(x, modulus)
    rows = x.view(-1, x.shape[-1]).tolist() if x.dim() == 2 else [x.tolist()]
    out = []
    for row in rows:
        pair_sums = {(a + b) % modulus for a in row for b in row}
        out.append([1.0 if (-a) % modulus in pair_sums else 0.0 for a in row])
    labels = torch.tensor(out, dtype=torch.float32).view(len(rows), x.shape[-1])
    return labels if x.dim() == 2 else labels[0]


MAX_ELEMENTS = 2**28  # entries of the (b, M, M) tensor the vectorized labels allocate (2 GiB of float64)


def _check_size(n_samples: int, modulus: int) -> None:
    if n_samples * modulus * modulus > MAX_ELEMENTS:
        raise ValueError(
            f"n_samples={n_samples} and modulus={modulus} need a ({n_samples}, {modulus}, {modulus}) float64 tensor "
            f"({8 * n_samples * modulus**2 / 2**30:.1f} GiB) to label; draw fewer samples per call"
        )


def _labels_vectorized(x: torch.Tensor, modulus: int) -> torch.Tensor:
    """(b, n) residues -> (b, n) labels, via the histogram's circular self-convolution (how many pairs sum to r)."""
    b = x.shape[0]
    hist = torch.zeros(b, modulus, dtype=torch.float64).scatter_add_(1, x, torch.ones_like(x, dtype=torch.float64))
    idx = (torch.arange(modulus)[:, None] - torch.arange(modulus)[None, :]) % modulus  # (M, M): r - a mod M
    pairs = torch.einsum("ba,bra->br", hist, hist[:, idx])  # (b, M): pairs[r] = #{(j, k): x_j + x_k = r}
    target = (-x) % modulus  # (b, n)
    return (pairs.gather(1, target) > 0.5).float()


def match3_batch(
    n_samples: int, length: int, modulus: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_samples`` uniform sequences of ``length`` residues mod ``modulus`` -> (tokens (b, n) long, labels (b, n))."""
    check_positive("n_samples", n_samples)
    check_positive("length", length)
    modulus = _check_modulus(modulus)
    _check_size(n_samples, modulus)
    check_generator("generator", generator)
    x = torch.randint(0, modulus, (n_samples, length), generator=generator)  # (b, n)
    return x, _labels_vectorized(x, modulus)


def match3_worst_case(
    n_samples: int, length: int, modulus: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The worst case of chapter 8's proposition ``prop-match3-head``: (tokens (b, n) long, labels (b, n), where (b,)).

        Each sequence holds one 0 at a random position ``where`` and ``length - 1`` copies of $a$ with
        $2a \equiv \pm 1 \pmod M$ (the sign drawn per sequence). The 0 is positive, and its only matching pair is
        $(j, k) = (i, i)$ ($0 + 0 + 0$; a pair $(0, a)$ sums to $a
    ot\equiv 0$ and $(a, a)$ to $\pm 1$), while all
        $(n-1)^2$ ordered pairs of copies are near misses: $0 + a + a \equiv \pm 1$, the largest non-matching cosine
        $\cos(2\pi/M)$. So the proof's bound on the non-matching weight is nearly attained, at the position ``where``.
        Needs an odd ``modulus`` >= 3 (for even $M$, $2a \equiv \pm 1$ has no solution).
    """
    check_positive("n_samples", n_samples)
    check_positive("length", length)
    modulus = _check_modulus(modulus)
    if modulus % 2 == 0:
        raise ValueError(f"modulus={modulus} must be odd: 2a = +-1 (mod modulus) has no solution a for even moduli")
    _check_size(n_samples, modulus)
    check_generator("generator", generator)
    where = torch.randint(0, length, (n_samples,), generator=generator)  # (b,)
    sign = torch.randint(0, 2, (n_samples,), generator=generator)  # (b,): 1 -> 2a = +1, 0 -> 2a = -1
    half = (modulus + 1) // 2  # 2 * half = M + 1 = +1 (mod M); M - half satisfies 2a = -1
    a = torch.where(sign == 1, half, modulus - half)  # (b,)
    x = a[:, None].expand(n_samples, length).clone()  # (b, n)
    x[torch.arange(n_samples), where] = 0
    return x, _labels_vectorized(x, modulus), where


def match3_positive_rate(length: int, modulus: int, n_samples: int = 4000, generator=None) -> float:
    """The fraction of positions labelled 1 for uniform sequences: pick ``modulus`` so that classes are balanced."""
    _, y = match3_batch(n_samples, length, modulus, generator)
    return float(y.mean())
