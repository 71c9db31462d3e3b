"""Fast dropout: the rate and scale it promises, reproducible draws, and T5 unchanged in eval."""

from __future__ import annotations

import pytest
import torch
from transformers import T5Config, T5ForConditionalGeneration

from benchmark.backends.t5.dropout import (
    ATTENTION_NAME,
    FastDropout,
    fast_dropout,
    keep_mask,
    use_fast_dropout,
)


def test_keep_mask_rate_is_the_rounded_rate_and_the_scale_makes_it_unbiased():
    torch.manual_seed(0)
    keep, keep_prob = keep_mask((2000, 1000), 0.1)
    assert keep.dtype == torch.bool and keep.shape == (2000, 1000)
    assert keep_prob == (65536 - 6554) / 65536
    # 2M draws: the observed rate is within 5 standard errors (2e-4) of the promised one
    assert abs(keep.float().mean().item() - keep_prob) < 1e-3
    out = fast_dropout(torch.ones(2000, 1000), 0.1)
    assert abs(out.mean().item() - 1.0) < 2e-3
    values = torch.unique(out).tolist()
    assert values[0] == 0.0 and values[1:] == [pytest.approx(1 / keep_prob)]


def test_keep_mask_fields_are_uniform_not_just_the_low_bits():
    torch.manual_seed(1)
    keep, _ = keep_mask((300_000,), 0.5)
    # every third field comes from the same 64-bit draw: each position keeps about half
    for offset in range(3):
        assert abs(keep[offset::3].float().mean().item() - 0.5) < 0.01


def test_fast_dropout_is_identity_in_eval_or_at_zero_and_reproducible_under_a_seed():
    x = torch.randn(4, 7)
    assert fast_dropout(x, 0.3, training=False) is x
    assert fast_dropout(x, 0.0) is x
    torch.manual_seed(3)
    a = fast_dropout(x, 0.3)
    torch.manual_seed(3)
    b = fast_dropout(x, 0.3)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="dropout probability"):
        FastDropout(1.0)


def test_gradient_flows_only_through_kept_elements():
    torch.manual_seed(0)
    x = torch.ones(50, 40, requires_grad=True)
    y = fast_dropout(x, 0.5)
    y.sum().backward()
    assert torch.equal(x.grad == 0, y == 0)


def _t5() -> T5ForConditionalGeneration:
    torch.manual_seed(0)
    return T5ForConditionalGeneration(T5Config(
        vocab_size=64, d_model=16, d_ff=32, num_layers=2, num_heads=2, d_kv=8,
        dropout_rate=0.2, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1))


def test_use_fast_dropout_swaps_every_dropout_and_leaves_eval_losses_unchanged():
    plain, fast = _t5(), _t5()
    assert use_fast_dropout(fast) == sum(isinstance(m, torch.nn.Dropout) for m in plain.modules())
    assert not any(type(m) is torch.nn.Dropout for m in fast.modules())
    assert fast.config._attn_implementation == ATTENTION_NAME
    ids = torch.randint(3, 64, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    labels = torch.randint(3, 64, (3, 4))
    plain.eval()
    fast.eval()
    with torch.no_grad():
        a = plain(input_ids=ids, attention_mask=mask, labels=labels).loss
        b = fast(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert torch.allclose(a, b, atol=1e-6)
    fast.train()
    torch.manual_seed(5)
    c = fast(input_ids=ids, attention_mask=mask, labels=labels).loss
    torch.manual_seed(5)
    d = fast(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert torch.equal(c, d) and not torch.allclose(c, a)
