"""Leave-one-out split: last item test, second-to-last validation, the rest training.

Users with fewer than 3 interactions cannot give all three parts; they are dropped and counted
(``Split.n_dropped``) so the run's metadata shows how many.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.data.schema import Dataset

MIN_INTERACTIONS = 3

#: how a user's interactions are ordered before the split, as recorded in every result
CHRONOLOGY_RULE = (
    "sorted by timestamp; ties broken by the source file's row order (stable); formats without "
    "timestamps use the order given"
)
#: the split as recorded in every ranking result
SPLIT_RULE = "leave-one-out: last item test, second-to-last validation, rest training"


@dataclass
class Split:
    """Per-user leave-one-out split of a dataset; arrays are aligned with ``users``."""

    users: np.ndarray  # int64 user indices kept, ascending
    train: list[np.ndarray]  # training items, chronological
    valid: np.ndarray  # int64 validation target per user
    test: np.ndarray  # int64 test target per user
    n_items: int
    n_dropped: int

    def histories(self, stage: str) -> list[np.ndarray]:
        """What a model may see before predicting ``stage``: train, plus the valid item for test."""
        if stage == "valid":
            return self.train
        if stage == "test":
            return [np.append(t, v) for t, v in zip(self.train, self.valid)]
        raise ValueError(f"stage must be 'valid' or 'test', got {stage!r}")

    def targets(self, stage: str) -> np.ndarray:
        if stage == "valid":
            return self.valid
        if stage == "test":
            return self.test
        raise ValueError(f"stage must be 'valid' or 'test', got {stage!r}")

    @property
    def n_users(self) -> int:
        return len(self.users)

    def train_interactions(self) -> tuple[np.ndarray, np.ndarray]:
        """(user, item) arrays of every training interaction, for count-based models."""
        lengths = np.array([len(t) for t in self.train], dtype=np.int64)
        users = np.repeat(self.users, lengths)
        items = np.concatenate(self.train) if self.train else np.empty(0, dtype=np.int64)
        return users, items.astype(np.int64, copy=False)


def leave_one_out(dataset: Dataset) -> Split:
    """Split every user's chronological sequence of ``dataset``."""
    users, train, valid, test = [], [], [], []
    dropped = 0
    for user, seq in enumerate(dataset.sequences()):
        if len(seq) < MIN_INTERACTIONS:
            dropped += 1
            continue
        users.append(user)
        train.append(seq[:-2])
        valid.append(seq[-2])
        test.append(seq[-1])
    return Split(
        users=np.asarray(users, dtype=np.int64),
        train=train,
        valid=np.asarray(valid, dtype=np.int64),
        test=np.asarray(test, dtype=np.int64),
        n_items=dataset.n_items,
        n_dropped=dropped,
    )
