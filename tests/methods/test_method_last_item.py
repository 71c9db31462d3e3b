"""last-item: transition counts from the training split, popularity ties, no held-out leak."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from guards import NoTestSplit

from benchmark.config import RunConfig
from benchmark.data.schema import build_dataset
from benchmark.results import load_result
from benchmark.runner import run
from methods import METHODS
from methods.base import FitContext
from methods.last_item import LastItemTransitions
from methods.pop import Popularity
from tasks.split import Split, leave_one_out

# training sequences (valid/test targets are separate, below):
#   transitions 1->2 x2, 2->5 x2, 1->3 x1, 4->3 x1, 3->3 x2, 6->7 x1, 6->8 x1, 8->9 x1
#   popularity  1:3  2:2  3:4  4:1  5:2  6:2  7:1  8:2  9:1  10:0
TRAIN = [[1, 2, 5], [1, 2, 5], [1, 3], [4, 3, 3, 3], [6, 7], [6, 8, 9], [8]]
N_ITEMS = 10  # item 10 never appears in training


def _split(train=TRAIN, valid=None, test=None, n_items=N_ITEMS) -> Split:
    n = len(train)
    return Split(
        users=np.arange(n, dtype=np.int64),
        train=[np.asarray(t, dtype=np.int64) for t in train],
        valid=np.asarray(valid if valid is not None else [10] * n, dtype=np.int64),
        test=np.asarray(test if test is not None else [10] * n, dtype=np.int64),
        n_items=n_items,
        n_dropped=0,
    )


def _fit(split: Split | None = None, method=LastItemTransitions):
    model = method()
    split = split if split is not None else _split()
    model.fit(FitContext(dataset=None, split=NoTestSplit(split), seed=0, show_progress=False))
    return model


def _order(scores: torch.Tensor) -> list[int]:
    """Items 1..n best first (stable, so equal scores keep id order)."""
    return (torch.argsort(scores[1:], descending=True, stable=True) + 1).tolist()


def test_registered_as_a_baseline_for_every_ranking_task():
    cls = METHODS.get("last-item")
    assert cls is LastItemTransitions
    assert cls.task_kinds == Popularity.task_kinds == frozenset({"full", "candidates"})
    assert cls.baseline and "rendle2010fpmc" in cls.bibtex
    assert cls().params == {}


def test_counts_only_consecutive_training_pairs():
    model = _fit()
    assert model.fit_info == {"n_transitions": 11, "n_distinct_pairs": 8,
                              "n_items_with_successor": 6}  # fmt: skip
    dense = model.counts.toarray()
    assert dense[1, 2] == 2 and dense[1, 3] == 1 and dense[2, 5] == 2 and dense[3, 3] == 2
    assert dense[5].sum() == 0 and dense[0].sum() == 0 and dense[:, 0].sum() == 0


def test_the_most_frequent_successor_of_the_last_item_ranks_first():
    model = _fit()
    # only the last item counts: the same ending gives the same scores
    scores = model.score_all(np.arange(3), [np.array([1]), np.array([4, 5, 1]), np.array([2])])
    assert torch.equal(scores[0], scores[1])
    # after 1: 2 (twice), 3 (once), then the rest by popularity (1:3, 5/6/8:2, 4/7/9:1, 10:0)
    assert _order(scores[0]) == [2, 3, 1, 5, 6, 8, 4, 7, 9, 10]
    assert _order(scores[2])[0] == 5  # 2 was always followed by 5
    assert scores.shape == (3, N_ITEMS + 1) and scores.dtype == torch.float32


def test_equal_counts_are_ordered_by_popularity():
    model = _fit()
    # 6 was followed once by 7 (popularity 1) and once by 8 (popularity 2)
    scores = model.score_all(np.arange(1), [np.array([6])])[0]
    assert _order(scores)[:2] == [8, 7]
    assert 1 < scores[7] < scores[8] < 2  # popularity never outweighs one more transition


def test_empty_history_or_no_successor_falls_back_to_popularity():
    pop = _fit(method=Popularity).score_all(np.arange(1), [np.array([1])])[0]
    model = _fit()
    # 5 and 9 never had a successor in training; 10 never appeared there
    hist = [np.empty(0, dtype=np.int64), np.array([5]), np.array([3, 9]), np.array([10])]
    scores = model.score_all(np.arange(len(hist)), hist)
    for row in scores:
        assert _order(row) == _order(pop)
        assert torch.equal(row, scores[0])


def test_score_candidates_gathers_the_same_scores():
    model = _fit()
    hist = [np.array([1]), np.array([6])]
    cands = np.array([[3, 2, 10], [7, 8, 1]])
    full = model.score_all(np.arange(2), hist)
    got = model.score_candidates(np.arange(2), hist, cands)
    assert torch.equal(got, full.gather(1, torch.as_tensor(cands)))
    assert got[0].argmax() == 1 and got[1].argmax() == 1


def test_held_out_targets_never_enter_the_counts():
    # every user's validation and test items continue the walk from the last training item:
    # counted, 2 -> 3 and 3 -> 4 would put 3 first after 2 and 4 first after 3
    users, items = [], []
    for u in range(5):
        for item in (1, 2, 3, 4):
            users.append(u)
            items.append(item)
    data = build_dataset(name="walk", source="synthetic", content_hash="0" * 64,
                         format="atomic", users=pd.Series(users), items=pd.Series(items),
                         timestamps=pd.Series(range(len(items))))  # fmt: skip
    split = leave_one_out(data)
    assert split.valid.tolist() == [3] * 5 and split.test.tolist() == [4] * 5
    model = _fit(split)
    assert model.fit_info["n_transitions"] == 5  # 1 -> 2 once per user, nothing else
    assert model.counts.toarray()[2:].sum() == 0
    scores = model.score_all(split.users, split.histories("test"))
    # the test history ends at the validation item 3, which has no training successor:
    # popularity of training items (1, 2) only; the held-out 3 and 4 score nothing
    assert (scores[:, 3] == 0).all() and (scores[:, 4] == 0).all()
    valid_scores = model.score_all(split.users, split.histories("valid"))
    assert (valid_scores[:, 3] == 0).all()

    # and the targets do not matter at all: other held-out items, the same model
    other = _fit(_split(train=split.train, valid=[2] * 5, test=[1] * 5, n_items=4))
    assert torch.equal(other.score_all(split.users, split.histories("test")), scores)


@pytest.mark.parametrize("task", ["sequential", "topn", "rerank"])
def test_runs_end_to_end_on_every_ranking_task(toy_dir, tmp_path, monkeypatch, task):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    cfg = RunConfig(methods=["last-item", "pop"], datasets=[str(toy_dir)], tasks=[task],
                    seeds=[0], results_dir=str(tmp_path / "res"), progress=False)  # fmt: skip
    run(cfg)
    rec = load_result(tmp_path / f"res/toy/{task}/last-item/seed0.json").record
    pop = load_result(tmp_path / f"res/toy/{task}/pop/seed0.json").record
    assert rec["method"]["fit_info"]["n_transitions"] > 0
    # every toy user walks forward through the catalogue: the last item predicts the next
    assert rec["metrics"]["hr@1"] > 0.5 > pop["metrics"]["hr@1"]
