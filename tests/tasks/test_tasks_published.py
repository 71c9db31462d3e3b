"""Published candidate lists (LLMRank's ``<name>.random``, ``.bm25``, ...) ranked as published."""

import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.config import RunConfig
from benchmark.data import load_dataset
from benchmark.errors import ConfigError, DataError, ResultsError
from benchmark.results import load_result
from benchmark.runner import run
from tasks.published import (
    find_candidate_file,
    published_candidates,
    published_protocol,
    read_published,
)
from tasks.ranking import RERANK, TOPN, build_requests
from tasks.split import leave_one_out

HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
# LLMRank's pre-split layout: each test history is the validation history plus its target
VALID = "0\t0 1 2\t3\n1\t4 5\t6\n2\t7 0\t1\n3\t3\t5\n"
TEST = "0\t0 1 2 3\t4\n1\t4 5 6\t7\n2\t7 0 1\t2\n3\t3 5\t6\n"
ITEMS = "item_id:token\ttitle:token_seq\n" + "".join(f"{i}\tgame {i}\n" for i in range(10))
# users 2 and 0 (out of user order); user 0's list names its target 4 and its history item 1
RANDOM = "2\t9 8 3 5 6\n0\t6 4 1 8 9 5\n"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def games(tmp_path):
    folder = tmp_path / "G"
    folder.mkdir()
    (folder / "G.valid.inter").write_text(HEADER + VALID)
    (folder / "G.test.inter").write_text(HEADER + TEST)
    (folder / "G.item").write_text(ITEMS)
    (folder / "G.random").write_text(RANDOM)
    return folder


def raw_items(ds, items):
    return [ds.items["raw_id"].iloc[int(i) - 1] for i in np.ravel(items)]


def test_a_file_maps_its_tokens_to_the_dataset(games):
    ds = load_dataset(games, use_cache=False)
    lists = read_published(find_candidate_file(ds, "random"), ds)
    assert [ds.user_raw_ids[u] for u in lists.users] == ["0", "2"]  # sorted by user
    assert lists.lines.tolist() == [2, 1]
    assert raw_items(ds, lists.items[0]) == ["6", "4", "1", "8", "9", "5"]  # file order


def test_target_out_first_negatives_kept_target_in_shuffled(games):
    ds = load_dataset(games, use_cache=False)
    split = leave_one_out(ds)
    lists = read_published(find_candidate_file(ds, "random"), ds)
    cands, col = published_candidates(lists, split, 3, seed=0, task_name="rerank")
    users = lists.users
    rows = {ds.user_raw_ids[u]: r for r, u in enumerate(users)}
    # user 0 (target 4): 4 is taken out, the first three others kept, 4 added
    r0 = rows["0"]
    assert raw_items(ds, cands[r0][col[r0]]) == ["4"]
    assert sorted(raw_items(ds, np.delete(cands[r0], col[r0]))) == ["1", "6", "8"]
    # user 2 (target 2, not listed): the first three listed items and the target
    r2 = rows["2"]
    assert raw_items(ds, cands[r2][col[r2]]) == ["2"]
    assert sorted(raw_items(ds, np.delete(cands[r2], col[r2]))) == ["3", "8", "9"]
    again = published_candidates(lists, split, 3, seed=0, task_name="rerank")
    assert np.array_equal(again[0], cands) and np.array_equal(again[1], col)
    orders = {tuple(published_candidates(lists, split, 3, seed=s, task_name="rerank")[1])
              for s in range(8)}  # fmt: skip
    assert len(orders) > 1  # the shuffle follows the seed
    record = published_protocol(lists, split, users, cands, col)
    assert record["lists_naming_the_target"] == 1  # user 0's list named 4
    assert record["negatives_in_history"] == 1  # user 0's kept item 1 is in their history
    assert record["users_listed"] == 2 and record["file"] == "G.random"


def test_requests_cover_the_listed_users_only_and_persist(games, tmp_path):
    ds = load_dataset(games, use_cache=False)
    split = leave_one_out(ds)
    lists = read_published(find_candidate_file(ds, "random"), ds)
    task = RERANK.with_options({"candidates": "random", "n_negatives": 3})
    path = tmp_path / "cands.npz"
    req = build_requests(task, split, seed=0, candidates_path=path,
                         content_hash=ds.content_hash, published=lists)  # fmt: skip
    assert np.array_equal(req.users, lists.users) and req.candidates.shape == (2, 4)
    rows = np.searchsorted(split.users, req.users)
    assert np.array_equal(req.targets, split.test[rows])
    assert np.array_equal(req.candidates[np.arange(2), req.target_col], req.targets)
    again = build_requests(task, split, seed=0, candidates_path=path,
                           content_hash=ds.content_hash, published=lists)  # fmt: skip
    assert np.array_equal(again.candidates, req.candidates)
    # another file under the same results is refused, not silently mixed
    (games / "G.random").write_text("0\t9 8 7 6\n")
    other = read_published(find_candidate_file(ds, "random"), ds)
    with pytest.raises(ResultsError, match="hashes to"):
        build_requests(task, split, seed=0, candidates_path=path,
                       content_hash=ds.content_hash, published=other)  # fmt: skip


