"""Tokenizers for the P5-family T5 backbone, plus the whole-word ids that P5 adds.

Design (the ``cpu`` profile trains its own tokenizer on the dataset's text):

* **Model: BPE** with ``<unk>`` for unseen characters. BPE needs no continuation prefix, so the
  only word-boundary signal is T5's ``▁`` marker and decoding is lossless.
* **Normalizer: NFKC**, case kept (titles and reviews carry case; ids are case-sensitive).
* **Pre-tokenizer:** split on any whitespace, prefix each word with ``▁`` (as T5's sentencepiece
  does, so ``decode`` restores spaces), isolate punctuation, and by default split digits
  individually. A number is then always ``▁ 1 0 2 4``: item ids decode digit by digit and a trie
  over them has at most ten children per node. Without the digit split (``split_digits=False``)
  BPE merges frequent ids into one token, so prompts are about 2.5 times shorter on ML-100K.
* **Special tokens in T5's order:** ``<pad>`` = 0, ``</s>`` = 1, ``<unk>`` = 2; a post-processor
  appends ``</s>`` to every sequence, and truncation keeps room for it.

The ``paper`` profile uses t5-small's own sentencepiece tokenizer (:func:`load_tokenizer` on its
directory); :func:`whole_word_ids` works from character offsets, so it serves both.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import AutoTokenizer, PreTrainedTokenizerFast

__all__ = [
    "EOS_TOKEN",
    "PAD_TOKEN",
    "SPECIAL_TOKENS",
    "UNK_TOKEN",
    "encode_batch",
    "encode_targets",
    "load_tokenizer",
    "save_tokenizer",
    "train_tokenizer",
    "whole_word_ids",
]

PAD_TOKEN = "<pad>"
EOS_TOKEN = "</s>"
UNK_TOKEN = "<unk>"
# Order fixes the ids: T5 expects pad=0 (also the decoder start), eos=1, unk=2.
SPECIAL_TOKENS = (PAD_TOKEN, EOS_TOKEN, UNK_TOKEN)
MODEL_MAX_LENGTH = 512
_WORD_MARK = "\u2581"  # "▁", sentencepiece's word-start marker
_WORD = re.compile(r"\S+")


def _pre_tokenizer(split_digits: bool = True) -> pre_tokenizers.PreTokenizer:
    steps = [
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Metaspace(replacement=_WORD_MARK, prepend_scheme="always", split=True),
        pre_tokenizers.Punctuation(behavior="isolated"),
    ]
    if split_digits:
        steps.append(pre_tokenizers.Digits(individual_digits=True))
    return pre_tokenizers.Sequence(steps)


def train_tokenizer(
    texts: Iterable[str],
    *,
    vocab_size: int = 4000,
    min_frequency: int = 2,
    split_digits: bool = True,
) -> PreTrainedTokenizerFast:
    """Train a BPE tokenizer on the dataset's own text (prompts, titles, reviews).

    The ten digits and ``▁`` are always in the vocabulary, so any item id is encodable even if
    the training text lacks a digit. ``split_digits=False`` lets BPE merge digits like any other
    characters: ids frequent in the text become one token (``▁296``), rarer ones a few pieces,
    as a sentencepiece model learned on the prompts would split them.
    """
    tok = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = _pre_tokenizer(split_digits)
    tok.decoder = decoders.Metaspace(replacement=_WORD_MARK, prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=[*"0123456789", _WORD_MARK],
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    for i, name in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(name) != i:  # pragma: no cover - guards a tokenizers behaviour change
            raise RuntimeError(f"special token {name!r} got id {tok.token_to_id(name)}, not {i}")
    eos_id = SPECIAL_TOKENS.index(EOS_TOKEN)
    tok.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS_TOKEN}",
        pair=f"$A {EOS_TOKEN} $B {EOS_TOKEN}",
        special_tokens=[(EOS_TOKEN, eos_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=MODEL_MAX_LENGTH,
        padding_side="right",
        truncation_side="right",
    )


def save_tokenizer(tok: PreTrainedTokenizerFast, directory: str | Path) -> Path:
    """Save ``tok`` in the Hugging Face layout so :func:`load_tokenizer` can read it back."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(directory))
    return directory


