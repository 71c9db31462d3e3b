import json

import numpy as np
import pytest

from benchmark.errors import ResultsError
from benchmark.results import (
    atomic_create_bytes,
    atomic_write_text,
    iter_result_files,
    load_result,
    result_paths,
    write_result,
)


def record(seed=0):
    return {
        "dataset": {"key": "toy"}, "task": {"name": "sequential"}, "method": {"name": "pop"},
        "seed": seed, "metrics": {"hr@10": 0.5},
    }


def test_round_trip(tmp_path):
    per_user = {"users": np.arange(4), "rank": np.array([1, 2, 30, 4]),
                "hr@10": np.array([1.0, 1, 0, 1])}
    path = write_result(tmp_path, {**record(), "metrics": {"hr@10": 0.75}}, per_user)
    assert path == result_paths(tmp_path, "toy", "sequential", "pop", 0)[0]
    res = load_result(path)
    assert res.record["metrics"] == {"hr@10": 0.75}
    assert res.key == ("toy", "sequential", "pop", 0)
    for k, v in per_user.items():
        assert np.array_equal(res.per_user[k], v)
    assert iter_result_files(tmp_path) == [path]


def test_sidecar_from_another_run_is_detected(tmp_path):
    path = write_result(tmp_path, record(), {"users": np.arange(3), "rank": np.ones(3)})
    other = tmp_path / "other"
    other_path = write_result(other, record(), {"users": np.arange(3), "rank": np.zeros(3)})
    path.with_suffix(".npz").write_bytes(other_path.with_suffix(".npz").read_bytes())
    with pytest.raises(ResultsError, match="sha256 does not match"):
        load_result(path)


def test_no_pickle_in_sidecar(tmp_path):
    with pytest.raises(ValueError, match="dtype object"):
        write_result(tmp_path, record(), {"users": np.array([object()], dtype=object)})
    assert iter_result_files(tmp_path) == []


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    atomic_write_text(target, json.dumps({"v": 1}))

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, json.dumps({"v": 2}))
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left behind


def test_atomic_create_keeps_the_first_writer(tmp_path):
    target = tmp_path / "sub" / "cands.npz"
    assert atomic_create_bytes(target, b"first") is True
    assert atomic_create_bytes(target, b"second") is False
    assert target.read_bytes() == b"first"
    assert [p.name for p in target.parent.iterdir()] == ["cands.npz"]  # no temp file left


def test_atomic_writes_get_plain_open_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        atomic_create_bytes(tmp_path / "b.npz", b"x")
    finally:
        os.umask(umask)
    # mkstemp alone would leave 0600
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.npz").stat().st_mode & 0o777 == 0o644


# ---- metrics are checked against the sidecar's evidence ---------------------------------------
def _ranking_result(tmp_path):
    ranks = np.array([1, 3, 12, 2, 40])
    from benchmark.metrics import metric_vectors

    vectors = metric_vectors(ranks, ["hr@10", "ndcg@10"])
    rec = {**record(), "task": {"name": "sequential", "kind": "full",
                                "metrics": ["hr@10", "ndcg@10"]},
           "metrics": {m: float(np.mean(v)) for m, v in vectors.items()}}
    return write_result(tmp_path, rec, {"users": np.arange(5), "rank": ranks, **vectors})


def _edit_metric(path, metric, value):
    data = json.loads(path.read_text())
    data["metrics"][metric] = value
    path.write_text(json.dumps(data))


def test_a_hand_edited_ranking_metric_is_refused(tmp_path):
    path = _ranking_result(tmp_path)
    load_result(path)  # consistent as written
    _edit_metric(path, "ndcg@10", 0.9)
    with pytest.raises(ResultsError, match=r"metrics\.ndcg@10 is 0\.9 but") as err:
        load_result(path)
    assert str(path) in str(err.value)
    assert load_result(path, verify=False).record["metrics"]["ndcg@10"] == 0.9


