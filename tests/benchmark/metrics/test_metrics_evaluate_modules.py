"""The ``evaluate`` modules under ``benchmark/metrics/evaluate_modules``: they load from their
folder with the Hub switched off and every socket refused, and give the suite's numbers."""

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.metrics.evaluate_modules import MODULES, module_path
from benchmark.metrics.ranking import DEFAULT_METRICS, metric_vectors, target_ranks
from benchmark.metrics.text import TEXT_METRICS, text_metrics

evaluate = pytest.importorskip(
    "evaluate", reason='the evaluate modules need the extra: pip install "recbench[evaluate]"'
)

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def _no_network(*args, **kwargs):
    raise AssertionError(f"an evaluate module tried the network: {args!r}")


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    """Both modules, loaded by folder path with the offline switches set, evaluate's module
    cache in a temp folder and any connection attempt failing the test."""
    cache = tmp_path_factory.mktemp("hf")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in OFFLINE.items():
            mp.setenv(key, value)
        mp.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
        mp.setattr(evaluate.config, "HF_MODULES_CACHE", cache / "modules")
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        loaded = {name: evaluate.load(module_path(name), cache_dir=str(cache / "metrics"))
                  for name in MODULES}
        yield loaded


def _suite(rows, targets, names):
    """What the suite gives: ``target_ranks`` row by row, then ``metric_vectors`` means."""
    ranks = np.concatenate([
        target_ranks(torch.tensor([row], dtype=torch.float64), torch.tensor([t])).numpy()
        for row, t in zip(rows, targets)
    ])
    return {m: float(np.mean(v)) for m, v in metric_vectors(ranks, names).items()}


def test_ties_rank_the_target_last_among_equals(modules):
    # target (col 0) ties with two others and is beaten by one: rank 1 + 1 + 2 = 4
    out = modules["recbench_ranking"].compute(
        predictions=[[0.5, 0.5, 0.9, 0.5, 0.1]], references=[0], metrics=["hr@3", "hr@4",
                                                                           "ndcg@4", "mrr@10"])
    assert out == {"hr@3": 0.0, "hr@4": 1.0, "ndcg@4": 1 / math.log2(5), "mrr@10": 0.25}


def test_constant_scores_earn_nothing(modules):
    out = modules["recbench_ranking"].compute(predictions=np.zeros((3, 20)),
                                              references=[0, 7, 19], k=[1, 10, 20])
    assert out["hr@20"] == 1.0 and out["mrr@20"] == pytest.approx(1 / 20)
    assert all(out[f"{kind}@{k}"] == 0.0 for kind in ("hr", "ndcg", "mrr") for k in (1, 10))


def test_nan_and_excluded_items_follow_the_suite(modules):
    nan, inf = float("nan"), float("inf")
    rows = [
        [nan, 0.2, 0.3, 0.1],        # NaN target: last (rank 4)
        [0.2, nan, nan, 0.1],        # NaN competitors never rank ahead: rank 1
        [0.2, -inf, 0.5, -inf],      # excluded items rank below a finite target: rank 2
        [-inf, -inf, 0.5, 0.1],      # an excluded target ranks among the excluded: rank 4
    ]
    targets = [0, 0, 0, 0]
    out = modules["recbench_ranking"].compute(predictions=rows, references=targets,
                                              metrics=["hr@1", "hr@2", "hr@3", "mrr@10"])
    assert out == _suite(rows, targets, ["hr@1", "hr@2", "hr@3", "mrr@10"])
    assert out["mrr@10"] == pytest.approx((1 / 4 + 1 + 1 / 2 + 1 / 4) / 4)
    assert out["hr@1"] == 0.25 and out["hr@3"] == 0.5


def test_random_scores_with_ties_and_ragged_rows_equal_the_suite(modules):
    rng = np.random.default_rng(0)
    rows, targets = [], []
    for _ in range(60):
        n = int(rng.choice([5, 20, 50]))
        row = np.round(rng.normal(size=n), 1)  # one decimal: many ties
        row[rng.random(n) < 0.1] = -np.inf
        row[rng.random(n) < 0.05] = np.nan
        rows.append(row.tolist())
        targets.append(int(rng.integers(n)))
    out = modules["recbench_ranking"].compute(predictions=rows, references=targets)
    assert list(out) == list(DEFAULT_METRICS)
    assert out == _suite(rows, targets, DEFAULT_METRICS)


