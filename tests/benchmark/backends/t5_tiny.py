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
