"""Retrieval baseline for explanation generation: answer with the item's typical explanation.

For each item it returns the training explanation that shares the most words with the item's
other training explanations (a medoid by word overlap); items without training explanations
get the medoid of all training explanations. It learns no language model, so a generative
method must beat it to claim it writes explanations rather than recalls them.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from benchmark.errors import ConfigError
from methods.base import FitContext, TextMethod
from methods.params import NoParams


def _medoid(sentences: list[str]) -> str:
    """The sentence whose words are most frequent across ``sentences`` (ties: first)."""
    counts = Counter(w for s in sentences for w in set(s.lower().split()))
    scores = [sum(counts[w] for w in set(s.lower().split())) / max(len(s.split()), 1)
              for s in sentences]
    return sentences[int(np.argmax(scores))]


class ItemExplanation(TextMethod):
    """Explanation baseline: the item's most typical training explanation (retrieval)."""

    name = "item-expl"
    bibtex = ""
    baseline = "the item's most typical training explanation (word-overlap medoid)"
    Params = NoParams

    def fit(self, ctx: FitContext) -> None:
        if ctx.explanation is None:
            raise ConfigError(f"{self.name} needs review data for the explanation task")
        train = ctx.explanation.part("train")
        self.by_item = {
            int(item): _medoid(group["explanation"].tolist())
            for item, group in train.groupby("item", sort=True)
        }
        self.fallback = _medoid(train["explanation"].tolist())
        self.fit_info = {"items_with_explanations": len(self.by_item)}

    def generate_explanations(
        self, users: np.ndarray, items: np.ndarray, features: list[str]
    ) -> list[str]:
        return [self.by_item.get(int(i), self.fallback) for i in items]
