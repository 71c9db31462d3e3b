"""Multiple-comparison correction for many paired tests (e.g. one per baseline or dataset)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["holm", "holm_reject"]


def _p_vector(p_values: Sequence[float] | ArrayLike) -> np.ndarray:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be a 1-D sequence, got shape {p.shape}")
    bad = np.flatnonzero(~((p >= 0.0) & (p <= 1.0)))  # also catches NaN
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"p_values must lie in [0, 1]; got {p[i]!r} at index {i}")
    return p


def holm(p_values: Sequence[float] | ArrayLike) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values, in the order of the input.

    Controls the family-wise error rate like Bonferroni but is uniformly more powerful. With
    p sorted ascending, adjusted_(i) = max_{j <= i} min(1, (m - j + 1) * p_(j)) (1-based),
    so the result is monotone in p and capped at 1; tied p-values get equal adjustments.
    """
    p = _p_vector(p_values)
    m = p.size
    if m == 0:
        return np.empty(0, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty(m, dtype=np.float64)
    out[order] = adjusted_sorted
    return out


def holm_reject(p_values: Sequence[float] | ArrayLike, alpha: float = 0.05) -> np.ndarray:
    """Boolean mask of hypotheses rejected by Holm's procedure at family-wise level ``alpha``."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    return holm(p_values) <= alpha
