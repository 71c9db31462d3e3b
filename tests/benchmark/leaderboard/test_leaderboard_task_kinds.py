"""A new task kind reaches re-scoring, ``compare`` and the leaderboard through ``tasks`` alone:
its ``ResultKind`` (registered in ``tasks.RESULT_KINDS``) decides the unit, the recomputation,
the significance test, the caption and the protocol header."""

from __future__ import annotations

import re
import sys
import types

import numpy as np
import pytest

import tasks
from benchmark.compare import compare_results
from benchmark.errors import ResultsError
from benchmark.leaderboard import build_leaderboards
from benchmark.leaderboard.cards import render_card
from benchmark.leaderboard.render import to_markdown
from benchmark.results import recompute_metrics
from tasks import result_kind
from tasks.base import BoardFacts, ResultKind


def _recompute(result, names):
    """The toy kind's evidence is the per-rating value itself."""
    vectors = {m: np.asarray(result.per_user[m], dtype=np.float64) for m in names}
    return {m: float(np.mean(v)) for m, v in vectors.items()}, vectors


def _header(facts: BoardFacts) -> list[tuple[str, str]]:
    return [("Dataset", facts.dataset), ("Ratings scored", str(facts.evaluated))]


TOY = ResultKind(unit="ratings", per_seed_value="the mean toy score of that seed's ratings",
                 recompute=_recompute, header=_header, test="wilcoxon")  # fmt: skip


@pytest.fixture
def toy_kind(monkeypatch):
    monkeypatch.setitem(sys.modules, "toy_kind", types.SimpleNamespace(TOY=TOY))
    monkeypatch.setitem(tasks.RESULT_KINDS, "rating", "toy_kind:TOY")


def _rating(record):
    record["task"]["kind"] = "rating"


def test_every_registered_task_has_a_result_kind():
    for name in tasks.TASKS.names():
        assert isinstance(result_kind(tasks.TASKS.get(name).kind), ResultKind)
    assert result_kind(None) is result_kind("full")  # records from before kinds were recorded


def test_an_unknown_kind_is_refused_naming_the_file():
    with pytest.raises(ResultsError, match=r"r\.json: task\.kind 'rating' .*--force"):
        result_kind("rating", "r.json")


def test_a_new_kind_is_read_back_through_tasks_alone(toy_kind, make_result, load, tmp_path):
    values = {"hr@10": np.full(200, 0.25), "ndcg@10": np.linspace(0, 1, 200)}
    paths = [make_result(m, s, values={k: v + 0.1 * (m == "b") for k, v in values.items()},
                         edit=_rating) for m in ("a", "b") for s in (0, 1)]  # fmt: skip
    results = load()  # verified: the toy recomputation agrees with the stored metrics
    metrics, vectors = recompute_metrics(results[0])
    assert metrics["ndcg@10"] == pytest.approx(0.5) and vectors["hr@10"].shape == (200,)
    (lb,) = build_leaderboards(results, test="t")
    assert lb.test == "wilcoxon"  # the kind's test, whatever the board was asked for
    page = to_markdown(lb)
    assert "- **Ratings scored:** [200]" in page and "Metric ties" not in page
    assert "Mean ± sample std over seeds of the mean toy score of that seed's ratings" in page
    card = render_card(lb, lb.rows[0], [r for r in results if r.key[2] == lb.rows[0].method],
                       tmp_path)  # fmt: skip
    assert re.search(r"\| +Ratings +\|", card)  # the per-seed table's unit column
    assert compare_results(paths[0], paths[2]).unit == "ratings"
