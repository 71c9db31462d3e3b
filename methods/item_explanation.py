"""Retrieval baselines for explanation generation: the item's typical explanation, and one
typical explanation for everyone.

``item-expl`` returns, for each item, the training explanation that shares the most words with
the item's other training explanations (a medoid by word overlap); items without training
explanations get the medoid of all training explanations. ``global-expl`` answers every example
with one training explanation, the one of best corpus BLEU-1 against all of them: the text
counterpart of ``pop``, which a generative model that collapses to a few generic sentences
must beat to show it explains anything. Neither learns a
language model, so a generative method must beat them to claim it writes explanations rather
than recalls them.
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


class GlobalExplanation(ItemExplanation):
    """Explanation baseline: one constant answer for every example, the training explanation
    with the best P5-style corpus BLEU-1 against all training explanations."""

    name = "global-expl"
    baseline = (
        "one training explanation for every example: the one with the best BLEU-1 against "
        "all training explanations"
    )

    def fit(self, ctx: FitContext) -> None:
        if ctx.explanation is None:
            raise ConfigError(f"{self.name} needs review data for the explanation task")
        train = ctx.explanation.part("train")["explanation"].tolist()
        self.by_item = {}  # every example gets the fallback
        self.fallback, score = best_constant(train)
        self.fit_info = {"answer": self.fallback, "train_bleu_1": score}


def best_constant(sentences: list[str]) -> tuple[str, float]:
    """The sentence of ``sentences`` that, answered for every one of them, scores the best
    corpus BLEU-1 against them as references (P5's variant: whitespace tokens, clipped
    unigram precision times the brevity penalty, no smoothing; ties: first), and that score.

    Closed form, so every candidate costs its own length: a constant answer ``c`` matches
    ``sum_r min(count_c(w), count_r(w))`` of each word ``w`` over the references ``r``.
    """
    refs = [Counter(x.split()) for x in sentences]
    ref_len = sum(sum(r.values()) for r in refs)
    clipped: dict[tuple[str, int], int] = {}  # (word, k) -> sum over refs of min(k, count)
    best, best_score = sentences[0], -1.0
    for sentence in sentences:
        words = Counter(sentence.split())
        length = sum(words.values())
        if not length:
            continue
        matches = 0
        for word, k in words.items():
            if (word, k) not in clipped:
                clipped[word, k] = sum(min(k, r[word]) for r in refs)
            matches += clipped[word, k]
        hyp_len = length * len(sentences)
        brevity = 1.0 if hyp_len > ref_len else float(np.exp(1 - ref_len / hyp_len))
        score = 100.0 * brevity * matches / hyp_len
        if score > best_score:
            best, best_score = sentence, score
    return best, best_score
