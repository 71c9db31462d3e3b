"""Paired tests, effect size and bootstrap CIs checked against scipy and hand calculations."""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
import scipy.stats

from benchmark.stats import (
    TESTS,
    TestResult,
    bootstrap_ci,
    compare,
    effect_size,
    paired_t_test,
    randomization_test,
    wilcoxon_test,
)


def _pair(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two correlated per-user metric vectors in [0, 1], b better by ``shift`` on average."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.0, 1.0, n)
    b = np.clip(a + shift + rng.normal(0.0, 0.15, n), 0.0, 1.0)
    return a, b


def _exact_sign_flip_p(d: list[Fraction] | np.ndarray) -> float:
    """Brute-force two-sided sign-flip p-value over all 2**n patterns (reference)."""
    d = list(d)
    observed = abs(sum(d))
    hits = 0
    for signs in itertools.product((1, -1), repeat=len(d)):
        hits += abs(sum(s * x for s, x in zip(signs, d, strict=True))) >= observed
    return hits / 2 ** len(d)


# ----------------------------------------------------------------------------- t-test


@pytest.mark.parametrize("n, shift, seed", [(5, 0.0, 1), (30, 0.05, 2), (500, 0.01, 3)])
def test_t_test_matches_scipy_ttest_rel(n: int, shift: float, seed: int) -> None:
    a, b = _pair(n, shift, seed)
    ours = paired_t_test(a, b)
    ref = scipy.stats.ttest_rel(a, b)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert ours.test == "t"
    assert ours.n == n


def test_t_test_hand_computed() -> None:
    # d = [1, 2, 3, 4]: mean 2.5, sd sqrt(5/3), t = 2.5 / (sd / 2) = sqrt(15), df = 3.
    res = paired_t_test([1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0])
    assert res.statistic == pytest.approx(math.sqrt(15.0), rel=1e-12)
    assert res.p_value == pytest.approx(2 * scipy.stats.t.sf(math.sqrt(15.0), 3), rel=1e-12)
    assert 0.02 < res.p_value < 0.04
    assert res.mean_diff == pytest.approx(2.5)


def test_t_test_sign_follows_a_minus_b() -> None:
    a, b = _pair(100, 0.1, 4)
    assert paired_t_test(a, b).statistic < 0 < paired_t_test(b, a).statistic
    assert paired_t_test(a, b).p_value == pytest.approx(paired_t_test(b, a).p_value)


def test_t_test_constant_nonzero_difference_is_infinitely_significant() -> None:
    a = np.array([0.5, 0.25, 1.0, 0.75])
    res = paired_t_test(a + 1.0, a)
    assert res.statistic == math.inf
    assert res.p_value == 0.0
    assert paired_t_test(a, a + 1.0).statistic == -math.inf


# ----------------------------------------------------------------------------- Wilcoxon


@pytest.mark.parametrize(
    "a, b",
    [
        _pair(20, 0.05, 5),  # no ties or zeros, n <= 50: scipy's exact distribution
        _pair(200, 0.02, 6),  # n > 50: normal approximation
        _pair(40, 0.0, 7),  # no ties, 13 < n <= 50: delegated to scipy's exact distribution
        # ties and zeros, n <= 13: scipy's exhaustive permutation (slow in scipy beyond n ~ 8)
        (np.array([1, 2, 2, 3, 0, 5, 1, 4]) / 5, np.array([0, 1, 3, 1, 0, 2, 1, 1]) / 5),
        (np.array([0.3, 0.3, -0.3, 0.1, 0.2, -0.1]), np.zeros(6)),
        (np.array([0.0, 0.0, 0.0, 0.4]), np.zeros(4)),  # a single non-zero difference
    ],
)
def test_wilcoxon_matches_scipy(a: np.ndarray, b: np.ndarray) -> None:
    ours = wilcoxon_test(a, b)
    ref = scipy.stats.wilcoxon(a, b)
    assert ours.statistic == pytest.approx(ref.statistic)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert ours.test == "wilcoxon"


def test_wilcoxon_exact_hand_computed() -> None:
    # d = [1, -2, 3, 4, 5, 6]: R- = 2; subsets of {1..6} with rank sum <= 2 are {}, {1}, {2},
    # so the two-sided exact p = 2 * 3 / 2**6.
    res = wilcoxon_test([1.0, -2.0, 3.0, 4.0, 5.0, 6.0], np.zeros(6))
    assert res.statistic == 2.0
    assert res.p_value == pytest.approx(2 * 3 / 64)
    # All five differences positive: only the empty subset, p = 2 / 2**5.
    assert wilcoxon_test(np.arange(1.0, 6.0), np.zeros(5)).p_value == pytest.approx(2 / 32)
    # Swapping the systems mirrors the rank sums but not the two-sided result.
    swapped = wilcoxon_test(np.zeros(6), [1.0, -2.0, 3.0, 4.0, 5.0, 6.0])
    assert (swapped.statistic, swapped.p_value) == (res.statistic, res.p_value)


def _signed_rank_brute_force(d: np.ndarray) -> float:
    """Two-sided p over all sign flips of the non-zero differences (average ranks for ties)."""
    nz = d[d != 0]
    ranks = scipy.stats.rankdata(np.abs(nz))
    observed = ranks[nz > 0].sum()
    null = [
        sum(r for r, s in zip(ranks, signs, strict=True) if s > 0)
        for signs in itertools.product((1, -1), repeat=nz.size)
    ]
    below = np.mean(np.asarray(null) <= observed)
    above = np.mean(np.asarray(null) >= observed)
    return min(1.0, 2 * min(below, above))


@pytest.mark.parametrize("n, seed", [(12, 1), (13, 2), (13, 3)])
def test_wilcoxon_small_samples_with_ties_and_zeros_are_exact(n: int, seed: int) -> None:
    d = np.random.default_rng(seed).integers(-2, 5, size=n) / 4
    assert np.any(d == 0) and np.unique(np.abs(d)).size < n  # zeros and ties present
    res = wilcoxon_test(d, np.zeros(n))
    assert res.p_value == pytest.approx(_signed_rank_brute_force(d), abs=1e-12)
    assert wilcoxon_test(-d, np.zeros(n)).p_value == pytest.approx(res.p_value, abs=1e-12)


def test_wilcoxon_normal_approximation_with_ties_and_zeros_by_hand() -> None:
    rng = np.random.default_rng(7)
    d = rng.integers(-3, 5, size=80).astype(float)  # many ties and some zeros
    nz = d[d != 0]
    n = nz.size
    ranks = scipy.stats.rankdata(np.abs(nz))
    r_plus = ranks[nz > 0].sum()
    _, counts = np.unique(np.abs(nz), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - np.sum(counts**3 - counts) / 48
    z = (r_plus - n * (n + 1) / 4) / math.sqrt(var)
    expected = 2 * scipy.stats.norm.sf(abs(z))
    res = wilcoxon_test(d, np.zeros_like(d))
    assert res.p_value == pytest.approx(expected, rel=1e-10)
    assert res.n == 80  # pairs, zeros included


# ----------------------------------------------------------------------------- randomization


@pytest.mark.parametrize("n, seed", [(3, 10), (6, 11), (8, 12), (10, 13)])
def test_randomization_exact_matches_enumeration(n: int, seed: int) -> None:
    a, b = _pair(n, 0.1, seed)
    ours = randomization_test(a, b)  # 2**n <= 10_000: every pattern is enumerated
    assert ours.p_value == pytest.approx(_exact_sign_flip_p(a - b), abs=1e-12)
    ref = scipy.stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
    )
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)


