"""Percentile bootstrap confidence intervals for a mean metric or a mean paired difference."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from benchmark.stats.paired import _CHUNK_ELEMENTS, _as_vector, _check_resamples, _validate_pair

__all__ = ["bootstrap_ci"]


def bootstrap_ci(
    a: ArrayLike,
    b: ArrayLike | None = None,
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int | None = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(a), or of mean(a - b) when ``b`` is given.

    Resampling users (pairs stay together) gives an interval without assuming the metric is
    normal, which bounded, skewed per-user scores rarely are. Users are drawn with replacement
    ``n_resamples`` times from one ``np.random.default_rng(seed)``, in chunks so memory stays
    flat; the interval is the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of the
    resampled means (numpy's default linear interpolation). A fixed seed gives the same
    interval on every run.
    """
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    n_resamples = _check_resamples(n_resamples)
    if b is None:
        x = _as_vector(a, "a")
        if x.size < 2:
            raise ValueError(f"a bootstrap CI needs at least 2 values, got {x.size}")
    else:
        a_arr, b_arr = _validate_pair(a, b)
        x = a_arr - b_arr

    n = x.size
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_ELEMENTS // n)
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, rows):
        m = min(rows, n_resamples - start)
        idx = rng.integers(0, n, size=(m, n))
        means[start : start + m] = x[idx].mean(axis=1)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)
