"""Decoder-only LLM backends for the LLM-based recommenders.

Methods build requests (:mod:`.base`) and hand them to a backend chosen by name with
:func:`get_backend`: ``"hf"`` (transformers, CPU or GPU) now, ``"vllm"`` later. The model is a
local directory (:func:`resolve_llm`), by default the embedded SmolLM2-135M-Instruct.
"""

from __future__ import annotations

from pathlib import Path

import torch

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
from benchmark.errors import ConfigError

__all__ = [
    "BACKENDS",
    "EMBEDDED_LLM",
    "EmbedsGenerateRequest",
    "GenerateRequest",
    "GenerateResult",
    "LLMBackend",
    "ScoreRequest",
    "ScoreResult",
    "apply_chat",
    "embedded_llm_dir",
    "get_backend",
    "resolve_llm",
]

#: backend names ``get_backend`` knows, including those not implemented yet
BACKENDS = ("hf", "vllm")


def get_backend(
    name: str,
    model_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    **options: object,
) -> LLMBackend:
    """A backend by name on ``model_dir`` (None: the embedded model); ``options`` go to its
    constructor (e.g. ``dtype``, ``batch_size``, ``show_progress`` for ``"hf"``)."""
    if name == "hf":
        from benchmark.backends.llm.hf import HFBackend

        return HFBackend(resolve_llm(model_dir), device=device, **options)  # type: ignore[arg-type]
    if name == "vllm":
        raise ConfigError("LLM backend 'vllm' is not yet available; use 'hf'")
    raise ConfigError(f"unknown LLM backend {name!r}; expected one of {list(BACKENDS)}")
