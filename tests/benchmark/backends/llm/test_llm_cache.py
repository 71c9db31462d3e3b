"""The request cache in front of a backend: repeats never reach the model, answers round-trip
exactly (in memory and through the SQLite file), and nothing is shared across models."""

import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.backends.llm import GenerateRequest, ScoreRequest
from benchmark.backends.llm.cache import CachingBackend, request_key

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "methods"))
from fake_llm import FakeBackend  # noqa: E402


def _refuse(*_args):
    raise AssertionError("the wrapped backend was asked")


def _gen(prompt, **kw):
    return GenerateRequest(prompt, max_new_tokens=kw.pop("max_new_tokens", 8), **kw)


def test_repeats_are_answered_from_the_cache_in_order():
    inner = FakeBackend(lambda p: p.upper())
    cached = CachingBackend(inner)
    first = cached.generate([_gen("a"), _gen("b")])
    assert [r.text for r in first] == ["A", "B"]
    again = cached.generate([_gen("b"), _gen("c"), _gen("a"), _gen("c")])
    assert [r.text for r in again] == ["B", "C", "A", "C"]
    assert inner.prompts == ["a", "b", "c"]  # only the miss, once, though asked twice
    assert (cached.hits, cached.misses, len(cached)) == (3, 3, 3)
    assert again[0] == first[1]


def test_every_request_field_and_the_model_are_in_the_key():
    base = _gen("a")
    keys = {request_key("generate", "m", r) for r in
            (base, _gen("a", max_new_tokens=9), _gen("a", stop=("\n",)),
             _gen("a", temperature=0.5, seed=1), _gen("a", temperature=0.5, seed=2))}
    keys |= {request_key("generate", "other", base), request_key("score", "m", base)}
    assert len(keys) == 7
    assert request_key("generate", "m", _gen("a")) == request_key("generate", "m", base)


def test_unseeded_samples_are_never_replayed():
    inner = FakeBackend(lambda p: p)
    cached = CachingBackend(inner)
    sampled, seeded = _gen("a", temperature=0.7), _gen("a", temperature=0.7, seed=3)
    for _ in range(2):
        cached.generate([sampled, seeded])
    assert inner.calls == 2 and len(inner.prompts) == 3  # the sample both times, the seed once
    assert len(cached) == 1


def test_scores_round_trip_exactly_through_the_file(tmp_path):
    path = tmp_path / "cache" / "llm.sqlite"
    value = {"x": 1 / 3, "yy zz": -2.000000000000001e-7, "": 0.0}
    requests = [ScoreRequest("p", ("x", "yy zz")), ScoreRequest("q", ("", "x"))]
    writer = CachingBackend(FakeBackend(score_rule=lambda p, c: value[c]), path=path)
    fresh = writer.score(requests)
    writer.close()
    reader = CachingBackend(FakeBackend(score_rule=_refuse), path=path)
    replay = reader.score(requests)
    for a, b in zip(fresh, replay, strict=True):
        assert a.logprobs.dtype == b.logprobs.dtype == np.float64
        assert np.array_equal(a.logprobs, b.logprobs) and np.array_equal(a.n_tokens, b.n_tokens)
    assert (reader.hits, reader.misses) == (2, 0)
    # the same file for another model answers nothing
    other = FakeBackend(score_rule=lambda p, c: 5.0)
    assert CachingBackend(other, path=path, model="other").score(requests)[0].logprobs[0] == 5.0


def test_generation_round_trips_through_the_file(tmp_path):
    path = tmp_path / "llm.sqlite"
    CachingBackend(FakeBackend(lambda p: "cut..."), path=path).generate([_gen("é")])
    (answer,) = CachingBackend(FakeBackend(_refuse), path=path).generate([_gen("é")])
    assert (answer.text, answer.n_tokens, answer.finish_reason) == ("cut...", 5, "length")


def test_the_rest_is_the_wrapped_backend():
    inner = FakeBackend(lambda p: p)
    cached = CachingBackend(inner)
    assert cached.name == "fake" and cached.model_dir == inner.model_dir
    assert cached.encode("two words") == inner.encode("two words")
    assert cached.tokenizer is inner.tokenizer
    with pytest.raises(NotImplementedError):
        cached.generate_from_embeds([])


def test_a_short_answer_from_the_backend_is_an_error():
    inner = FakeBackend(lambda p: p)
    inner.generate = lambda requests: []  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="0 results for 1 requests"):
        CachingBackend(inner).generate([_gen("a")])


class _Weights(FakeBackend):
    """A fake whose record names its weights, as a real backend's does."""

    def __init__(self, rule, sha, model_dir):
        super().__init__(rule)
        self.sha, self.model_dir = sha, Path(model_dir)

    def info(self):
        return {"backend": self.name, "model_dir": str(self.model_dir),
                "weights": {"files": [{"file": "model.safetensors", "sha256": self.sha}]}}


def test_a_file_is_keyed_by_the_weights_not_the_directory(tmp_path):
    path = tmp_path / "llm.sqlite"
    CachingBackend(_Weights(str.upper, "aaa", "/models/v1"), path=path).generate([_gen("a")])
    moved = CachingBackend(_Weights(_refuse, "aaa", "/elsewhere"), path=path)
    assert moved.generate([_gen("a")])[0].text == "A"  # same weights, another directory
    retrained = CachingBackend(_Weights(str.lower, "bbb", "/models/v1"), path=path)
    assert retrained.generate([_gen("A")])[0].text == "a"  # new weights in the old directory
    assert retrained.misses == 1 and retrained.hits == 0


def test_replays_from_an_earlier_process_are_counted_and_recorded(tmp_path):
    path = tmp_path / "llm.sqlite"
    first = CachingBackend(_Weights(str.upper, "aaa", "/m"), path=path)
    first.generate([_gen("a"), _gen("a")])
    first.generate([_gen("a")])
    # repeats of this object's own answers are hits, never replays
    assert first.counts() == {"hits": 2, "misses": 1, "replayed": 0}
    second = CachingBackend(_Weights(_refuse, "aaa", "/m"), path=path)
    mark = second.counts()
    second.generate([_gen("a"), _gen("a")])
    assert second.counts() == {"hits": 2, "misses": 0, "replayed": 2}
    info = second.info(since=mark)
    assert info["cache"] == {"path": str(path), "hits": 2, "misses": 0, "replayed": 2}
    assert info["weights"]["files"][0]["sha256"] == "aaa"
    # in memory there is nothing to replay, and nothing about a cache is recorded
    assert "cache" not in CachingBackend(_Weights(str.upper, "aaa", "/m")).info()
