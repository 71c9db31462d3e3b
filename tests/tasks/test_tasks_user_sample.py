"""Seeded user samples (``eval_users``): deterministic, shared by every method, persisted."""

import numpy as np
import pandas as pd
import pytest

from benchmark.config import RunConfig
from benchmark.errors import ConfigError, ResultsError
from benchmark.results import load_result
from benchmark.runner import run
from tasks.base import parse_variant
from tasks.ranking import RERANK, TOPN, RankingTask, build_requests
from tasks.sampling import load_or_sample_users, sample_users
from tasks.split import leave_one_out

USERS = np.arange(100, 400, 3)  # 100 user ids, not 0..n-1


def test_same_seed_same_users_other_seed_other_users():
    a = sample_users(USERS, 20, seed=0)
    assert np.array_equal(a, sample_users(USERS, 20, seed=0))
    assert not np.array_equal(a, sample_users(USERS, 20, seed=1))
    assert len(a) == 20 == len(np.unique(a)) and np.isin(a, USERS).all()
    assert np.all(np.diff(a) > 0)  # kept in user order


def test_smaller_samples_nest_in_larger_ones():
    assert np.isin(sample_users(USERS, 10, seed=3), sample_users(USERS, 40, seed=3)).all()


@pytest.mark.parametrize("n", [None, 100, 500])
def test_eval_users_at_least_the_population_means_everyone(n):
    assert np.array_equal(sample_users(USERS, n, seed=0), USERS)


def test_persisted_sample_is_reused_and_checked(tmp_path):
    path = tmp_path / "users.npz"
    first = load_or_sample_users(path, content_hash="h", users=USERS, n=20, seed=0)
    # the file wins over a different seed, so a rerun can never change the users
    again = load_or_sample_users(path, content_hash="h", users=USERS, n=20, seed=7)
    assert np.array_equal(first, again)
    with pytest.raises(ResultsError, match="content hash"):
        load_or_sample_users(path, content_hash="other", users=USERS, n=20, seed=0)
    with pytest.raises(ResultsError, match="asks for 30 of 100"):
        load_or_sample_users(path, content_hash="h", users=USERS, n=30, seed=0)


def test_rerank_samples_200_users_and_describe_keeps_old_hashes():
    assert RERANK.eval_users == 200 and RERANK.describe()["eval_users"] == 200
    assert "eval_users" not in TOPN.describe()  # unset: the committed results' hashes hold
    assert "eval_users" not in RERANK.with_options({"eval_users": "all"}).describe()


@pytest.mark.parametrize("value, name, stored", [
    (50, "topn+eval_users=50", 50), (0, "topn+eval_users=all", None),
    ("all", "topn+eval_users=all", None),
])  # fmt: skip
def test_eval_users_option(value, name, stored):
    task = TOPN.with_options({"eval_users": value})
    assert (task.name, task.eval_users) == (name, stored)
    base, options = parse_variant(task.name)
    assert TOPN.with_options(options) == task  # the result name reads back


@pytest.mark.parametrize("bad", [-3, 2.5, "some", True])
def test_bad_eval_users_is_a_clear_error(bad):
    with pytest.raises(ConfigError, match="eval_users: expected a positive number"):
        TOPN.with_options({"eval_users": bad})


def _walk_split(n_users=60, n_items=190, seed=0):
    from benchmark.data.schema import build_dataset

    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        start = int(rng.integers(1, n_items - 12))
        for t in range(int(rng.integers(4, 12))):
            users.append(u)
            items.append(start + t)
            times.append(t)
    ds = build_dataset(name="walk", source="mem", content_hash="h", format="test",
                       users=pd.Series(users), items=pd.Series(items),
                       timestamps=pd.Series(times))
    return leave_one_out(ds)


def test_requests_keep_only_the_sample_with_their_own_candidates(tmp_path):
    split = _walk_split()
    task = RankingTask(name="t", description="", kind="candidates", n_negatives=9, eval_users=15)
    everyone = build_requests(RankingTask(name="t", description="", kind="candidates",
                                          n_negatives=9), split, seed=0)
    some = build_requests(task, split, seed=0, users_path=tmp_path / "u.npz",
                          candidates_path=tmp_path / "c.npz", content_hash="h")
    assert len(some) == 15 and (tmp_path / "u.npz").exists()
    rows = np.flatnonzero(np.isin(everyone.users, some.users))
    # a user's candidate list does not depend on whether users are sampled
    assert np.array_equal(some.candidates, everyone.candidates[rows])
    assert np.array_equal(some.target_col, everyone.target_col[rows])
    assert np.array_equal(some.targets, everyone.targets[rows])
    assert all(np.array_equal(a, everyone.histories[r]) for a, r in zip(some.histories, rows))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))


def test_every_method_evaluates_the_same_users(toy_dir, tmp_path):
    res = tmp_path / "res"
    cfg = dict(datasets=[str(toy_dir)], tasks=["rerank"], results_dir=str(res), progress=False,
               task_options={"rerank": {"eval_users": 25}})
    run(RunConfig(methods=["pop", "random"], seeds=[0, 1], **cfg))
    run(RunConfig(methods=["idplus1"], seeds=[0], **cfg))  # a later run, another method
    task = "rerank+eval_users=25"
    users = {(m, s): load_result(res / f"toy/{task}/{m}/seed{s}.json").users
             for m, s in [("pop", 0), ("random", 0), ("idplus1", 0), ("pop", 1)]}
    assert len(users["pop", 0]) == 25
    assert np.array_equal(users["pop", 0], users["random", 0])
    assert np.array_equal(users["pop", 0], users["idplus1", 0])
    # every seed evaluates the same users, so seed-averaged paired tests keep all of them
    assert np.array_equal(users["pop", 0], users["pop", 1])
    rec = load_result(res / f"toy/{task}/pop/seed0.json").record
    sample = rec["protocol"]["user_sample"]
    assert (sample["requested"], sample["evaluated"], sample["population"]) == (25, 25, 60)
    assert "for every run seed" in sample["rule"]
    assert rec["users_file"]["path"] == f"toy/{task}/users.npz"
    assert rec["users_evaluated"] == 25 and rec["task"]["eval_users"] == 25
    stored = np.load(res / f"toy/{task}/users.npz")["users"]
    assert np.array_equal(stored, users["pop", 0])


def test_default_rerank_sample_covers_small_datasets(toy_dir, tmp_path):
    res = tmp_path / "res"
    run(RunConfig(methods=["pop"], seeds=[0], datasets=[str(toy_dir)], tasks=["rerank"],
                  results_dir=str(res), progress=False))
    rec = load_result(res / "toy/rerank/pop/seed0.json").record
    assert rec["users_evaluated"] == 60  # 200 requested, 60 users: everyone
    assert rec["protocol"]["user_sample"]["rule"].startswith("every user")
    assert "users_file" not in rec and not (res / "toy/rerank/users.npz").exists()
