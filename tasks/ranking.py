"""The ranking tasks: sequential (full ranking), top-N (1 + 99) and re-ranking (1 + 19)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.base import EvalRequests, RankingTask
from tasks.sampling import load_or_sample, sample_candidates
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
)


def build_requests(
    task: RankingTask,
    split: Split,
    *,
    stage: str = "test",
    seed: int = 0,
    candidates_path: Path | None = None,
    content_hash: str = "",
) -> EvalRequests:
    """Requests for ``stage`` ("valid" or "test") of ``split`` under ``task``.

    Candidate tasks persist their sample at ``candidates_path`` (when given) so later runs and
    other methods rank exactly the same lists.
    """
    histories = split.histories(stage)
    targets = split.targets(stage)
    if task.kind == "full":
        return EvalRequests(users=split.users, histories=histories, targets=targets)
    everything = [np.append(t, [v, x]) for t, v, x in zip(split.train, split.valid, split.test)]
    name = task.name if stage == "test" else f"{task.name}/{stage}"
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
