r"""Higher-order (tensor) attention (chapter 8): every query attends to *pairs* of keys.

Alman & Song (2023) generalize $D^{-1}\exp(QK^\top)V$ to five $n\times d$ matrices $Q, K_1, K_2, V_1, V_2$:

$$ \mathrm{TAtt}(Q, K_1, K_2, V_1, V_2) = D^{-1} \exp\!\big(Q (K_1 \oslash K_2)^\top\big) (V_1 \oslash V_2),
   \qquad D = \mathrm{diag}\big(\exp(Q (K_1 \oslash K_2)^\top)\,\mathbf 1_{n^2}\big), $$

where $K_1 \oslash K_2 \in \mathbb R^{n^2\times d}$ is the column-wise Kronecker (row-wise Khatri--Rao) product: its
row $(j, k)$, at index $j n + k$, is the entry-wise product $K_1[j] \odot K_2[k]$. The score of query $i$ on the pair
$(j, k)$ is the trilinear form $\sum_c Q_{ic} K_{1,jc} K_{2,kc}$ and the output averages $V_1[j]\odot V_2[k]$ over
all $n^2$ pairs. Sanford, Hsu & Telgarsky (2023) call one such unit a third-order self-attention head.

Two implementations that must agree: :func:`tensor_attention` contracts with ``einsum`` over a (.., s, t1, t2)
score tensor; :func:`tensor_attention_explicit` materializes $K_1\oslash K_2$ and $V_1\oslash V_2$ and calls the
ordinary softmax attention of chapter 1 on $n^2$ keys. Both cost $\Theta(s\, t_1 t_2\, d)$ time: $n^3 d$ for
self-attention, against $n^2 d$ for the standard head. :func:`polynomial_tensor_attention` replaces $\exp$ by a
polynomial and factors the scores through pairs of features (the polynomial method), in time linear in $n$.
:func:`match3_head` is the hand-built width-4 head for Match3, with the sharpness of :func:`match3_sharpness`.

Shape glossary: ``...`` batch dims, s queries, t1 and t2 keys of the two key sets, d width (all five share it).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from .._validate import (
    check_choice,
    check_like,
    check_like_module,
    check_number,
    check_positive,
    check_same_device,
    check_size,
    check_tensor,
)
from .attention import scaled_dot_product_attention

__all__ = [
    "OneLayerClassifier",
    "TensorAttention",
    "khatri_rao",
    "match3_head",
    "match3_sharpness",
    "polynomial_tensor_attention",
    "tensor_attention",
    "tensor_attention_explicit",
]


def khatri_rao(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""Row-wise Khatri--Rao product $a \oslash b$: (..., t1, d), (..., t2, d) -> (..., t1 * t2, d).

    Row $j\, t_2 + k$ of the result is $a_j \odot b_k$ (Alman & Song, 2023, the column-wise Kronecker product).
    """
    check_tensor("a", a, min_ndim=2)
    check_tensor("b", b, min_ndim=2)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"a has d={a.shape[-1]} columns but b has d={b.shape[-1]}: the product needs equal widths")
    if a.shape[:-2] != b.shape[:-2]:
        raise ValueError(f"a has batch shape {tuple(a.shape[:-2])} but b has {tuple(b.shape[:-2])}")
    check_like("b", b, "a", a)
    check_size(
        f"khatri_rao of a {tuple(a.shape)} and b {tuple(b.shape)}", a[..., :1].numel() * b.shape[-2] * a.shape[-1]
    )
    out = a.unsqueeze(-2) * b.unsqueeze(-3)  # (..., t1, t2, d): out[..., j, k] = a_j * b_k
    return out.flatten(-3, -2)  # (..., t1 * t2, d)


def _check_five(q, k1, k2, v1, v2) -> None:
    for name, x in (("q", q), ("k1", k1), ("k2", k2), ("v1", v1), ("v2", v2)):
        check_tensor(name, x, min_ndim=2, floating=True)
        if x is not q:
            check_like(name, x, "q", q)
    d = q.shape[-1]
    for name, x in (("k1", k1), ("k2", k2)):
        if x.shape[-1] != d:
            raise ValueError(f"{name} has width {x.shape[-1]} but q has d={d}: queries and keys share the width")
    if v1.shape[-1] != v2.shape[-1]:
        raise ValueError(f"v1 has width {v1.shape[-1]} but v2 has {v2.shape[-1]}: the values' widths must agree")
    for kname, vname, k, v in (("k1", "v1", k1, v1), ("k2", "v2", k2, v2)):
        if k.shape[-2] != v.shape[-2]:
            raise ValueError(f"{kname} has {k.shape[-2]} keys but {vname} has {v.shape[-2]} values")
        if k.shape[-2] == 0:
            raise ValueError(f"{kname} has shape {tuple(k.shape)}: attention needs at least one key")
    batch = {name: tuple(x.shape[:-2]) for name, x in (("q", q), ("k1", k1), ("k2", k2), ("v1", v1), ("v2", v2))}
    if len(set(batch.values())) > 1:
        raise ValueError(f"batch shapes differ: {batch}")


