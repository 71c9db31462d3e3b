"""The tiny "walk" dataset and ranking helpers of the T5-family tests (imported, not collected).

60 users step through consecutive item ids, so the next item is learnable; each interaction has
a short review, so the explanation task has data too.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from benchmark.data.schema import Dataset, build_dataset
from benchmark.metrics.ranking import metric_vectors, rank_full_catalogue
from tasks.split import Split, leave_one_out

#: a T5 small enough to train in seconds, shared by the P5-family tests; it learns the walk in
#: a few epochs at P5's lr 1e-3 with linear decay and no early stopping, where the CPU
#: profile's slower recipe (lr 3e-4, patience) is sized for ML-100K
TINY_T5 = dict(d_model=48, d_ff=96, num_layers=1, num_heads=2, vocab_size=200, valid_users=30,
               batch_size=16, eval_batch_size=32, max_history=8, direct_candidates=5,
               expl_beams=2, expl_min_length=2, expl_max_length=8, lr=1e-3,
               lr_schedule="linear", patience=None)  # fmt: skip


def walk_dataset(twins: tuple[int, ...] = ()) -> tuple[Dataset, Split]:
    """The walk data and its leave-one-out split; each id in ``twins`` is an extra user whose
    sequence copies user 0's exactly."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(60):
        start = int(rng.integers(1, 30))
        rows += [(u, start + t, t) for t in range(int(rng.integers(5, 9)))]
    rows += [(twin, i, t) for twin in twins for (u, i, t) in rows if u == 0]
    f = pd.DataFrame(rows, columns=["u", "i", "t"])
    reviews = pd.DataFrame({
        "user": f.u, "item": f.i, "rating": 5.0, "summary": "",
        # two wordings per item, so that a text group can be evaluated while the item's other
        # group trains (the explanation split groups identical texts and covers every item)
        "text": [f"item {i} is a fine thing to own{' for me' if u % 3 == 0 else ''}."
                 for u, i in zip(f.u, f.i)],
        "timestamp": f.t,
    })  # fmt: skip
    ds = build_dataset(name="walk", source="mem", content_hash="h", format="test",
                       users=f.u, items=f.i, timestamps=f.t, reviews=reviews)  # fmt: skip
    return ds, leave_one_out(ds)


def ndcg_at_10(score_all: Callable[..., torch.Tensor], split: Split) -> float:
    """Mean test NDCG@10 over the full catalogue (history masked)."""
    ranks = rank_full_catalogue(score_all, split.users, split.histories("test"), split.test)
    return float(metric_vectors(ranks, ["ndcg@10"])["ndcg@10"].mean())


def random_ndcg(split: Split, seed: int = 0) -> float:
    """The same for seeded random scores: the floor a trained model must clear."""
    rng = np.random.default_rng(seed)

    def score_all(users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        return torch.as_tensor(rng.random((len(users), split.n_items + 1)))

    return ndcg_at_10(score_all, split)
