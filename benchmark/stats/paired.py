"""Paired significance tests over per-user metric vectors.

Two systems evaluated on the same users give two vectors ``a`` and ``b`` paired by position;
every test here works on the differences ``a - b``. The functions are small and pure (the
style of ``ranx``): arrays in, a frozen :class:`TestResult` out, randomness only through an
explicit seed, so a leaderboard can be recomputed bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike

__all__ = [
    "TESTS",
    "TestResult",
    "compare",
    "effect_size",
    "paired_t_test",
    "randomization_test",
    "wilcoxon_test",
]

# Cap on float64 elements materialised per chunk (32 MiB): keeps memory flat for any n.
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class TestResult:
    """Outcome of one paired test; frozen so results can be cached and compared safely."""

    __test__ = False  # not a pytest test class despite the name

    statistic: float
    p_value: float
    test: str
    n: int
    mean_diff: float
    effect_size: float


def _as_vector(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector of per-user values, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        kind = "NaN" if np.isnan(arr[i]) else "an infinite value"
        raise ValueError(
            f"{name} contains {kind} at index {i} ({bad.size} non-finite value(s) in total); "
            "drop or impute those users in both vectors before testing"
        )
    return arr


def _validate_pair(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Check two paired vectors and return them as float64 arrays.

    Raises ValueError on different lengths, fewer than 2 pairs or non-finite values, because
    every test below silently returns garbage (NaN p-values) on such input.
    """
    a_arr = _as_vector(a, "a")
    b_arr = _as_vector(b, "b")
    if a_arr.shape != b_arr.shape:
        raise ValueError(
            f"a and b must be paired by position but have different lengths "
            f"({a_arr.size} vs {b_arr.size})"
        )
    if a_arr.size < 2:
        raise ValueError(f"a paired test needs at least 2 pairs, got {a_arr.size}")
    return a_arr, b_arr


