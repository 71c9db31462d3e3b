"""Epoch checkpoints: a fit killed part-way (Ctrl-C, a pre-empted GPU node, the end of a CI
slot) continues from its last complete epoch when the same command runs again.

A checkpoint is one file holding everything the epoch loop needs to go on as if it had never
stopped: the method's training state (weights, optimiser, scheduler, its own random
generators, its curves), the early-stopping state with the best epoch's weights, and the
global random states (Python, NumPy, torch CPU and CUDA). It is written atomically (a temporary
file renamed over the old one) at the end of every epoch, so a kill during the write leaves the
previous epoch's checkpoint whole. The runner names it after the fit's configuration (next to
the results the fit will write), hands it to the method in ``FitContext.checkpoint``, deletes
it once those results are written, and ignores it under ``--force``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["CHECKPOINT_VERSION", "EpochCheckpoint", "global_rng_state", "set_global_rng_state"]

#: stored in every checkpoint; a file of another version is ignored (the fit starts over)
CHECKPOINT_VERSION = 1


class EpochCheckpoint:
    """The checkpoint file of one fit (``path``); ``load`` gives None when there is none."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any] | None:
        """The last saved state, or None (no file, or one of another version)."""
        if not self.path.is_file():
            return None
        # our own file, written by save(): it holds optimiser states and NumPy RNG tuples
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Replace the file with ``state`` atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save({**state, "version": CHECKPOINT_VERSION}, tmp)
        os.replace(tmp, self.path)

    def stage(self, name: str) -> EpochCheckpoint:
        """The checkpoint of one stage of a multi-stage fit, beside this one
        (``<stem>.<name><suffix>``); the method clears it when the whole fit is done."""
        return EpochCheckpoint(self.path.with_name(f"{self.path.stem}.{name}{self.path.suffix}"))

    def clear(self) -> None:
        """Delete the file (and a temporary one a kill may have left)."""
        for path in (self.path, self.path.with_name(self.path.name + ".tmp")):
            path.unlink(missing_ok=True)


def global_rng_state() -> dict[str, Any]:
    """The process-wide random states a training step may draw from."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_global_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`global_rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
