"""Pre-flight (issue 14, points 3, 5 and 7): the results directory, the stored samples and every
dataset are checked before the first fit, so bad input writes nothing."""

from __future__ import annotations

import json
import os

import pytest


def run_args(datasets, res, *more):
    return ["run", "--datasets", ",".join(map(str, datasets)), "--results-dir", str(res),
            "--no-progress", *more]


# ---- point 3: where results go ---------------------------------------------------------------
def test_results_dir_that_is_a_file(toy_dir, tmp_path, cli, no_fit):
    res = tmp_path / "res"
    res.write_text("not a directory\n")
    code, err = cli(*run_args([toy_dir], res, "--methods", "pop"))
    assert code == 2 and len(err) == 1
    assert "results_dir" in err[0] and str(res) in err[0] and "not a directory" in err[0]
    assert res.read_text() == "not a directory\n"


def test_results_dir_under_a_file(toy_dir, tmp_path, cli, no_fit):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    code, err = cli(*run_args([toy_dir], blocker / "res", "--methods", "pop"))
    assert code == 2 and len(err) == 1
    assert "results_dir" in err[0] and str(blocker) in err[0]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_results_dir(toy_dir, tmp_path, cli, no_fit, snapshot):
    res = tmp_path / "res"
    res.mkdir()
    (res / "README").write_text("kept\n")
    before = snapshot(res)
    res.chmod(0o555)
    try:
        code, err = cli(*run_args([toy_dir], res, "--methods", "pop"))
    finally:
        res.chmod(0o755)
    assert code == 2 and len(err) == 1
    assert "results_dir" in err[0] and "not writable" in err[0]
    assert snapshot(res) == before


# ---- point 5: stored candidate lists and user samples -----------------------------------------
def truncate(path):
    path.write_bytes(path.read_bytes()[:100])


def test_damaged_candidates_used_by_a_result(toy_dir, tmp_path, cli, snapshot, monkeypatch):
    res = tmp_path / "res"
    assert cli(*run_args([toy_dir], res, "--methods", "pop", "--tasks", "topn",
                         "--seeds", "1"))[0] == 0
    cand = res / "toy/topn/candidates-seed1.npz"
    truncate(cand)
    before = snapshot(res)
    monkeypatch.setattr("methods.random_baseline.RandomScores.fit",
                        lambda self, ctx: pytest.fail("trained before the check"))
    code, err = cli(*run_args([toy_dir], res, "--methods", "random", "--tasks", "topn",
                              "--seeds", "1"))
    assert code == 2 and len(err) == 1
    assert str(cand) in err[0] and "BadZipFile" in err[0]
    assert "restore it" in err[0] and "--force" in err[0] and "topn/pop/seed1.json" in err[0]
    assert snapshot(res) == before


def test_damaged_candidates_no_result_used(toy_dir, tmp_path, cli, snapshot, no_fit):
    res = tmp_path / "res"
    cand = res / "toy/topn/candidates-seed0.npz"
    cand.parent.mkdir(parents=True)
    cand.write_bytes(b"PK\x03\x04 cut short")
    before = snapshot(res)
    code, err = cli(*run_args([toy_dir], res, "--methods", "pop", "--tasks", "topn",
                              "--seeds", "0"))
    assert code == 2 and len(err) == 1
    assert str(cand) in err[0] and "no result uses it, so delete it" in err[0]
    assert snapshot(res) == before


def test_damaged_user_sample(toy_dir, tmp_path, cli, snapshot, monkeypatch):
    res = tmp_path / "res"
    task = "rerank+eval_users=10"
    assert cli(*run_args([toy_dir], res, "--methods", "pop", "--tasks", task,
                         "--seeds", "0"))[0] == 0
    users = res / "toy" / task / "users.npz"
    truncate(users)
    before = snapshot(res)
    monkeypatch.setattr("methods.random_baseline.RandomScores.fit",
                        lambda self, ctx: pytest.fail("trained before the check"))
    code, err = cli(*run_args([toy_dir], res, "--methods", "random", "--tasks", task,
                              "--seeds", "1"))
    assert code == 2 and len(err) == 1
    assert str(users) in err[0] and "restore it" in err[0]
    assert snapshot(res) == before


def test_candidates_from_other_data_fail_before_training(toy_dir, tmp_path, cli, snapshot,
                                                         monkeypatch):
    res = tmp_path / "res"
    assert cli(*run_args([toy_dir], res, "--methods", "pop", "--tasks", "topn",
                         "--seeds", "0"))[0] == 0
    inter = toy_dir / "toy.inter"
    inter.write_text(inter.read_text() + "0\t7\t4\t5000\n")  # other data, same name
    before = snapshot(res)
    monkeypatch.setattr("methods.random_baseline.RandomScores.fit",
                        lambda self, ctx: pytest.fail("trained before the check"))
    code, err = cli(*run_args([toy_dir], res, "--methods", "random", "--tasks", "topn",
                              "--seeds", "0"))
    assert code == 2 and len(err) == 1
    assert "candidates-seed0.npz" in err[0] and "content hash" in err[0]
    assert snapshot(res) == before


# ---- point 7: every dataset is checked before any run -----------------------------------------
@pytest.fixture
def too_short(tmp_path):
    """An atomic dataset where no user has the 3 interactions a split needs."""
    folder = tmp_path / "short"
    folder.mkdir()
    rows = ["user_id:token\titem_id:token\ttimestamp:float"]
    rows += [f"{u}\t{u + i}\t{i}" for u in range(5) for i in range(2)]
    (folder / "short.inter").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture
def wordless_reviews(tmp_path):
    """Amazon-2018 reviews without one sentence of 4-30 words: no explanation example."""
    rows = [{"reviewerID": f"U{u}", "asin": f"B{(u + t) % 9}", "overall": 5.0,
             "reviewText": "Great.", "unixReviewTime": 1000 + t}
            for u in range(12) for t in range(4)]
    path = tmp_path / "Wordless_5.json"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.mark.parametrize("bad", ["too_short", "wordless_reviews"])
def test_a_bad_second_dataset_writes_nothing(toy_dir, tmp_path, cli, no_fit, bad, request):
    bad_path = request.getfixturevalue(bad)
    res = tmp_path / "res"
    code, err = cli(*run_args([toy_dir, bad_path], res, "--methods", "pop",
                              "--tasks", "sequential", "--seeds", "0"))
    assert code == 2 and len(err) == 1
    assert str(bad_path) in err[0]
    assert not res.exists()
