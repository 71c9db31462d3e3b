"""The ranking tasks: sequential (full ranking), top-N (1 + 99) and re-ranking (1 + 19)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.base import EvalRequests, RankingTask, parse_variant, variant_name
from tasks.sampling import (
    USER_SAMPLE_SEED,
    load_or_sample,
    load_or_sample_users,
    sample_candidates,
    sample_users,
)
from tasks.split import Split

SEQUENTIAL = RankingTask(
    name="sequential",
    description="next item among all items; the user's history items are masked",
    kind="full",
    mask_history=True,
)
TOPN = RankingTask(
    name="topn",
    description="held-out positive among 99 sampled items the user never interacted with",
    kind="candidates",
    n_negatives=99,
    metrics=("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10", "mrr@10"),
)
RERANK = RankingTask(
    name="rerank",
    description="held-out positive among 19 sampled items the user never interacted with, "
    "shuffled",
    kind="candidates",
    n_negatives=19,
    metrics=("hr@1", "hr@5", "ndcg@1", "ndcg@5", "ndcg@10"),
    eval_users=200,  # RPP evaluated 200 users; an LLM generating per user is slow
)


def build_requests(
    task: RankingTask,
    split: Split,
    *,
    stage: str = "test",
    seed: int = 0,
    candidates_path: Path | None = None,
    content_hash: str = "",
    users_path: Path | None = None,
) -> EvalRequests:
    """Requests for ``stage`` ("valid" or "test") of ``split`` under ``task``.

    Candidate tasks persist their sample at ``candidates_path`` (when given) so later runs and
    other methods rank exactly the same lists. A task with ``eval_users`` keeps only a sample of
    users, the same for every seed (``USER_SAMPLE_SEED``) so that results of all seeds pair up
    user by user, persisted at ``users_path`` (when given and the sample is not everyone);
    candidates are drawn for every user first, so a user's list does not depend on the sample.
    """
    requests = _all_requests(task, split, stage, seed, candidates_path, content_hash)
    if task.eval_users is None or task.eval_users >= split.n_users:
        return requests
    if users_path is not None:
        sample = load_or_sample_users(
            users_path, content_hash=content_hash, users=split.users, n=task.eval_users,
            seed=USER_SAMPLE_SEED,
        )
    else:
        sample = sample_users(split.users, task.eval_users, seed=USER_SAMPLE_SEED)
    return subset_requests(requests, np.isin(requests.users, sample))


def candidate_key(task_name: str) -> str:
    """What seeds a task's candidate lists: its base name plus the options that change them.

    Options that change only how a method is asked (``prompt``) or who is evaluated
    (``eval_users``) keep the base task's lists, so ``topn+prompt=unseen`` ranks exactly the
    lists of ``topn`` and the two can be compared user by user; ``n_negatives`` defines
    other lists."""
    base, options = parse_variant(task_name)
    return variant_name(base, {k: v for k, v in options.items() if k == "n_negatives"})


def subset_requests(requests: EvalRequests, keep: np.ndarray) -> EvalRequests:
    """The requests of the users where ``keep`` (a boolean mask over them) is true."""
    rows = np.flatnonzero(keep)
    return EvalRequests(
        users=requests.users[rows],
        histories=[requests.histories[i] for i in rows],
        targets=requests.targets[rows],
        candidates=None if requests.candidates is None else requests.candidates[rows],
        target_col=None if requests.target_col is None else requests.target_col[rows],
    )


def _all_requests(
    task: RankingTask,
    split: Split,
    stage: str,
    seed: int,
    candidates_path: Path | None,
    content_hash: str,
) -> EvalRequests:
    histories = split.histories(stage)
    targets = split.targets(stage)
    if task.kind == "full":
        return EvalRequests(users=split.users, histories=histories, targets=targets)
    everything = [np.append(t, [v, x]) for t, v, x in zip(split.train, split.valid, split.test)]
    key = candidate_key(task.name)
    name = key if stage == "test" else f"{key}/{stage}"
    if candidates_path is not None:
        cands, col = load_or_sample(
            candidates_path,
            content_hash=content_hash,
            users=split.users,
            sequences=everything,
            targets=targets,
            n_items=split.n_items,
            n_negatives=task.n_negatives,
            seed=seed,
            task_name=name,
        )
    else:
        cands, col = sample_candidates(
            everything, targets, split.n_items, task.n_negatives, seed=seed, task_name=name
        )
    return EvalRequests(
        users=split.users, histories=histories, targets=targets, candidates=cands, target_col=col
    )
