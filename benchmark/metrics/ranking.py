"""Rank-based metrics for one relevant item per user, vectorised in torch.

Tie rule (pessimistic): the target ranks below every other item with an equal score, i.e.
``rank = 1 + #{score > target} + #{score == target, other item}``. A scorer that gives every
item the same score therefore ranks every target last and earns nothing; a NaN target score
also ranks last.

With one relevant item, HR@k = [rank <= k], NDCG@k = [rank <= k] / log2(rank + 1) (linear and
exponential gain agree for binary relevance), MRR@k = [rank <= k] / rank.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

DEFAULT_METRICS: tuple[str, ...] = (
    "hr@1",
    "hr@5",
    "hr@10",
    "hr@20",
    "ndcg@5",
    "ndcg@10",
    "ndcg@20",
    "mrr@10",
)
_KINDS = ("hr", "ndcg", "mrr")


def parse_metric(name: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; raises ValueError naming the accepted forms."""
    kind, sep, cutoff = name.lower().partition("@")
    if not sep or kind not in _KINDS or not cutoff.isdigit() or int(cutoff) < 1:
        raise ValueError(
            f"unknown metric {name!r}: expected one of {', '.join(_KINDS)} followed by @k, "
            "e.g. 'hr@10' or 'ndcg@5'"
        )
    return kind, int(cutoff)


# Rows per block of the CPU rank count: about 2M scores, so that a block's comparison mask stays
# in cache and the scores are read from memory once (perf/metrics.py).
_BLOCK_SCORES = 1 << 21


def target_ranks(scores: torch.Tensor, target_col: torch.Tensor) -> torch.Tensor:
    """1-based pessimistic rank of ``scores[i, target_col[i]]`` within row ``i``.

    ``scores`` is ``[B, C]``; ``-inf`` marks items excluded from ranking (they rank below any
    finite target). Returns int64 ``[B]``.

    The rank is one comparison per score: ``#{score >= target}`` counts the target itself once
    and every tie against it (NaN scores compare false, so they never rank ahead). A NaN target
    ranks last (rank ``C``). On CPU the count runs in numpy over row blocks that fit in cache
    (one pass over the scores, no full-size mask); elsewhere, or for dtypes numpy lacks
    (bfloat16), in torch. Both give identical ranks (tested).
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must be [users, items], got shape {tuple(scores.shape)}")
    target_col = target_col.to(scores.device, torch.long)
    if scores.device.type == "cpu" and scores.dtype in (torch.float32, torch.float64,
                                                        torch.float16):  # fmt: skip
        ranks = _target_ranks_numpy(scores.detach().numpy(), target_col.numpy())
        return torch.from_numpy(ranks)
    target = scores.gather(1, target_col[:, None])
    ranks = (scores >= target).sum(dim=1)
    nan_target = torch.isnan(target[:, 0])
    if nan_target.any():
        ranks = torch.where(nan_target, torch.full_like(ranks, scores.shape[1]), ranks)
    return ranks.to(torch.long)


def _target_ranks_numpy(scores: np.ndarray, target_col: np.ndarray) -> np.ndarray:
    """``target_ranks`` for a numpy score matrix, block by block."""
    n_rows, n_cols = scores.shape
    ranks = np.empty(n_rows, dtype=np.int64)
    if n_rows == 0:
        return ranks
    if n_cols == 0:
        raise ValueError("scores has no items to rank")
    if target_col.min(initial=0) < 0 or target_col.max(initial=0) >= n_cols:
        raise IndexError(f"target column out of range for {n_cols} items")
    rows = max(1, _BLOCK_SCORES // n_cols)
    for start in range(0, n_rows, rows):
        block = scores[start : start + rows]
        target = block[np.arange(len(block)), target_col[start : start + rows]]
        ranks[start : start + len(block)] = np.count_nonzero(block >= target[:, None], axis=1)
        nan_target = np.isnan(target)
        if nan_target.any():
            ranks[start : start + len(block)][nan_target] = n_cols
    return ranks


def metric_vectors(
    ranks: torch.Tensor | np.ndarray, names: Sequence[str] = DEFAULT_METRICS
) -> dict[str, np.ndarray]:
    """Per-user metric values (float64 numpy) for every metric in ``names``."""
    r = torch.as_tensor(ranks).to(torch.float64)
    out: dict[str, np.ndarray] = {}
    for name in names:
        kind, k = parse_metric(name)
        hit = r <= k
        if kind == "hr":
            value = hit.to(torch.float64)
        elif kind == "ndcg":
            value = torch.where(hit, 1.0 / torch.log2(r + 1.0), torch.zeros_like(r))
        else:
            value = torch.where(hit, 1.0 / r, torch.zeros_like(r))
        out[name.lower()] = value.cpu().numpy()
    return out


ScoreAll = Callable[[np.ndarray, list[np.ndarray]], torch.Tensor]


def rank_full_catalogue(
    score_all: ScoreAll,
    users: np.ndarray,
    histories: list[np.ndarray],
    targets: np.ndarray,
    *,
    mask_history: bool = True,
    batch_size: int = 1024,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Rank each target among all items (columns 1..n; column 0 is padding and ignored).

    ``score_all(users, histories)`` returns ``[B, n_items + 1]`` scores. With ``mask_history``
    the user's history items are excluded (set to -inf). A target that also occurs in its
    history (repeat consumption) is masked too and ranks among the excluded items, as in
    RecBole; the runner records how often that happens.
    """
    ranks = np.empty(len(users), dtype=np.int64)
    for start in range(0, len(users), batch_size):
        stop = min(start + batch_size, len(users))
        hist = histories[start:stop]
        scores = score_all(users[start:stop], hist).to(torch.float32)
        scores = scores.clone()
        scores[:, 0] = -math.inf
        if mask_history:
            rows = np.repeat(np.arange(stop - start), [len(h) for h in hist])
            cols = np.concatenate(hist) if len(rows) else np.empty(0, dtype=np.int64)
            scores[torch.as_tensor(rows), torch.as_tensor(cols, dtype=torch.long)] = -math.inf
        tgt = torch.as_tensor(targets[start:stop], dtype=torch.long, device=scores.device)
        # drop the padding column so it never counts as a competitor
        ranks[start:stop] = target_ranks(scores[:, 1:], tgt - 1).cpu().numpy()
        if progress is not None:
            progress(stop - start)
    return ranks
