"""A stand-in LLM backend for the LLM methods' tests: answers come from a Python rule, so a test
can reward or script exactly what the "LLM" says (imported by the tests, not collected)."""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from benchmark.backends.llm import GenerateResult, LLMBackend, ScoreResult


class FakeBackend(LLMBackend):
    """Answers each prompt with ``rule(prompt)`` and keeps the requests and the calls. An answer
    ending in "..." is reported as cut by ``max_new_tokens``. Scoring gives each continuation
    ``score_rule(prompt, continuation)`` as its summed log-likelihood; a token is a
    whitespace-separated word (``encode``)."""

    name = "fake"

    def __init__(
        self, rule: Callable[[str], str] | None = None,
        score_rule: Callable[[str, str], float] | None = None,
    ) -> None:
        self.rule = rule
        self.score_rule = score_rule
        self.model_dir = Path("/nowhere")
        self.tokenizer = None  # no chat template: methods fall back to a plain prompt
        self.prompts: list[str] = []
        self.requests: list = []
        self.calls = 0

    def generate(self, requests):
        assert self.rule is not None, "this fake was given no generation rule"
        self.calls += 1
        self.requests += list(requests)
        self.prompts += [r.prompt for r in requests]
        out = [self.rule(r.prompt) for r in requests]
        return [GenerateResult(a, 5, "length" if a.endswith("...") else "stop") for a in out]

    def score(self, requests):
        assert self.score_rule is not None, "this fake was given no scoring rule"
        self.calls += 1
        self.requests += list(requests)
        self.prompts += [r.prompt for r in requests]
        return [ScoreResult(
            np.array([self.score_rule(r.prompt, c) for c in r.continuations], dtype=np.float64),
            np.array([len(self.encode(c)) for c in r.continuations], dtype=np.int64),
        ) for r in requests]

    def generate_from_embeds(self, requests):
        raise NotImplementedError

    def encode(self, text):
        return [len(word) for word in text.split()]

    def embed_ids(self, ids):
        raise NotImplementedError


def scripted(answers: Sequence[str]) -> Callable[[str], str]:
    """A rule that gives ``answers`` in order, whatever the prompt."""
    queue = list(answers)
    return lambda prompt: queue.pop(0)
