"""``benchmark.compare``: pairing two result files by unit id and testing A against B."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest

from benchmark import compare as compare_module
from benchmark.cli import main
from benchmark.compare import compare_results, render_comparison
from benchmark.errors import ConfigError, ResultsError
from benchmark.results import load_result, write_result
from benchmark.stats import bootstrap_ci, paired_t_test, wilcoxon_test

RANKING = ["hr@10", "ndcg@10"]


@pytest.fixture(autouse=True)
def synthetic_vectors(monkeypatch):
    """These files hold drawn per-unit values that no rank vector or text gives; the metric
    check of ``load_result`` (tested in test_results.py) would rightly refuse them."""
    monkeypatch.setattr(compare_module, "load_result", partial(load_result, verify=False))


def _write(
    root: Path,
    method: str,
    values: dict[str, np.ndarray],
    users: np.ndarray,
    *,
    seed: int = 0,
    task: str = "sequential",
    kind: str = "full",
    content_hash: str = "c0ffee",
    candidates: str | None = None,
) -> Path:
    record = {
        "dataset": {"name": "toy", "key": "toy", "content_hash": content_hash},
        "task": {"name": task, "kind": kind, "metrics": list(values)},
        "method": {"name": method, "params": {}},
        "seed": seed,
        "metrics": {m: float(np.mean(v)) for m, v in values.items()},
        "candidates_file": {"path": "x", "sha256": candidates} if candidates else None,
    }
    per_user = {"users": np.asarray(users, dtype=np.int64), **values}
    return write_result(root, record, per_user)


@pytest.fixture
def pair(tmp_path):
    """B answers the same 100 users as A, stored in reverse order, about 0.2 lower."""
    rng = np.random.default_rng(0)
    users = np.arange(100)
    a = {m: rng.random(100) for m in RANKING}
    b = {m: np.clip(v - 0.2 + 0.1 * rng.standard_normal(100), 0, 1) for m, v in a.items()}
    path_a = _write(tmp_path, "good", a, users)
    path_b = _write(tmp_path, "bad", {m: v[::-1] for m, v in b.items()}, users[::-1])
    return path_a, path_b, a, b


def test_pairs_by_unit_id_not_by_position(pair):
    path_a, path_b, a, b = pair
    c = compare_results(path_a, path_b)
    assert c.metric == "ndcg@10" and c.unit == "users" and c.n_pairs == 100
    expected = paired_t_test(a["ndcg@10"], b["ndcg@10"])
    assert c.p_value == pytest.approx(expected.p_value)
    assert c.statistic == pytest.approx(expected.statistic)
    assert c.mean_diff == pytest.approx(np.mean(a["ndcg@10"] - b["ndcg@10"]))
    assert c.ci == pytest.approx(bootstrap_ci(a["ndcg@10"], b["ndcg@10"]))
    assert c.mean_diff > 0 and c.p_value < 1e-6 and c.ci[0] > 0
    assert c.warnings == ()
    text = render_comparison(c)
    assert "ndcg@10 on 100 paired users" in text and "paired t-test" in text
    assert "95% CI [" in text and "(--metric): hr@10" in text


def test_other_metric_and_test(pair):
    path_a, path_b, a, b = pair
    c = compare_results(path_a, path_b, metric="hr@10", test="wilcoxon")
    assert c.metric == "hr@10"
    assert c.p_value == pytest.approx(wilcoxon_test(a["hr@10"], b["hr@10"]).p_value)
    r = compare_results(path_b, path_a, test="randomization")
    assert r.mean_diff < 0 and r.p_value == pytest.approx(1 / 10_001)
    with pytest.raises(ConfigError, match="unknown paired test 'z'"):
        compare_results(path_a, path_b, test="z")


def test_a_subset_pairs_with_a_warning(tmp_path):
    rng = np.random.default_rng(1)
    full = _write(tmp_path, "full", {m: rng.random(50) for m in RANKING}, np.arange(50))
    part_users = np.arange(10, 60)  # 40 shared, 10 of its own
    part = _write(tmp_path, "part", {m: rng.random(50) for m in RANKING}, part_users, seed=1)
    c = compare_results(full, part)
    assert c.n_pairs == 40 and (c.n_a, c.n_b) == (50, 50)
    assert any("only 40 users pair up" in w for w in c.warnings)


def test_refusals_name_the_files_and_metrics(tmp_path):
    rng = np.random.default_rng(2)
    users = np.arange(20)
    ranking = _write(tmp_path, "r", {m: rng.random(20) for m in RANKING}, users)
    other_metric = _write(tmp_path, "o", {"mrr@10": rng.random(20)}, users, seed=1)
    with pytest.raises(ResultsError, match=r"share no per-sample metric: A has hr@10, ndcg@10; "
                       r"B has mrr@10"):
        compare_results(ranking, other_metric)
    same = _write(tmp_path, "s", {m: rng.random(20) for m in RANKING}, users, seed=2)
    with pytest.raises(ResultsError, match=r"--metric 'mrr@10' is not in both.*hr@10, ndcg@10"):
        compare_results(ranking, same, metric="mrr@10")
    elsewhere = _write(tmp_path, "e", {m: rng.random(20) for m in RANKING}, users, seed=3,
                       content_hash="beef")
    with pytest.raises(ResultsError, match="different datasets"):
        compare_results(ranking, elsewhere)
    text = _write(tmp_path, "t", {m: rng.random(20) for m in RANKING}, users, seed=4,
                  task="explanation", kind="generation")
    with pytest.raises(ResultsError, match="scores users and .* scores examples"):
        compare_results(ranking, text)
    disjoint = _write(tmp_path, "d", {m: rng.random(20) for m in RANKING}, users + 100, seed=5)
    with pytest.raises(ResultsError, match="share 0 of their users"):
        compare_results(ranking, disjoint)
    with pytest.raises(ResultsError, match="no such result file"):
        compare_results(ranking, tmp_path / "missing.json")


def test_different_candidate_lists_and_examples_are_flagged(tmp_path):
    rng = np.random.default_rng(3)
    users = np.arange(30)
    a = _write(tmp_path, "a", {"ndcg@10": rng.random(30)}, users, task="topn",
               kind="candidates", candidates="aaa")
    b = _write(tmp_path, "a", {"ndcg@10": rng.random(30)}, users, seed=1, task="topn",
               kind="candidates", candidates="bbb")
    assert any("different candidate lists" in w for w in compare_results(a, b).warnings)
    ex_a = _write(tmp_path, "x", {"bleu-1": rng.random(30)}, users, task="explanation",
                  kind="generation")
    ex_b = _write(tmp_path, "y", {"bleu-1": rng.random(30)}, users, task="explanation",
                  kind="generation")
    c = compare_results(ex_a, ex_b)
    assert c.unit == "examples" and c.metric == "bleu-1"
    assert any("corpus value" in w for w in c.warnings)


def test_cli(pair, tmp_path, capsys):
    path_a, path_b, _, _ = pair
    assert main(["compare", str(path_a), str(path_b), "--test", "wilcoxon"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"A: {path_a} (good on toy / sequential, seed 0)")
    assert "Wilcoxon signed-rank test" in out
    assert main(["compare", str(path_a), str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.json: no such result file" in err
