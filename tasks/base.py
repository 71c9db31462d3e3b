"""What a ranking task is (declarative) and the requests it hands to a method."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from benchmark.metrics import DEFAULT_METRICS


@dataclass(frozen=True)
class RankingTask:
    """A ranking task over the leave-one-out split.

    ``kind="full"`` ranks the target among all items (optionally masking the user's history);
    ``kind="candidates"`` ranks it among ``n_negatives`` sampled items the user never
    interacted with, in an order shuffled with the run's seed and persisted with the results.
    """

    name: str
    description: str
    kind: Literal["full", "candidates"]
    metrics: tuple[str, ...] = DEFAULT_METRICS
    n_negatives: int = 0
    mask_history: bool = True

    @property
    def n_candidates(self) -> int | None:
        return self.n_negatives + 1 if self.kind == "candidates" else None

    def describe(self) -> dict:
        """The task as stored in every result record."""
        out = asdict(self)
        out["metrics"] = list(self.metrics)
        out["n_candidates"] = self.n_candidates
        return out


@dataclass
class EvalRequests:
    """One batch of work for a method: rank ``targets`` given ``histories``.

    For candidate tasks, ``candidates[i]`` lists the items to score for user ``i`` and
    ``target_col[i]`` is where the held-out positive sits in that row.
    """

    users: np.ndarray
    histories: list[np.ndarray]
    targets: np.ndarray
    candidates: np.ndarray | None = None
    target_col: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.users)
