"""The leak probe: predict "largest history id + 1", then the ids closest above it.

It learns nothing. Any accuracy it gets comes from how ids were assigned, which is exactly the
size of the sequential-id leak in P5-style data (measured for POD by Xu et al. 2024,
arXiv 2402.06216); under random ids it should score like random.
"""

from __future__ import annotations

import numpy as np
import torch

from methods.base import FitContext, Method
from methods.params import NoParams


class IdPlusOne(Method):
    """Ranks items by closeness above the user's largest history id (the id-leak probe)."""

    name = "idplus1"
    bibtex = ""  # a probe of the protocol, not a published method
    baseline = "the ids just above the user's largest history id (the id-leak probe)"
    Params = NoParams

    def fit(self, ctx: FitContext) -> None:
        self.n_items = ctx.split.n_items
        self.device = ctx.device

    def score_all(self, users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        n = self.n_items
        largest = [int(h.max()) if len(h) else 0 for h in histories]
        top = torch.as_tensor(largest, device=self.device)
        ids = torch.arange(n + 1, device=self.device)[None, :]
        above = ids - top[:, None] - 1  # 0 for max + 1, growing upward
        below = n + (top[:, None] - ids)  # after every id above, nearest first
        distance = torch.where(ids > top[:, None], above, below)
        return -distance.to(torch.float32)
