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

    #: the fields an epoch checkpoint stores (``state_dict``)
    _FIELDS = ("patience", "best", "best_epoch", "best_state", "bad_epochs", "stopped_early",
               "epochs", "timed_out", "elapsed")  # fmt: skip

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.best = float("-inf")  # any score improves on it (a negated loss too)
        self.best_epoch = 0
        self.best_state: Any = None
        self.bad_epochs = 0
        self.stopped_early = False
        self.epochs = 0  # the last epoch stepped: how many were run
        #: the epoch a resumed fit continued after (0: it ran from the start)
        self.resumed_from = 0
        #: of ``elapsed``, the seconds spent before this process resumed the fit
        self.earlier_seconds = 0.0
        #: seconds the epochs took (over all sittings), and whether they hit the time limit
        self.elapsed = 0.0
        self.timed_out = False

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

    @property
    def stop_reason(self) -> str:
        """``patience`` (no improvement for ``patience`` epochs), ``time limit`` or ``cap`` (the
        epoch limit)."""
        if self.stopped_early:
            return "patience"
        return "time limit" if self.timed_out else "cap"

    @property
    def improving_at_cap(self) -> bool:
        """Stopped by its budget (the epoch cap or the time limit) before its early-stopping
        rule ended it: the best epoch is within the last ``patience`` epochs, or there is no
        rule (``patience`` None), so nothing showed the fit had converged. Such a fit measures
        its budget as much as its method."""
        if self.stopped_early or self.epochs == 0:
            return False
        return self.patience is None or self.epochs - self.best_epoch < self.patience

    def state_dict(self) -> dict[str, Any]:
        """Everything ``step`` depends on, for an epoch checkpoint."""
        return {k: getattr(self, k) for k in self._FIELDS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in self._FIELDS:
            setattr(self, k, state.get(k, getattr(self, k)))
