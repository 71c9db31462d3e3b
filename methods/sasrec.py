"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018).

Written from the paper's description, not from RecBole's or the authors' code. Choices:

* Embeddings: item table ``[n_items + 1, hidden]`` (row 0 = padding) shared with the output
  layer (``scores = h @ E^T``), learned position embeddings, then LayerNorm + dropout.
* Blocks: pre-LN (``x + Dropout(f(LayerNorm(x)))``, as in the paper's Section III-C), with a
  final LayerNorm. Pre-LN was chosen because it trains stably at lr 1e-3 without warm-up.
  Causal multi-head self-attention; keys at padding positions are masked out (a position may
  always attend to itself, so all-padding rows stay finite). Point-wise FFN
  ``hidden -> inner -> hidden`` with GELU (the paper used ReLU; GELU is RecBole's default).
* Training data: a causal model scores every prefix in one pass, so each user's training
  sequence gives ``input = seq[:-1]``, ``labels = seq[1:]``, cut from the right into
  non-overlapping ``max_len`` windows, left-padded. Every training position is a target exactly
  once per epoch (no augmented prefixes).
* Loss: ``"ce"`` full softmax over items 1..n (default), or ``"bce"`` with one sampled negative
  per position (the paper's loss), negatives drawn uniformly from items outside the user's
  *training* sequence (valid/test items are never looked at).
* Early stopping on validation NDCG@10 (full catalogue, history masked); the best epoch's
  weights are restored. ``split.test`` is never read.
* Speed on CPU: dropout masks come from a seeded numpy Generator (see ``_Dropout``), which cut
  an ML-100K epoch from ~15 s to ~3 s on 2 cores. ``torch.set_num_threads`` is not called: the
  default (one thread per core) was 1.5-2x faster per epoch than one thread.
* Defaults (``cpu``): dropout 0.3 had the best ML-100K validation NDCG@10 within 40 epochs
  (0.2: .117, 0.3: .120, 0.5: .116); batch 64, patience 5 and max 30 epochs early-stop there in
  about a minute on 2 cores (``perf/sasrec.py``). ``paper`` holds the paper's settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from methods.base import FitContext, Method
from methods.params import Params, choice, param
from methods.sequences import left_pad, training_windows
from methods.training import fit_windows


class _Dropout(nn.Module):
    """Inverted dropout; on CPU its masks come from a seeded numpy Generator.

    torch's CPU Bernoulli sampler is about 3x slower than numpy's PCG64 here, and with torch
    masks dropout was the largest single cost of a training step on 2 cores. Without a
    generator (or off CPU) it falls back to ``F.dropout``.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.rng: np.random.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.rng is None or x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        keep = torch.from_numpy(self.rng.random(x.shape, dtype=np.float32) >= self.p)
        return x * keep * (1.0 / (1.0 - self.p))


class _SelfAttention(nn.Module):
    """Multi-head self-attention with a caller-supplied boolean mask (True = may attend)."""

    def __init__(self, hidden: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        if hidden % n_heads:
            raise ValueError(f"hidden size {hidden} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.drop = _Dropout(dropout)  # on the attention weights, as in the paper

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, length, d = x.shape
        head = d // self.n_heads
        qkv = self.qkv(x).view(b, length, 3, self.n_heads, head).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, heads, L, head]
        att = (q @ k.transpose(-1, -2)) * (head**-0.5)
        att = self.drop(att.masked_fill(~mask, -math.inf).softmax(-1))
        y = (att @ v).transpose(1, 2).reshape(b, length, d)
        return self.out(y)


class _Block(nn.Module):
    """Pre-LN transformer block: attention then point-wise feed-forward, each residual."""

    def __init__(self, hidden: int, n_heads: int, inner: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden)
        self.attn = _SelfAttention(hidden, n_heads, dropout)
        self.norm2 = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, inner), nn.GELU(), nn.Linear(inner, hidden))
        self.drop1 = _Dropout(dropout)
        self.drop2 = _Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.drop1(self.attn(self.norm1(x), mask))
        return x + self.drop2(self.ffn(self.norm2(x)))


class SASRecNet(nn.Module):
    """The network: ``forward(items [B, L]) -> hidden states [B, L, hidden]``."""

    def __init__(
        self,
        n_items: int,
        hidden: int,
        n_layers: int,
        n_heads: int,
        inner: int,
        max_len: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, hidden)
        self.emb_norm = nn.LayerNorm(hidden)
        self.emb_drop = _Dropout(dropout)
        self.blocks = nn.ModuleList(
            _Block(hidden, n_heads, inner, dropout) for _ in range(n_layers)
        )
        self.final_norm = nn.LayerNorm(hidden)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        # small normal init (BERT-style): keeps initial logits of the tied output layer near 0
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        length = items.shape[1]
        pos = torch.arange(length, device=items.device)
        x = self.emb_drop(self.emb_norm(self.item_emb(items) + self.pos_emb(pos)))
        causal = torch.ones(length, length, dtype=torch.bool, device=items.device).tril()
        eye = torch.eye(length, dtype=torch.bool, device=items.device)
        # [B, 1, L, L]: query i sees key j <= i that is a real item, and always itself
        mask = (causal & (items != 0)[:, None, :]) | eye
        mask = mask[:, None]
        for block in self.blocks:
            x = block(x, mask)
        return self.final_norm(x)

    def use_rng(self, rng: np.random.Generator | None) -> None:
        """Draw every dropout mask from ``rng`` (CPU only; ``None`` = torch's sampler)."""
        for module in self.modules():
            if isinstance(module, _Dropout):
                module.rng = rng

    def item_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """Dot product with every item embedding, column 0 included: ``[..., n_items + 1]``."""
        return hidden @ self.item_emb.weight.T


class SASRec(Method):
    """SASRec: causal self-attention over the item sequence, next-item prediction."""

    name = "sasrec"
    gpu_profiles = frozenset({"paper"})
    bibtex = """@inproceedings{kang2018sasrec,
  title     = {Self-Attentive Sequential Recommendation},
  author    = {Kang, Wang-Cheng and McAuley, Julian},
  booktitle = {2018 IEEE International Conference on Data Mining (ICDM)},
  pages     = {197--206},
  year      = {2018},
  doi       = {10.1109/ICDM.2018.00035}
}"""

    @dataclass
    class Params(Params):
        """RecBole-like architecture; epochs/patience/batch sized to early-stop on ML-100K in
        under 2 minutes on 2 CPU cores (see perf/sasrec.py). ``paper``: the paper's
        implementation details (Sec. IV): d=50 (FFN d -> d), 2 blocks, 1 head, Adam lr 1e-3,
        batch 128, BCE with one negative; n=200 and dropout 0.2 are its ML-1M values (n=50 and
        dropout 0.5 for its sparser datasets)."""

        hidden: int = param(64, paper=50)
        n_layers: int = param(2, paper=2)
        n_heads: int = param(2, paper=1)
        inner: int = param(256, paper=50)
        max_len: int = param(50, paper=200)
        dropout: float = param(0.3, paper=0.2)
        lr: float = param(1e-3, paper=1e-3)
        weight_decay: float = param(0.0)
        batch_size: int = param(64, paper=128)
        #: ``ce``: softmax over every item; ``bce``: one sampled negative per position
        loss: str = param("ce", paper="bce", check=choice("ce", "bce"))
        max_epochs: int = param(30, paper=200)
        patience: int = param(5, paper=20)
        eval_batch_size: int = param(1024)

    def __init__(self, profile: str = "cpu", **params: Any) -> None:
        super().__init__(profile, **params)
        self.net: SASRecNet | None = None
        self.device = torch.device("cpu")

    # ------------------------------------------------------------------ training
    def build_net(self, n_items: int) -> SASRecNet:
        """The freshly initialised network (a hook: ``methods.p2rec`` seeds its item table)."""
        p = self.params
        return SASRecNet(n_items, p["hidden"], p["n_layers"], p["n_heads"], p["inner"],
                         p["max_len"], p["dropout"])  # fmt: skip

    def fit(self, ctx: FitContext) -> None:
        p = self.params
        split = ctx.split
        torch.manual_seed(ctx.seed)
        rng = np.random.default_rng(ctx.seed)
        self.device = torch.device(ctx.device)
        n_items = split.n_items
        net = self.build_net(n_items).to(self.device)
        net.use_rng(rng)
        self.net = net
        optim = torch.optim.Adam(net.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])

        inputs, labels, owner = training_windows(split.train, p["max_len"])
        n_positions = int((labels != 0).sum())
        seen = self._seen_pairs(split.train, n_items) if p["loss"] == "bce" else None

        def batch_loss(idx: np.ndarray) -> tuple[torch.Tensor, int]:
            x = torch.from_numpy(inputs[idx]).to(self.device)
            y = torch.from_numpy(labels[idx]).to(self.device)
            keep = y != 0
            h = net(x)[keep]  # [P, hidden], real positions only
            target = y[keep]
            if p["loss"] == "ce":
                # items 1..n only: padding is never a valid prediction
                logits = h @ net.item_emb.weight[1:].T
                return F.cross_entropy(logits, target - 1), len(target)
            # one owner per kept position, in the same row-major order as h
            rows = np.repeat(owner[idx], (labels[idx] != 0).sum(axis=1))
            neg = self._sample_negatives(rng, rows, seen, n_items)
            neg = torch.from_numpy(neg).to(self.device)
            pos_logit = (h * net.item_emb(target)).sum(-1)
            neg_logit = (h * net.item_emb(neg)).sum(-1)
            loss = F.binary_cross_entropy_with_logits(
                pos_logit, torch.ones_like(pos_logit)
            ) + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit))
            return loss, len(target)

        run = fit_windows("sasrec", net, optim, batch_loss, self.score_all, split, params=p,
                          n_windows=len(inputs), n_positions=n_positions, rng=rng,
                          show_progress=ctx.show_progress, checkpoint=ctx.checkpoint)  # fmt: skip
        self.fit_info = {
            **run.summary(),
            "history": run.history,
            "n_parameters": sum(t.numel() for t in net.parameters()),
            "train_windows": len(inputs),
            "train_positions": n_positions,
            "train_positions_per_second": n_positions * run.stopper.epochs / run.train_seconds
            if run.train_seconds
            else 0.0,
        }

    @staticmethod
    def _seen_pairs(train: list[np.ndarray], n_items: int) -> np.ndarray:
        """Sorted keys ``owner * (n_items + 1) + item`` of every training pair.

        A flat sorted array keeps the rejection test vectorised (``searchsorted``) and its
        memory linear in the number of interactions.
        """
        owners = np.repeat(np.arange(len(train)), [len(t) for t in train])
        items = np.concatenate(train) if train else np.empty(0, dtype=np.int64)
        return np.unique(owners * (n_items + 1) + items)

    @staticmethod
    def _sample_negatives(
        rng: np.random.Generator, owners: np.ndarray, seen: np.ndarray, n_items: int
    ) -> np.ndarray:
        """One uniform negative per entry of ``owners``, outside that owner's training items."""
        neg = rng.integers(1, n_items + 1, size=len(owners))
        todo = np.arange(len(owners))
        while len(todo):
            keys = owners[todo] * (n_items + 1) + neg[todo]
            pos = np.minimum(np.searchsorted(seen, keys), len(seen) - 1)
            todo = todo[seen[pos] == keys] if len(seen) else todo[:0]
            neg[todo] = rng.integers(1, n_items + 1, size=len(todo))
        return neg

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def score_all(self, users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        """Scores from the last position of each history's last ``max_len`` items."""
        if self.net is None:
            raise RuntimeError("SASRec.score_all called before fit")
        self.net.eval()
        x = torch.from_numpy(left_pad(histories, self.net.max_len)).to(self.device)
        scores = self.net.item_scores(self.net(x)[:, -1])
        scores[:, 0] = -math.inf
        return scores
