"""Request types, chat formatting and the scoring tokenisation rule."""

import numpy as np
import pytest
import torch
from llm_tiny import build_tokenizer

from benchmark.backends.llm import (
    EmbedsGenerateRequest,
    GenerateRequest,
    ScoreRequest,
    ScoreResult,
    apply_chat,
)
from benchmark.backends.llm.base import continuation_ids, split_trailing_spaces


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def _encoders(tok):
    def plain(text):
        return tok(text, add_special_tokens=False)["input_ids"]

    return plain, plain  # this tokenizer adds no BOS: "as fed" equals plain


def test_apply_chat_uses_the_template(tok):
    text = apply_chat(tok, "What is the capital of France?", system="Be brief.")
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert apply_chat(tok, "hi").startswith("<|im_start|>user\nhi")


def test_apply_chat_without_template_raises(tok):
    bare = build_tokenizer()
    bare.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        apply_chat(bare, "hi")


def test_trailing_spaces_move_to_the_continuation():
    assert split_trailing_spaces("The capital is ") == ("The capital is", " ")
    assert split_trailing_spaces("x  ") == ("x", "  ")
    assert split_trailing_spaces("assistant\n") == ("assistant\n", "")


def test_boundary_rule_joint_tokens_when_the_prompt_is_a_prefix(tok):
    enc, plain = _encoders(tok)
    prompt = "The capital of France is"
    ids = continuation_ids(enc, plain, enc(prompt), prompt, " Paris")
    assert tok.convert_ids_to_tokens(ids) == ["ĠParis"]
    # after a chat template's newline the word starts a token of its own
    chat = apply_chat(tok, "What is the capital of France?")
    assert continuation_ids(enc, plain, enc(chat), chat, "Paris") == plain("Paris")


def test_boundary_rule_falls_back_when_a_token_straddles(tok):
    enc, plain = _encoders(tok)
    prompt = "The capital of Fra"  # "Fra" + "nce" would merge into " France"
    assert enc(prompt + "nce is")[: len(enc(prompt))] != enc(prompt)
    ids = continuation_ids(enc, plain, enc(prompt), prompt, "nce is")
    assert ids == plain("nce is")
    assert continuation_ids(enc, plain, enc(prompt), prompt, "") == []


def test_request_validation():
    with pytest.raises(ValueError, match="max_new_tokens"):
        GenerateRequest("x", 0)
    with pytest.raises(ValueError, match="temperature"):
        GenerateRequest("x", 4, temperature=-1.0)
    with pytest.raises(ValueError, match="stop"):
        GenerateRequest("x", 4, stop="\n")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stop"):
        GenerateRequest("x", 4, stop=("",))
    with pytest.raises(TypeError, match="tuple"):
        ScoreRequest("x", "abc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prompt_embeds"):
        EmbedsGenerateRequest(torch.zeros(3), 4)


def test_mean_logprobs_normalises_by_length():
    res = ScoreResult(np.array([-4.0, -3.0, 0.0]), np.array([2, 1, 0]))
    np.testing.assert_allclose(res.mean_logprobs(), [-2.0, -3.0, 0.0])
