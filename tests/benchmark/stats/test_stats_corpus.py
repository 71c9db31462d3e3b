"""Approximate randomization of corpus statistics (``benchmark.stats.corpus``)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from benchmark.metrics.text import bleu_from_statistics, bleu_p5, bleu_statistics
from benchmark.stats.corpus import (
    corpus_randomization_test,
    corpus_randomization_tests,
    mean_of,
    mean_statistics,
)


def _exact_p(a: np.ndarray, b: np.ndarray, stat) -> float:
    """Two-sided p over all 2^n swap patterns (what the resampling approximates)."""
    obs = stat(a.sum(0, keepdims=True))[0] - stat(b.sum(0, keepdims=True))[0]
    count = total = 0
    for pattern in itertools.product([0, 1], repeat=len(a)):
        s = np.array(pattern, dtype=bool)[:, None]
        sa, sb = np.where(s, b, a).sum(0, keepdims=True), np.where(s, a, b).sum(0, keepdims=True)
        count += abs(stat(sa)[0] - stat(sb)[0]) >= abs(obs) - 1e-12
        total += 1
    return count / total


def test_mean_statistic_matches_exact_permutation_test():
    rng = np.random.default_rng(0)
    a, b = rng.random(10) + 0.3, rng.random(10)
    res = corpus_randomization_test([(mean_statistics(a), mean_statistics(b))], mean_of,
                                    n_resamples=20_000, seed=1)
    assert res.observed == pytest.approx(a.mean() - b.mean())
    assert res.p_value == pytest.approx(_exact_p(mean_statistics(a), mean_statistics(b),
                                                 mean_of), abs=0.01)


def test_corpus_bleu_is_tested_as_printed():
    hyps_a = ["the cream is soft", "it smells good", "my skin loves it", "works well for me"]
    hyps_b = ["a b c d", "it smells bad", "skin is dry", "no good at all"]
    refs = ["the cream is soft and light", "it smells good all day", "my skin loves it now",
            "it works well for me"]
    sa, sb = bleu_statistics("bleu-4", hyps_a, refs), bleu_statistics("bleu-4", hyps_b, refs)
    stat = lambda s: bleu_from_statistics("bleu-4", s)  # noqa: E731
    res = corpus_randomization_test([(sa, sb)], stat, n_resamples=5_000)
    assert res.observed == pytest.approx(bleu_p5(hyps_a, refs, 4) - bleu_p5(hyps_b, refs, 4))
    assert res.p_value == pytest.approx(_exact_p(sa, sb, stat), abs=0.02)


def test_strata_average_and_identical_systems():
    rng = np.random.default_rng(2)
    strata = [(mean_statistics(rng.random(n)), mean_statistics(rng.random(n))) for n in (5, 9)]
    res = corpus_randomization_test(strata, mean_of, n_resamples=500)
    assert res.n == 14
    expected = np.mean([a[:, 0].mean() - b[:, 0].mean() for a, b in strata])
    assert res.observed == pytest.approx(expected)  # mean over seeds of each seed's difference
    same = mean_statistics(rng.random(8))
    tie = corpus_randomization_test([(same, same.copy())], mean_of, n_resamples=200)
    assert tie.observed == 0.0 and tie.p_value == 1.0


def test_deterministic_and_several_statistics_share_swaps():
    rng = np.random.default_rng(3)
    a = np.hstack([mean_statistics(rng.random(30) + 0.1), mean_statistics(rng.random(30))])
    b = np.hstack([mean_statistics(rng.random(30)), mean_statistics(rng.random(30))])
    stats = {"first": lambda s: mean_of(s[:, :2]), "second": lambda s: mean_of(s[:, 2:])}
    one = corpus_randomization_tests([(a, b)], stats, n_resamples=1_000, seed=5)
    two = corpus_randomization_tests([(a, b)], stats, n_resamples=1_000, seed=5)
    assert one == two
    alone = corpus_randomization_test([(a[:, :2], b[:, :2])], mean_of, n_resamples=1_000, seed=5)
    assert alone.p_value == one["first"].p_value


def test_bad_input_is_refused():
    good = mean_statistics(np.ones(3))
    with pytest.raises(ValueError, match="no strata"):
        corpus_randomization_test([], mean_of)
    with pytest.raises(ValueError, match="one shape"):
        corpus_randomization_test([(good, mean_statistics(np.ones(4)))], mean_of)
    with pytest.raises(ValueError, match="NaN"):
        corpus_randomization_test([(good, mean_statistics(np.array([1.0, np.nan, 2.0])))],
                                  mean_of)
    with pytest.raises(ValueError, match="n_resamples"):
        corpus_randomization_test([(good, good)], mean_of, n_resamples=0)