def test_a_hand_edited_text_metric_is_refused(tmp_path):
    from benchmark.metrics.text import TEXT_METRICS, text_metrics

    hyps = ["the cream is soft on my skin", "smells good and works well"]
    refs = ["this cream is soft and light", "it smells good and lasts"]
    corpus, per = text_metrics(hyps, refs)
    names = list(TEXT_METRICS)
    rec = {**record(), "task": {"name": "explanation", "kind": "generation", "metrics": names},
           "metrics": {m: corpus[m] for m in names}}
    path = write_result(tmp_path, rec, {"users": np.arange(2), "hypothesis": np.array(hyps),
                                        "reference": np.array(refs), **per})
    load_result(path)
    _edit_metric(path, "bleu-4", corpus["bleu-4"] + 1.0)
    with pytest.raises(ResultsError, match=r"metrics\.bleu-4"):
        load_result(path)


def test_leaderboard_check_fails_on_a_hand_edited_result(tmp_path, capsys):
    from benchmark.cli import main

    results = tmp_path / "results"
    path = _ranking_result(results)
    boards = tmp_path / "boards"
    assert main(["leaderboard", "--results-dir", str(results), "--out", str(boards)]) == 0
    assert main(["leaderboard", "--check", "--results-dir", str(results),
                 "--out", str(boards)]) == 0
    _edit_metric(path, "hr@10", 0.2)
    capsys.readouterr()
    assert main(["leaderboard", "--check", "--results-dir", str(results),
                 "--out", str(boards)]) != 0
    err = capsys.readouterr().err
    assert str(path) in err and "hr@10" in err


def test_make_record_lays_out_one_entry(tmp_path):
    import pandas as pd

    from benchmark.config import stable_hash
    from benchmark.data.schema import build_dataset
    from benchmark.metrics import metric_vectors
    from benchmark.results import Timing, make_record
    from tasks.base import Evaluation
    from tasks.ranking import TOPN

    ds = build_dataset(name="toy", source="mem", content_hash="h", format="test",
                       users=pd.Series(["a", "a", "b"]), items=pd.Series(["x", "y", "x"]),
                       timestamps=pd.Series([1, 2, 3]))

    class Fitted:
        name = "pop"
        params = {"k": 1}
        fit_info = {"epochs": 0}
        predict_info: dict = {}

    ranks = np.array([1, 2, 30, 4])
    metrics = {m: float(np.mean(v)) for m, v in metric_vectors(ranks, TOPN.metrics).items()}
    ev = Evaluation(per_user={"users": np.arange(4), "rank": ranks}, metrics=metrics,
                    fields={"candidates_file": None})
    timing = Timing(fit_seconds=1.0, fit_cpu_seconds=2.0, predict_seconds=2.0,
                    predict_cpu_seconds=3.0, peak_memory_mb=5.0, peak_memory_scope="process")
    config = {"dataset": "toy", "seed": 0}
    rec = make_record(dataset=ds, key="toy", task=TOPN, method=Fitted(), seed=0,
                      profile="cpu", evaluation=ev, protocol={"split": "s"}, timing=timing,
                      config=config, environment={"host": "h"}, command=None)
    assert rec["dataset"] == {"name": "toy", "key": "toy", "source": "mem", "format": "test",
                              "content_hash": "h", "n_users": 2, "n_items": ds.n_items,
                              "n_interactions": 3}
    assert rec["task"] == TOPN.describe() and rec["protocol"] == {"split": "s"}
    # no predict_info block when the method recorded none, no backend for non-LLM methods
    assert rec["method"] == {"name": "pop", "params": {"k": 1}, "fit_info": {"epochs": 0}}
    assert "backend" not in rec and rec["candidates_file"] is None
    assert rec["metrics"] == metrics and rec["metrics"]["hr@1"] == 0.25
    assert rec["users_evaluated"] == 4
    assert rec["timing"]["predict_users_per_second"] == 2.0
    assert rec["timing"]["peak_memory_mb"] == 5.0
    assert rec["config"] == config and rec["config_hash"] == stable_hash(config)
    Fitted.predict_info = {"cut": 1}
    again = make_record(dataset=ds, key="toy", task=TOPN, method=Fitted(), seed=0,
                        profile="cpu", evaluation=ev, protocol={}, timing=timing, config=config,
                        environment={}, command="python -m benchmark run", backend={"b": 1})
    assert again["method"]["predict_info"] == {"cut": 1} and again["backend"] == {"b": 1}
    path = write_result(tmp_path, rec, ev.per_user)  # what the runner writes loads back
    assert load_result(path).record["users_evaluated"] == 4


