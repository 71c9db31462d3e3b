"""Collaborative user vectors for PeaPOD: implicit-feedback matrix factorisation by ALS.

PeaPOD conditions its user prompt on "precomputed CF user embeddings" whose training the authors
do not document (REFERENCE.md, PeaPOD). We use weighted matrix factorisation for implicit
feedback (Hu, Koren, Volinsky, ICDM 2008), i.e. a probabilistic MF whose observed cells have a
higher precision, fitted by alternating least squares:

    minimise  sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + reg (|x_u|^2 + |y_i|^2)

with ``p_ui = 1`` for a training interaction and 0 otherwise, ``c_ui = 1 + alpha`` where
``p_ui = 1`` and 1 elsewhere. Each half step solves a ridge regression per row in closed form.

Properties the method relies on (and its tests check):

* Only the training items are read (the caller passes ``split.train``); validation and test
  targets cannot influence the vectors.
* The user vectors are always the last half step: a user's vector is a function of the item
  factors and the *set* of that user's training items. Rows with the same item set are solved
  once and share the result, so two users with identical training histories get bit-identical
  vectors.
* Item factors start from a ``torch.Generator`` seeded with ``seed``; the global torch RNG is
  neither read nor advanced, and the result is deterministic.
* Users outside ``users`` (dropped by the split) get zero vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def train_user_factors(
    split_train: Sequence[np.ndarray],
    users: np.ndarray,
    n_users: int,
    n_items: int,
    dim: int = 64,
    epochs: int = 10,
    seed: int = 0,
    *,
    alpha: float = 10.0,
    reg: float = 1.0,
) -> torch.Tensor:
    """User factors ``[n_users, dim]`` (float32, CPU) from implicit ALS on the training split.

    ``split_train[k]`` holds the training items (``1..n_items``) of dataset user ``users[k]``;
    rows of users not in ``users`` stay zero. ``epochs`` alternations of an item step and a user
    step follow a seeded random start of the item factors; repeated items count once.
    """
    if len(split_train) != len(users):
        raise ValueError("split_train and users must be aligned")
    if dim < 1 or epochs < 1 or reg <= 0 or alpha < 0:
        raise ValueError("need dim >= 1, epochs >= 1, reg > 0 and alpha >= 0")
    user_rows = [np.unique(np.asarray(t, dtype=np.int64)) for t in split_train]
    if any(len(r) and (r[0] < 1 or r[-1] > n_items) for r in user_rows):
        raise ValueError(f"training items must lie in 1..{n_items}")
    # the item side: for each item (1..n_items, row 0 = padding), the positions k of its users
    lengths = np.array([len(r) for r in user_rows], dtype=np.int64)
    owners = np.repeat(np.arange(len(user_rows), dtype=np.int64), lengths)
    flat = np.concatenate(user_rows) if user_rows else np.empty(0, dtype=np.int64)
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(n_items + 2))
    item_rows = [owners[order[bounds[i] : bounds[i + 1]]] for i in range(n_items + 1)]

    gen = torch.Generator().manual_seed(seed)
    item_f = torch.randn(n_items + 1, dim, generator=gen, dtype=torch.float64) / dim**0.5
    item_f[0] = 0.0
    user_f = torch.zeros(len(user_rows), dim, dtype=torch.float64)
    for epoch in range(epochs):
        if epoch > 0:
            item_f = _ridge_step(user_f, item_rows, alpha, reg)
            item_f[0] = 0.0
        user_f = _ridge_step(item_f, user_rows, alpha, reg)
    out = torch.zeros(n_users, dim, dtype=torch.float32)
    out[torch.as_tensor(np.asarray(users, dtype=np.int64))] = user_f.float()
    return out


def _ridge_step(
    fixed: torch.Tensor, rows: list[np.ndarray], alpha: float, reg: float, budget: int = 1 << 22
) -> torch.Tensor:
    """Solve every row's weighted ridge regression against the ``fixed`` factors.

    Row ``r`` with positives ``S``: ``(F^T F + alpha F_S^T F_S + reg I) x = (1 + alpha) F_S^T 1``.
    Identical positive sets are solved once; rows are batched by similar length, padded with
    a zero row of ``fixed`` (which adds nothing), about ``budget`` numbers held per batch.
    """
    dim = fixed.shape[1]
    gram = fixed.T @ fixed + reg * torch.eye(dim, dtype=fixed.dtype)
    unique: dict[bytes, int] = {}
    sets: list[np.ndarray] = []
    which = np.empty(len(rows), dtype=np.int64)
    for r, idx in enumerate(rows):
        key = idx.tobytes()
        if key not in unique:
            unique[key] = len(sets)
            sets.append(idx)
        which[r] = unique[key]
    padded = torch.cat([fixed, fixed.new_zeros(1, dim)])
    pad = len(fixed)
    solved = fixed.new_zeros(len(sets), dim)
    sizes = np.array([len(s) for s in sets], dtype=np.int64)
    by_size = np.argsort(sizes, kind="stable")
    start = 0
    while start < len(by_size):
        stop = start + 1
        while stop < len(by_size) and (stop - start + 1) * dim * max(
            dim, sizes[by_size[stop]]
        ) <= budget:
            stop += 1
        chunk = by_size[start:stop]
        width = max(1, int(sizes[chunk].max()))
        index = np.full((len(chunk), width), pad, dtype=np.int64)
        for row, s in enumerate(chunk):
            index[row, : sizes[s]] = sets[s]
        pos = padded[torch.from_numpy(index)]  # [C, W, dim]
        lhs = gram + alpha * pos.transpose(1, 2) @ pos
        rhs = (1.0 + alpha) * pos.sum(1)
        chol = torch.linalg.cholesky(lhs)  # symmetric positive definite (reg > 0)
        solved[torch.from_numpy(chunk)] = torch.cholesky_solve(rhs.unsqueeze(-1), chol)[..., 0]
        start = stop
    return solved[torch.from_numpy(which)]
