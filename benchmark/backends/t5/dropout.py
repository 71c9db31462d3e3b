"""Dropout from cheaper random bits, for training the T5 backbone on CPU.

Why: profiling the ``p5`` training loop on 2 CPU cores (``perf/p5_train.py --profile-ops``)
put about 30% of its time in ``aten::bernoulli_``, the random draws of T5's dropout sites
(embedding, attention weights, feed-forward and residual outputs). Torch draws one number per
element; here one 64-bit draw yields three 16-bit uniform numbers, so the mask costs a third of
the draws.

What changes: an element is kept when its 16-bit number is at least ``round(p * 65536)``, so the
drop probability is ``round(p * 65536) / 65536`` (0.100006 for p = 0.1; exact for multiples of
1/65536), and kept values are scaled by the inverse of the *actual* keep probability, so the
expected output equals the input as with torch's dropout. Draws come from torch's default
generator: ``torch.manual_seed`` makes them reproducible and the global RNG state saved in an
epoch checkpoint resumes them. On CUDA torch's own fused dropout is already cheap; the ``paper``
profile keeps it.

:func:`use_fast_dropout` swaps every ``nn.Dropout`` of a T5 model for :class:`FastDropout` and
routes its attention through :func:`fast_dropout_attention` (T5's eager attention with the same
mask), registered with transformers' attention interface as :data:`ATTENTION_NAME`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.masking_utils import eager_mask

__all__ = ["ATTENTION_NAME", "FastDropout", "fast_dropout", "keep_mask", "use_fast_dropout"]

ATTENTION_NAME = "recbench_fast_dropout"
_LEVELS = 1 << 16
#: 16-bit numbers per 64-bit draw: torch's int64 ``random_()`` fills bits 0..62, so three
#: whole 16-bit fields of each draw are uniform (the top one has only 15 random bits)
_FIELDS_PER_DRAW = 3


def _check_rate(p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device | str = "cpu",
              ) -> tuple[Tensor, float]:
    """A boolean keep mask of ``shape`` and its exact keep probability (see module docstring)."""
    _check_rate(p)
    n = math.prod(shape)
    draws = torch.empty(-(-n // _FIELDS_PER_DRAW), dtype=torch.int64, device=device).random_()
    fields = draws.view(torch.int16).view(-1, 4)[:, :_FIELDS_PER_DRAW].reshape(-1)[:n]
    dropped_levels = round(p * _LEVELS)
    # int16 fields are uniform on [-32768, 32767]: keep the top (65536 - dropped_levels) values
    keep = fields >= (dropped_levels - _LEVELS // 2)
    return keep.view(shape), (_LEVELS - dropped_levels) / _LEVELS


def fast_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Dropout of ``x`` at rate ``p`` (rounded to 1/65536), unbiased in expectation."""
    if not training or p == 0.0:
        return x
    keep, keep_prob = keep_mask(x.shape, p, x.device)
    return x * (keep.to(x.dtype) * (1.0 / keep_prob))


class FastDropout(nn.Module):
    """Drop-in replacement of ``nn.Dropout`` that draws its mask with :func:`keep_mask`."""

    def __init__(self, p: float) -> None:
        super().__init__()
        _check_rate(p)
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return fast_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def fast_dropout_attention(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    position_bias: Tensor | None = None,
    **kwargs: object,
) -> tuple[Tensor, Tensor]:
    """T5's eager attention (scores + position bias + additive mask, softmax, dropout on the
    weights) with :func:`fast_dropout` on the attention weights."""
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if position_bias is not None:
        weights = weights + position_bias
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = nn.functional.softmax(weights, dim=-1)
    weights = fast_dropout(weights, dropout, module.training)
    out = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return out, weights


AttentionInterface.register(ATTENTION_NAME, fast_dropout_attention)
AttentionMaskInterface.register(ATTENTION_NAME, eager_mask)


def use_fast_dropout(model: nn.Module) -> int:
    """Swap every ``nn.Dropout`` in ``model`` for :class:`FastDropout` (in place) and route a
    transformers model's attention through :func:`fast_dropout_attention`. Returns how many
    dropout modules were swapped."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p))
                swapped += 1
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(ATTENTION_NAME)
    return swapped
