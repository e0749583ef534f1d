r"""How a trained model uses its depth: the residual stream, layer skipping and the logit lens (chapter 14).

Shapes: L layers, b batch, n positions, m model dim, V output classes (the vocabulary for a language model).

A pre-norm stack writes into one residual stream, $h_{\ell+1} = h_\ell + c_\ell(h_\ell)$, where the *contribution*
$c_\ell = h_{\ell+1} - h_\ell$ is everything block $\ell$ (attention and FFN together) adds (Csordás et al., 2025,
read the same decomposition off Llama and Qwen). Two probes follow from that picture:

* **skip a layer**: run the stack with block $s$ replaced by the identity ($h_{s+1} = h_s$) and measure how much the
  contributions of the later blocks change and how much the output distribution moves;
* **logit lens** (nostalgebraist, 2020): read the output head off an intermediate stream,
  $\mathrm{head}(\mathrm{LN}_{out}(h_\ell))$, and compare it with the model's own output.

Both work on any :class:`~minitorch_xf.nn.models.TransformerStack` (an ``Encoder`` or ``Decoder``) without
changing it: the forward pass is re-run block by block.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .._validate import check_positive, check_same_device, check_tensor

__all__ = ["layer_contributions", "logit_lens", "residual_stream", "skip_layer_effects"]


def _check_stack(model) -> None:
    from ..nn.models import TransformerStack  # the probes read its embed, pos, blocks, norm_out and head

    if not isinstance(model, TransformerStack):
        raise TypeError(
            f"model must be a TransformerStack (an Encoder or a Decoder of minitorch_xf.nn), got {type(model).__name__}"
        )


def _check_tokens(model, tokens) -> torch.Tensor:
    check_tensor("tokens", tokens, ndim=2)
    if tokens.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"tokens must be an int64 or int32 tensor of token ids, got dtype={tokens.dtype}")
    if tokens.shape[0] == 0 or tokens.shape[1] == 0:
        raise ValueError(f"tokens has shape {tuple(tokens.shape)}: it needs at least one sequence of one token")
    if tokens.shape[1] > model.max_len:
        raise ValueError(f"tokens has {tokens.shape[1]} positions, more than the model's max_len={model.max_len}")
    check_same_device(tokens=tokens, parameters=model.embed.weight)
    if int(tokens.min()) < 0 or int(tokens.max()) >= model.vocab_size:
        raise ValueError(
            f"token ids must lie in [0, vocab_size={model.vocab_size}), got min {int(tokens.min())} and max "
            f"{int(tokens.max())}"
        )
    return tokens


def _check_skip(skip, n_layers: int) -> int | None:
    if skip is None:
        return None
    check_positive("skip", skip, allow_zero=True)
    if skip >= n_layers:
        raise ValueError(f"skip={skip} is not a layer of this {n_layers}-layer model (0 to {n_layers - 1})")
    return int(skip)


@torch.no_grad()
def residual_stream(model: nn.Module, tokens: torch.Tensor, skip: int | None = None) -> torch.Tensor:
    r"""The residual stream $h_0, \dots, h_L$ of ``model`` on ``tokens``: (L + 1, b, n, m).

    $h_0 = E[x] (+P)$ is the embedded input, $h_{\ell+1} = \mathrm{Block}_\ell(h_\ell)$. With ``skip=s`` block $s$ is
    replaced by the identity, $h_{s+1} = h_s$, and the later blocks read the stream without its contribution.
    """
    _check_stack(model)
    _check_tokens(model, tokens)
    skip = _check_skip(skip, len(model.blocks))
    h = model.pos(model.embed(tokens))  # (b, n, m)
    stream = [h]
    for layer, block in enumerate(model.blocks):
        if layer != skip:
            h = block(h, causal=model.causal)  # (b, n, m)
        stream.append(h)
    return torch.stack(stream)  # (L + 1, b, n, m)


def layer_contributions(stream: torch.Tensor) -> torch.Tensor:
    r"""$c_\ell = h_{\ell+1} - h_\ell$ for every layer: (L + 1, ..., m) -> (L, ..., m)."""
    check_tensor("stream", stream, min_ndim=2, floating=True)
    if stream.shape[0] < 2:
        raise ValueError(f"stream has shape {tuple(stream.shape)}: it needs at least two states h_0, h_1")
    return stream[1:] - stream[:-1]  # (L, ..., m)


def _head(model, h: torch.Tensor) -> torch.Tensor:
    return model.head(model.norm_out(h))  # (..., V)


@torch.no_grad()
def logit_lens(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    r"""The output head read off every residual state: $\mathrm{head}(\mathrm{LN}_{out}(h_\ell))$, (L + 1, b, n, V).

    The last entry is the model's own output; entry $\ell$ is what the model would predict if it stopped after
    $\ell$ blocks (nostalgebraist, 2020; Csordás et al., 2025, use it to see when the prediction settles).
    """
    return _head(model, residual_stream(model, tokens))  # (L + 1, b, n, V)


class SkipEffects(NamedTuple):
    """What skipping each layer changes. ``future[s, l]``: relative change of layer l's contribution when layer s is
    skipped (NaN for l <= s); ``future_max[s]``: its largest value over l > s (NaN for the last layer, which has no
    future); ``output_kl[s]``: mean KL(p || p_skip) of the output distributions; ``flipped[s]``: fraction of positions
    whose top-1 prediction changes."""

    future: torch.Tensor  # (L, L)
    future_max: torch.Tensor  # (L,)
    output_kl: torch.Tensor  # (L,)
    flipped: torch.Tensor  # (L,)


def _kl(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per position for two logit tensors (..., V): sum_v p_v (log p_v - log q_v)."""
    log_p, log_q = logits_p.log_softmax(-1), logits_q.log_softmax(-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)  # (...)


