"""A stand-in LLM backend for the LLM methods' tests: answers come from a Python rule, so a test
can reward or script exactly what the "LLM" says (imported by the tests, not collected)."""

from collections.abc import Callable, Sequence
from pathlib import Path

from benchmark.backends.llm import GenerateResult, LLMBackend


class FakeBackend(LLMBackend):
    """Answers each prompt with ``rule(prompt)`` and keeps the prompts and the calls. An answer
    ending in "..." is reported as cut by ``max_new_tokens``."""

    name = "fake"

    def __init__(self, rule: Callable[[str], str]) -> None:
        self.rule = rule
        self.model_dir = Path("/nowhere")
        self.tokenizer = None  # no chat template: methods fall back to a plain prompt
        self.prompts: list[str] = []
        self.calls = 0

    def generate(self, requests):
        self.calls += 1
        self.prompts += [r.prompt for r in requests]
        out = [self.rule(r.prompt) for r in requests]
        return [GenerateResult(a, 5, "length" if a.endswith("...") else "stop") for a in out]

    def score(self, requests):
        raise NotImplementedError

    def generate_from_embeds(self, requests):
        raise NotImplementedError

    def encode(self, text):
        raise NotImplementedError

    def embed_ids(self, ids):
        raise NotImplementedError


def scripted(answers: Sequence[str]) -> Callable[[str], str]:
    """A rule that gives ``answers`` in order, whatever the prompt."""
    queue = list(answers)
    return lambda prompt: queue.pop(0)