def _differences(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    a_arr, b_arr = _validate_pair(a, b)
    return a_arr - b_arr


# Spread below this fraction of max|d| is float noise: (a + 0.1) - a is not exactly constant.
_ZERO_SPREAD_RTOL = 1e-12


def _mean_sd(d: np.ndarray) -> tuple[float, float]:
    """Mean and sample std of d, the std snapped to 0 when it is only rounding noise."""
    mean = float(np.mean(d))
    sd = float(np.std(d, ddof=1))
    if sd <= _ZERO_SPREAD_RTOL * float(np.max(np.abs(d))):
        sd = 0.0
    return mean, sd


def _d_z(d: np.ndarray) -> float:
    mean, sd = _mean_sd(d)
    if sd == 0.0:
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / sd


def effect_size(a: ArrayLike, b: ArrayLike) -> float:
    """Paired Cohen's d_z = mean(a - b) / std(a - b, ddof=1).

    A p-value says whether a difference is real, d_z says whether it is large relative to the
    user-to-user spread. When every difference is identical (up to float rounding: std below
    1e-12 * max|a - b|) the spread is zero: the result is 0.0 if they are all zero and +/-inf
    (the sign of the mean) otherwise.
    """
    return _d_z(_differences(a, b))


def _result(stat: float, p: float, test: str, d: np.ndarray) -> TestResult:
    return TestResult(
        statistic=float(stat),
        p_value=float(min(max(p, 0.0), 1.0)),
        test=test,
        n=int(d.size),
        mean_diff=float(np.mean(d)),
        effect_size=_d_z(d),
    )


def paired_t_test(a: ArrayLike, b: ArrayLike) -> TestResult:
    """Two-sided paired Student's t-test on a - b (same numbers as scipy.stats.ttest_rel).

    Computed directly so the degenerate zero-variance case is defined instead of NaN with a
    warning: all differences zero gives t = 0, p = 1; a constant non-zero difference (up to
    float rounding, as in :func:`effect_size`) gives t = +/-inf, p = 0.
    """
    d = _differences(a, b)
    n = d.size
    mean, sd = _mean_sd(d)
    if sd == 0.0:
        if mean == 0.0:
            return _result(0.0, 1.0, "t", d)
        return _result(math.copysign(math.inf, mean), 0.0, "t", d)
    t = mean / (sd / math.sqrt(n))
    p = 2.0 * float(scipy.stats.t.sf(abs(t), df=n - 1))
    return _result(t, p, "t", d)


# Up to this many pairs the Wilcoxon null distribution is enumerated over all 2**n sign flips
# (scipy's "auto" threshold for data with ties or zeros, where scipy takes seconds per call).
_WILCOXON_ENUMERATE_MAX_N = 13


def _wilcoxon_enumerated(d: np.ndarray) -> tuple[float, float]:
    """Exact two-sided signed-rank test by enumerating sign flips of the non-zero differences.

    Same p-value as scipy's ``method="auto"`` for n <= 13 (its exact distribution without ties
    or zeros, its exhaustive permutation test with them), in microseconds. Average ranks are
    multiples of 0.5, so the rank sums compare exactly in float64.
    """
    nz = d[d != 0]
    ranks = scipy.stats.rankdata(np.abs(nz))
    r_plus = float(ranks[nz > 0].sum())
    r_minus = float(ranks.sum()) - r_plus
    codes = np.arange(2**nz.size, dtype=np.int64)[:, None]
    null = ((codes >> np.arange(nz.size)) & 1) @ ranks  # r_plus under every sign pattern
    p = 2.0 * min(np.mean(null <= r_plus), np.mean(null >= r_plus))
    return min(r_plus, r_minus), min(p, 1.0)


def wilcoxon_test(a: ArrayLike, b: ArrayLike) -> TestResult:
    """Two-sided Wilcoxon signed-rank test on a - b, with scipy.stats.wilcoxon's defaults.

    Zero differences are dropped (``zero_method="wilcox"``); the p-value follows scipy's
    ``method="auto"``: exact for n <= 50 without ties or zeros, exact over all sign flips for
    n <= 13 with them, otherwise the normal approximation with tie correction and no
    continuity correction. n <= 13 is enumerated here (scipy needs seconds for it with ties),
    larger n is delegated to scipy. The statistic is the smaller of the positive and negative
    rank sums; ``n`` counts all pairs, zeros included. All differences zero (where scipy
    divides by zero) gives statistic 0, p = 1.
    """
    d = _differences(a, b)
    if not np.any(d):
        return _result(0.0, 1.0, "wilcoxon", d)
    if d.size <= _WILCOXON_ENUMERATE_MAX_N:
        stat, p = _wilcoxon_enumerated(d)
        return _result(stat, p, "wilcoxon", d)
    res = scipy.stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided", method="auto")
    return _result(float(res.statistic), float(res.pvalue), "wilcoxon", d)


def _check_resamples(n_resamples: int) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)):
        raise ValueError(f"n_resamples must be an integer, got {n_resamples!r}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    return int(n_resamples)


def _count_extreme(bits: np.ndarray, d: np.ndarray, buf: np.ndarray, threshold: float) -> int:
    """Count rows of sign flips (bit 1 flips that user) whose |sum(s * d)| >= threshold.

    sum(s * d) with s = 1 - 2 * bit equals sum(d) - 2 * (bits @ d), so a whole chunk of
    resamples is one matrix-vector product. ``buf`` is a reused float64 scratch block: fresh
    allocations of the converted bit matrix cost more than the product itself.
    """
    block = buf[: bits.shape[0]]
    np.copyto(block, bits)
    sums = block @ d
    total = float(np.sum(d))
    return int(np.count_nonzero(np.abs(total - 2.0 * sums) >= threshold))


def randomization_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    n_resamples: int = 10_000,
    seed: int | None = 0,
) -> TestResult:
    """Two-sided paired randomization (sign-flip permutation) test on the mean difference.

    Under H0 each user's difference is equally likely to have either sign, so the p-value is
    the share of sign flips whose |mean| reaches the observed |mean| (a tolerance of
    1e-9 * sum|a - b| absorbs float rounding, so ties such as 0.1 + 0.2 vs 0.3 count). This
    makes no normality assumption, which matters for bounded, skewed ranking metrics.

    If all 2**n sign patterns fit in ``n_resamples`` they are enumerated and the p-value is
    exact (count / 2**n, the identity included), as scipy.stats.permutation_test does.
    Otherwise ``n_resamples`` patterns are drawn from one ``np.random.default_rng(seed)`` and
    p = (c + 1) / (n_resamples + 1), which is never 0. The statistic is the observed mean
    difference.
    """
    n_resamples = _check_resamples(n_resamples)
    d = _differences(a, b)
    n = d.size
    total = float(np.sum(d))
    threshold = abs(total) - 1e-9 * float(np.sum(np.abs(d)))
    exact = n < 63 and 2**n <= n_resamples
    n_rows = 2**n if exact else n_resamples
    rows = max(1, min(_CHUNK_ELEMENTS // n, n_rows))
    buf = np.empty((rows, n), dtype=np.float64)
    count = 0
    if exact:
        shifts = np.arange(n, dtype=np.int64)
        for start in range(0, n_rows, rows):
            codes = np.arange(start, min(start + rows, n_rows), dtype=np.int64)
            count += _count_extreme((codes[:, None] >> shifts) & 1, d, buf, threshold)
        p = count / n_rows
    else:
        rng = np.random.default_rng(seed)
        n_bytes = (n + 7) // 8
        for start in range(0, n_rows, rows):
            m = min(rows, n_rows - start)
            packed = rng.integers(0, 256, size=(m, n_bytes), dtype=np.uint8)
            count += _count_extreme(np.unpackbits(packed, axis=1, count=n), d, buf, threshold)
        p = (count + 1) / (n_rows + 1)
    return _result(total / n, p, "randomization", d)


TESTS: dict[str, Callable[..., TestResult]] = {
    "t": paired_t_test,
    "wilcoxon": wilcoxon_test,
    "randomization": randomization_test,
}


def compare(a: ArrayLike, b: ArrayLike, test: str = "t", **kw: object) -> TestResult:
    """Run the paired test named ``test`` (a key of TESTS); ``kw`` goes to that test.

    Lets a config file or CLI flag pick the test by name.
    """
    try:
        fn = TESTS[test]
    except (KeyError, TypeError):
        known = ", ".join(repr(k) for k in TESTS)
        raise ValueError(f"unknown paired test {test!r}; known tests: {known}") from None
    return fn(a, b, **kw)