def test_randomization_exact_with_integer_ties() -> None:
    d = np.array([1.0, 1.0, -1.0, 2.0, 1.0, -2.0, 1.0, 0.0, 1.0])
    res = randomization_test(d, np.zeros_like(d))
    assert res.p_value == pytest.approx(_exact_sign_flip_p([int(x) for x in d]), abs=1e-12)


@pytest.mark.parametrize(
    "values",
    [
        ["0.7", "0.7", "0.1", "-0.2", "-0.6", "0.7", "-0.2", "-0.6"],
        ["-0.3", "0.1", "-0.2", "0.3", "-0.1", "-0.6", "-0.3", "-0.2"],
        ["0.3", "0.1", "0.2", "-0.3", "-0.3", "0.1", "0.2", "-0.1"],
    ],
)
def test_randomization_counts_ties_lost_to_float_rounding(values: list[str]) -> None:
    # In exact decimal arithmetic some flipped sums equal the observed one; in float64 they
    # differ in the last bits. Without a tolerance these cases give a smaller p-value.
    d = np.array([float(v) for v in values])
    expected = _exact_sign_flip_p([Fraction(v) for v in values])
    assert randomization_test(d, np.zeros_like(d)).p_value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n, shift, seed", [(40, 0.04, 20), (300, 0.002, 21), (500, 0.0, 23)])