def load_tokenizer(directory: str | Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer saved by :func:`save_tokenizer`, or a local t5-small directory's own.

    Local files only: a missing directory is an error, never a download.
    """
    from benchmark.errors import ConfigError

    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"tokenizer directory {directory} does not exist")
    tok = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    if not getattr(tok, "is_fast", False):  # pragma: no cover - only slow tokenizers hit this
        raise ConfigError(f"{directory}: need a fast tokenizer (tokenizer.json) for offsets")
    tok.padding_side = "right"
    tok.truncation_side = "right"
    return tok


def whole_word_ids(text: str, offsets: list[tuple[int, int]]) -> list[int]:
    """1-based index of the whitespace-delimited word of ``text`` that each token belongs to.

    P5 adds a learned embedding of this index so the model knows which sub-words ("user", "_",
    "2", "3") form one id. Special tokens and padding (zero-length offsets such as ``(0, 0)``)
    get 0. A token whose span starts with whitespace (sentencepiece's ``▁`` can cover the space
    before a word) counts from its first non-space character; a span of only whitespace (a lone
    ``▁``) belongs to the next word, or the last one at the end of the text. Indices refer to
    words of the full text, so a truncated encoding keeps the ids the full one has.
    """
    starts: list[int] = []
    ends: list[int] = []
    for m in _WORD.finditer(text):
        starts.append(m.start())
        ends.append(m.end())
    out: list[int] = []
    for start, end in offsets:
        start, end = int(start), int(end)
        if end <= start or not starts:
            out.append(0)
            continue
        pos = start
        while pos < end and pos < len(text) and text[pos].isspace():
            pos += 1
        if pos < end and pos < len(text):
            # Word containing pos: the last word starting at or before it.
            idx = bisect.bisect_right(starts, pos) - 1
            out.append(idx + 1 if idx >= 0 and pos < ends[idx] else 0)
        else:
            # Whitespace-only span: the word that follows it.
            idx = bisect.bisect_left(starts, end)
            out.append(idx + 1 if idx < len(starts) else len(starts))
    return out


def encode_batch(
    tok: PreTrainedTokenizerFast, texts: list[str], max_length: int
) -> dict[str, torch.Tensor]:
    """Encode prompts for the encoder: ``input_ids``, ``attention_mask``, ``whole_word_ids``.

    All are ``[B, L]`` LongTensors right-padded to the longest row (at most ``max_length``);
    truncation drops text tokens but keeps the final ``</s>``.
    """
    enc = tok(
        list(texts),
        max_length=max_length,
        truncation=True,
        padding="longest",
        return_offsets_mapping=True,
        return_attention_mask=True,
    )
    wwids = [
        whole_word_ids(text, [tuple(o) for o in offs])
        for text, offs in zip(texts, enc["offset_mapping"])
    ]
    mask = torch.tensor(enc["attention_mask"], dtype=torch.long)
    wwid_t = torch.tensor(wwids, dtype=torch.long) * mask  # padding always 0
    return {
        "input_ids": torch.tensor(enc["input_ids"], dtype=torch.long),
        "attention_mask": mask,
        "whole_word_ids": wwid_t,
    }


def encode_targets(
    tok: PreTrainedTokenizerFast, texts: list[str], max_length: int
) -> torch.LongTensor:
    """Encode decoder targets as labels: ``[B, L]`` ids ending in ``</s>``, -100 at padding.

    -100 is the ignore index of PyTorch's cross-entropy, so padded positions add no loss.
    """
    enc = tok(
        list(texts),
        max_length=max_length,
        truncation=True,
        padding="longest",
        return_attention_mask=True,
    )
    ids = torch.tensor(enc["input_ids"], dtype=torch.long)
    mask = torch.tensor(enc["attention_mask"], dtype=torch.long)
    return ids.masked_fill(mask == 0, -100)
