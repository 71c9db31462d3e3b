"""The transformers backend: any local causal-LM directory, on CPU or one GPU.

Why a hand-written decoding loop instead of ``model.generate``: requests in one batch need their
own temperature, seed, stop strings and token budget, and a request's output must not depend on
the batch it landed in (batched left-padded greedy equals one-at-a-time greedy; each sampled row
draws from its own seeded generator). The loop drops finished rows from the batch and its cache.

Why scoring shares the prompt's cache: an LLM recommender scores many candidates (e.g. 20
titles) after one long prompt (the user's history). The prompt runs once, keeping only its last
position's logits; then a request's continuations run together on top of the cached keys/values:
packed into one sequence whose 4D attention mask lets each continuation see the prompt and its
own earlier tokens only, at the positions it would have alone (no padding, no copies of the
cache), or, for attention kernels that take no 4D mask, as a right-padded batch on the cache
expanded to the batch. The work per request is then the prompt's tokens plus the candidates'
tokens instead of (prompt + candidate) tokens per candidate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

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
from benchmark.errors import ConfigError

__all__ = ["HFBackend"]

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}

_Request = GenerateRequest | EmbedsGenerateRequest


class HFBackend(LLMBackend):
    """Generation, scoring and embeds generation with transformers.

    ``dtype`` defaults to float32 (on CPU bf16 is much slower); ``batch_size`` is the number of
    generation rows per forward and of continuations per scoring forward. ``show_progress``
    shows a tqdm bar over batches (generation) or requests (scoring).
    """

    name = "hf"

    def __init__(
        self,
        model_dir: str | Path,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        batch_size: int = 32,
        show_progress: bool = False,
    ) -> None:
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise ConfigError(
                f"{self.model_dir}: not a transformers model directory (no config.json)"
            )
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.device = _device(device)
        self.dtype = _dtype(dtype)
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(
            self.model_dir, dtype=self.dtype, local_files_only=True
        )
        self.model.to(self.device).eval()
        #: score all of a chunk's continuations as one packed sequence with a 4D mask (eager and
        #: sdpa attention take one); otherwise as a padded batch on an expanded cache
        self.packed_scoring = self.model.config._attn_implementation in ("sdpa", "eager")
        self._bos_id = _added_bos(self.tokenizer)
        self.eos_ids = _eos_ids(self.model, self.tokenizer)
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (min(self.eos_ids) if self.eos_ids else 0))

    # -- tokens --------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        ids = self._encode_plain(text)
        if self._bos_id is not None and (not ids or ids[0] != self._bos_id):
            ids = [self._bos_id, *ids]
        return ids

    def _encode_plain(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    @torch.inference_mode()
    def embed_ids(self, ids: Sequence[int]) -> torch.Tensor:
        index = torch.tensor(list(ids), dtype=torch.long, device=self.device)
        return self.model.get_input_embeddings()(index).float().cpu()

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
        }

    # -- generation ----------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        prompts = [torch.tensor(self.encode(r.prompt), dtype=torch.long) for r in requests]
        if any(len(p) == 0 for p in prompts):
            raise ValueError("a prompt encodes to no tokens; give it some text")
        return self._generate(list(requests), prompts)

    def generate_from_embeds(
        self, requests: Sequence[EmbedsGenerateRequest]
    ) -> list[GenerateResult]:
        width = self.model.get_input_embeddings().embedding_dim
        for r in requests:
            if r.prompt_embeds.shape[1] != width:
                raise ValueError(
                    f"prompt_embeds width {r.prompt_embeds.shape[1]} != model width {width}"
                )
        return self._generate(list(requests), [r.prompt_embeds for r in requests])

    def _generate(
        self, requests: list[_Request], prompts: list[torch.Tensor]
    ) -> list[GenerateResult]:
        # longest first, so a batch holds prompts of similar length (little padding)
        order = sorted(range(len(requests)), key=lambda i: -len(prompts[i]))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        results: list[GenerateResult | None] = [None] * len(requests)
        for batch in self._progress(batches, "generate"):
            outs = self._generate_batch([requests[i] for i in batch], [prompts[i] for i in batch])
            for i, out in zip(batch, outs):
                results[i] = out
        return [r for r in results if r is not None]

    @torch.inference_mode()
    def _generate_batch(
        self, requests: list[_Request], prompts: list[torch.Tensor]
    ) -> list[GenerateResult]:
        n, length = len(prompts), max(len(p) for p in prompts)
        mask = torch.zeros(n, length, dtype=torch.long)
        embeds = prompts[0].dim() == 2
        if embeds:
            inputs = torch.zeros(n, length, prompts[0].shape[1], dtype=self.dtype)
        else:
            inputs = torch.full((n, length), self.pad_id, dtype=torch.long)
        for i, p in enumerate(prompts):  # left padding: every row's last token is at the end
            inputs[i, length - len(p) :] = p.detach().to("cpu", inputs.dtype)
            mask[i, length - len(p) :] = 1
        mask = mask.to(self.device)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        key = "inputs_embeds" if embeds else "input_ids"
        out = self.model(
            **{key: inputs.to(self.device)},
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        generators = [_generator(r.seed) if r.temperature > 0 else None for r in requests]
        tokens: list[list[int]] = [[] for _ in requests]
        results: list[GenerateResult | None] = [None] * n
        rows = list(range(n))  # batch row -> request index
        next_pos = positions[:, -1:] + 1
        while True:
            chosen = self._pick(out.logits[:, -1, :], [requests[r] for r in rows],
                                [generators[r] for r in rows])  # fmt: skip
            keep = []
            for row, (r, tok) in enumerate(zip(rows, chosen)):
                tokens[r].append(tok)
                results[r] = self._finished(requests[r], tokens[r])
                if results[r] is None:
                    keep.append(row)
            if not keep:
                break
            step = torch.tensor(chosen, dtype=torch.long, device=self.device)[:, None]
            if len(keep) < len(rows):
                index = torch.tensor(keep, dtype=torch.long, device=self.device)
                cache.batch_select_indices(index)
                mask, next_pos, step = mask[index], next_pos[index], step[index]
                rows = [rows[k] for k in keep]
            mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1)
            out = self.model(
                input_ids=step,
                attention_mask=mask,
                position_ids=next_pos,
                past_key_values=cache,
                use_cache=True,
            )
            next_pos = next_pos + 1
        return [r for r in results if r is not None]

    def _pick(
        self,
        logits: torch.Tensor,
        requests: list[_Request],
        generators: list[torch.Generator | None],
    ) -> list[int]:
        """Greedy argmax, or a draw at the request's temperature from its own generator."""
        logits = logits.float()
        picked = logits.argmax(-1).tolist()
        for row, (r, gen) in enumerate(zip(requests, generators)):
            if gen is not None:
                probs = torch.softmax(logits[row].cpu() / r.temperature, dim=-1)
                picked[row] = int(torch.multinomial(probs, 1, generator=gen))
        return picked

    def _finished(self, request: _Request, tokens: list[int]) -> GenerateResult | None:
        """The result if ``tokens`` ends the request (EOS, stop string, budget), else None."""
        if tokens[-1] in self.eos_ids:
            text = self._decode(tokens[:-1])
            return GenerateResult(_cut(text, request.stop)[0], len(tokens), FINISH_STOP)
        text = self._decode(tokens) if request.stop or len(tokens) >= request.max_new_tokens else ""
        if request.stop:
            text, hit = _cut(text, request.stop)
            if hit:
                return GenerateResult(text, len(tokens), FINISH_STOP)
        if len(tokens) >= request.max_new_tokens:
            return GenerateResult(text, len(tokens), FINISH_LENGTH)
        return None

    def _decode(self, tokens: list[int]) -> str:
        return str(self.tokenizer.decode(tokens, skip_special_tokens=True))

    # -- scoring -------------------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        return [self._score_one(r) for r in self._progress(requests, "score")]

    @torch.inference_mode()
    def _score_one(self, request: ScoreRequest) -> ScoreResult:
        prompt_ids, conts = self.score_plan(request)
        logprobs = np.zeros(len(conts), dtype=np.float64)
        n_tokens = np.array([len(c) for c in conts], dtype=np.int64)
        todo = sorted((i for i, c in enumerate(conts) if c), key=lambda i: -len(conts[i]))
        if not todo:
            return ScoreResult(logprobs, n_tokens)

        out = self.model(
            input_ids=torch.tensor([prompt_ids], device=self.device),
            use_cache=True,
            logits_to_keep=1,
        )
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        kv = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            logprobs[chunk] = self._score_chunk(kv, first, [conts[i] for i in chunk])
        return ScoreResult(logprobs, n_tokens)

    def _score_chunk(
        self,
        kv: list[tuple[torch.Tensor, torch.Tensor]],
        first: torch.Tensor,
        conts: list[list[int]],
    ) -> np.ndarray:
        """Summed log-probabilities of ``conts`` (longest first) after the cached prompt."""
        heads = torch.tensor([c[0] for c in conts], device=self.device)
        total = first[heads].double()
        if len(conts[0]) == 1:
            return total.cpu().numpy()
        if self.packed_scoring:
            rest = self._packed_logprobs(kv, conts)
        else:
            rest = self._padded_logprobs(kv, conts)
        return (total + rest).cpu().numpy()

    def _packed_logprobs(
        self, kv: list[tuple[torch.Tensor, torch.Tensor]], conts: list[list[int]]
    ) -> torch.Tensor:
        """All continuations (but their last tokens) as one sequence after the prompt, each
        attending to the prompt and to its own earlier tokens only (a 4D mask), each at the
        positions it would have alone. No padding, and the cache is not copied per row."""
        dev, prompt_len = self.device, kv[0][0].shape[-2]
        inputs = [c[:-1] for c in conts]
        lengths = torch.tensor([len(c) for c in inputs], device=dev)
        seg = torch.repeat_interleave(torch.arange(len(conts), device=dev), lengths)
        starts = torch.cumsum(lengths, 0) - lengths
        offset = torch.arange(len(seg), device=dev) - starts[seg]  # position within its row
        own = (seg[:, None] == seg[None, :]) & (offset[None, :] <= offset[:, None])
        allowed = torch.cat([own.new_ones(len(seg), prompt_len), own], dim=1)
        mask = torch.zeros(allowed.shape, dtype=self.model.dtype, device=dev)
        mask = mask.masked_fill(~allowed, torch.finfo(self.model.dtype).min)[None, None]
        ids = torch.tensor([t for c in inputs for t in c], device=dev)
        targets = torch.tensor([t for c in conts for t in c[1:]], device=dev)
        logits = self.model(
            input_ids=ids[None],
            position_ids=(prompt_len + offset)[None],
            attention_mask=mask,
            past_key_values=DynamicCache(ddp_cache_data=kv, config=self.model.config),
            use_cache=True,
        ).logits[0]
        picked = torch.log_softmax(logits.float(), dim=-1).gather(1, targets[:, None])[:, 0]
        out = torch.zeros(len(conts), dtype=torch.float64, device=dev)
        return out.index_add_(0, seg, picked.double())

    def _padded_logprobs(
        self, kv: list[tuple[torch.Tensor, torch.Tensor]], conts: list[list[int]]
    ) -> torch.Tensor:
        """The continuations as a right-padded batch on the prompt's cache expanded to the batch
        (for attention kernels that take no 4D mask, e.g. flash attention)."""
        n, width = len(conts), len(conts[0])
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        for i, c in enumerate(conts):  # right padding: causal attention never looks ahead
            ids[i, : len(c)] = torch.tensor(c)
        ids = ids.to(self.device)
        cache = DynamicCache(
            ddp_cache_data=[(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in kv],
            config=self.model.config,
        )
        logits = self.model(input_ids=ids[:, :-1], past_key_values=cache, use_cache=True).logits
        picked = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        lengths = torch.tensor([len(c) for c in conts], device=self.device)
        valid = torch.arange(1, width, device=self.device)[None, :] < lengths[:, None]
        return (picked.double() * valid).sum(1)

    # -- helpers -------------------------------------------------------------------------

    def _progress(self, items: Sequence[Any], desc: str) -> Iterable[Any]:
        if not self.show_progress or len(items) < 2:
            return items
        return tqdm(items, desc=f"{self.name} {desc}", leave=False)


def _cut(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one occurred."""
    hits = [i for i in (text.find(s) for s in stop) if i >= 0]
    return (text[: min(hits)], True) if hits else (text, False)


def _generator(seed: int | None) -> torch.Generator:
    """A CPU generator: ``seed``, or a draw from torch's global RNG (``torch.manual_seed``)."""
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)))
    return torch.Generator().manual_seed(seed)


def _device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = torch.device(device)
    if out.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {str(device)!r} asked for, but torch sees no CUDA device")
    return out


def _dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise ConfigError(f"unknown dtype {dtype!r}; expected one of {sorted(_DTYPES)}") from None


def _added_bos(tokenizer: Any) -> int | None:
    """The BOS id the tokenizer adds to a plain text, or None if it adds none."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return None
    with_special = tokenizer("a", add_special_tokens=True)["input_ids"]
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    return int(bos) if with_special[:1] == [bos] and plain[:1] != [bos] else None


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """End-of-sequence ids: the generation config's (an int or a list) and the tokenizer's."""
    ids: set[int] = set()
    config = getattr(model, "generation_config", None)
    for value in (getattr(config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value is not None:
            ids.update(int(v) for v in value)
    return frozenset(ids)
