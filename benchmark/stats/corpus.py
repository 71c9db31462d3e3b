"""Paired approximate randomization for statistics of a whole test set (corpus BLEU and friends).

A corpus statistic (BLEU) is not the mean of per-example values, so a paired test on per-example
scores tests a different number than the table prints, and the two can disagree in sign. This
test works on the printed number itself (Riezler & Maxwell 2005, approximate randomization;
Koehn 2004 for the bootstrap alternative): each example contributes a vector of *sufficient
statistics* (for BLEU: hypothesis length, reference length, matched and total n-grams per
order; for a mean: the value and a 1), the statistic is a function of their sums, and under the
null hypothesis the two systems' outputs for an example are exchangeable. Each resample swaps
the two systems' vectors on a random half of the examples and recomputes the difference.

Strata (one per seed: each seed has its own test examples) are resampled independently and the
statistic is the mean over strata of each stratum's value, which is how a leaderboard averages
seeds, so the observed difference is exactly the difference of the printed means.

    p = (1 + #{r : |d_r| >= |d_obs|}) / (1 + R)      (two-sided, never 0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: statistic of summed sufficient statistics: ``[R, k] -> [R]``
Statistic = Callable[[np.ndarray], np.ndarray]

# Cap on swap-mask elements materialised per chunk: keeps memory flat for any test set.
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class CorpusTestResult:
    """Outcome of one corpus-level paired test."""

    __test__ = False  # not a pytest test class despite the name

    #: mean over strata of statistic(a) - statistic(b): the difference a table prints
    observed: float
    p_value: float
    n: int  # examples over all strata
    n_resamples: int


def _check_stratum(a: np.ndarray, b: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"stratum {i}: sufficient statistics must be two [examples, k] arrays of one shape, "
            f"got {a.shape} and {b.shape}"
        )
    if a.shape[0] == 0:
        raise ValueError(f"stratum {i} has no examples")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError(f"stratum {i}: sufficient statistics contain NaN or infinite values")
    return a, b


def corpus_randomization_test(
    strata: Sequence[tuple[np.ndarray, np.ndarray]],
    statistic: Statistic,
    *,
    n_resamples: int = 20_000,
    seed: int = 0,
) -> CorpusTestResult:
    """Two-sided paired approximate randomization of ``mean_s statistic(sum a_s) -
    statistic(sum b_s)`` over strata ``s`` of per-example sufficient statistics ``(a_s, b_s)``.

    Deterministic for a given ``seed``; ``n_resamples`` bounds the smallest p-value at
    ``1 / (n_resamples + 1)``, so choose it with the multiple-comparison family in mind.
    """
    out = corpus_randomization_tests(strata, {"_": statistic}, n_resamples=n_resamples,
                                     seed=seed)
    return out["_"]


def corpus_randomization_tests(
    strata: Sequence[tuple[np.ndarray, np.ndarray]],
    statistics: Mapping[str, Statistic],
    *,
    n_resamples: int = 20_000,
    seed: int = 0,
) -> dict[str, CorpusTestResult]:
    """:func:`corpus_randomization_test` for several statistics of the same examples at once
    (each reads its own columns of the summed matrix), sharing one set of swaps: one matrix
    product per stratum and chunk serves every column of a leaderboard."""
    if not strata:
        raise ValueError("no strata to test")
    if isinstance(n_resamples, bool) or int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples!r}")
    pairs = [_check_stratum(a, b, i) for i, (a, b) in enumerate(strata)]
    rng = np.random.default_rng(seed)
    observed = {
        name: float(np.mean([
            stat(a.sum(0, keepdims=True))[0] - stat(b.sum(0, keepdims=True))[0]
            for a, b in pairs
        ]))
        for name, stat in statistics.items()
    }
    diffs = {name: np.zeros(n_resamples, dtype=np.float64) for name in statistics}
    for a, b in pairs:
        sum_a, sum_b, delta = a.sum(0), b.sum(0), b - a
        chunk = max(1, _CHUNK_ELEMENTS // a.shape[0])
        for start in range(0, n_resamples, chunk):
            stop = min(n_resamples, start + chunk)
            swap = rng.random((stop - start, a.shape[0])) < 0.5
            moved = swap.astype(np.float64) @ delta  # what swapping moves from b into a
            for name, stat in statistics.items():
                diffs[name][start:stop] += stat(sum_a + moved) - stat(sum_b - moved)
    out = {}
    n = int(sum(a.shape[0] for a, _ in pairs))
    for name in statistics:
        d = diffs[name] / len(pairs)
        obs = observed[name]
        # resamples equal to the observed value up to rounding count as at least as extreme
        tol = 1e-9 * max(1.0, abs(obs))
        extreme = int(np.count_nonzero(np.abs(d) >= abs(obs) - tol))
        out[name] = CorpusTestResult(observed=obs, p_value=(1 + extreme) / (1 + n_resamples),
                                     n=n, n_resamples=int(n_resamples))
    return out


def columns(statistic: Statistic, start: int, stop: int) -> Statistic:
    """``statistic`` applied to columns ``start:stop`` of a wider summed matrix."""
    return lambda summed: statistic(summed[:, start:stop])


def mean_statistics(values: np.ndarray) -> np.ndarray:
    """Sufficient statistics of a mean: ``[value, 1]`` per example (see :func:`mean_of`)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    return np.hstack([v, np.ones_like(v)])


def mean_of(summed: np.ndarray) -> np.ndarray:
    """The mean from summed :func:`mean_statistics`."""
    return summed[:, 0] / summed[:, 1]
