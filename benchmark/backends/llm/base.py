"""The one interface the LLM methods talk to, whatever runs the model (transformers, vLLM).

LLM-based recommenders need three things from a decoder-only model: free text generation (e.g.
rank this candidate list), log-likelihood scoring of given continuations (e.g. how likely is
each candidate title after this prompt), and generation from prompt embeddings (soft prompts
such as UEM's user tokens). Methods ask for these with plain request objects, so the same method
code runs on the transformers backend on CPU and on vLLM on a GPU, and each backend's ``name``
is recorded with the results.

Scoring's tokenisation rule (every backend follows it, so their scores agree):

1. Trailing spaces of the prompt move to the front of each continuation (the convention of
   lm-evaluation-harness): BPE tokenizers attach a space to the word after it, so
   ``"is " + "Paris"`` is scored as ``"is" + " Paris"``. Other whitespace (a chat template's
   final newline) stays in the prompt.
2. The prompt is tokenised alone (``P`` tokens) and jointly with the continuation. If the joint
   ids start with the prompt's ids, the continuation's tokens are the joint ids after the first
   ``P``: exactly the tokens the model would see for that text.
3. Otherwise a token straddles the boundary (``"...x" + "yz"`` merging into ``"xyz"``); then the
   continuation is tokenised on its own (no special tokens) and appended to the prompt's ids, so
   the prompt's tokens, and its cache, stay the same for every continuation.

A continuation's score is the sum of its tokens' log-probabilities, with its token count next to
it for length normalisation. An empty continuation scores 0 with 0 tokens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

__all__ = [
    "EmbedsGenerateRequest",
    "GenerateRequest",
    "GenerateResult",
    "LLMBackend",
    "ScoreRequest",
    "ScoreResult",
    "apply_chat",
    "continuation_ids",
    "split_trailing_spaces",
]

#: ``finish_reason`` values (vLLM's names): an end-of-sequence token or a stop string ended the
#: text, or ``max_new_tokens`` did.
FINISH_STOP = "stop"
FINISH_LENGTH = "length"


@dataclass(frozen=True)
class GenerateRequest:
    """Generate up to ``max_new_tokens`` after ``prompt`` (already chat-formatted if wanted).

    ``temperature`` 0 is greedy; above 0 samples from the softmax at that temperature with a
    generator seeded by ``seed`` (so a request's sample does not depend on its batch). The text
    is cut before the first of the ``stop`` strings.
    """

    prompt: str
    max_new_tokens: int
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_sampling(self.max_new_tokens, self.temperature, self.stop)


@dataclass(frozen=True, eq=False)
class EmbedsGenerateRequest:
    """Like :class:`GenerateRequest`, from prompt embeddings ``[L, d_model]`` instead of text.

    The embeddings replace the whole tokenised prompt, BOS included where the model expects one
    (:meth:`LLMBackend.embed_text` gives a text's embeddings the way a text prompt is encoded).
    """

    prompt_embeds: torch.Tensor
    max_new_tokens: int
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_sampling(self.max_new_tokens, self.temperature, self.stop)
        if self.prompt_embeds.dim() != 2 or self.prompt_embeds.shape[0] == 0:
            shape = tuple(self.prompt_embeds.shape)
            raise ValueError(f"prompt_embeds must be [length > 0, d_model], got {shape}")


@dataclass(frozen=True)
class GenerateResult:
    """The generated text (special tokens dropped, cut at a stop string), how many tokens were
    generated (an end-of-sequence token and the tokens of a stop string included) and why it
    ended (``"stop"`` or ``"length"``)."""

    text: str
    n_tokens: int
    finish_reason: str


@dataclass(frozen=True)
class ScoreRequest:
    """Score each of ``continuations`` as the text following ``prompt``."""

    prompt: str
    continuations: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.continuations, str):
            raise TypeError("continuations must be a tuple of strings, not one string")


@dataclass(frozen=True, eq=False)
class ScoreResult:
    """Per continuation: summed log-likelihood (float64) and number of tokens (int64)."""

    logprobs: np.ndarray
    n_tokens: np.ndarray

    def mean_logprobs(self) -> np.ndarray:
        """Length-normalised scores: log-likelihood per token (0 for empty continuations)."""
        return self.logprobs / np.maximum(self.n_tokens, 1)


class LLMBackend(ABC):
    """A decoder-only LLM behind generation, scoring and embeds generation.

    Subclasses set ``name`` (recorded in results) and load ``tokenizer`` (a transformers
    tokenizer, used for chat formatting and by callers that count tokens).
    """

    name: ClassVar[str] = ""

    model_dir: Path
    tokenizer: Any

    @abstractmethod
    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        """One result per request, in order."""

    @abstractmethod
    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """One result per request, in order, scored by the module's tokenisation rule."""

    @abstractmethod
    def generate_from_embeds(
        self, requests: Sequence[EmbedsGenerateRequest]
    ) -> list[GenerateResult]:
        """One result per request, in order."""

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """A prompt's token ids as the backend feeds them (BOS added if the model uses one)."""

    @abstractmethod
    def embed_ids(self, ids: Sequence[int]) -> torch.Tensor:
        """The input embeddings ``[len(ids), d_model]`` of ``ids`` (float32, on CPU)."""

    def _encode_plain(self, text: str) -> list[int]:
        """Token ids of ``text`` with no special tokens (places a continuation after a prompt);
        backends that score implement it."""
        raise NotImplementedError(f"{type(self).__name__} does not score continuations")

    def score_plan(self, request: ScoreRequest) -> tuple[list[int], list[list[int]]]:
        """The prompt's ids and each continuation's ids under the scoring rule of this module,
        the same for every backend so their scores compare."""
        prompt, spaces = split_trailing_spaces(request.prompt)
        prompt_ids = self.encode(prompt)
        if not prompt_ids:
            raise ValueError(
                f"prompt {request.prompt!r} encodes to no tokens and the model has no BOS token "
                "to condition on; give it some text"
            )
        conts = [
            continuation_ids(self.encode, self._encode_plain, prompt_ids, prompt, spaces + c)
            if c else []
            for c in request.continuations
        ]
        return prompt_ids, conts

    def embed_text(self, text: str) -> torch.Tensor:
        """The embeddings of a text prompt, exactly as :meth:`generate` would feed it."""
        return self.embed_ids(self.encode(text))

    def chat(self, user_message: str, system: str | None = None) -> str:
        """``user_message`` in the model's chat template (see :func:`apply_chat`)."""
        return apply_chat(self.tokenizer, user_message, system=system)

    def info(self) -> dict[str, Any]:
        """What to record with results: backend name, model directory, and the weights that
        answered (files, sha256, numeric form; :func:`.models.model_provenance`)."""
        from benchmark.backends.llm.models import model_provenance

        return {"backend": self.name, "model_dir": str(self.model_dir),
                "weights": model_provenance(self.model_dir)}


def apply_chat(tokenizer: Any, user_message: str, system: str | None = None) -> str:
    """One user turn (after an optional system message) in the tokenizer's chat template, ending
    with the assistant's generation prompt. Raises ValueError if the tokenizer has no template.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            "this tokenizer has no chat template; use a plain prompt or an instruction-tuned model"
        )
    messages = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user_message})
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return str(text)


def split_trailing_spaces(prompt: str) -> tuple[str, str]:
    """``prompt`` without its trailing spaces, and those spaces (rule 1 of the module doc)."""
    stripped = prompt.rstrip(" ")
    return stripped, prompt[len(stripped) :]


def continuation_ids(
    encode: Callable[[str], list[int]],
    encode_plain: Callable[[str], list[int]],
    prompt_ids: Sequence[int],
    prompt: str,
    continuation: str,
) -> list[int]:
    """The continuation's token ids after ``prompt_ids`` (rules 2 and 3 of the module doc).

    ``encode`` tokenises a prompt as the backend feeds it (special tokens included);
    ``encode_plain`` tokenises without special tokens. ``prompt`` must already have had its
    trailing spaces moved into ``continuation``.
    """
    if not continuation:
        return []
    joint = encode(prompt + continuation)
    n = len(prompt_ids)
    if len(joint) > n and list(joint[:n]) == list(prompt_ids):
        return list(joint[n:])
    return list(encode_plain(continuation))


def _check_sampling(max_new_tokens: int, temperature: float, stop: tuple[str, ...]) -> None:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if isinstance(stop, str) or any(not s for s in stop):
        raise ValueError(f"stop must be a tuple of non-empty strings, got {stop!r}")