# ---- load_frame: results as a tidy pandas frame ------------------------------------------------
def _records(results_dir):
    return {load_result(p).key: load_result(p) for p in iter_result_files(results_dir)}


def test_frame_values_are_the_json_metrics(small_results):
    from benchmark.results import load_frame

    frame = load_frame(small_results)
    assert list(frame.columns) == ["dataset", "task", "method", "seed", "metric", "value"]
    results = _records(small_results)
    assert len(frame) == sum(len(r.record["metrics"]) for r in results.values())
    for row in frame.itertuples():
        rec = results[(row.dataset, row.task, row.method, row.seed)].record
        assert row.value == rec["metrics"][row.metric]
    assert set(frame["dataset"]) == {"toy", "Reviews_5"}


def test_per_user_means_are_the_reported_means(small_results):
    from benchmark.metrics.text import CORPUS_METRICS
    from benchmark.results import load_frame

    frame = load_frame(small_results, per_user=True)
    assert list(frame.columns) == ["dataset", "task", "method", "seed", "user", "metric", "value"]
    results = _records(small_results)
    checked = 0
    for (dataset, task, method, seed, metric), group in frame.groupby(
        ["dataset", "task", "method", "seed", "metric"]
    ):
        res = results[(dataset, task, method, seed)]
        assert np.array_equal(group["user"].to_numpy(), res.users)
        assert np.array_equal(group["value"].to_numpy(), res.per_user[metric])
        if metric not in CORPUS_METRICS:  # corpus BLEU is no mean of sentence BLEU
            assert group["value"].mean() == pytest.approx(res.record["metrics"][metric], abs=1e-12)
            checked += 1
    assert checked == sum(len(set(r.record["metrics"]) - set(CORPUS_METRICS))
                          for r in results.values())


def test_frame_filters_take_lists_or_comma_separated_names(small_results):
    from benchmark.results import load_frame

    frame = load_frame(small_results, datasets=["toy"], tasks="topn", methods="pop,idplus1",
                       seeds=[1], metrics=["hr@10", "ndcg@10"])
    assert set(map(tuple, frame[["dataset", "task", "seed"]].drop_duplicates().to_numpy())) == {
        ("toy", "topn", 1)}
    assert set(frame["method"]) == {"pop", "idplus1"}
    assert set(frame["metric"]) == {"hr@10", "ndcg@10"} and len(frame) == 4
    per_user = load_frame(small_results, tasks=["explanation"], methods=["item-expl"],
                          metrics="rouge-l", per_user=True)
    assert set(per_user["metric"]) == {"rouge-l"}
    assert len(per_user) == _records(small_results)[
        ("Reviews_5", "explanation", "item-expl", 0)].record["users_evaluated"]


@pytest.mark.parametrize("kw, message", [
    ({"methods": "pop,sasrek"}, r"no result for method 'sasrek'; it holds methods .*idplus1"),
    ({"tasks": ["rerank"]}, r"no result for task 'rerank'; it holds tasks explanation, "),
    ({"seeds": [7]}, r"no result for seed '7'"),
    ({"tasks": "explanation", "methods": "pop"}, r"no result matches tasks=explanation, "
                                                 r"methods=pop together"),
    ({"metrics": ["hr@100"]}, r"no selected result has metric 'hr@100'"),
])
def test_frame_names_what_a_filter_got_wrong(small_results, kw, message):
    from benchmark.results import load_frame

    with pytest.raises(ResultsError, match=message):
        load_frame(small_results, **kw)


def test_frame_of_an_empty_or_missing_directory_is_an_error(tmp_path):
    from benchmark.results import load_frame

    with pytest.raises(ResultsError, match="no such results directory"):
        load_frame(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match=r"holds no results .*run `python -m benchmark run`"):
        load_frame(tmp_path / "empty")


def test_frame_refuses_a_hand_edited_result(small_results, tmp_path):
    import shutil

    from benchmark.results import load_frame

    copy = shutil.copytree(small_results, tmp_path / "results")
    _edit_metric(copy / "toy" / "sequential" / "pop" / "seed0.json", "hr@10", 0.99)
    with pytest.raises(ResultsError, match=r"metrics\.hr@10 is 0\.99 but"):
        load_frame(copy)
    assert len(load_frame(copy, methods="idplus1")) > 0  # the filter skips the edited file