def test_randomization_monte_carlo_agrees_with_scipy(n: int, shift: float, seed: int) -> None:
    a, b = _pair(n, shift, seed)
    ours = randomization_test(a, b, n_resamples=10_000, seed=seed)
    ref = scipy.stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=10_000,
        rng=np.random.default_rng(seed + 1000),
    )
    assert 0.005 < ref.pvalue < 0.995  # a non-trivial p-value, so agreement means something
    assert ours.p_value == pytest.approx(ref.pvalue, abs=0.02)
    # and with the t-test, which is accurate for a mean of many users
    assert ours.p_value == pytest.approx(paired_t_test(a, b).p_value, abs=0.02)


def test_randomization_monte_carlo_close_to_exact() -> None:
    a, b = _pair(12, 0.05, 30)
    exact = _exact_sign_flip_p(a - b)
    mc = randomization_test(a, b, n_resamples=3000, seed=1)  # 3000 < 2**12: sampled
    assert mc.p_value != exact  # really the Monte Carlo path: (c + 1) / 3001
    assert mc.p_value == pytest.approx(exact, abs=0.03)


def test_randomization_is_seeded_and_never_zero() -> None:
    a, b = _pair(500, 0.01, 40)
    first = randomization_test(a, b, n_resamples=2000, seed=5)
    assert randomization_test(a, b, n_resamples=2000, seed=5) == first
    assert randomization_test(a, b, n_resamples=2000, seed=6).p_value != first.p_value
    strong = randomization_test(a, a + 0.5 + np.linspace(0, 0.01, a.size), n_resamples=999)
    assert strong.p_value == pytest.approx(1 / 1000)
    assert strong.statistic == pytest.approx(strong.mean_diff)


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_randomization_rejects_bad_resample_count(bad: object) -> None:
    with pytest.raises(ValueError, match="n_resamples"):
        randomization_test([1.0, 2.0, 3.0], [0.0, 1.0, 1.0], n_resamples=bad)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- effect size


def test_effect_size_hand_computed() -> None:
    # d = [1, 2, 3, 4]: 2.5 / sqrt(5/3)
    assert effect_size([1.0, 2.0, 3.0, 4.0], [0.0] * 4) == pytest.approx(2.5 / math.sqrt(5 / 3))
    # d = [0.2, -0.1, 0.5]: mean 0.2, var ((0)^2 + 0.3^2 + 0.3^2) / 2 = 0.09, d_z = 0.2 / 0.3
    assert effect_size([0.7, 0.4, 1.0], [0.5, 0.5, 0.5]) == pytest.approx(2 / 3)
    assert effect_size([0.5, 0.5, 0.5], [0.7, 0.4, 1.0]) == pytest.approx(-2 / 3)


def test_effect_size_degenerate_spread() -> None:
    a = np.array([0.1, 0.4, 0.9])
    assert effect_size(a, a) == 0.0
    # (a + 0.1) - a is 0.1 only up to rounding; the spread is treated as zero, not as 1e-17
    assert np.std((a + 0.1) - a) > 0
    assert effect_size(a + 0.1, a) == math.inf
    assert effect_size(a, a + 0.1) == -math.inf
    assert paired_t_test(a + 0.1, a).p_value == 0.0
    # a genuine (small) spread is kept
    assert effect_size(a + np.array([0.1, 0.1, 0.1000001]), a) < 1e7


def test_result_fields_and_frozen() -> None:
    a, b = _pair(50, 0.05, 60)
    res = paired_t_test(a, b)
    assert res.mean_diff == pytest.approx(np.mean(a - b))
    assert res.effect_size == pytest.approx(effect_size(a, b))
    assert isinstance(res.p_value, float) and isinstance(res.n, int)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.p_value = 0.0  # type: ignore[misc]


# ----------------------------------------------------------------------------- shared behaviour


