"""Last-item transitions: the items that most often followed the user's latest item.

A first-order Markov chain estimated by counting, the transition part of FPMC (Rendle,
Freudenthaler & Schmidt-Thieme, WWW 2010) without its factorisation or user term: from the
training split's chronological sequences, ``counts[i, j]`` is how often item ``j`` came directly
after item ``i``. A user is scored by the row of the last item of the history they are asked
with; training popularity only breaks ties (``count + pop / (max_pop + 1)``), so a user with an
empty history, or whose last item never had a successor in training, gets the popularity list.
It shows how much of a sequential model's accuracy the previous item alone explains.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import torch

from methods.base import FitContext, Method
from methods.params import NoParams


class LastItemTransitions(Method):
    """Item-to-item transition counts from the training split; popularity breaks ties."""

    name = "last-item"
    bibtex = """@inproceedings{rendle2010fpmc,
  title     = {Factorizing Personalized Markov Chains for Next-Basket Recommendation},
  author    = {Rendle, Steffen and Freudenthaler, Christoph and Schmidt-Thieme, Lars},
  booktitle = {Proceedings of the 19th International Conference on World Wide Web},
  pages     = {811--820},
  year      = {2010},
  doi       = {10.1145/1772690.1772773}
}"""
    baseline = (
        "the items that most often followed the user's last item in training (a first-order "
        "Markov chain), popularity breaking ties"
    )
    Params = NoParams

    def fit(self, ctx: FitContext) -> None:
        n = ctx.split.n_items
        pairs = [(seq[:-1], seq[1:]) for seq in ctx.split.train if len(seq) > 1]
        prev = np.concatenate([p for p, _ in pairs]) if pairs else np.empty(0, dtype=np.int64)
        nxt = np.concatenate([q for _, q in pairs]) if pairs else np.empty(0, dtype=np.int64)
        # CSR [n + 1, n + 1] (row and column 0 are padding); duplicates are summed
        self.counts = scipy.sparse.csr_matrix(
            (np.ones(len(prev), dtype=np.float32), (prev, nxt)), shape=(n + 1, n + 1)
        )
        self.counts.sum_duplicates()
        _, items = ctx.split.train_interactions()
        pop = np.bincount(items, minlength=n + 1).astype(np.float64)
        # below 1, so it orders only items with the same count (float32 keeps the order while
        # count * (max_pop + 1) stays well under 2**23)
        self.tiebreak = torch.as_tensor(pop / (pop.max(initial=0) + 1), dtype=torch.float32,
                                        device=ctx.device)  # fmt: skip
        self.device = ctx.device
        self.fit_info = {
            "n_transitions": int(len(prev)),
            "n_distinct_pairs": int(self.counts.nnz),
            "n_items_with_successor": int(np.count_nonzero(np.diff(self.counts.indptr))),
        }

    def score_all(self, users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        last = np.array([int(h[-1]) if len(h) else 0 for h in histories], dtype=np.int64)
        rows = self.counts[last].toarray()  # row 0 (no history) is all zeros: popularity
        return torch.as_tensor(rows, device=self.device) + self.tiebreak
