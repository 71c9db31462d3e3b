"""Each stage of building one board on its own: aggregate -> test -> rows -> notes."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.errors import ResultsError
from benchmark.leaderboard.build import (
    CORPUS_TEST,
    Comparison,
    _aggregate,
    _compare_pairs,
    _Family,
    _holm_family,
    _notes,
    _rows,
    _test_pair,
)
from benchmark.stats import TEST_NAMES, compare, holm

KEY = ("toy", "sequential")
METRICS = ["hr@10", "ndcg@10"]
FAMILY = _Family(METRICS, "t", {}, KEY)


def _agg(load, main_metric: str = "ndcg@10"):
    """Stage 1 over the written results, sorted as ``_build_one`` sorts them."""
    group = sorted(load(), key=lambda r: (r.record["method"]["name"], int(r.record["seed"])))
    return _aggregate(group, METRICS, main_metric)


def _comparison(a: str, b: str, mean_diff: float, p: float, metric: str = "ndcg@10"):
    return Comparison(metric=metric, a=a, b=b, seeds=(0,), n_users=50, mean_diff=mean_diff,
                      statistic=3.0, p_value=p, p_adjusted=p, effect_size=0.5)


# --- stage 1: aggregate -----------------------------------------------------------------------


def test_aggregate_summarises_seeds_and_orders_rows(make_result, load):
    make_result("low", 0, rate=0.1, rng_seed=1)
    for s in range(3):
        make_result("high", s, rate=0.6, rng_seed=10 + s,
                    edit=lambda rec, s=s: rec["timing"].update(peak_memory_mb=100.0 + s))
    agg = _agg(load)
    assert agg.order == ["high", "low"] and agg.letters == {"high": "a", "low": "b"}
    assert list(agg.runs) == ["high", "low"]  # by name, whatever the row order
    high = agg.summaries["high"]
    values = [agg.runs["high"][s].record["metrics"]["ndcg@10"] for s in range(3)]
    assert high.seeds == [0, 1, 2]
    assert high.means["ndcg@10"] == pytest.approx((np.mean(values), np.std(values, ddof=1)))
    assert high.peak_memory_mb == 102.0  # the peak, not the mean
    assert high.fit_seconds == 1.5 and high.users_evaluated == [200]
    assert agg.summaries["low"].means["hr@10"][1] is None  # one seed: no spread
    assert agg.pair("high", "low") == "high (a) and low (b)"


def test_aggregate_orders_by_the_main_metric_then_by_name(make_result, load):
    ones, zeros = np.ones(200), np.zeros(200)
    make_result("b_hr", 0, values={"hr@10": ones, "ndcg@10": zeros})
    make_result("c_ndcg", 0, values={"hr@10": zeros, "ndcg@10": ones})
    make_result("a_ndcg", 0, values={"hr@10": zeros, "ndcg@10": ones})
    assert _agg(lambda: load(verify=False)).order == ["a_ndcg", "c_ndcg", "b_hr"]
    assert _agg(lambda: load(verify=False), "hr@10").order == ["b_hr", "a_ndcg", "c_ndcg"]


def test_aggregate_names_a_result_missing_a_listed_metric(make_result, load):
    make_result("a", 0)
    make_result("b", 0, edit=lambda rec: rec["metrics"].pop("hr@10"))
    with pytest.raises(ResultsError, match="'hr@10' is listed in task.metrics") as err:
        _agg(lambda: load(verify=False))
    assert "b/seed0.json" in str(err.value) and "a/seed0.json" not in str(err.value)


# --- stage 2: test ----------------------------------------------------------------------------


def test_compare_pairs_is_one_holm_family_over_pairs_and_metrics(make_result, load):
    for name, rate in (("x", 0.7), ("y", 0.4), ("z", 0.2)):
        make_result(name, 0, rate=rate, rng_seed=int(rate * 10))
    agg = _agg(load)
    comparisons, notes = _compare_pairs(agg, METRICS, "t", {}, KEY)
    assert notes == []
    pairs = [(c.a, c.b) for c in comparisons]
    assert pairs == [(a, b) for a, b in (("x", "y"), ("x", "z"), ("y", "z")) for _ in METRICS]
    assert [c.metric for c in comparisons] == METRICS * 3
    raw = [c.p_value for c in comparisons]
    assert [c.p_adjusted for c in comparisons] == pytest.approx(list(holm(np.array(raw))))
    first = comparisons[0]
    va = agg.runs["x"][0].per_user["hr@10"]
    vb = agg.runs["y"][0].per_user["hr@10"]
    assert first.p_value == pytest.approx(compare(va, vb, test="t").p_value)
    assert first.mean_diff == pytest.approx(np.mean(va - vb))


def test_compare_pairs_notes_pairs_it_cannot_test_as_planned(make_result, load):
    make_result("a", 0)
    make_result("b", 1, rng_seed=5)  # no shared seed
    make_result("c", 0, users=np.arange(1), rng_seed=6)  # one user
    agg = _agg(load)
    comparisons, notes = _compare_pairs(agg, METRICS, "t", {}, KEY)

    def pair(x: str, y: str) -> str:  # notes name a pair in row order
        return agg.pair(*sorted((x, y), key=agg.order.index))

    assert f"{pair('a', 'b')} share no seed; their comparison averages each method over its " \
        "own seeds." in notes
    assert f"{pair('a', 'c')} share fewer than 2 users; not tested." in notes
    assert any(n.startswith(f"{pair('a', 'c')} were evaluated on different users") and
               "compared on the 1 users both evaluated" in n for n in notes)
    assert {frozenset((c.a, c.b)) for c in comparisons} == {frozenset("ab")}


def test_test_pair_records_one_member_and_names_the_files(make_result, load):
    make_result("a", 0)
    make_result("b", 0, rng_seed=4)
    agg = _agg(load)
    x, y = np.array([1.0, 0.0, 1.0, 1.0]), np.array([0.0, 0.0, 1.0, 0.0])
    member = _test_pair(agg.runs, "a", "b", "hr@10", x, y, (0,), FAMILY)
    expected = compare(x, y, test="t")
    assert member == {
        "metric": "hr@10", "a": "a", "b": "b", "seeds": (0,), "n_users": 4,
        "mean_diff": pytest.approx(0.5), "statistic": pytest.approx(expected.statistic),
        "p_value": pytest.approx(expected.p_value),
        "effect_size": pytest.approx(expected.effect_size),
    }
    with pytest.raises(ResultsError, match="cannot test a against b on hr@10") as err:
        _test_pair(agg.runs, "a", "b", "hr@10", x, np.array([0.0, np.nan, 1.0, 0.0]), (0,),
                   FAMILY)
    assert str(agg.runs["a"][0].path) in str(err.value)


def test_holm_family_counts_an_undecided_test_as_p_one():
    member = {"metric": "m", "b": "y", "seeds": (0,), "n_users": 10, "mean_diff": 0.1,
              "statistic": 1.0, "effect_size": 0.1}
    family = _holm_family([{**member, "a": "x", "p_value": 0.01},
                           {**member, "a": "w", "p_value": float("nan")}])
    assert [c.p_value for c in family] == [0.01, 1.0]
    assert [c.p_adjusted for c in family] == pytest.approx([0.02, 1.0])
    assert _holm_family([]) == []


# --- stage 3: rows ----------------------------------------------------------------------------


def test_rows_mark_only_wins_the_printed_means_show(make_result, load):
    make_result("hi", 0, rate=0.6, rng_seed=1)
    make_result("lo", 0, rate=0.2, rng_seed=2)
    agg = _agg(load)
    comparisons = [
        _comparison("hi", "lo", mean_diff=0.4, p=0.001, metric="hr@10"),
        # a win the means contradict (hi prints higher): no mark either way
        _comparison("hi", "lo", mean_diff=-0.1, p=0.001, metric="ndcg@10"),
    ]
    rows = _rows(agg, comparisons, METRICS, alpha=0.05)
    assert [(r.method, r.letter) for r in rows] == [("hi", "a"), ("lo", "b")]
    assert rows[0].cells["hr@10"].markers == ("b",)
    assert rows[0].cells["ndcg@10"].markers == () and rows[1].cells["ndcg@10"].markers == ()
    assert all(r.cells[m].best == (r.method == "hi") for r in rows for m in METRICS)
    assert rows[0].sources == [agg.runs["hi"][0].path]
    assert rows[0].bibtex == "" and rows[0].baseline == ""  # unregistered names
    assert _rows(agg, comparisons, METRICS, alpha=0.0001)[0].cells["hr@10"].markers == ()


def test_rows_read_bibtex_and_baseline_from_the_registry(make_result, load, registry):
    class Base:
        bibtex = "  @misc{b,\n  title={B}\n}\n"
        baseline = "items by popularity"

    registry.add("base", Base)
    make_result("base", 0)
    (row,) = _rows(_agg(load), [], METRICS, alpha=0.05)
    assert row.bibtex == "@misc{b,\n  title={B}\n}" and row.baseline == "items by popularity"


# --- stage 4: notes ---------------------------------------------------------------------------


def test_notes_come_in_a_fixed_order_each_once(make_result, load):
    def edit(params, hardware, replayed=0):
        def apply(rec):
            rec["method"]["params"] = params
            rec["environment"]["hardware"] = hardware
            rec["method"]["predict_info"] = {"cut_by_max_new_tokens": 2, "answers": 10,
                                             "max_new_tokens": 80}  # fmt: skip
            rec["backend"] = {"weights": {"files": [{"file": "w.bin", "sha256": "ab" * 32}],
                                          "form": "bf16"}}  # fmt: skip
            if replayed:
                rec["backend"]["cache"] = {"path": "a.sqlite", "replayed": replayed}

        return apply

    make_result("hi", 0, rate=0.6, rng_seed=1,
                edit=edit({"lr": 1}, {"cpu": "x", "torch_threads": 1, "load_average_1m": 9.0}))
    make_result("hi", 1, rate=0.6, rng_seed=2,
                edit=edit({"lr": 2}, {"cpu": "x", "torch_threads": 1, "load_average_1m": 9.0},
                          replayed=1200))
    make_result("lo", 0, rate=0.2, rng_seed=3,
                edit=edit({}, {"cpu": "y", "torch_threads": 1, "load_average_1m": 0.1}))
    agg = _agg(load)
    contradicted = _comparison("hi", "lo", mean_diff=-0.1, p=0.001)
    notes = _notes(agg, [contradicted], 0.05, ["pair note", "pair note"])
    assert notes == [
        "hi: hyperparameters differ between seeds: lr (seed 0: 1, seed 1: 2).",
        "pair note",
        "lo (b) tests better than hi (a) on ndcg@10 over the 50 units both share, but the "
        "table's means do not show it; no mark.",
        "Timings come from 2 different machines: x, no GPU (hi); y, no GPU (lo); compare the "
        "efficiency columns with care.",
        f"hi: LLM weights w.bin sha256 {'ab' * 6}; bf16.",
        f"lo: LLM weights w.bin sha256 {'ab' * 6}; bf16.",
        "hi: 4 of 20 generated answers were cut by the token budget (max_new_tokens 80); the "
        "candidates they did not reach rank last in list order, so the row partly measures the "
        "budget, not the model.",
        "lo: 2 of 10 generated answers were cut by the token budget (max_new_tokens 80); the "
        "candidates they did not reach rank last in list order, so the row partly measures the "
        "budget, not the model.",
        "hi: LLM answers read back from an answer file of an earlier run (--llm-cache; seed 1: "
        "1,200); those seeds' times measure the file, not the model.",
        "Timings were taken with 1 torch thread(s) and a 1-minute load average of 0.1-9.0 "
        "(`environment.hardware` of each result): wall times of runs that shared the machine "
        "are inflated; `fit_cpu_seconds` in the results is steadier.",
    ]


def test_quiet_results_give_no_notes(make_result, load):
    make_result("a", 0)
    make_result("b", 0, rng_seed=7)
    agg = _agg(load)
    assert _notes(agg, _compare_pairs(agg, METRICS, "t", {}, KEY)[0], 0.05, []) == []


def test_every_test_a_board_can_use_has_a_label():
    assert CORPUS_TEST in TEST_NAMES


def _fit(info, params):
    return {"seed": 0, "method": {"fit_info": info, "params": params}}


def test_a_fit_improving_at_its_cap_is_recognised_old_records_too():
    from benchmark.leaderboard.build import improving_at_cap

    assert improving_at_cap(_fit({"improving_at_cap": True}, {}))
    assert not improving_at_cap(_fit({"improving_at_cap": False, "epochs": 10, "best_epoch": 10},
                                     {"epochs": 10}))  # the record's own word wins
    # older records: the cap, the epochs run, the best epoch and patience decide
    assert improving_at_cap(_fit({"epochs": 10, "best_epoch": 10}, {"epochs": 10}))
    # no early stopping: nothing showed that the fit had converged
    assert improving_at_cap(_fit({"epochs": 10, "best_epoch": 7}, {"epochs": 10}))
    assert improving_at_cap(_fit({"epochs": 10, "best_epoch": 6}, {"epochs": 10, "patience": 5}))
    assert not improving_at_cap(_fit({"epochs": 10, "best_epoch": 5},
                                     {"epochs": 10, "patience": 5}))
    assert not improving_at_cap(_fit({"epochs": 20, "best_epoch": 15, "stopped_early": True},
                                     {"max_epochs": 30, "patience": 5}))
    assert not improving_at_cap(_fit({"epochs": 8, "best_epoch": 8}, {"max_epochs": 30}))
    assert not improving_at_cap(_fit({}, {}))  # not trained for epochs


def test_capped_rows_get_a_dagger_and_a_note(make_result, load):
    from benchmark.leaderboard import build_leaderboards
    from benchmark.leaderboard.render import to_markdown

    def capped(rec):
        rec["method"]["fit_info"] = {"epochs": 10, "best_epoch": 9}
        rec["method"]["params"] = {"epochs": 10, "patience": 3}

    make_result("t5", 0, rate=0.5, edit=capped)
    make_result("t5", 1, rate=0.5, rng_seed=4)
    make_result("pop", 0, rate=0.2, rng_seed=5)
    (lb,) = build_leaderboards(load())
    assert lb.row("t5").capped_seeds == [0] and lb.row("pop").capped_seeds == []
    page = to_markdown(lb)
    assert "[t5](sequential/cards/t5.md) †" in page
    assert ("t5 †: seed(s) 0 ended at the epoch cap (10) before early stopping (patience 3) "
            "ended them (best epoch 9); the row measures") in page


def test_a_stage_that_ended_at_its_cap_marks_the_row(make_result, load):
    """A multi-stage fit (P2Rec's SFT stage) whose final fit early-stopped but one of whose
    stages ran out of epochs still improving gets the dagger, with the stage named."""
    from benchmark.leaderboard import build_leaderboards
    from benchmark.leaderboard.build import capped_stages, improving_at_cap
    from benchmark.leaderboard.render import to_markdown

    stage_capped = {"epochs": 28, "best_epoch": 23, "improving_at_cap": False,
                    "stage0": {"epochs": 20, "best_epoch": 15, "improving_at_cap": False},
                    "stage1": {"epochs": 8, "best_epoch": 8, "patience": 2,
                               "improving_at_cap": True}}  # fmt: skip
    assert capped_stages(_fit(stage_capped, {})) == ["stage1"]
    assert improving_at_cap(_fit(stage_capped, {}))
    converged = {**stage_capped, "stage1": {**stage_capped["stage1"], "improving_at_cap": False}}
    assert not improving_at_cap(_fit(converged, {}))

    def capped(rec):
        rec["method"]["fit_info"] = stage_capped
        rec["method"]["params"] = {"max_epochs": 60, "patience": 5}

    make_result("p2", 1, rate=0.5, edit=capped)
    make_result("pop", 1, rate=0.2, rng_seed=5)
    (lb,) = build_leaderboards(load())
    assert lb.row("p2").capped_seeds == [1]
    page = to_markdown(lb)
    assert ("p2 †: seed 1: stage1 ended at its epoch cap (8, best epoch 8, patience 2); the row "
            "measures that stage's training budget") in page
