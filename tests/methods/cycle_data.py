"""The synthetic dataset of the sequence models' tests (SASRec, UEM)."""

from __future__ import annotations

import pandas as pd

from benchmark.data.schema import Dataset, build_dataset


def cycle_dataset(
    n_users: int = 40, n_items: int = 30, length: int = 14, *, titles: bool = False
) -> Dataset:
    """Each user walks items in a cycle, so the next item follows from the last one; with
    ``titles``, item ``k`` is titled ``movie<k>``."""
    users, items, stamps = [], [], []
    for u in range(n_users):
        start = (u * 7) % n_items
        for k in range(length):
            users.append(u)
            items.append((start + k) % n_items + 1)
            stamps.append(k)
    info = None
    if titles:
        info = pd.DataFrame({"raw_id": [str(k) for k in range(1, n_items + 1)],
                             "title": [f"movie{k}" for k in range(1, n_items + 1)],
                             "categories": [None] * n_items})  # fmt: skip
    return build_dataset(name="cycle", source="synthetic", content_hash="0" * 64,
                         format="atomic", users=pd.Series(users), items=pd.Series(items),
                         timestamps=pd.Series(stamps), item_info=info)  # fmt: skip
