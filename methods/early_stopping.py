"""Epoch selection on a validation score, shared by the methods that train for epochs.

P5/POD/PeaPOD, SASRec and UEM all keep the weights of their best validation epoch and stop after
``patience`` epochs without improvement, so the bookkeeping lives here once: a tie does not
count as an improvement (the earlier epoch is kept), and ``patience=None`` never stops early.
The epoch loop around it is ``methods.training.train_epochs``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class EarlyStopping:
    """Call ``step`` after each epoch's validation; ``best_state`` holds the best epoch's
    snapshot (whatever ``snapshot()`` returned then)."""

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.best = float("-inf")  # any score improves on it (a negated loss too)
        self.best_epoch = 0
        self.best_state: Any = None
        self.bad_epochs = 0
        self.stopped_early = False
        self.epochs = 0  # the last epoch stepped: how many were run

    def step(self, epoch: int, score: float, snapshot: Callable[[], Any]) -> bool:
        """Record ``epoch``'s validation ``score``; True when training should stop."""
        self.epochs = epoch
        if score > self.best:
            self.best, self.best_epoch, self.bad_epochs = score, epoch, 0
            self.best_state = snapshot()
            return False
        self.bad_epochs += 1
        self.stopped_early = self.patience is not None and self.bad_epochs >= self.patience
        return self.stopped_early