def test_a_2d_array_gives_what_lists_give(modules):
    scores = np.random.default_rng(1).normal(size=(30, 40))
    targets = np.arange(30)
    metric = modules["recbench_ranking"]
    assert metric.compute(predictions=scores, references=targets, k=5) == metric.compute(
        predictions=scores.tolist(), references=targets.tolist(), k=5)
    batched = {m: float(np.mean(v)) for m, v in metric_vectors(
        target_ranks(torch.tensor(scores), torch.tensor(targets)),
        ["hr@5", "ndcg@5", "mrr@5"]).items()}
    assert metric.compute(predictions=scores, references=targets, k=5) == batched


def test_ranking_input_errors_name_the_fix(modules):
    metric = modules["recbench_ranking"]
    with pytest.raises(ValueError, match=r"references\[1\] = 3 is not an index into "
                                         r"predictions\[1\], which has 3 scores"):
        metric.compute(predictions=[[0.1, 0.2], [0.1, 0.2, 0.3]], references=[0, 3])
    with pytest.raises(ValueError, match="give metrics or k, not both"):
        metric.compute(predictions=[[0.1, 0.2]], references=[0], k=1, metrics=["hr@1"])
    with pytest.raises(ValueError, match="unknown metric 'recall@10'"):
        metric.compute(predictions=[[0.1, 0.2]], references=[0], metrics=["recall@10"])


HYPS = ["the cream is soft on my skin", "smells good and works well", "great", "I love it"]
REFS = ["this cream is soft and light", "it smells good and lasts", "great value", "love it"]


def test_text_module_gives_the_suite_numbers(modules):
    out = modules["recbench_text"].compute(predictions=HYPS, references=REFS)
    corpus, _ = text_metrics(HYPS, REFS)
    assert list(out) == list(TEXT_METRICS) and out == corpus
    assert out["rouge-1"] > 0 and out["bleu-1"] > 0  # a real overlap, not a zero default


def test_text_module_returns_the_named_metrics(modules):
    metric = modules["recbench_text"]
    out = metric.compute(predictions=HYPS, references=REFS, metrics=["bleu-4", "rouge-l"])
    assert out == {m: text_metrics(HYPS, REFS)[0][m] for m in ("bleu-4", "rouge-l")}
    with pytest.raises(ValueError, match=r"unknown text metric\(s\) \['bleu'\]"):
        metric.compute(predictions=HYPS, references=REFS, metrics=["bleu"])


def test_unknown_module_name():
    with pytest.raises(ValueError, match="unknown recbench evaluate module 'ndcg'"):
        module_path("ndcg")


def test_each_module_has_a_card():
    for name in MODULES:
        card = Path(module_path(name)) / "README.md"
        assert card.read_text().startswith("---\ntitle: ")


_FRESH = """
import json, socket, sys
def refuse(*a, **k):
    raise OSError("network refused by the test")
socket.socket.connect = refuse
socket.create_connection = refuse
import evaluate
from benchmark.metrics.evaluate_modules import module_path
ranking = evaluate.load(module_path("recbench_ranking"))
text = evaluate.load(module_path("recbench_text"))
print(json.dumps([
    ranking.compute(predictions=[[0.5, 0.5, 0.9], [0.1, 0.3, 0.2]], references=[0, 2], k=2),
    text.compute(predictions=sys.argv[1:3], references=sys.argv[3:5]),
]))
"""


def test_a_fresh_process_loads_both_offline(tmp_path):
    """What a user does: a new interpreter with only the offline switches set, an empty Hugging
    Face home, and no network."""
    env = {**os.environ, **OFFLINE, "HF_HOME": str(tmp_path / "hf"),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[3]),
                                          os.environ.get("PYTHONPATH", "")])}
    env.pop("HF_MODULES_CACHE", None)
    proc = subprocess.run([sys.executable, "-c", _FRESH, *HYPS[:2], *REFS[:2]],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    ranking, text = json.loads(proc.stdout.strip().splitlines()[-1])
    # ranks 3 and 2 of 3: hr@2 = 1/2, ndcg@2 = (0 + 1/log2(3)) / 2, mrr@2 = (0 + 1/2) / 2
    assert ranking == pytest.approx({"hr@2": 0.5, "ndcg@2": 0.5 / math.log2(3), "mrr@2": 0.25})
    assert text == pytest.approx(text_metrics(HYPS[:2], REFS[:2])[0])
    assert (tmp_path / "hf" / "modules").is_dir()  # it used the empty home, not a warm cache
