"""A tiny random T5 for the decoding tests (imported by them, not collected)."""

import torch
from transformers import T5Config, T5ForConditionalGeneration

D_MODEL = 32


def tiny_t5(seed: int = 0, ff: str = "relu", tie: bool = True, vocab: int = 40, **kw):
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=vocab, d_model=D_MODEL, d_ff=64, num_layers=2, num_heads=4, d_kv=8,
        feed_forward_proj=ff, tie_word_embeddings=tie, **kw,
    )  # fmt: skip
    return T5ForConditionalGeneration(config).eval()


def encoder_inputs(batch: int, length: int, seed: int = 0):
    """Random encoder states for ``batch`` users; user 1 right-padded, user 2 left-padded."""
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(batch, length, D_MODEL, generator=gen)
    mask = torch.ones(batch, length, dtype=torch.long)
    if batch > 1:
        mask[1, length // 2 :] = 0  # right padding
    if batch > 2:
        mask[2, :2] = 0  # left padding (e.g. soft prompts laid out differently)
    return hidden, mask