@pytest.mark.parametrize("n", [6, 60])  # 60: past the small-sample paths
@pytest.mark.parametrize("name", sorted(TESTS))
def test_identical_vectors_give_p_one_without_warnings(name: str, n: int) -> None:
    a = np.resize([0.0, 0.25, 0.5, 1.0, 0.5, 0.125], n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = compare(a, a.copy(), name)
    assert res.p_value == 1.0
    assert res.statistic == 0.0
    assert res.mean_diff == 0.0 and res.effect_size == 0.0
    assert res.test == name


def test_compare_dispatches_and_passes_keywords() -> None:
    a, b = _pair(60, 0.03, 70)
    assert compare(a, b) == paired_t_test(a, b)
    assert compare(a, b, "wilcoxon") == wilcoxon_test(a, b)
    assert compare(a, b, "randomization", n_resamples=500, seed=3) == randomization_test(
        a, b, n_resamples=500, seed=3
    )
    assert set(TESTS) == {"t", "wilcoxon", "randomization"}


def test_compare_unknown_name_lists_known_tests() -> None:
    with pytest.raises(ValueError, match="unknown paired test 'ttest'.*'t'.*'wilcoxon'"):
        compare([1.0, 2.0], [2.0, 3.0], "ttest")


_PAIRED_FUNCS = [
    paired_t_test,
    wilcoxon_test,
    randomization_test,
    effect_size,
    bootstrap_ci,
]


@pytest.mark.parametrize("fn", _PAIRED_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "a, b, message",
    [
        ([0.1, 0.2, 0.3], [0.1, 0.2], "different lengths"),
        ([0.1], [0.2], "at least 2 pairs"),
        ([], [], "at least 2 pairs"),
        ([0.1, float("nan"), 0.3], [0.1, 0.2, 0.3], "a contains NaN at index 1"),
        ([0.1, 0.2, 0.3], [0.1, 0.2, float("nan")], "b contains NaN at index 2"),
        ([0.1, 0.2, 0.3], [float("inf"), 0.2, 0.3], "b contains an infinite value at index 0"),
        ([[0.1, 0.2], [0.3, 0.4]], [[0.1, 0.2], [0.3, 0.4]], "1-D"),
    ],
)
def test_invalid_input_raises(
    fn: Callable[..., object], a: list[float], b: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fn(a, b)


# ----------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_covers_true_mean_on_seeded_normal_sample() -> None:
    x = np.random.default_rng(80).normal(0.3, 1.0, 400)
    lo, hi = bootstrap_ci(x)
    assert lo < 0.3 < hi
    assert lo < np.mean(x) < hi
    # width close to the normal-theory 2 * 1.96 * s / sqrt(n)
    assert hi - lo == pytest.approx(2 * 1.96 * np.std(x, ddof=1) / 20, rel=0.1)


def test_bootstrap_ci_coverage_is_near_nominal() -> None:
    rng = np.random.default_rng(81)
    covered = 0
    for i in range(100):
        x = rng.normal(0.3, 1.0, 60)
        lo, hi = bootstrap_ci(x, n_resamples=1000, seed=i)
        covered += lo <= 0.3 <= hi
    assert 85 <= covered <= 100  # nominal 95; percentile bootstrap slightly undercovers


def test_bootstrap_ci_is_deterministic_for_a_seed() -> None:
    a, b = _pair(300, 0.02, 82)
    assert bootstrap_ci(a, b, seed=1) == bootstrap_ci(a, b, seed=1)
    assert bootstrap_ci(a, b, seed=1) != bootstrap_ci(a, b, seed=2)


def test_bootstrap_ci_paired_is_ci_of_differences() -> None:
    a, b = _pair(300, 0.05, 83)
    lo, hi = bootstrap_ci(a, b, n_resamples=2000)
    assert (lo, hi) == bootstrap_ci(a - b, n_resamples=2000)
    assert hi < 0  # b is better by ~0.05 with per-user noise 0.15 over 300 users


def test_bootstrap_ci_widens_with_confidence() -> None:
    x = np.random.default_rng(84).uniform(0, 1, 200)
    lo90, hi90 = bootstrap_ci(x, confidence=0.90)
    lo99, hi99 = bootstrap_ci(x, confidence=0.99)
    assert lo99 < lo90 < hi90 < hi99


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1, float("nan")])
def test_bootstrap_ci_rejects_bad_confidence(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([0.1, 0.2, 0.3], confidence=confidence)


def test_bootstrap_ci_single_sample_needs_two_values() -> None:
    with pytest.raises(ValueError, match="at least 2 values"):
        bootstrap_ci([0.5])


def test_result_class_is_exported() -> None:
    assert isinstance(paired_t_test([1.0, 2.0], [0.0, 0.5]), TestResult)
