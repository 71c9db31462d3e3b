"""Tokenizer and whole-word ids of the P5 T5 backbone. Nothing here touches the Hub."""

import pytest
import torch
from transformers.models.t5.tokenization_t5 import T5Tokenizer

from benchmark.backends.t5.tokenizer import (
    encode_batch,
    encode_targets,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
    whole_word_ids,
)
from benchmark.errors import ConfigError

# "1024" and "item_1024" are frequent on purpose: a tokenizer that did not split digits
# individually would learn merges such as "10" or "1024" from this corpus.
CORPUS = [
    "What star rating will user_23 give item_1024 ?",
    "user_23 has bought 12 1024 77 1024 ; predict the next item for user_23 .",
    "Title: A-1,2 the hello world album, rated 5 of 5",
    "item_1024 item_1024 1024 1024 1024 10 10 10 24 24",
] * 30


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CORPUS, vocab_size=300, min_frequency=2)


def _t5_style_tokenizer():
    """A tiny stand-in for t5-small's sentencepiece tokenizer (same pipeline, made-up vocab)."""
    pieces = [
        "<pad>", "</s>", "<unk>", "▁", "▁user", "_", "▁item", "▁10", "24", "1", "2", "3",
        "0", "4", "▁A", "-", ",", "▁hello", "▁wor", "ld",
    ]  # fmt: skip
    vocab = [(p, 0.0 if i < 3 else -float(i)) for i, p in enumerate(pieces)]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def _encode(tok, text, **kw):
    enc = tok(text, return_offsets_mapping=True, **kw)
    return enc["input_ids"], enc["offset_mapping"]


def test_special_token_ids_follow_t5(tok):
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    assert tok.convert_ids_to_tokens([0, 1, 2]) == ["<pad>", "</s>", "<unk>"]
    assert tok.model_max_length == 512
    ids, _ = _encode(tok, "user_23 likes 1024")
    assert ids[-1] == 1 and ids.count(1) == 1
    assert _encode(tok, "")[0] == [1]
    assert 2 in _encode(tok, "user_23 ☃")[0]  # unseen character -> <unk>


def test_digits_are_split_individually(tok):
    ids, _ = _encode(tok, "1024")
    assert tok.convert_ids_to_tokens(ids) == ["▁", "1", "0", "2", "4", "</s>"]
    for piece in tok.get_vocab():
        if any(c.isdigit() for c in piece):
            assert len(piece) == 1, piece
    assert all(tok.convert_tokens_to_ids(d) != 2 for d in "0123456789")


@pytest.mark.parametrize("text", ["item_1024", "12 1024", "user_23 A-1,2", "hello world"])
def test_decode_restores_text(tok, text):
    ids, _ = _encode(tok, text)
    assert tok.decode(ids, skip_special_tokens=True) == text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("user_23", [1, 1, 1, 1, 0]),  # ▁user _ 2 3 </s>
        ("1024", [1, 1, 1, 1, 1, 0]),  # ▁ 1 0 2 4 </s>
        ("item_1024", [1, 1, 1, 1, 1, 1, 0]),
        ("12 1024", [1, 1, 1, 2, 2, 2, 2, 2, 0]),
        ("A-1,2", [1, 1, 1, 1, 1, 0]),
        ("  hello   world  ", [1, 2, 0]),
        ("user_23\t\n1024 ", [1, 1, 1, 1, 2, 2, 2, 2, 2, 0]),
    ],
)
def test_whole_word_ids_on_tricky_ids(tok, text, expected):
    ids, offsets = _encode(tok, text)
    assert whole_word_ids(text, offsets) == expected


def test_whole_word_ids_long_word_spans_many_tokens(tok):
    text = "user_23 zyxwvutsrqp 5"
    ids, offsets = _encode(tok, text)
    wwids = whole_word_ids(text, offsets)
    assert len(ids) > 5
    assert wwids[0] == 1 and wwids[-2:] == [3, 0]
    middle = [w for w, t in zip(wwids, tok.convert_ids_to_tokens(ids)) if w == 2]
    assert len(middle) >= 5  # the unseen word is several tokens, all of word 2
    assert wwids == sorted(wwids[:-1]) + [0]


def test_whole_word_ids_under_truncation(tok):
    text = "user_23 bought 12 1024 77 1024 item_1024"
    full_ids, full_offsets = _encode(tok, text)
    ids, offsets = _encode(tok, text, truncation=True, max_length=9)
    assert len(ids) == 9 and ids[-1] == 1
    full = whole_word_ids(text, full_offsets)
    assert whole_word_ids(text, offsets) == full[:8] + [0]


def test_whole_word_ids_sentencepiece_style_offsets():
    # Older sentencepiece pipelines put the space before a word inside the token's span, and a
    # lone "▁" can cover just that space.
    assert whole_word_ids("hello world", [(0, 5), (5, 11), (0, 0)]) == [1, 2, 0]
    assert whole_word_ids("12 1024", [(0, 2), (2, 3), (3, 7), (0, 0)]) == [1, 2, 2, 0]
    assert whole_word_ids("a   b", [(0, 1), (1, 5)]) == [1, 2]
    assert whole_word_ids("a b  ", [(0, 1), (1, 3), (3, 5)]) == [1, 2, 2]  # trailing "▁"
    assert whole_word_ids("", [(0, 0)]) == [0]
    assert whole_word_ids("ab", [(0, 0), (0, 0)]) == [0, 0]  # padding