def _scale(scale) -> float:
    return 1.0 if scale is None else check_number("scale", scale, low=0, low_open=True)


def tensor_attention(q, k1, k2, v1, v2, scale: float | None = None) -> torch.Tensor:
    r"""$D^{-1}\exp(c\,Q(K_1\oslash K_2)^\top)(V_1\oslash V_2)$ by ``einsum``, never forming $K_1\oslash K_2$.

    ``q`` (..., s, d), ``k1`` (..., t1, d), ``k2`` (..., t2, d), ``v1`` (..., t1, e), ``v2`` (..., t2, e) ->
    (..., s, e). ``scale`` $c$ multiplies the scores (default 1, as in Alman & Song, 2023). The softmax runs over
    all $t_1 t_2$ pairs, after subtracting each row's max (so large scores do not overflow).
    """
    _check_five(q, k1, k2, v1, v2)
    c = _scale(scale)
    check_size(
        f"tensor_attention's scores (..., s, t1, t2) of q {tuple(q.shape)}, k1 {tuple(k1.shape)}, k2 {tuple(k2.shape)}",
        q[..., :1].numel() * k1.shape[-2] * k2.shape[-2],
    )
    scores = c * torch.einsum("...ic,...jc,...kc->...ijk", q, k1, k2)  # (..., s, t1, t2)
    flat = scores.flatten(-2)  # (..., s, t1 * t2)
    w = torch.softmax(flat, dim=-1).view_as(scores)  # (..., s, t1, t2), each query's weights sum to 1
    return torch.einsum("...ijk,...je,...ke->...ie", w, v1, v2)  # (..., s, e)


def tensor_attention_explicit(q, k1, k2, v1, v2, scale: float | None = None) -> torch.Tensor:
    r"""The same output by materializing the $n^2$ keys $K_1\oslash K_2$ and values $V_1\oslash V_2$.

    Ordinary softmax attention (chapter 1's ``scaled_dot_product_attention``) of ``q`` (..., s, d) on the
    (..., t1 * t2, d) keys and (..., t1 * t2, e) values -> (..., s, e). Memory $\Theta(t_1 t_2 (d + e + s))$.
    """
    _check_five(q, k1, k2, v1, v2)
    c = _scale(scale)
    keys = khatri_rao(k1, k2)  # (..., t1 * t2, d)
    values = khatri_rao(v1, v2)  # (..., t1 * t2, e)
    return scaled_dot_product_attention(q, keys, values, scale=c)


_MAX_FEATURES = 1_000_000


