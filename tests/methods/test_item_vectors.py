"""k-means categories, preference targets and PCA reduction (P2Rec's array operations)."""

from __future__ import annotations

import numpy as np
import pytest

from methods.item_vectors import kmeans, pca_reduce, preference_targets


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    truth = np.repeat(np.arange(3), 20)
    return centres[truth] + rng.normal(scale=0.5, size=(60, 2)), truth


def test_kmeans_recovers_separated_clusters_and_is_deterministic():
    x, truth = blobs()
    labels = kmeans(x, 3, seed=0)
    # same partition as the truth, up to renaming
    pairs = {(int(a), int(b)) for a, b in zip(truth, labels)}
    assert len(pairs) == 3
    assert np.array_equal(labels, kmeans(x, 3, seed=0))


def test_kmeans_uses_every_label_and_refuses_too_many_clusters():
    x = np.zeros((5, 2))  # all points equal: k-means++ cannot spread, empty clusters re-seed
    assert sorted(set(kmeans(x, 3, seed=1).tolist())) == [0, 1, 2]
    with pytest.raises(ValueError, match="k=6"):
        kmeans(x, 6, seed=0)


def test_preference_targets_are_category_shares_of_the_given_items():
    labels = np.array([0, 0, 1, 2])  # items 1..4
    out = preference_targets([np.array([1, 2, 3]), np.array([4, 4])], labels, 3)
    assert np.allclose(out, [[2 / 3, 1 / 3, 0], [0, 0, 1]])
    assert np.allclose(out.sum(axis=1), 1)


def test_pca_reduce_keeps_the_main_axis_with_a_fixed_sign():
    rng = np.random.default_rng(0)
    t = rng.normal(size=200)
    x = np.stack([t, 2 * t, 0.01 * rng.normal(size=200)], axis=1)
    out = pca_reduce(x, 2)
    assert out.shape == (200, 2)
    assert abs(np.corrcoef(out[:, 0], t)[0, 1]) > 0.999
    assert np.allclose(pca_reduce(-x, 2)[:, 0], -out[:, 0])  # sign follows the data
    assert np.allclose(pca_reduce(x[:, :1], 3)[:, 1:], 0)  # beyond the rank: zeros
