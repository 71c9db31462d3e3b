"""Popularity: every user gets the items ranked by training interaction count."""

from __future__ import annotations

import numpy as np
import torch

from methods.base import FitContext, Method
from methods.params import NoParams


class Popularity(Method):
    """Training-split popularity (interaction counts); the baseline every method must beat."""

    name = "pop"
    bibtex = ""
    baseline = "items ranked by training interaction count, the same list for every user"
    Params = NoParams

    def fit(self, ctx: FitContext) -> None:
        _, items = ctx.split.train_interactions()
        counts = np.bincount(items, minlength=ctx.split.n_items + 1).astype(np.float32)
        self.counts = torch.as_tensor(counts, device=ctx.device)
        self.fit_info = {"n_training_interactions": int(len(items))}

    def score_all(self, users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        return self.counts.expand(len(users), -1)