@torch.no_grad()
def skip_layer_effects(model: nn.Module, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> SkipEffects:
    r"""Skip each layer $s$ in turn and measure its effect on the later layers and on the output.

    Effect on the future (after Csordás et al., 2025): for $\ell > s$,
    $$ \Delta_{s\ell} = \frac{\operatorname{mean}_{t}\,\lVert \hat c_\ell(t) - c_\ell(t)\rVert_2}
    {\operatorname{mean}_{t}\,\lVert c_\ell(t)\rVert_2}, $$
    the mean over positions $t$ (of the whole batch) of how far layer $\ell$'s contribution moves when layer $s$ is
    skipped, relative to its usual size. Effect on the output: the mean of $\mathrm{KL}(p_t \,\Vert\, \hat p_t)$ between
    the model's output distribution and the one with layer $s$ skipped, and the fraction of positions whose top-1
    prediction changes. ``mask`` (b, n) bool, optional, picks the positions that count (e.g. those with a target).
    """
    _check_stack(model)
    _check_tokens(model, tokens)
    if mask is not None:
        check_tensor("mask", mask, ndim=2)
        if mask.dtype != torch.bool or tuple(mask.shape) != tuple(tokens.shape):
            raise ValueError(
                f"mask must be a bool tensor of the tokens' shape {tuple(tokens.shape)}, got dtype={mask.dtype} and "
                f"shape {tuple(mask.shape)}"
            )
        if not bool(mask.any()):
            raise ValueError("mask selects no position: nothing to measure")
    keep = torch.ones_like(tokens, dtype=torch.bool) if mask is None else mask.to(tokens.device)
    n_layers = len(model.blocks)
    base = residual_stream(model, tokens)  # (L + 1, b, n, m)
    contrib = layer_contributions(base)[:, keep]  # (L, t, m) over the kept positions t
    size = contrib.norm(dim=-1).mean(-1)  # (L,)
    logits = _head(model, base[-1])[keep]  # (t, V)
    future = torch.full((n_layers, n_layers), float("nan"), dtype=base.dtype, device=base.device)
    output_kl = torch.empty(n_layers, dtype=base.dtype, device=base.device)
    flipped = torch.empty_like(output_kl)
    for s in range(n_layers):
        skipped = residual_stream(model, tokens, skip=s)
        moved = (layer_contributions(skipped)[:, keep] - contrib).norm(dim=-1).mean(-1)  # (L,)
        future[s, s + 1 :] = moved[s + 1 :] / size[s + 1 :].clamp_min(torch.finfo(base.dtype).tiny)
        logits_skip = _head(model, skipped[-1])[keep]  # (t, V)
        output_kl[s] = _kl(logits, logits_skip).mean()
        flipped[s] = (logits.argmax(-1) != logits_skip.argmax(-1)).to(base.dtype).mean()
    future_max = torch.full_like(output_kl, float("nan"))
    if n_layers > 1:
        future_max[:-1] = future[:-1].nan_to_num(-1.0).max(-1).values
    return SkipEffects(future, future_max, output_kl, flipped)
