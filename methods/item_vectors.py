"""Operations on a table of item vectors: latent categories (k-means), a user's preference over
them, and a reduction to another width (PCA). Pure functions over arrays (P2Rec's stages)."""

from __future__ import annotations

import numpy as np

__all__ = ["kmeans", "pca_reduce", "preference_targets"]


def kmeans(x: np.ndarray, k: int, seed: int, iterations: int = 100) -> np.ndarray:
    """Labels ``[n]`` in ``0..k-1`` from Lloyd's algorithm with k-means++ seeding (``seed``).

    Deterministic for a seed. A cluster that empties is re-seeded at the point farthest from its
    centre, so every label is used when ``n >= k``.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if not 1 <= k <= n:
        raise ValueError(f"k-means: k={k} needs 1 <= k <= {n} (the number of vectors)")
    rng = np.random.default_rng(seed)
    centres = np.empty((k, x.shape[1]))
    centres[0] = x[rng.integers(n)]
    nearest = ((x - centres[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        total = nearest.sum()
        pick = rng.choice(n, p=nearest / total) if total > 0 else rng.integers(n)
        centres[j] = x[pick]
        nearest = np.minimum(nearest, ((x - centres[j]) ** 2).sum(axis=1))
    labels = np.full(n, -1)
    for _ in range(iterations):
        distances = (x**2).sum(1)[:, None] - 2 * x @ centres.T + (centres**2).sum(1)[None, :]
        new = distances.argmin(axis=1)
        fit_error = distances[np.arange(n), new]
        for j in np.setdiff1d(np.arange(k), new):  # empty cluster: take the worst-fitted point
            far = int(fit_error.argmax())
            new[far] = j
            fit_error[far] = -np.inf  # not taken twice
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            centres[j] = x[labels == j].mean(axis=0)
    return labels


def preference_targets(histories: list[np.ndarray], labels: np.ndarray, k: int) -> np.ndarray:
    """``[users, k]``: each history's share of items per category (rows sum to 1).

    ``histories`` hold 1-based item ids and ``labels[item - 1]`` is an item's category. Pass
    training interactions only: whatever is passed is what the target describes.
    """
    out = np.zeros((len(histories), k))
    for row, items in enumerate(histories):
        if len(items):
            counts = np.bincount(labels[np.asarray(items) - 1], minlength=k)
            out[row] = counts / counts.sum()
    return out


def pca_reduce(x: np.ndarray, width: int) -> np.ndarray:
    """``x`` centred and projected on its top ``width`` principal axes, ``[n, width]``; columns
    beyond ``x``'s rank are zero. Signs are fixed (each axis' largest loading positive), so the
    result does not depend on the SVD routine's sign choice."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:width]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    axes = axes * signs[:, None]
    out = np.zeros((len(x), width))
    out[:, : len(axes)] = centred @ axes.T
    return out