def test_a_run_parses_a_file_once_and_an_edited_file_again(games, monkeypatch):
    import tasks.published as published

    ds = load_dataset(games, use_cache=False)
    parsed: list[Path] = []
    real = published.read_published

    def counting(path, dataset):
        parsed.append(path)
        return real(path, dataset)

    monkeypatch.setattr(published, "read_published", counting)
    monkeypatch.setattr(published, "_PARSED", {})
    first = published.load_published(ds, "random")
    assert published.load_published(ds, "random") is first and len(parsed) == 1
    (games / "G.random").write_text("0\t9 8 7 6\n")  # edited (a new size): read again
    assert published.load_published(ds, "random").users.tolist() == [0]
    assert len(parsed) == 2


def test_the_option_names_the_variant_and_validates(games):
    task = RERANK.with_options({"candidates": "bm25"})
    assert task.name == "rerank+candidates=bm25" and task.candidates == "bm25"
    assert "published" in task.describe()["description"]
    assert "candidates" not in RERANK.describe()  # old results keep their config hashes
    assert TOPN.with_options({"candidates": "random"}).n_candidates == 100
    with pytest.raises(ConfigError, match="suffix of a candidate file"):
        RERANK.with_options({"candidates": "../x"})
    with pytest.raises(ConfigError, match="candidate tasks only"):
        from tasks.ranking import SEQUENTIAL

        SEQUENTIAL.with_options({"candidates": "random"})
    ds = load_dataset(games, use_cache=False)
    with pytest.raises(ConfigError, match="G.bm25"):
        RERANK.with_options({"candidates": "bm25"}).check_data(ds)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("0\t1 2\n9\t1 2\n", 2, "user '9' is not in dataset"),
        ("0\t1 2\n2\t1 77\n", 2, "item '77' is not in dataset"),
        ("0\t1 2\n0\t3 4\n", 2, "second list (first on line 1)"),
        ("0 1 2\n", 1, "<TAB>"),
    ],
)
def test_bad_files_name_the_line(games, text, line, words):
    (games / "G.random").write_text(text)
    ds = load_dataset(games, use_cache=False)
    with pytest.raises(DataError) as info:
        read_published(games / "G.random", ds)
    message = str(info.value)
    assert "G.random" in message and f"line {line}:" in message and words in message


def test_too_short_a_list_says_how_many_negatives_fit(games):
    ds = load_dataset(games, use_cache=False)
    lists = read_published(find_candidate_file(ds, "random"), ds)
    with pytest.raises(ConfigError, match="at most 5"):
        published_candidates(lists, leave_one_out(ds), 19, seed=0, task_name="rerank")


def test_a_run_ranks_the_published_lists(games, tmp_path):
    res = tmp_path / "res"
    task = "rerank+candidates=random+n_negatives=3"
    run(RunConfig(methods=["pop", "random"], seeds=[0], datasets=[str(games)], tasks=["rerank"],
                  task_options={"rerank": {"candidates": "random", "n_negatives": 3}},
                  results_dir=str(res), progress=False))  # fmt: skip
    pop = load_result(res / f"G/{task}/pop/seed0.json")
    rnd = load_result(res / f"G/{task}/random/seed0.json")
    ds = load_dataset(games, use_cache=False)
    assert [ds.user_raw_ids[u] for u in pop.users] == ["0", "2"]
    assert np.array_equal(pop.users, rnd.users)
    rec = pop.record
    assert rec["protocol"]["candidates"].startswith("published lists from G.random")
    assert rec["protocol"]["published_candidates"]["negatives_in_history"] == 1
    assert rec["protocol"]["user_sample"]["population"] == 2
    assert rec["candidates_file"]["path"] == f"G/{task}/candidates-seed0.npz"
    with np.load(res / f"G/{task}/candidates-seed0.npz") as z:
        assert z["candidates"].shape == (2, 4)
    json.dumps(rec)  # the record stays plain JSON


def test_a_dataset_not_read_from_a_directory_has_no_published_lists(games, tmp_path):
    ds = load_dataset(games, use_cache=False)
    ds.source = f"{tmp_path}/some.whl:inside/the/wheel"  # as embedded datasets record it
    with pytest.raises(ConfigError, match="not loaded from a directory"):
        find_candidate_file(ds, "random")
