"""The ranking task kind scores a method itself: requests, target ranks, metrics, protocol."""

import hashlib

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.data.schema import build_dataset
from benchmark.errors import ConfigError, ResultsError
from benchmark.metrics import metric_vectors
from tasks.base import EvalContext, Task
from tasks.explanation import EXPLANATION
from tasks.leak import leak_audit
from tasks.ranking import RERANK, SEQUENTIAL, TIE_RULE, TOPN, RankingTask
from tasks.split import CHRONOLOGY_RULE, SPLIT_RULE, leave_one_out


def walk_dataset(n_users=30):
    """Each user walks forward through the catalogue, so 'next id' is always right."""
    rng = np.random.default_rng(0)
    users, items, stamps = [], [], []
    for u in range(n_users):
        start = int(rng.integers(0, 40))
        for t in range(int(rng.integers(4, 8))):
            users.append(f"u{u}")
            items.append(f"i{start + t}")
            stamps.append(t)
    return build_dataset(name="walk", source="mem", content_hash="h", format="test",
                         users=pd.Series(users), items=pd.Series(items),
                         timestamps=pd.Series(stamps))


class ConstantScorer:
    """Scores every item alike: under the pessimistic tie rule the target ranks last."""

    name = "constant"

    def score_all(self, users, histories):
        return torch.zeros(len(users), self.n_items)

    def score_candidates(self, users, histories, candidates):
        return torch.zeros(candidates.shape, dtype=torch.float64)


def context(tmp_path, ds, seed=0):
    return EvalContext(dataset=ds, split=leave_one_out(ds), seed=seed,
                       task_dir=tmp_path / "walk" / "task", results_dir=tmp_path, batch_size=7)


def test_full_ranking_scores_the_ranks_it_records(tmp_path):
    ds = walk_dataset()
    ctx = context(tmp_path, ds)
    method = ConstantScorer()
    method.n_items = ds.n_items
    task = SEQUENTIAL.with_options({"mask_history": False})
    ev = task.evaluate(method, ctx)
    assert ev.n == ctx.split.n_users
    assert np.array_equal(ev.per_user["users"], ctx.split.users)
    # ties rank below: last among the real items (column 0 is padding)
    assert (ev.per_user["rank"] == ds.n_items - 1).all()
    vectors = metric_vectors(ev.per_user["rank"], task.metrics)
    for m in task.metrics:
        assert np.array_equal(ev.per_user[m], vectors[m])
        assert ev.metrics[m] == float(np.mean(vectors[m])) == 0.0
    assert ev.fields == {"candidates_file": None}  # no shared files for a full ranking
    assert ev.protocol["tie_rule"] == TIE_RULE and ev.protocol["candidates"] is None


def test_candidate_ranking_records_its_shared_files_and_sample(tmp_path):
    ds = walk_dataset()
    ctx = context(tmp_path, ds)
    task = RERANK.with_options({"eval_users": 10, "n_negatives": 5})
    ev = task.evaluate(ConstantScorer(), ctx)
    assert ev.n == 10 and (ev.per_user["rank"] == 6).all()
    cand = ctx.task_dir / "candidates-seed0.npz"
    assert ev.fields["candidates_file"] == {
        "path": "walk/task/candidates-seed0.npz",
        "sha256": hashlib.sha256(cand.read_bytes()).hexdigest(),
    }
    assert ev.fields["users_file"]["path"] == "walk/task/users.npz"
    assert "5 items the user never interacted with" in ev.protocol["candidates"]
    sample = ev.protocol["user_sample"]
    assert sample["requested"] == sample["evaluated"] == 10
    assert sample["population"] == ctx.split.n_users
    # a second evaluation reads the persisted lists and sample: the same requests
    again = task.evaluate(ConstantScorer(), ctx)
    assert np.array_equal(again.per_user["users"], ev.per_user["users"])
    assert again.fields == ev.fields


def test_protocol_adds_the_split_leak_audit_and_data_quirks(tmp_path):
    ds = walk_dataset()
    ctx = context(tmp_path, ds)
    ev = TOPN.with_options({"n_negatives": 5}).evaluate(ConstantScorer(), ctx)
    proto = TOPN.protocol(ctx, ev)
    assert proto["chronology"] == CHRONOLOGY_RULE and proto["split"] == SPLIT_RULE
    assert proto["id_indexing"] == "original"
    assert proto["users_dropped"] == ctx.split.n_dropped
    assert proto["leak_audit"] == leak_audit(ctx.split)
    assert proto["leak_audit"]["test_max_id_plus_one"] > 0  # ids by first appearance leak
    assert proto["data_quirks"]["test_in_history"] == 0.0
    assert "user_sample" not in proto  # every user evaluated: nothing to record


@pytest.mark.parametrize("task", [SEQUENTIAL, TOPN, RERANK])
def test_ranking_tasks_are_tasks(task):
    assert isinstance(task, RankingTask)
    for attr in Task.__annotations__:
        assert hasattr(task, attr)
    assert callable(task.evaluate) and callable(task.protocol)


def test_check_data_refuses_more_negatives_than_any_user_has(tmp_path):
    ds = walk_dataset()
    SEQUENTIAL.check_data(ds)  # a full ranking needs nothing more
    TOPN.with_options({"n_negatives": 5}).check_data(ds)
    with pytest.raises(ConfigError, match=r"needs 99 items .*{n_negatives: 37}"):
        TOPN.check_data(ds)  # 44 items here
    assert not TOPN.needs_reviews and EXPLANATION.needs_reviews


def test_check_samples_refuses_a_damaged_stored_sample_before_the_fit(tmp_path):
    ds = walk_dataset()
    ctx = context(tmp_path, ds)
    task = RERANK.with_options({"eval_users": 10, "n_negatives": 5})
    users = ctx.split.users
    task.check_samples(ctx.task_dir, seed=0, dataset=ds, users=users, results_dir=tmp_path)
    task.evaluate(ConstantScorer(), ctx)  # writes the candidate lists and the user sample
    task.check_samples(ctx.task_dir, seed=0, dataset=ds, users=users, results_dir=tmp_path)
    (ctx.task_dir / "users.npz").write_bytes(b"damaged")
    with pytest.raises(ResultsError, match="users.npz"):
        task.check_samples(ctx.task_dir, seed=0, dataset=ds, users=users, results_dir=tmp_path)
    (ctx.task_dir / "candidates-seed0.npz").write_bytes(b"damaged")
    with pytest.raises(ResultsError, match="candidates-seed0.npz"):
        task.check_samples(ctx.task_dir, seed=0, dataset=ds, users=users, results_dir=tmp_path)