def _multi_indices(d: int, degree: int) -> tuple[torch.Tensor, list[int]]:
    r"""All $\alpha \in \mathbb N^d$ with $|\alpha| \le g$ as a (r, d) long tensor, $r = \binom{d+g}{g}$, and the
    multinomial coefficients $|\alpha|! / \prod_c \alpha_c!$ (exact integers)."""
    rows, multinomials = [], []
    for m in range(degree + 1):
        for combo in itertools.combinations_with_replacement(range(d), m):  # one multiset of coordinates each
            alpha = [combo.count(c) for c in range(d)]
            rows.append(alpha)
            multinomials.append(math.factorial(m) // math.prod(math.factorial(a) for a in alpha))
    return torch.tensor(rows, dtype=torch.long).view(len(rows), d), multinomials


def _check_coeffs(coeffs) -> list[float]:
    if type(coeffs).__module__ == "numpy" and getattr(coeffs, "ndim", None) == 1:
        coeffs = coeffs.tolist()  # a 1-D numpy array, as a list of Python numbers
    if isinstance(coeffs, torch.Tensor):
        check_tensor("coeffs", coeffs, ndim=1, floating=True)
        coeffs = coeffs.tolist()
    elif not isinstance(coeffs, (list, tuple)):
        raise TypeError(f"coeffs must be a list, tuple or 1-D tensor (a_0, ..., a_g), got {type(coeffs).__name__}")
    if not coeffs:
        raise ValueError("coeffs is empty: give (a_0, ..., a_g), at least a_0")
    return [check_number(f"coeffs[{m}]", a) for m, a in enumerate(coeffs)]


def polynomial_tensor_attention(q, k1, k2, v1, v2, coeffs) -> torch.Tensor:
    r"""$D_p^{-1} p\big(Q(K_1\oslash K_2)^\top\big)(V_1\oslash V_2)$ for $p(s) = \sum_{m \le g} a_m s^m$, never
    forming a score: the polynomial method (chapter 8, lemma ``lem-poly-factor``; Alman & Song, 2023).

    ``q`` (..., s, d), ``k1`` (..., t1, d), ``k2`` (..., t2, d), ``v1`` (..., t1, e), ``v2`` (..., t2, e),
    ``coeffs`` $(a_0, \dots, a_g)$ -> (..., s, e). With multi-indices $\alpha \in \mathbb N^d$, $|\alpha| \le g$,
    $\psi(q)_\alpha = a_{|\alpha|}\binom{|\alpha|}{\alpha}q^\alpha$ and $\phi(k)_\alpha = k^\alpha$, the multinomial
    theorem gives $p(\langle q, k_1\odot k_2\rangle) = \langle\psi(q), \phi(k_1)\odot\phi(k_2)\rangle$, and
    $(W_1\oslash W_2)^\top(x\oslash y) = (W_1^\top x)\odot(W_2^\top y)$ turns the sum over all $t_1 t_2$ pairs into two
    sums: numerator and normalizer cost $O((s + t_1 + t_2)\, r\, (d + e))$ with $r = \binom{d+g}{g}$ features,
    linear in the length. ``p`` must be positive on the scores (so that the normalizer is; a normalizer <= 0 raises):
    the Taylor polynomials of $\exp$ of even degree are positive everywhere. ``coeffs``: a list, tuple, 1-D numpy
    array or 1-D float tensor. Float64 recommended (the features are monomials).
    """
    _check_five(q, k1, k2, v1, v2)
    coeffs = _check_coeffs(coeffs)
    d, degree = q.shape[-1], len(coeffs) - 1
    r = math.comb(d + degree, degree)
    if r > _MAX_FEATURES:
        raise ValueError(
            f"d={d} and degree={degree} need r=C(d+g, g)={r} features (more than {_MAX_FEATURES}): lower the degree"
        )
    alpha, multinomials = _multi_indices(d, degree)  # (r, d), r ints
    weight = torch.tensor(
        [coeffs[int(a.sum())] * m for a, m in zip(alpha, multinomials, strict=True)], dtype=q.dtype, device=q.device
    )  # (r,): a_|alpha| * (|alpha| choose alpha)
    powers = alpha.to(q.device, q.dtype)  # (r, d)

    def monomials(x):  # (..., t, d) -> (..., t, r): x^alpha for every multi-index
        return torch.prod(x.unsqueeze(-2) ** powers, dim=-1)

    u = weight * monomials(q)  # (..., s, r): psi(q)
    w1, w2 = monomials(k1), monomials(k2)  # (..., t1, r), (..., t2, r): phi(k)
    ones1 = torch.ones_like(v1[..., :1])  # (..., t1, 1): the normalizer rides along as one more value column
    ones2 = torch.ones_like(v2[..., :1])
    x1 = w1.transpose(-2, -1) @ torch.cat([v1, ones1], dim=-1)  # (..., r, e + 1): W1^T [V1, 1]
    x2 = w2.transpose(-2, -1) @ torch.cat([v2, ones2], dim=-1)  # (..., r, e + 1): W2^T [V2, 1]
    out = u @ (x1 * x2)  # (..., s, e + 1): [numerator, normalizer]
    normalizer = out[..., -1]
    if normalizer.numel() and normalizer.device.type != "meta" and not bool((normalizer > 0).all()):
        raise ValueError(
            f"coeffs={coeffs}: the polynomial is not positive on these scores (normalizer min "
            f"{normalizer.min().item():.3g}), so the weights are not a distribution; use a polynomial positive "
            f"everywhere, e.g. an even-degree Taylor polynomial of exp"
        )
    return out[..., :-1] / out[..., -1:]  # (..., s, e)


def match3_sharpness(length: int, modulus: int) -> float:
    r"""The sharpness $\lambda^* = \ln(4n^2/\delta)/\delta$, $\delta = 1 - \cos(2\pi/M)$, at which
    :func:`match3_head` computes Match3 exactly on every sequence of ``length`` $n$ residues mod ``modulus`` $M$.

    Chapter 8, proposition ``prop-match3-head``: where $x_i$ has a matching pair, the $\le n^2 - 1$ other pairs carry
    at most $\varepsilon = n^2 e^{-\lambda\delta}$ of the attention together, so the readout exceeds
    $1 - 2\varepsilon$; where it has none, the readout is at most $\cos(2\pi/M)$. The threshold
    $(1 + \cos(2\pi/M))/2 = 1 - \delta/2$ separates the two once $\varepsilon \le \delta/4$, that is for every
    $\lambda \ge \lambda^*$. It grows like $M^2 \ln(nM)$: about 5970 at $(n, M) = (12, 97)$. The worst case of the
    proof (:func:`minitorch_xf.tasks.match3.match3_worst_case`: one match, $(n-1)^2$ near misses) needs
    $\lambda > 2\ln(n-1)/\delta$ approximately, so $\lambda^*$ is within a factor $\ln(4n^2/\delta)/(2\ln(n-1))$
    (2.6 to 2.9 at the chapter's sizes) of necessary.
    """
    n = check_positive("length", length)
    modulus = check_number("modulus", modulus, integer=True, low=2)
    delta = 1.0 - math.cos(2 * math.pi / modulus)
    return math.log(4 * n * n / delta) / delta


def match3_head(tokens: torch.Tensor, modulus: int, sharpness: float | None = None) -> torch.Tensor:
    r"""A hand-built tensor head for Match3 (chapter 8, proposition ``prop-match3-head``): (b, n) residues -> (b, n).

    With $\theta = 2\pi x / M$, the width-4 features $q_i = \lambda(\cos\theta_i, -\cos\theta_i, -\sin\theta_i,
    -\sin\theta_i)$, $k_{1,j} = v_{1,j} = (\cos\theta_j, \sin\theta_j, \cos\theta_j, \sin\theta_j)$ and
    $k_{2,k} = v_{2,k} = (\cos\theta_k, \sin\theta_k, \sin\theta_k, \cos\theta_k)$ give the trilinear score
    $\lambda\cos(\theta_i + \theta_j + \theta_k)$; the output $o_i$ is read out as
    $r_i = \cos\theta_i (o_{i1} - o_{i2}) - \sin\theta_i (o_{i3} + o_{i4})$, the attention-weighted mean of
    $\cos(\theta_i + \theta_j + \theta_k)$. It is near 1 where a triple matches and at most $\cos(2\pi/M)$ elsewhere.
    Float64; ``sharpness`` is $\lambda$, by default :func:`match3_sharpness` of (n, M), which makes the threshold
    $r_i > (1 + \cos(2\pi/M))/2$ exact on every input.
    """
    check_tensor("tokens", tokens, ndim=2)
    if tokens.is_floating_point() or tokens.dtype == torch.bool:
        raise TypeError(f"tokens must be an integer tensor, got dtype={tokens.dtype}")
    modulus = check_number("modulus", modulus, integer=True, low=2)
    if tokens.shape[1] == 0:
        raise ValueError(f"tokens has shape {tuple(tokens.shape)}: the head needs at least one token per sequence")
    b, n = tokens.shape
    check_size(f"match3_head of tokens {tuple(tokens.shape)}: its (b, n, n, n) scores", b * n**3)
    if sharpness is None:
        lam = match3_sharpness(tokens.shape[1], modulus)
    else:
        lam = check_number("sharpness", sharpness, low=0, low_open=True)
    theta = 2 * torch.pi * tokens.to(torch.float64) / modulus  # (b, n)
    c, s = torch.cos(theta), torch.sin(theta)
    q = lam * torch.stack([c, -c, -s, -s], dim=-1)  # (b, n, 4)
    kv1 = torch.stack([c, s, c, s], dim=-1)  # (b, n, 4): keys and values of the first set
    kv2 = torch.stack([c, s, s, c], dim=-1)  # (b, n, 4): keys and values of the second set
    o = tensor_attention(q, kv1, kv2, kv1, kv2)  # (b, n, 4): mean of (c_j c_k, s_j s_k, c_j s_k, s_j c_k)
    return c * (o[..., 0] - o[..., 1]) - s * (o[..., 2] + o[..., 3])  # (b, n)


class TensorAttention(nn.Module):
    r"""One tensor-attention head with learned maps: $Q = XW_Q$, $K_a = XW_{K_a}$, $V_a = XW_{V_a}$, output $\cdot W_O$.

    ``x`` (b, n, d_model) -> (b, n, d_model); the head has width ``d_head`` and scores scaled by
    ``1 / d_head`` (a trilinear score grows like the product of three unit-scale entries summed over ``d_head``).
    """

    def __init__(self, d_model: int, d_head: int | None = None):
        super().__init__()
        self.d_model = check_positive("d_model", d_model)
        self.d_head = check_positive("d_head", d_model if d_head is None else d_head)
        check_size(f"TensorAttention(d_model={d_model}, d_head={self.d_head})'s six maps", 6 * d_model * self.d_head)
        self.w_q, self.w_k1, self.w_k2, self.w_v1, self.w_v2 = (
            nn.Linear(d_model, self.d_head, bias=False) for _ in range(5)
        )
        self.w_o = nn.Linear(self.d_head, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=3, floating=True)
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x has width {x.shape[-1]} but the layer has d_model={self.d_model}")
        if x.shape[1] == 0:
            raise ValueError(f"x has shape {tuple(x.shape)}: attention needs at least one token")
        check_like_module("x", x, self)
        b, n, _ = x.shape
        check_size(f"TensorAttention on x {tuple(x.shape)}: its (b, n, n, n) scores", b * n**3)
        out = tensor_attention(
            self.w_q(x), self.w_k1(x), self.w_k2(x), self.w_v1(x), self.w_v2(x), scale=1.0 / self.d_head
        )  # (b, n, d_head)
        return self.w_o(out)  # (b, n, d_model)


class _StandardHead(nn.Module):
    """One softmax head of width ``d_head`` (scores scaled by 1/sqrt(d_head)), for the equal-width comparison."""

    def __init__(self, d_model: int, d_head: int):
        super().__init__()
        self.w_q, self.w_k, self.w_v = (nn.Linear(d_model, d_head, bias=False) for _ in range(3))
        self.w_o = nn.Linear(d_head, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.w_q(x), self.w_k(x), self.w_v(x)  # (b, n, d_head) each
        return self.w_o(scaled_dot_product_attention(q, k, v))  # (b, n, d_model)


class OneLayerClassifier(nn.Module):
    r"""Token embedding, one attention layer (``order=2`` standard, ``order=3`` tensor) with a residual, and a
    per-token readout MLP: ``tokens`` (b, n) long in ``[0, vocab_size)`` -> logits (b, n).

    No positions: a task such as Match3 is permutation-equivariant. At equal ``d_model`` the two orders differ only
    in the attention unit (the tensor head has two more d_model x d_model maps).
    """

    def __init__(self, vocab_size: int, d_model: int, order: int = 3, hidden: int | None = None):
        super().__init__()
        check_positive("vocab_size", vocab_size)
        check_positive("d_model", d_model)
        order = check_number("order", order, integer=True)
        check_choice("order", order, (2, 3))
        hidden = check_positive("hidden", 2 * d_model if hidden is None else hidden)
        check_size(f"OneLayerClassifier(vocab_size={vocab_size}, d_model={d_model})'s embedding", vocab_size * d_model)
        check_size(f"OneLayerClassifier(d_model={d_model})'s attention maps", 6 * d_model * d_model)
        check_size(f"OneLayerClassifier(d_model={d_model}, hidden={hidden})'s read-out", d_model * hidden)
        self.vocab_size, self.order = vocab_size, order
        self.embed = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.embed.weight, std=1.0)
        self.attn = TensorAttention(d_model) if order == 3 else _StandardHead(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.readout = nn.Sequential(nn.Linear(d_model, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        check_tensor("tokens", tokens, ndim=2)
        if tokens.is_floating_point() or tokens.dtype == torch.bool:
            raise TypeError(f"tokens must be an integer tensor, got dtype={tokens.dtype}")
        check_same_device(tokens=tokens, parameters=self.embed.weight)
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            lo, hi = int(tokens.min()), int(tokens.max())
            raise ValueError(f"tokens hold values in [{lo}, {hi}] but vocab_size={self.vocab_size}")
        if tokens.shape[1] == 0:
            raise ValueError(f"tokens has shape {tuple(tokens.shape)}: attention needs at least one token per sequence")
        x = self.embed(tokens)  # (b, n, d_model)
        h = self.norm(x + self.attn(x))  # (b, n, d_model)
        return self.readout(h).squeeze(-1)  # (b, n)
