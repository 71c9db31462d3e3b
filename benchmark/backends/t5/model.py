"""The P5 / POD backbone: a T5 encoder-decoder plus P5's whole-word embedding.

P5 writes user and item ids as text ("user_23", "1024") that the tokenizer splits into sub-words;
a learned *whole-word embedding*, indexed by which word of the prompt a token belongs to, is
added to the token embedding so the model can tell which pieces form one id. POD prepends a few
learned continuous prompt vectors to the encoder input; :meth:`P5Backbone.encode` takes them as
``prefix``. Everything here is local-only: weights are never downloaded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from safetensors.torch import load_model, save_model
from torch import Tensor, nn
from transformers import T5Config, T5ForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutput

from benchmark.errors import ConfigError

__all__ = [
    "CPU_CONFIG",
    "DEFAULT_MAX_WHOLE_WORDS",
    "P5Backbone",
    "T5_SMALL_REPOS",
    "build_backbone",
    "cpu_t5_config",
    "find_t5_small",
]

DEFAULT_MAX_WHOLE_WORDS = 512  # one index per word of a 512-token prompt
_CONFIG_FILE = "p5_backbone.json"
_WEIGHTS_FILE = "model.safetensors"
_FORMAT = "recbench-p5-backbone"
_FORMAT_VERSION = 1

# Small enough to train on ML-100K in minutes on 2 CPU cores, shaped like T5 v1.0 (relu
# feed-forward, tied input/output embeddings, decoder output scaled by d_model**-0.5).
CPU_CONFIG: Mapping[str, Any] = MappingProxyType(
    {
        "d_model": 256,
        "d_ff": 1024,
        "num_layers": 4,
        "num_decoder_layers": 4,
        "num_heads": 4,
        "d_kv": 64,
        "dropout_rate": 0.1,
        "feed_forward_proj": "relu",
        "tie_word_embeddings": True,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
    }
)

# Hub names of t5-small, as their cache folders ``models--<org>--<name>`` spell them.
T5_SMALL_REPOS = ("google-t5/t5-small", "t5-small")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def cpu_t5_config(vocab_size: int, **overrides: Any) -> T5Config:
    """The from-scratch ``cpu`` profile's T5 config for a tokenizer of ``vocab_size`` tokens.

    Overriding ``num_layers`` alone also sets the decoder depth, as T5Config itself does.
    """
    if vocab_size <= 0:
        raise ConfigError(f"vocab_size must be positive, got {vocab_size}")
    values = dict(CPU_CONFIG)
    if "num_layers" in overrides and "num_decoder_layers" not in overrides:
        values["num_decoder_layers"] = overrides["num_layers"]
    values.update(overrides)
    return T5Config(vocab_size=vocab_size, **values)


class P5Backbone(nn.Module):
    """T5 (``self.t5``) whose encoder input is token + whole-word embedding [+ POD prefix].

    ``whole_word_embeddings`` row 0 means "no word" (special tokens, padding, prompt vectors).
    It is a fixed zero vector (``padding_idx=0``), so with all-zero ids the encoder sees exactly
    the plain T5 input; the other rows start as small normals (``whole_word_init_std``) so
    adding them barely perturbs a pretrained t5-small at the start of fine-tuning.
    """

    def __init__(
        self,
        t5: T5ForConditionalGeneration,
        *,
        max_whole_words: int = DEFAULT_MAX_WHOLE_WORDS,
        whole_word_init_std: float = 0.02,
    ) -> None:
        super().__init__()
        if max_whole_words < 2:
            raise ConfigError(f"max_whole_words must be at least 2, got {max_whole_words}")
        self.t5 = t5
        self.max_whole_words = int(max_whole_words)
        d_model = t5.config.d_model
        self.whole_word_embeddings = nn.Embedding(self.max_whole_words, d_model, padding_idx=0)
        with torch.no_grad():
            self.whole_word_embeddings.weight.normal_(0.0, whole_word_init_std)
            self.whole_word_embeddings.weight[0].zero_()
        self.whole_word_embeddings.to(device=t5.shared.weight.device, dtype=t5.shared.weight.dtype)

    @property
    def config(self) -> T5Config:
        return self.t5.config

    @property
    def d_model(self) -> int:
        return int(self.t5.config.d_model)

    def embed(self, input_ids: Tensor, whole_word_ids: Tensor | None = None) -> Tensor:
        """Token embedding plus whole-word embedding, ``[B, L, d]``.

        T5 feeds its token embedding to the encoder unscaled, so neither is scaled here. Word
        indices past the table clamp to its last row rather than fail on long prompts.
        """
        tokens = self.t5.get_input_embeddings()(input_ids)
        if whole_word_ids is None:
            return tokens
        idx = whole_word_ids.clamp(min=0, max=self.max_whole_words - 1)
        return tokens + self.whole_word_embeddings(idx)

    def encode(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        whole_word_ids: Tensor | None = None,
        prefix: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Run the encoder; returns (hidden states ``[B, P+L, d]``, their mask ``[B, P+L]``).

        ``prefix`` (``[B, P, d]``, or ``[P, d]`` shared by the batch) is POD's continuous prompt:
        it goes before the token embeddings and is always attended to.
        """
        embeds = self.embed(input_ids, whole_word_ids)
        mask = attention_mask.to(device=embeds.device, dtype=torch.long)
        if prefix is not None:
            batch = embeds.shape[0]
            if prefix.dim() == 2:
                prefix = prefix.unsqueeze(0).expand(batch, -1, -1)
            if prefix.dim() != 3 or prefix.shape[0] != batch or prefix.shape[2] != embeds.shape[2]:
                raise ValueError(
                    f"prefix must be [P, {embeds.shape[2]}] or [{batch}, P, {embeds.shape[2]}], "
                    f"got {tuple(prefix.shape)}"
                )
            prefix = prefix.to(device=embeds.device, dtype=embeds.dtype)
            embeds = torch.cat([prefix, embeds], dim=1)
            ones = mask.new_ones(batch, prefix.shape[1])
            mask = torch.cat([ones, mask], dim=1)
        out = self.t5.encoder(inputs_embeds=embeds, attention_mask=mask, return_dict=True)
        return out.last_hidden_state, mask

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        whole_word_ids: Tensor | None,
        labels: Tensor,
        prefix: Tensor | None = None,
    ) -> Tensor:
        """Mean token cross-entropy over labels that are not -100 (teacher forcing).

        T5 builds the decoder input by shifting ``labels`` right behind
        ``decoder_start_token_id`` (pad, 0) and turning -100 into pad.
        """
        hidden, mask = self.encode(input_ids, attention_mask, whole_word_ids, prefix)
        out = self.t5(
            encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
            attention_mask=mask,
            labels=labels.to(hidden.device),
            return_dict=True,
        )
        return out.loss

    def save(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` and ``p5_backbone.json`` (T5 config + table size)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "max_whole_words": self.max_whole_words,
            "t5_config": self.t5.config.to_dict(),
        }
        (directory / _CONFIG_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        # save_model (not save_file) because tied embeddings share storage.
        save_model(self, str(directory / _WEIGHTS_FILE))
        return directory

    @classmethod
    def load(cls, directory: str | Path, *, device: str | torch.device = "cpu") -> P5Backbone:
        """Load a backbone written by :meth:`save`; reads local files only."""
        directory = Path(directory)
        cfg_path = directory / _CONFIG_FILE
        weights = directory / _WEIGHTS_FILE
        if not cfg_path.is_file() or not weights.is_file():
            raise ConfigError(
                f"{directory} is not a saved P5 backbone: expected {_CONFIG_FILE} and "
                f"{_WEIGHTS_FILE} (written by P5Backbone.save)"
            )
        meta = json.loads(cfg_path.read_text())
        if meta.get("format") != _FORMAT or meta.get("version") != _FORMAT_VERSION:
            raise ConfigError(
                f"{cfg_path}: unsupported backbone format {meta.get('format')!r} "
                f"version {meta.get('version')!r}; expected {_FORMAT!r} version {_FORMAT_VERSION}"
            )
        config = T5Config.from_dict(meta["t5_config"])
        model = cls(T5ForConditionalGeneration(config), max_whole_words=meta["max_whole_words"])
        load_model(model, str(weights), strict=True, device=str(device))
        return model.to(device)


def _hub_caches() -> list[Path]:
    """Hugging Face cache folders to search, most specific first, without duplicates."""
    env = os.environ
    candidates: list[Path] = []
    if env.get("HF_HUB_CACHE"):
        candidates.append(Path(env["HF_HUB_CACHE"]))
    if env.get("HF_HOME"):
        candidates.append(Path(env["HF_HOME"]) / "hub")
    if env.get("XDG_CACHE_HOME"):
        candidates.append(Path(env["XDG_CACHE_HOME"]) / "huggingface" / "hub")
    candidates.append(Path.home() / ".cache" / "huggingface" / "hub")
    seen: set[Path] = set()
    out = []
    for path in candidates:
        path = path.expanduser()
        if path not in seen:
            seen.add(path)
            out.append(path)
    return out


def _is_checkpoint(path: Path) -> bool:
    return (path / "config.json").is_file() and any((path / f).is_file() for f in _WEIGHT_FILES)


def _snapshot(repo_dir: Path) -> Path | None:
    """The cached snapshot ``refs/main`` points at, else the newest complete one."""
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        snap = repo_dir / "snapshots" / ref.read_text().strip()
        if _is_checkpoint(snap):
            return snap
    snaps = repo_dir / "snapshots"
    if not snaps.is_dir():
        return None
    complete = [p for p in snaps.iterdir() if _is_checkpoint(p)]
    return max(complete, key=lambda p: p.stat().st_mtime) if complete else None


def _download_hint() -> str:
    return (
        "recbench never downloads weights. On a machine with network access run "
        "`huggingface-cli download google-t5/t5-small --local-dir DIR` (or `hf download "
        "google-t5/t5-small --local-dir DIR`), copy DIR here and pass `--backbone DIR`."
    )