@pytest.mark.parametrize(
    "text, expected",
    [
        ("user_23", [1, 1, 1, 1, 0]),
        ("12 1024", [1, 1, 1, 2, 2, 0]),  # ▁ 1 2 ▁10 24 </s>
        ("item_1024", [1, 1, 1, 1, 1, 0]),
        (" A-1,2  hello world ", [1, 1, 1, 1, 1, 2, 3, 3, 0]),
    ],
)
def test_whole_word_ids_with_t5_sentencepiece_tokenizer(text, expected):
    t5tok = _t5_style_tokenizer()
    ids, offsets = _encode(t5tok, text)
    assert 2 not in ids  # the made-up vocabulary covers the text
    assert whole_word_ids(text, offsets) == expected


def test_encode_batch_pads_right_and_keeps_eos_when_truncating(tok):
    texts = ["user_23 1024", "user_23 has bought 12 1024 77 1024 item_1024 item_1024", "5"]
    batch = encode_batch(tok, texts, max_length=12)
    assert set(batch) == {"input_ids", "attention_mask", "whole_word_ids"}
    for value in batch.values():
        assert value.shape == (3, 12) and value.dtype == torch.long
    lengths = batch["attention_mask"].sum(1).tolist()
    assert lengths == [10, 12, 3]
    for row, n in enumerate(lengths):
        assert batch["attention_mask"][row, :n].eq(1).all()
        assert batch["attention_mask"][row, n:].eq(0).all()
        assert batch["input_ids"][row, n:].eq(0).all()
        assert batch["whole_word_ids"][row, n:].eq(0).all()
        assert batch["input_ids"][row, n - 1] == 1  # </s> survives truncation
        assert batch["whole_word_ids"][row, n - 1] == 0
        assert batch["whole_word_ids"][row, 0] == 1
    assert batch["whole_word_ids"][0, : lengths[0]].tolist() == [1, 1, 1, 1, 2, 2, 2, 2, 2, 0]
    short = encode_batch(tok, ["5", "7"], max_length=10)
    assert short["input_ids"].shape == (2, 3)  # padded to the longest row, not max_length


def test_encode_targets_masks_padding(tok):
    labels = encode_targets(tok, ["1024", "77", "user_23 item_1024 1024"], max_length=8)
    assert labels.shape == (3, 8) and labels.dtype == torch.long
    assert labels[0].tolist() == [*tok("1024")["input_ids"], -100, -100]
    assert labels[1].tolist()[:4] == [*tok("77")["input_ids"]] and labels[1, 4:].eq(-100).all()
    assert labels[2, -1] == 1 and labels.ge(0).sum().item() == 6 + 4 + 8


def test_save_load_round_trip(tok, tmp_path):
    save_tokenizer(tok, tmp_path / "tok")
    loaded = load_tokenizer(tmp_path / "tok")
    texts = ["user_23 1024", "A-1,2 hello world ☃"]
    a, b = encode_batch(tok, texts, 16), encode_batch(loaded, texts, 16)
    for key in a:
        assert torch.equal(a[key], b[key])
    assert (loaded.pad_token_id, loaded.eos_token_id, loaded.unk_token_id) == (0, 1, 2)
    assert loaded.model_max_length == 512


def test_load_tokenizer_reads_a_t5_directory(tmp_path):
    _t5_style_tokenizer().save_pretrained(str(tmp_path / "t5-small"))
    loaded = load_tokenizer(tmp_path / "t5-small")
    assert type(loaded).__name__ == "T5Tokenizer"
    batch = encode_batch(loaded, ["12 1024", "user_23"], 8)
    assert batch["whole_word_ids"].tolist() == [[1, 1, 1, 2, 2, 0], [1, 1, 1, 1, 0, 0]]


def test_load_tokenizer_missing_directory(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_tokenizer(tmp_path / "nope")


def test_split_digits_off_lets_bpe_merge_frequent_ids_into_one_token():
    texts = [f"history of user_{u}: 1351 1388 {u} 42" for u in range(300)]
    digits = train_tokenizer(texts, vocab_size=500)
    merged = train_tokenizer(texts, vocab_size=500, split_digits=False)
    assert digits.tokenize("1351") == ["▁", "1", "3", "5", "1"]
    assert merged.tokenize("1351") == ["▁1351"]
    # a number never seen whole still encodes, in pieces, and decodes back
    ids = merged("9876 1351", add_special_tokens=False)["input_ids"]
    assert len(ids) > 2 and merged.decode(ids) == "9876 1351"
    assert len(merged(texts[0])["input_ids"]) < len(digits(texts[0])["input_ids"])
