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
self-attention, against $n^2 d$ for the standard head.

Shape glossary: ``...`` batch dims, s queries, t1 and t2 keys of the two key sets, d width (all five share it).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import check_choice, check_like, check_like_module, check_number, check_positive, check_tensor
from .attention import scaled_dot_product_attention

__all__ = [
    "OneLayerClassifier",
    "TensorAttention",
    "khatri_rao",
    "match3_head",
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


def match3_head(tokens: torch.Tensor, modulus: int, sharpness: float = 2000.0) -> torch.Tensor:
    r"""A hand-built tensor head for Match3 (chapter 8, proposition ``prop-match3-head``): (b, n) residues -> (b, n).

    With $\theta = 2\pi x / M$, the width-4 features $q_i = \lambda(\cos\theta_i, -\cos\theta_i, -\sin\theta_i,
    -\sin\theta_i)$, $k_{1,j} = v_{1,j} = (\cos\theta_j, \sin\theta_j, \cos\theta_j, \sin\theta_j)$ and
    $k_{2,k} = v_{2,k} = (\cos\theta_k, \sin\theta_k, \sin\theta_k, \cos\theta_k)$ give the trilinear score
    $\lambda\cos(\theta_i + \theta_j + \theta_k)$; the output $o_i$ is read out as
    $r_i = \cos\theta_i (o_{i1} - o_{i2}) - \sin\theta_i (o_{i3} + o_{i4})$, the attention-weighted mean of
    $\cos(\theta_i + \theta_j + \theta_k)$. It is near 1 where a triple matches and at most $\cos(2\pi/M)$ elsewhere.
    Float64; ``sharpness`` is $\lambda$.
    """
    check_tensor("tokens", tokens, ndim=2)
    if tokens.is_floating_point() or tokens.dtype == torch.bool:
        raise TypeError(f"tokens must be an integer tensor, got dtype={tokens.dtype}")
    modulus = check_number("modulus", modulus, integer=True, low=2)
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
        self.w_q, self.w_k1, self.w_k2, self.w_v1, self.w_v2 = (
            nn.Linear(d_model, self.d_head, bias=False) for _ in range(5)
        )
        self.w_o = nn.Linear(self.d_head, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=3, floating=True)
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x has width {x.shape[-1]} but the layer has d_model={self.d_model}")
        check_like_module("x", x, self)
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
        check_choice("order", order, (2, 3))
        hidden = check_positive("hidden", 2 * d_model if hidden is None else hidden)
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
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            lo, hi = int(tokens.min()), int(tokens.max())
            raise ValueError(f"tokens hold values in [{lo}, {hi}] but vocab_size={self.vocab_size}")
        x = self.embed(tokens)  # (b, n, d_model)
        h = self.norm(x + self.attn(x))  # (b, n, d_model)
        return self.readout(h).squeeze(-1)  # (b, n)
