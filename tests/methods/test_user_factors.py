"""The ALS user factors behind PeaPOD's user prompts."""

import numpy as np
import pytest
import torch

from methods.user_factors import train_user_factors


def _factors(train, users=None, n_users=None, n_items=12, **kw):
    users = np.arange(len(train)) if users is None else np.asarray(users)
    n_users = len(train) if n_users is None else n_users
    kw = {"dim": 4, "epochs": 5, "seed": 0, **kw}
    return train_user_factors([np.asarray(t) for t in train], users, n_users, n_items, **kw)


def test_identical_item_sets_give_identical_vectors():
    train = [[1, 2, 3], [4, 5], [1, 2, 3], [3, 1, 2, 2], [1, 2, 4]]
    u = _factors(train)
    assert u.shape == (5, 4) and u.dtype == torch.float32
    # same items, and the same set in another order with a repeat: bit-identical
    assert torch.equal(u[0], u[2]) and torch.equal(u[0], u[3])
    assert not torch.allclose(u[0], u[4]) and not torch.allclose(u[0], u[1])


def test_deterministic_seeded_and_leaves_global_rng_alone():
    train = [[1, 2, 3], [4, 5], [2, 6, 7], [8, 9, 1]]
    state = torch.random.get_rng_state()
    a = _factors(train, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, _factors(train, seed=3))
    assert not torch.allclose(a, _factors(train, seed=4))


def test_rows_follow_dataset_user_indices_and_dropped_users_are_zero():
    train = [[1, 2], [3, 4], [5, 6]]
    compact = _factors(train)
    spread = _factors(train, users=[0, 2, 5], n_users=7)
    assert spread.shape == (7, 4)
    assert torch.equal(spread[[0, 2, 5]], compact)
    assert spread[[1, 3, 4, 6]].abs().sum() == 0


def test_learns_communities():
    """Two groups of users, each taking items from its own half of the catalogue: users of one
    group must be closer (cosine) to each other than to the other group."""
    rng = np.random.default_rng(0)
    train = [rng.choice(np.arange(1, 11) + 10 * (u % 2), size=5, replace=False)
             for u in range(40)]
    u = torch.nn.functional.normalize(_factors(train, n_items=20, dim=8, epochs=8), dim=1)
    sim = u @ u.T
    group = torch.arange(40) % 2
    same = group[:, None] == group[None, :]
    off_diag = ~torch.eye(40, dtype=torch.bool)
    assert sim[same & off_diag].mean() > sim[~same].mean() + 0.5


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="1..12"):
        _factors([[0, 1]])
    with pytest.raises(ValueError, match="aligned"):
        train_user_factors([np.array([1])], np.array([0, 1]), 2, 12)
    with pytest.raises(ValueError, match="reg > 0"):
        _factors([[1]], reg=0.0)
