"""Seeded negative sampling for candidate tasks, persisted so every run sees the same lists.

Negatives are drawn uniformly from the items the user never interacted with (training,
validation and test items all excluded), without repeats. Each user's candidate row is then
shuffled with the same seeded generator, so the positive's position carries no information.
The generator is seeded from the run's seed and the task, independent of which methods run.

Tasks with ``eval_users`` evaluate a sample of users (``sample_users``) that is the same for
every seed, method and task, persisted the same way, so results pair up user by user.

The candidate generator is seeded from (seed, ``tasks.ranking.candidate_key``): task variants
that change only the prompt or the users evaluated rank the base task's lists.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmark.errors import ResultsError
from benchmark.results import atomic_create_bytes


def task_seed(seed: int, task_name: str) -> list[int]:
    digest = hashlib.sha256(task_name.encode()).digest()
    return [int(seed), int.from_bytes(digest[:4], "little")]


def sample_candidates(
    sequences: list[np.ndarray],
    targets: np.ndarray,
    n_items: int,
    n_negatives: int,
    *,
    seed: int,
    task_name: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate matrix ``[U, n_negatives + 1]`` (items) and the positive's column per user.

    ``sequences[i]`` is everything user ``i`` interacted with; ``targets[i]`` the positive.
    """
    rng = np.random.default_rng(task_seed(seed, task_name))
    n_users = len(sequences)
    cands = np.empty((n_users, n_negatives + 1), dtype=np.int64)
    target_col = np.empty(n_users, dtype=np.int64)
    for i, (seq, target) in enumerate(zip(sequences, targets)):
        seen = set(seq.tolist())
        seen.add(int(target))
        available = n_items - len(seen)
        if available < n_negatives:
            raise ResultsError(
                f"user index {i} has interacted with {len(seen)} of {n_items} items: fewer than "
                f"{n_negatives} negatives remain; use a task with fewer candidates"
            )
        negatives: list[int] = []
        chosen: set[int] = set()
        while len(negatives) < n_negatives:
            draw = rng.integers(1, n_items + 1, size=2 * (n_negatives - len(negatives)) + 8)
            for item in draw.tolist():
                if item not in seen and item not in chosen:
                    chosen.add(item)
                    negatives.append(item)
                    if len(negatives) == n_negatives:
                        break
        row = np.array([int(target), *negatives], dtype=np.int64)
        order = rng.permutation(n_negatives + 1)
        cands[i] = row[order]
        target_col[i] = int(np.flatnonzero(order == 0)[0])
    return cands, target_col


def load_or_sample(
    path: Path,
    *,
    content_hash: str,
    users: np.ndarray,
    sequences: list[np.ndarray],
    targets: np.ndarray,
    n_items: int,
    n_negatives: int,
    seed: int,
    task_name: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Reuse the persisted candidates at ``path`` or sample and persist them."""
    return load_or_create(
        path,
        content_hash=content_hash,
        users=users,
        create=lambda: sample_candidates(
            sequences, targets, n_items, n_negatives, seed=seed, task_name=task_name
        ),
    )


def load_or_create(
    path: Path,
    *,
    content_hash: str,
    users: np.ndarray,
    create: Callable[[], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Reuse the candidate rows persisted at ``path`` for ``users`` or ``create()`` them
    (``(candidates, target_col)``) and persist them; rows stored for other data or other users
    are refused."""
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            stored_hash = str(z["content_hash"])
            if stored_hash != content_hash:
                raise ResultsError(
                    f"{path}: candidates were sampled from data with content hash "
                    f"{stored_hash[:12]}, but the data now hashes to {content_hash[:12]}. "
                    "Use another --results-dir, or delete the file and rerun every method "
                    "on this task with --force."
                )
            if not np.array_equal(z["users"], users):
                raise ResultsError(f"{path}: stored users differ from the current split")
            return z["candidates"], z["target_col"]
    cands, target_col = create()
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        users=users,
        candidates=cands,
        target_col=target_col,
        content_hash=np.array(content_hash),
    )
    if not atomic_create_bytes(path, buf.getvalue()):  # a parallel run wrote it first
        return load_or_create(path, content_hash=content_hash, users=users, create=create)
    return cands, target_col


#: The user sample does not change with the run's seed: seeds vary the candidate lists and
#: the models, while every seed evaluates the same users (as RPP's fixed 200), so the
#: leaderboard's paired tests, which average each user's values over seeds, keep all of them.
USER_SAMPLE_SEED = 0

#: how ``sample_users`` draws, as recorded in each result's protocol
USER_SAMPLE_RULE = (
    f"uniform without replacement from the split's users with a generator seeded by "
    f"{USER_SAMPLE_SEED} for every run seed, method and task, kept in user order; a smaller "
    "sample is a subset of a larger one"
)


def sample_users(users: np.ndarray, n: int | None, *, seed: int) -> np.ndarray:
    """A seeded sample of ``n`` of ``users`` (None, or ``n >= len(users)``: all), ascending.

    The generator depends on the seed alone, so every method and task of a seed gets the same
    users; the sample is a prefix of one seeded permutation, so a smaller ``n`` gives a subset
    of a larger one's users.
    """
    users = np.asarray(users, dtype=np.int64)
    if n is None or n >= len(users):
        return users.copy()
    rng = np.random.default_rng(task_seed(seed, "eval-users"))
    return np.sort(users[rng.permutation(len(users))[:n]])


def load_or_sample_users(
    path: Path, *, content_hash: str, users: np.ndarray, n: int, seed: int
) -> np.ndarray:
    """Reuse the persisted user sample at ``path`` or draw it with ``sample_users`` and persist
    it. A stored sample from other data, another population or another size is refused."""
    users = np.asarray(users, dtype=np.int64)
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            stored_hash = str(z["content_hash"])
            if stored_hash != content_hash:
                raise ResultsError(
                    f"{path}: users were sampled from data with content hash "
                    f"{stored_hash[:12]}, but the data now hashes to {content_hash[:12]}. "
                    "Use another --results-dir, or delete the file and rerun every method "
                    "on this task with --force."
                )
            sample = z["users"]
            if int(z["requested"]) != n or int(z["population"]) != len(users):
                raise ResultsError(
                    f"{path}: stored sample is {int(z['requested'])} of "
                    f"{int(z['population'])} users, but this run asks for {n} of {len(users)}"
                )
            if not np.isin(sample, users).all():
                raise ResultsError(f"{path}: stored users are not all in the current split")
            return sample
    sample = sample_users(users, n, seed=seed)
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        users=sample,
        requested=np.array(n),
        population=np.array(len(users)),
        seed=np.array(seed),
        content_hash=np.array(content_hash),
    )
    if not atomic_create_bytes(path, buf.getvalue()):  # a parallel run wrote it first
        return load_or_sample_users(path, content_hash=content_hash, users=users, n=n, seed=seed)
    return sample
