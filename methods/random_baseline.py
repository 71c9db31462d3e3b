"""Random scores: the floor every method is compared against."""

from __future__ import annotations

import numpy as np
import torch

from methods.base import FitContext, Method
from methods.params import NoParams


class RandomScores(Method):
    """Uniform random scores, seeded per (run seed, user) so batching does not change them."""

    name = "random"
    bibtex = ""
    baseline = "uniform random scores (chance)"
    Params = NoParams

    def fit(self, ctx: FitContext) -> None:
        self.seed = ctx.seed
        self.n_items = ctx.split.n_items
        self.device = ctx.device

    def score_all(self, users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        rows = [
            np.random.default_rng([self.seed, int(u)]).random(self.n_items + 1, dtype=np.float32)
            for u in users
        ]
        return torch.as_tensor(np.stack(rows), device=self.device)
