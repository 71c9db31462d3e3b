"""A causal LM read as a text encoder, and fine-tuned as one: pooled hidden states, three ways
to tune.

P2Rec (``methods.p2rec``) uses the run's LLM twice: as a regressor over users' history prompts
(its stage 1 trains the LM with a head on the pooled state) and then as an item encoder (stage
2 reads every item's pooled state). This module is that LM, with no head and no loss of its own.

Pooling (``pooling``): ``last``, the final norm's output at the prompt's last token (a causal
LM's only position that has read the whole prompt), or ``mean`` over the prompt's tokens.
Prompts are right-padded, so position ids are the same as unpadded.

Tuning (``tune``):

* ``top``: the top ``tune_layers`` decoder layers (and the final norm) train; the layers below
  stay frozen. What the frozen layers give for each training prompt is computed once
  (:meth:`PooledLM.prepare`) and an epoch runs only the top layers, which is what makes a 135M
  LM's SFT take minutes on CPU. Needs a model whose base keeps its decoder layers in
  ``.layers`` (Llama, Mistral, Qwen2, ...).
* ``lora``: low-rank adapters (rank ``lora_rank``, scale 2) on every layer's query and value
  projections; the base weights stay frozen, and every epoch runs the whole model.
* ``full``: every weight trains; every epoch runs the whole model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from benchmark.errors import ConfigError

__all__ = ["LoRALinear", "PooledLM", "TUNE_MODES", "POOLING"]

TUNE_MODES = ("top", "lora", "full")
POOLING = ("last", "mean")


class LoRALinear(nn.Module):
    """``base(x) + scale * x A^T B^T``: ``B`` starts at zero, so the wrapped layer starts equal
    to ``base`` (Hu et al. 2021)."""

    def __init__(self, base: nn.Linear, rank: int, generator: torch.Generator) -> None:
        super().__init__()
        self.base = base
        a = torch.randn(rank, base.in_features, generator=generator) / math.sqrt(base.in_features)
        self.a = nn.Parameter(a.to(base.weight.device))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
        self.scale = 2.0  # alpha = 2 * rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.a.T @ self.b.T) * self.scale


class _FrozenLayersDone(Exception):
    """Raised from a forward hook to end a forward pass once the frozen layers have run."""


class PooledLM:
    """The base model (no LM head) of the causal LM in ``model_dir``, pooled per prompt."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        tune: str = "top",
        tune_layers: int = 2,
        lora_rank: int = 8,
        pooling: str = "last",
        batch_size: int = 16,
        seed: int = 0,
        device: str | torch.device = "cpu",
        show_progress: bool = False,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        if tune not in TUNE_MODES:
            raise ConfigError(f"tune: unknown {tune!r}; expected one of {', '.join(TUNE_MODES)}")
        if pooling not in POOLING:
            raise ConfigError(f"pooling: unknown {pooling!r}; expected one of {POOLING}")
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id or 0
        self.device = torch.device(device)
        self.model = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32).to(self.device)
        self.model.eval()
        self.tune, self.pooling, self.batch_size = tune, pooling, batch_size
        self.show_progress = show_progress
        layers = getattr(self.model, "layers", None)
        if tune == "top" and not isinstance(layers, nn.ModuleList):
            raise ConfigError(
                f"tune: 'top' needs a model whose decoder layers are in .layers (Llama-like); "
                f"{type(self.model).__name__} from {model_dir} has none: use tune 'lora' or 'full'"
            )
        self.n_layers = len(layers) if isinstance(layers, nn.ModuleList) else 0
        if tune == "top" and not 1 <= tune_layers <= self.n_layers:
            raise ConfigError(f"tune_layers: {tune_layers} is not within 1..{self.n_layers}, "
                              f"the layers of {model_dir}")  # fmt: skip
        self.tune_layers = tune_layers
        for weight in self.model.parameters():
            weight.requires_grad_(tune == "full")
        if tune == "top":
            for module in [*layers[self.n_layers - tune_layers :], self.model.norm]:
                for weight in module.parameters():
                    weight.requires_grad_(True)
        if tune == "lora":
            self._add_lora(lora_rank, seed)

    # ------------------------------------------------------------------ structure
    @property
    def width(self) -> int:
        return int(self.model.config.hidden_size)

    def trainable(self) -> list[nn.Parameter]:
        return [w for w in self.model.parameters() if w.requires_grad]

    def state(self) -> dict[str, torch.Tensor]:
        """Copies of the trainable weights (what stage checkpoints and early stopping keep)."""
        return {k: v.detach().clone() for k, v in self.model.named_parameters() if v.requires_grad}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        named = dict(self.model.named_parameters())
        with torch.no_grad():
            for key, value in state.items():
                named[key].copy_(value)

    def _add_lora(self, rank: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        wrapped = 0
        for module in list(self.model.modules()):
            for name in ("q_proj", "v_proj"):
                child = getattr(module, name, None)
                if isinstance(child, nn.Linear):
                    setattr(module, name, LoRALinear(child, rank, generator))
                    wrapped += 1
        if not wrapped:
            raise ConfigError(f"tune: 'lora' found no q_proj/v_proj layers in "
                              f"{type(self.model).__name__}; use tune 'top' or 'full'")  # fmt: skip

    # ------------------------------------------------------------------ text -> tensors
    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [list(self.tokenizer(t)["input_ids"]) for t in texts]

    def _pad_ids(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        length = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), length), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        return ids.to(self.device), mask.to(self.device)

    def _hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The whole model's final states ``[B, T, width]``."""
        return self.model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``[B, d]`` from ``[B, T, d]`` states of right-padded prompts."""
        if self.pooling == "last":
            last = mask.sum(dim=1) - 1
            return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1)

    def _batches(self, n: int, lengths: Sequence[int], desc: str) -> Iterator[list[int]]:
        """Index batches of similar length (less padding), in a fixed order."""
        order = sorted(range(n), key=lambda i: (lengths[i], i))
        starts = range(0, n, self.batch_size)
        for start in tqdm(starts, desc=desc, leave=False, disable=not self.show_progress):
            yield order[start : start + self.batch_size]

    # ------------------------------------------------------------------ reading
    @torch.no_grad()
    def encode(self, texts: Sequence[str], desc: str = "encode") -> torch.Tensor:
        """``[len(texts), width]`` pooled states of the whole (current) model."""
        self.model.eval()
        seqs = self.tokenize(texts)
        out = torch.empty(len(seqs), self.width)
        for rows in self._batches(len(seqs), [len(s) for s in seqs], desc):
            ids, mask = self._pad_ids([seqs[i] for i in rows])
            out[rows] = self.pool(self._hidden(ids, mask), mask).float().cpu()
        return out

    # ------------------------------------------------------------------ training
    @torch.no_grad()
    def prepare(self, texts: Sequence[str], desc: str = "frozen layers") -> list[Any]:
        """Training inputs, one per text: under ``top`` the frozen layers' output
        (``[tokens, width]``, computed here once), otherwise the token ids."""
        seqs = self.tokenize(texts)
        if self.tune != "top":
            return seqs
        self.model.eval()
        out: list[Any] = [None] * len(seqs)
        for rows in self._batches(len(seqs), [len(s) for s in seqs], desc):
            ids, mask = self._pad_ids([seqs[i] for i in rows])
            below = self._frozen_output(ids, mask)  # the input of the first tuned layer
            for row, i in enumerate(rows):
                out[i] = below[row, : len(seqs[i])].detach().clone()
        return out

    def _frozen_output(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``[B, T, width]`` output of the last frozen layer; the forward stops there, so the
        tuned layers (whose output ``prepare`` would throw away) never run."""
        cut = self.n_layers - self.tune_layers
        if cut == 0:  # every layer is tuned: what goes in is the token embeddings
            return self.model.get_input_embeddings()(ids)
        captured: list[torch.Tensor] = []

        def stop(_module: nn.Module, _args: Any, output: Any) -> None:
            captured.append(output[0] if isinstance(output, tuple) else output)
            raise _FrozenLayersDone

        handle = self.model.layers[cut - 1].register_forward_hook(stop)
        try:
            self.model(input_ids=ids, attention_mask=mask, use_cache=False)
        except _FrozenLayersDone:
            pass
        finally:
            handle.remove()
        return captured[0]

    def forward_train(self, inputs: Sequence[Any]) -> torch.Tensor:
        """``[B, width]`` pooled states of prepared inputs, with gradients to the tuned
        weights (call ``train(True)`` first for dropout, where the model has any)."""
        if self.tune != "top":
            ids, mask = self._pad_ids(inputs)
            return self.pool(self._hidden(ids, mask), mask)
        length = max(x.shape[0] for x in inputs)
        states = torch.zeros(len(inputs), length, self.width, device=self.device)
        mask = torch.zeros(len(inputs), length, dtype=torch.long, device=self.device)
        for row, x in enumerate(inputs):
            states[row, : x.shape[0]] = x
            mask[row, : x.shape[0]] = 1
        with self._top_layers_only():
            hidden = self.model(
                inputs_embeds=states, attention_mask=mask, use_cache=False
            ).last_hidden_state
        return self.pool(hidden, mask)

    def train(self, on: bool) -> None:
        self.model.train(on)

    @contextmanager
    def _top_layers_only(self) -> Iterator[None]:
        """The model's own forward over its top ``tune_layers`` layers (the rest detached for
        the duration), so states cached below them go in as ``inputs_embeds``."""
        model, config = self.model, self.model.config
        layers, count = model.layers, config.num_hidden_layers
        model.layers = nn.ModuleList(list(layers)[self.n_layers - self.tune_layers :])
        config.num_hidden_layers = self.tune_layers
        try:
            yield
        finally:
            model.layers = layers
            config.num_hidden_layers = count
