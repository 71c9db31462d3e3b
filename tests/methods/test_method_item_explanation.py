"""The explanation retrieval baselines: ``global-expl``'s constant answer."""

import pytest

from benchmark.metrics.text import bleu_p5
from methods.item_explanation import best_constant

SENTENCES = [
    "I love it.",
    "I love this cream and it smells great.",
    "great cream, smells great and I love it",
    "",
    "it works",
    "I love this cream.",
    "I love this cream and it smells great.",
]


def test_the_constant_is_the_best_by_the_suites_own_bleu_1():
    """Brute force with the metric the board prints: every candidate answered for all."""
    best, score = best_constant(SENTENCES)
    scores = {s: bleu_p5([s] * len(SENTENCES), SENTENCES, 1) for s in SENTENCES if s}
    assert best == max(scores, key=scores.get)
    assert score == pytest.approx(scores[best])  # the closed form is the corpus BLEU-1
    assert best != "I love it."  # short answers pay the brevity penalty


def test_no_nonempty_sentence_gives_no_score():
    assert best_constant([""]) == ("", -1.0)
