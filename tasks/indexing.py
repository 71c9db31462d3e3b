"""Item id indexing as a protocol option.

``original`` keeps the ids as shipped (for P5-style data they carry the sequential-id leak:
items are numbered in the order they first appear in user timelines, so the test item is often
the largest history id + 1). ``random`` re-numbers items with a seeded permutation, which
removes any information the id's value carries. The run's seed picks the permutation, so each
seed of a random-id run sees a different assignment.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from benchmark.data.schema import Dataset
from benchmark.errors import ConfigError

ID_INDEXINGS = ("original", "random")


def reindex(dataset: Dataset, mode: str, seed: int) -> Dataset:
    """Return ``dataset`` with item indices permuted under ``mode`` (a copy; input untouched)."""
    if mode == "original":
        return dataset
    if mode != "random":
        raise ConfigError(
            f"unknown id indexing {mode!r}: expected one of {', '.join(ID_INDEXINGS)}"
        )
    rng = np.random.default_rng([int(seed), 0x1D5])
    # new_id[old] for old in 1..n; index 0 (padding) stays 0
    new_id = np.zeros(dataset.n_items + 1, dtype=np.int64)
    new_id[1:] = rng.permutation(dataset.n_items) + 1
    inter = dataset.interactions.copy()
    inter["item"] = new_id[inter["item"].to_numpy()]
    items = dataset.items.copy()
    items["item"] = new_id[items["item"].to_numpy()]
    items = items.sort_values("item").reset_index(drop=True)
    reviews = None
    if dataset.reviews is not None:
        reviews = dataset.reviews.copy()
        reviews["item"] = new_id[reviews["item"].to_numpy()]
    meta = dict(dataset.meta, id_indexing="random", id_seed=int(seed))
    return dataclasses.replace(
        dataset, interactions=inter, items=items, reviews=reviews, meta=meta
    )