def find_t5_small(backbone_path: str | Path | None = None) -> Path:
    """Local t5-small directory: ``backbone_path`` if given, else the Hugging Face cache.

    Raises :class:`ConfigError` naming every place it looked; nothing is downloaded. The same
    directory holds t5-small's tokenizer (see ``tokenizer.load_tokenizer``).
    """
    if backbone_path is not None:
        path = Path(backbone_path).expanduser()
        if _is_checkpoint(path):
            return path
        raise ConfigError(
            f"--backbone {path}: not a local T5 checkpoint (expected config.json and one of "
            f"{', '.join(_WEIGHT_FILES)} in that directory). " + _download_hint()
        )
    looked: list[str] = []
    for hub in _hub_caches():
        for repo in T5_SMALL_REPOS:
            repo_dir = hub / ("models--" + repo.replace("/", "--"))
            looked.append(str(repo_dir))
            snap = _snapshot(repo_dir) if repo_dir.is_dir() else None
            if snap is not None:
                return snap
    raise ConfigError(
        "profile 'paper' needs a local t5-small checkpoint and none was found. Looked in: "
        + "; ".join(looked)
        + ". "
        + _download_hint()
    )


def build_backbone(
    profile: str,
    vocab_size: int | None = None,
    backbone_path: str | Path | None = None,
    **overrides: Any,
) -> P5Backbone:
    """Build the backbone of a run profile, in training mode.

    * ``cpu``: a small T5 from scratch (:data:`CPU_CONFIG`); ``vocab_size`` is required.
    * ``paper``: pretrained t5-small from ``backbone_path`` or the local Hugging Face cache;
      ``vocab_size`` (optional) only ever grows its embedding table.

    ``max_whole_words`` and ``whole_word_init_std`` go to :class:`P5Backbone`; other
    ``overrides`` go to the T5 config (e.g. ``dropout_rate``).
    """
    wrapper_kwargs = {
        k: overrides.pop(k) for k in ("max_whole_words", "whole_word_init_std") if k in overrides
    }
    if profile == "cpu":
        if backbone_path is not None:
            raise ConfigError(
                "--backbone applies to profile 'paper' only; 'cpu' trains from scratch"
            )
        if vocab_size is None:
            raise ConfigError("profile 'cpu' needs vocab_size (the trained tokenizer's length)")
        t5 = T5ForConditionalGeneration(cpu_t5_config(vocab_size, **overrides))
    elif profile == "paper":
        path = find_t5_small(backbone_path)
        t5 = T5ForConditionalGeneration.from_pretrained(
            str(path), local_files_only=True, dtype=torch.float32, **overrides
        )
        if t5.config.model_type != "t5":  # pragma: no cover - from_pretrained usually fails first
            raise ConfigError(f"{path}: model_type {t5.config.model_type!r}, expected 't5'")
        if vocab_size is not None and vocab_size > t5.config.vocab_size:
            t5.resize_token_embeddings(vocab_size)
    else:
        raise ConfigError(f"unknown backbone profile {profile!r}; expected 'cpu' or 'paper'")
    return P5Backbone(t5, **wrapper_kwargs).train()
