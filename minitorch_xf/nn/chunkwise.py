r"""Chunkwise-parallel causal linear attention: quadratic inside a chunk, a d x e state carried between chunks.

Shape glossary: b batch, h heads, n tokens, d feature dim (of $\phi(q)$, $\phi(k)$), e value dim; ``...`` any batch
dims, B their product; the sequence is cut into N = ceil(n / C) chunks of C tokens (the last one zero-padded).

Causal linear attention needs, for every token i, $o_i = \sum_{j \le i} (\phi(q_i)^\top\phi(k_j))\, v_j$
(Katharopoulos et al., 2020, eq. 9). The parallel form keeps every prefix sum $S_i = \sum_{j\le i}\phi(k_j)v_j^\top$:
O(n d e) memory. The recurrent form keeps one $S$ but visits the tokens one by one. The chunkwise form (Hua et al.,
2022, FLASH, sec. 3.3; Yang et al., 2024, GLA, sec. 3.2) splits the sum at the start of token i's chunk c:
$$ o_i = \underbrace{\phi(q_i)^\top S_{[c]}}_{\text{earlier chunks}}
       + \underbrace{\sum_{j \in c,\, j \le i} (\phi(q_i)^\top\phi(k_j))\, v_j}_{\text{inside the chunk}},\qquad
   S_{[c]} = \sum_{c' < c} \phi(K_{c'})^\top V_{c'} . $$
Every chunk is one batched matrix product: time O(n (C d + C e + d e)), memory O(n C + (n / C) d e), no loop over
tokens. The normaliser $\phi(q_i)^\top \sum_{j \le i} \phi(k_j)$ is the same sum with a value that is 1 everywhere,
so it rides along as one more value column.

One :class:`torch.autograd.Function` does the feature map $\phi(x) = \mathrm{elu}(x) + 1$, the sums and the
division: it saves its inputs (q, k, v; nothing of size n d e, no feature map) and its backward recomputes the chunk
states, taking the gradient with two scans of the same shape: a forward one for dq, a reverse one
($\sum_{c' > c} \phi(Q_{c'})^\top dY_{c'}$) for dk and dv. Both passes run over slices of the B heads, so their
temporaries are bounded by ``_SLICE_ROWS`` rows (heads x padded tokens) whatever b h is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validate import check_positive, check_same_device, check_same_dtype, check_tensor

__all__ = ["causal_linear_chunkwise"]

_SLICE_ROWS = 1 << 14  # heads x padded tokens per slice: bounds the temporaries of one slice (see _slices)


def _slices(heads: int, n_pad: int):
    """Ranges of at most max(1, _SLICE_ROWS // n_pad) heads covering range(heads)."""
    step = max(1, _SLICE_ROWS // max(n_pad, 1))
    return [slice(i, min(i + step, heads)) for i in range(0, heads, step)]


def _flat(x: torch.Tensor) -> torch.Tensor:
    """(B, N, r, c) -> (B N, r, c), for the batched products."""
    return x.reshape(-1, *x.shape[-2:])


def _chunks(q, k, v, chunk, elu, normalize):
    r"""Features and values of checked (B, n, .) tensors, zero-padded to N C rows and cut into chunks.

    Returns $\phi(Q)$ (B, N, C, d), $\phi(K)$ (B, N, C, d) and V' (B, N, C, e'), where e' = e + 1 when
    ``normalize`` (a last column of ones: its sum is the normaliser) and e otherwise. Padding comes after the
    feature map: a padded key adds nothing, a padded query is dropped.
    """
    big_b, n, d = q.shape
    e = v.shape[-1]
    n_chunks = -(-n // chunk)
    pad = n_chunks * chunk - n
    fq = F.elu(q).add_(1) if elu else q  # (B, n, d)
    fk = F.elu(k).add_(1) if elu else k
    if pad:
        fq, fk = F.pad(fq, (0, 0, 0, pad)), F.pad(fk, (0, 0, 0, pad))
    if normalize or pad:
        v1 = v.new_zeros(big_b, n_chunks * chunk, e + normalize)  # (B, N C, e')
        v1[:, :n, :e] = v
        if normalize:
            v1[:, :n, e] = 1
    else:
        v1 = v
    return (
        fq.reshape(big_b, n_chunks, chunk, d),
        fk.reshape(big_b, n_chunks, chunk, d),
        v1.reshape(big_b, n_chunks, chunk, v1.shape[-1]),
    )


def _states(qc, kc, vc):
    r"""Inside-chunk scores $A = \mathrm{tril}(\phi(Q_c)\phi(K_c)^\top)$ (B, N, C, C) and the states of the chunks
    before each chunk, $S_{[c]} = \sum_{c' < c} \phi(K_{c'})^\top V_{c'}$ (B, N, d, e)."""
    scores = (qc @ kc.transpose(-2, -1)).tril_()  # (B, N, C, C): key j against query i >= j in one chunk
    kv = kc.transpose(-2, -1) @ vc  # (B, N, d, e): phi(K_c)^T V_c of every chunk
    state = torch.empty_like(kv)  # exclusive prefix sum over the chunks: no loop
    state[:, 0].zero_()
    torch.cumsum(kv[:, :-1], 1, out=state[:, 1:])
    return scores, state


def _chunk_scan(qc, kc, vc):
    r"""$Y_c = A_c V_c + \phi(Q_c) S_{[c]}$ for every chunk c at once: (B, N, C, d), (B, N, C, d), (B, N, C, e) ->
    (B, N, C, e), with $Y_i = \sum_{j \le i} (\phi(q_i)^\top \phi(k_j))\, v_j$."""
    big_b, n_chunks, chunk, d = qc.shape
    e = vc.shape[-1]
    scores, state = _states(qc, kc, vc)
    out = torch.baddbmm(  # inside the chunk + from the earlier chunks, in one product
        (scores @ vc).view(-1, chunk, e), qc.reshape(-1, chunk, d), state.view(-1, d, e)
    )  # (B N, C, e)
    return out.view(big_b, n_chunks, chunk, e), scores, state


def _forward_slice(q, k, v, out, chunk, eps, elu, normalize):
    """Causal linear attention of checked (B, n, .) tensors into ``out`` (B, n, e); the numerator alone unless
    ``normalize``."""
    n, e = q.shape[-2], v.shape[-1]
    qc, kc, vc = _chunks(q, k, v, chunk, elu, normalize)
    if elu and q.device.type != "meta":  # meta tensors (FLOP counts) hold no values
        for name, x in (("q", qc), ("k", kc)):  # features >= 0: their sum is NaN iff one of them is
            if bool(x.sum().isnan()):
                raise ValueError(
                    f"{name} has NaN entries ({int(x.isnan().sum())}): its features elu({name}) + 1 would be NaN"
                )
    y = _chunk_scan(qc, kc, vc)[0].view(q.shape[0], -1, vc.shape[-1])[:, :n]  # (B, n, e')
    if normalize:
        torch.div(y[..., :e], y[..., e:].add(eps), out=out)
    else:
        out.copy_(y)


def _backward_slice(q, k, v, dout, chunk, eps, elu, normalize):
    r"""Gradients (dq, dk, dv) of one slice. With Y = [numerator, denominator] the chunk scan's output and
    dY its gradient, inside a chunk $M = \mathrm{tril}(dY\, V'^\top)$ and, with the reverse state
    $R_{[c]} = \sum_{c' > c} \phi(Q_{c'})^\top dY_{c'}$:
    $d\phi(Q) = M \phi(K) + dY S^\top$, $d\phi(K) = M^\top \phi(Q) + V' R^\top$, $dV' = A^\top dY + \phi(K) R$."""
    big_b, n, _ = q.shape
    e = v.shape[-1]
    qc, kc, vc = _chunks(q, k, v, chunk, elu, normalize)
    n_chunks, e1 = qc.shape[1], vc.shape[-1]
    if normalize:  # o = num / (den + eps): d num = dO r, d den = -(dO . o) r with r = 1 / (den + eps)
        y, scores, state = _chunk_scan(qc, kc, vc)
        y = y.view(big_b, -1, e1)[:, :n]
        r = (y[..., e:] + eps).reciprocal_()  # (B, n, 1)
        dy = dout.new_zeros(big_b, n_chunks * chunk, e1)  # (B, N C, e')
        dy[:, :n, :e] = dout * r
        dy[:, :n, e:] = (dout * y[..., :e]).sum(-1, keepdim=True).mul_(r).mul_(r).neg_()
    else:
        scores, state = _states(qc, kc, vc)
        dy = F.pad(dout, (0, 0, 0, n_chunks * chunk - n))
    dyc = dy.view(big_b, n_chunks, chunk, e1)
    rev = qc.transpose(-2, -1) @ dyc  # (B, N, d, e'): phi(Q_c)^T dY_c
    state_rev = torch.zeros_like(rev)  # R_c: the sum over the chunks after c
    state_rev[:, :-1] = rev[:, 1:].flip(1).cumsum(1).flip(1)
    m = (dyc @ vc.transpose(-2, -1)).tril_()  # (B, N, C, C)
    d = qc.shape[-1]
    dq = torch.baddbmm(_flat(dyc @ state.transpose(-2, -1)), _flat(m), _flat(kc))  # (B N, C, d)
    dk = torch.baddbmm(_flat(vc @ state_rev.transpose(-2, -1)), _flat(m.transpose(-2, -1)), _flat(qc))
    dv = torch.baddbmm(_flat(kc @ state_rev[..., :e]), _flat(scores.transpose(-2, -1)), _flat(dyc[..., :e]))
    dq, dk = dq.view(big_b, -1, d), dk.view(big_b, -1, d)
    if elu:  # d(elu(x) + 1)/dx = 1 for x > 0, exp(x) = phi(x) for x <= 0: min(phi(x), 1)
        dq.mul_(qc.view(big_b, -1, d).clamp_(max=1))
        dk.mul_(kc.view(big_b, -1, d).clamp_(max=1))
    return dq[:, :n], dk[:, :n], dv.view(big_b, -1, e)[:, :n]


class _CausalLinearChunkwise(torch.autograd.Function):
    """q, k (B, n, d), v (B, n, e) -> (B, n, e). Saves only its inputs; the backward recomputes the states."""

    @staticmethod
    def forward(ctx, q, k, v, chunk, eps, elu, normalize):
        ctx.save_for_backward(q, k, v)
        ctx.args = chunk, eps, elu, normalize
        big_b, n = q.shape[:2]
        out = q.new_empty(big_b, n, v.shape[-1])
        for s in _slices(big_b, -(-n // chunk) * chunk):
            _forward_slice(q[s], k[s], v[s], out[s], *ctx.args)
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v = ctx.saved_tensors
        big_b, n = q.shape[:2]
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        for s in _slices(big_b, -(-n // ctx.args[0]) * ctx.args[0]):
            dq[s], dk[s], dv[s] = _backward_slice(q[s], k[s], v[s], dout[s], *ctx.args)
        return dq, dk, dv, None, None, None, None


def _causal_linear(q, k, v, chunk: int, eps: float = 0.0, elu: bool = False, normalize: bool = False):
    r"""Causal linear attention of checked q (..., n, d), k (..., n, d), v (..., n, e) -> (..., n, e), batch dims
    broadcast: $\phi(q_i)^\top S_i / (\phi(q_i)^\top z_i + \varepsilon)$ when ``normalize``, the numerator
    $\phi(q_i)^\top S_i$ otherwise; $\phi(x) = \mathrm{elu}(x) + 1$ when ``elu``, the identity (features given)
    otherwise."""
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    n = q.shape[-2]
    q, k, v = (x.expand(*batch, *x.shape[-2:]).reshape(-1, n, x.shape[-1]) for x in (q, k, v))  # (B, n, .)
    out = _CausalLinearChunkwise.apply(q, k, v, chunk, float(eps), elu, normalize)  # (B, n, e)
    return out.view(*batch, n, out.shape[-1])


def _causal_product(fq: torch.Tensor, fk: torch.Tensor, v: torch.Tensor, chunk: int) -> torch.Tensor:
    """The chunkwise numerator with its own backward, for already-checked feature tensors."""
    return _causal_linear(fq, fk, v, chunk)


def causal_linear_chunkwise(fq: torch.Tensor, fk: torch.Tensor, v: torch.Tensor, chunk_size: int = 64) -> torch.Tensor:
    r"""$o_i = \sum_{j\le i} (\phi(q_i)^\top \phi(k_j))\, v_j$ chunk by chunk, with a backward that saves O(n (d + e)).

    Args:
        fq: (..., n, d) query features $\phi(q)$.  fk: (..., n, d) key features $\phi(k)$.  v: (..., n, e).
            Batch dims broadcast.
        chunk_size: C, the tokens per chunk (any C > 0 gives the same result; 64 is fast on a CPU).
    Returns:
        (..., n, e): causal linear attention's numerator; :func:`~minitorch_xf.nn.kernelized.linear_attention`
        (``causal=True``) divides it by $\phi(q_i)^\top \sum_{j \le i}\phi(k_j)$.
    """
    for name, x in (("fq", fq), ("fk", fk), ("v", v)):
        check_tensor(name, x, min_ndim=2, floating=True)
    check_same_dtype(fq=fq, fk=fk, v=v)
    check_same_device(fq=fq, fk=fk, v=v)
    check_positive("chunk_size", chunk_size)
    if fq.shape[-1] != fk.shape[-1] or not fq.shape[-2] == fk.shape[-2] == v.shape[-2]:
        raise ValueError(
            f"fq {tuple(fq.shape)} and fk {tuple(fk.shape)} must share n and d, and v {tuple(v.shape)} must have n "
            f"rows: causal linear attention has one key and one value per query"
        )
    try:
        torch.broadcast_shapes(fq.shape[:-2], fk.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"fq {tuple(fq.shape)}, fk {tuple(fk.shape)} and v {tuple(v.shape)} have batch dims that do not broadcast"
        ) from None
    return _causal_product(fq, fk, v, chunk_size)
