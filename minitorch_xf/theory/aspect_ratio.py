r"""Chapter 14: parameter and FLOP counts of the package's decoder, and width x depth shapes at an equal budget.

Counts are exact for :class:`~minitorch_xf.nn.models.Decoder` with layer norm and learned positions (the unit tests
compare them with ``count_parameters`` and with ``torch.utils.flop_counter``). A pre-norm block of width $d$ and
FFN width $f$ holds $4d^2 + 4d$ (attention, with biases) $+ 2df + f + d$ (FFN) $+ 4d$ (two layer norms) parameters:
$12d^2 + 13d$ at $f = 4d$.

Shapes: d model width, f FFN width, L layers, n tokens, V vocabulary.
"""

from __future__ import annotations

from .._validate import check_number, check_positive

__all__ = ["block_params", "decoder_params", "equal_param_shapes", "forward_flops"]


def _ffn(d_model: int, d_ff: int | None) -> int:
    return 4 * d_model if d_ff is None else check_positive("d_ff", d_ff)


def block_params(d_model: int, d_ff: int | None = None) -> int:
    r"""$4d^2 + 4d + 2df + f + d + 4d$: one pre-norm block (attention with biases, FFN $d \to f \to d$, two layer
    norms); $f = 4d$ by default."""
    d = check_positive("d_model", d_model)
    f = _ffn(d, d_ff)
    return (4 * d * d + 4 * d) + (2 * d * f + f + d) + 4 * d


def decoder_params(vocab_size: int, d_model: int, n_layers: int, max_len: int, d_ff: int | None = None) -> int:
    r"""$Vd + n_{\max} d + L\cdot\mathrm{block}(d) + 2d + dV + V$: embedding, learned positions, the blocks, the final
    norm and the output head (with bias)."""
    v = check_positive("vocab_size", vocab_size)
    d = check_positive("d_model", d_model)
    n_layers = check_positive("n_layers", n_layers)
    max_len = check_positive("max_len", max_len)
    return v * d + max_len * d + n_layers * block_params(d, d_ff) + 2 * d + d * v + v


def equal_param_shapes(
    budget: int,
    depths,
    vocab_size: int,
    max_len: int,
    n_heads: int = 1,
    rtol: float = 0.1,
) -> list[dict]:
    """For each depth L, the width d (a multiple of ``n_heads``, FFN 4d) whose decoder has the parameter count closest
    to ``budget``. Returns ``[{"depth", "width", "params", "ratio"}]`` (ratio = params / budget); raises when some
    depth cannot come within ``rtol`` of the budget."""
    budget = check_positive("budget", budget)
    if isinstance(depths, int) or not hasattr(depths, "__iter__"):
        raise TypeError(f"depths must be a list of layer counts, got {depths!r}")
    depths = [check_positive("depths[i]", L) for L in depths]
    if not depths:
        raise ValueError("depths is empty: give at least one layer count")
    n_heads = check_positive("n_heads", n_heads)
    rtol = check_number("rtol", rtol, low=0, low_open=True)
    shapes = []
    for L in depths:
        best = None
        d = n_heads
        while True:
            p = decoder_params(vocab_size, d, L, max_len)
            if best is None or abs(p - budget) < abs(best[1] - budget):
                best = (d, p)
            if p > budget:
                break
            d += n_heads
        d, p = best
        if abs(p - budget) > rtol * budget:
            raise ValueError(
                f"depth {L}: the closest width d={d} gives {p} parameters, more than rtol={rtol} away from "
                f"budget={budget}"
            )
        shapes.append({"depth": L, "width": d, "params": p, "ratio": p / budget})
    return shapes


def forward_flops(vocab_size: int, d_model: int, n_layers: int, n: int, d_ff: int | None = None) -> dict:
    r"""Matrix-multiply FLOPs of one forward pass over ``n`` tokens (a multiply-add counts 2), by part:
    ``"weights"`` $= 2n(L(4d^2 + 2df) + dV)$ (projections, FFN, head), ``"attention"`` $= 4Ln^2d$ (scores and the
    weighted sum, over all $n^2$ pairs as a dense implementation computes them) and their ``"total"``."""
    v = check_positive("vocab_size", vocab_size)
    d = check_positive("d_model", d_model)
    L = check_positive("n_layers", n_layers)
    n = check_positive("n", n)
    f = _ffn(d, d_ff)
    weights = 2 * n * (L * (4 * d * d + 2 * d * f) + d * v)
    attention = 4 * L * n * n * d
    return {"weights": weights, "attention": attention, "total": weights + attention}
