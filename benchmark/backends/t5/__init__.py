"""T5 backbone of the P5 family (P5, POD, PeaPOD): tokenizer, whole-word ids and the model.

Decoding over a trained backbone (tries, beam search, scoring) lives in sibling modules.
"""

from benchmark.backends.t5.model import (
    CPU_CONFIG,
    DEFAULT_MAX_WHOLE_WORDS,
    T5_SMALL_REPOS,
    P5Backbone,
    build_backbone,
    cpu_t5_config,
    find_t5_small,
)
from benchmark.backends.t5.tokenizer import (
    EOS_TOKEN,
    PAD_TOKEN,
    SPECIAL_TOKENS,
    UNK_TOKEN,
    encode_batch,
    encode_targets,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
    whole_word_ids,
)

__all__ = [
    "CPU_CONFIG",
    "DEFAULT_MAX_WHOLE_WORDS",
    "EOS_TOKEN",
    "PAD_TOKEN",
    "SPECIAL_TOKENS",
    "T5_SMALL_REPOS",
    "UNK_TOKEN",
    "P5Backbone",
    "build_backbone",
    "cpu_t5_config",
    "encode_batch",
    "encode_targets",
    "find_t5_small",
    "load_tokenizer",
    "save_tokenizer",
    "train_tokenizer",
    "whole_word_ids",
]
