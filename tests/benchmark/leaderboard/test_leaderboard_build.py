"""Aggregation, ordering and significance markers of ``build_leaderboards``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmark.errors import ConfigError, ResultsError
from benchmark.leaderboard import build_leaderboards
from benchmark.leaderboard.build import mark_disagreements
from benchmark.stats import compare


def _only(boards):
    assert len(boards) == 1
    return boards[0]


def test_clearly_better_method_gets_markers_not_vice_versa(make_result, load):
    for s in range(3):
        make_result("good", s, rate=0.7, rng_seed=s)
        make_result("bad", s, rate=0.2, rng_seed=100 + s)
    lb = _only(build_leaderboards(load()))
    assert [r.method for r in lb.rows] == ["good", "bad"]
    assert [r.letter for r in lb.rows] == ["a", "b"]
    for m in lb.metrics:
        assert lb.row("good").cells[m].markers == ("b",)
        assert lb.row("bad").cells[m].markers == ()
    assert len(lb.comparisons) == 2  # one pair x two metrics
    assert all(c.winner(lb.alpha) == "good" for c in lb.comparisons)


def test_identical_methods_get_no_markers_and_share_bold(make_result, load):
    for s in range(2):
        make_result("twin_a", s, rate=0.4, rng_seed=s)
        make_result("twin_b", s, rate=0.4, rng_seed=s)
    lb = _only(build_leaderboards(load()))
    for row in lb.rows:
        for cell in row.cells.values():
            assert cell.markers == ()
            assert cell.best
    assert all(c.p_value == 1.0 and c.p_adjusted == 1.0 for c in lb.comparisons)
    # equal means: ties broken by name
    assert [r.method for r in lb.rows] == ["twin_a", "twin_b"]


def _holm_case(n: int = 200, pos: int = 19, neg: int = 8) -> tuple[dict, dict]:
    """hr@10 differs by +1 on ``pos`` users and -1 on ``neg`` users; ndcg@10 is identical."""
    a = np.zeros(n)
    b = np.zeros(n)
    a[:pos] = 1.0
    b[pos : pos + neg] = 1.0
    same = np.linspace(0.0, 1.0, n)
    return {"hr@10": a, "ndcg@10": same}, {"hr@10": b, "ndcg@10": same.copy()}


def test_holm_is_applied_over_the_whole_family(make_result, load):
    va, vb = _holm_case()
    raw = compare(va["hr@10"], vb["hr@10"], test="t").p_value
    assert 0.025 < raw < 0.05  # significant alone, not after doubling
    make_result("alpha", 0, values=va)
    make_result("beta", 0, values=vb)
    lb = _only(build_leaderboards(load(verify=False)))
    hr = next(c for c in lb.comparisons if c.metric == "hr@10")
    assert hr.p_value == pytest.approx(raw)
    assert hr.p_adjusted == pytest.approx(2 * raw)
    assert hr.p_adjusted > lb.alpha
    assert lb.row("alpha").cells["hr@10"].markers == ()
    # at a looser alpha the same comparison survives the correction
    lb10 = _only(build_leaderboards(load(verify=False), alpha=0.1))
    assert lb10.row("alpha").cells["hr@10"].markers == ("b",)
    assert lb10.row("beta").cells["hr@10"].markers == ()


def test_mean_and_std_over_seeds(make_result, load):
    make_result("m", 0, values=np.full(50, 0.1), n_users=50)
    make_result("m", 1, values=np.full(50, 0.3), n_users=50)
    make_result("m", 2, values=np.full(50, 0.5), n_users=50)
    make_result("single", 0, values=np.full(50, 0.2), n_users=50)
    lb = _only(build_leaderboards(load(verify=False)))
    cell = lb.row("m").cells["ndcg@10"]
    assert cell.mean == pytest.approx(0.3)
    assert cell.std == pytest.approx(0.2)  # ddof=1
    assert lb.row("m").seeds == [0, 1, 2]
    assert lb.row("single").cells["ndcg@10"].std is None
    assert lb.row("single").n_seeds == 1


def test_best_per_column_and_sort_by_ndcg(make_result, load):
    n = 100
    hr_winner = {"hr@10": np.full(n, 0.9), "ndcg@10": np.full(n, 0.2)}
    ndcg_winner = {"hr@10": np.full(n, 0.5), "ndcg@10": np.full(n, 0.4)}
    make_result("hr_first", 0, values=hr_winner, n_users=n)
    make_result("ndcg_first", 0, values=ndcg_winner, n_users=n)
    lb = _only(build_leaderboards(load(verify=False)))
    assert lb.main_metric == "ndcg@10"
    assert [r.method for r in lb.rows] == ["ndcg_first", "hr_first"]
    assert lb.row("hr_first").cells["hr@10"].best
    assert not lb.row("hr_first").cells["ndcg@10"].best
    assert lb.row("ndcg_first").cells["ndcg@10"].best
    assert not lb.row("ndcg_first").cells["hr@10"].best


def test_efficiency_columns(make_result, load):
    def timing(fit: float, mem: float):
        def edit(rec):
            rec["timing"].update(fit_seconds=fit, peak_memory_mb=mem)

        return edit

    make_result("m", 0, edit=timing(1.0, 100.0))
    make_result("m", 1, edit=timing(3.0, 300.0))
    row = _only(build_leaderboards(load())).row("m")
    assert row.fit_seconds == pytest.approx(2.0)
    assert row.peak_memory_mb == pytest.approx(300.0)
    assert row.predict_users_per_second == pytest.approx(400.0)


def test_tests_use_only_shared_seeds(make_result, load):
    for s in range(3):
        make_result("three", s, rate=0.6, rng_seed=s)
    for s in range(2):
        make_result("two", s, rate=0.3, rng_seed=50 + s)
    lb = _only(build_leaderboards(load()))
    assert {c.seeds for c in lb.comparisons} == {(0, 1)}


@pytest.mark.parametrize(
    ("section", "name", "value"),
    [
        ("dataset", "content_hash", "ffff"),
        ("protocol", "id_indexing", "random"),
        ("task", "n_candidates", 100),
        ("protocol", "split", "random-80-20"),
    ],
)
def test_mixed_protocols_raise_naming_files(make_result, load, section, name, value):
    ok = make_result("good", 0)

    def edit(rec):
        rec[section][name] = value

    odd = make_result("odd", 0, edit=edit)
    with pytest.raises(ResultsError) as err:
        build_leaderboards(load())
    msg = str(err.value)
    assert f"{section}.{name}" in msg
    assert str(ok) in msg and str(odd) in msg


def test_user_set_mismatch_is_noted_and_aligned_by_user_id(make_result, load):
    rng = np.random.default_rng(0)
    n = 300
    good = (rng.random(n) < 0.7).astype(float)
    bad = (rng.random(n) < 0.2).astype(float)
    make_result("good", 0, values=good, n_users=n)
    # "bad" misses the first 40 users and stores the rest in shuffled order
    keep = np.arange(40, n)
    perm = rng.permutation(keep.size)
    make_result("bad", 0, values=bad[keep][perm], users=keep[perm])
    lb = _only(build_leaderboards(load()))
    assert any("different users" in note and "260" in note for note in lb.notes)
    comp = next(c for c in lb.comparisons if c.metric == "ndcg@10")
    assert comp.n_users == keep.size
    expected = compare(good[keep], bad[keep], test="t")
    assert comp.p_value == pytest.approx(expected.p_value)
    assert comp.mean_diff == pytest.approx(expected.mean_diff)
    assert lb.users_evaluated == [260, 300]
    assert lb.row("good").cells["ndcg@10"].markers == ("b",)


def test_same_users_give_no_note(make_result, load):
    make_result("a", 0)
    make_result("b", 0, rng_seed=9)
    assert _only(build_leaderboards(load())).notes == []


def test_one_leaderboard_per_dataset_and_task(make_result, load):
    make_result("m", 0, key="zeta")
    make_result("m", 0, key="alpha", task="topn")
    make_result("m", 0, key="alpha", task="sequential")
    boards = build_leaderboards(load())
    assert [(b.dataset_key, b.task) for b in boards] == [
        ("alpha", "sequential"),
        ("alpha", "topn"),
        ("zeta", "sequential"),
    ]
    assert all(b.comparisons == [] for b in boards)


def test_other_tests_and_bad_options(make_result, load):
    for s in range(2):
        make_result("good", s, rate=0.8, rng_seed=s)
        make_result("bad", s, rate=0.1, rng_seed=10 + s)
    for test, opts in [("wilcoxon", None), ("randomization", {"n_resamples": 500})]:
        lb = _only(build_leaderboards(load(), test=test, test_options=opts))
        assert lb.test == test
        assert lb.row("good").cells["hr@10"].markers == ("b",)
    with pytest.raises(ConfigError, match="unknown paired test"):
        build_leaderboards(load(), test="z")
    with pytest.raises(ConfigError, match="alpha"):
        build_leaderboards(load(), alpha=1.5)


def test_bibtex_from_registry_and_unregistered_names(make_result, load, registry):
    class Fake:
        bibtex = "  @article{fake2024, title={Fake}}\n"

    registry.add("fake_registered", Fake)
    make_result("fake_registered", 0)
    make_result("not_registered_anywhere", 0)
    lb = _only(build_leaderboards(load()))
    assert lb.row("fake_registered").bibtex == "@article{fake2024, title={Fake}}"
    assert lb.row("not_registered_anywhere").bibtex == ""


def test_missing_metric_in_sidecar_is_a_clear_error(make_result, load):
    path = make_result("m", 0)
    res = load()[0]
    del res.per_user["ndcg@10"]
    with pytest.raises(ResultsError, match="ndcg@10") as err:
        build_leaderboards([res])
    assert str(path) in str(err.value)


def test_nan_per_user_values_name_the_files(make_result, load):
    values = np.full(200, 0.5)
    values[7] = np.nan
    make_result("ok", 0)
    broken = make_result("broken", 0, values=values)
    with pytest.raises(ResultsError, match="NaN") as err:
        build_leaderboards(load(verify=False))
    assert str(broken) in str(err.value)


def test_users_differing_between_seeds_pair_within_each_seed(make_result, load):
    make_result("steady", 0, rate=0.5)
    make_result("steady", 1, rate=0.5)
    make_result("patchy", 0, rate=0.5, rng_seed=7)
    make_result("patchy", 1, users=np.arange(50, 200), rate=0.5, rng_seed=8)
    results = load()
    lb = _only(build_leaderboards(results))
    assert any(note.startswith("patchy: evaluated users (or examples) differ between seeds")
               for note in lb.notes)
    # seed 0 pairs all 200 users, seed 1 the 150 that patchy answered: 350 (seed, user) pairs
    assert {c.n_users for c in lb.comparisons} == {350}
    runs = {(r.record["method"]["name"], r.record["seed"]): r for r in results}
    diffs = []
    for seed in (0, 1):
        a, b = runs["patchy", seed], runs["steady", seed]
        keep = np.isin(b.users, a.users)
        diffs.append(np.asarray(a.per_user["ndcg@10"]) - np.asarray(b.per_user["ndcg@10"])[keep])
    comp = next(c for c in lb.comparisons if c.metric == "ndcg@10")
    sign = 1 if comp.a == "patchy" else -1
    assert comp.mean_diff == pytest.approx(sign * np.concatenate(diffs).mean())


def test_params_note_tells_a_conflict_from_a_later_parameter():
    from benchmark.leaderboard.build import _params_note

    assert _params_note("m", [0, 1], [{"lr": 1}, {"lr": 1}]) is None
    added = _params_note("m", [0, 1], [{"lr": 1}, {"lr": 1, "groups": 3}])
    assert added == "m: parameters recorded only by later runs: groups = 3 (seeds [1])."
    conflict = _params_note("m", [0, 1], [{"lr": 1}, {"lr": 2}])
    assert conflict == "m: hyperparameters differ between seeds: lr (seed 0: 1, seed 1: 2)."


def test_busy_machine_is_one_machine_and_gets_a_load_note(make_result, load):
    def hardware(cpu: str, threads: int, load_1m: float):
        def edit(rec):
            rec["environment"]["hardware"] = {"cpu": cpu, "torch_threads": threads,
                                              "load_average_1m": load_1m}  # fmt: skip

        return edit

    make_result("a", 0, edit=hardware("x", 1, 0.5))
    make_result("b", 0, edit=hardware("x", 2, 0.9))
    notes = " ".join(_only(build_leaderboards(load())).notes)
    assert "different machines" not in notes
    assert "1 or 2 torch thread(s)" in notes
    make_result("c", 0, edit=hardware("y", 2, 5.0))
    notes = " ".join(_only(build_leaderboards(load())).notes)
    assert "2 different machines" in notes and "0.5-5.0" in notes
    # each machine is named with the methods that ran on it
    assert "x, no GPU (" in notes and "y, no GPU (c)" in notes


def test_machine_label_names_the_gpu_or_the_cpu():
    from benchmark.leaderboard.build import machine_label

    gpu = {"cpu": "Xeon", "cpu_count": 16, "device": "cuda", "gpu": "NVIDIA H200"}
    assert machine_label(gpu) == "NVIDIA H200, 16 CPUs"
    assert machine_label({**gpu, "device": "cpu"}) == "Xeon, 16 CPUs, no GPU"
    assert machine_label({}) == "unknown CPU, no GPU"


def test_a_mark_never_contradicts_the_printed_means(make_result, load):
    """'up' wins the per-user test on the 100 users both share, but 'down' prints the higher
    mean because of the 100 users only it answered: the test may not mark 'up' as better."""
    n = 100
    up = (np.arange(n) < 60).astype(float)  # 60 hits on the shared users
    make_result("up", 0, values=up, users=np.arange(n))
    down = np.concatenate([(np.arange(n) < 20).astype(float), np.ones(3 * n)])  # 20 there
    make_result("down", 0, values=down, users=np.arange(4 * n))
    lb = _only(build_leaderboards(load()))
    assert lb.row("down").cells["ndcg@10"].mean > lb.row("up").cells["ndcg@10"].mean
    comp = next(c for c in lb.comparisons if c.metric == "ndcg@10")
    assert comp.p_adjusted < lb.alpha  # the test alone would mark "up"
    assert all(not row.cells[m].markers for row in lb.rows for m in lb.metrics)
    assert any("no mark" in note for note in lb.notes)
    assert mark_disagreements(lb) == []


def test_mark_disagreements_finds_a_contradiction(make_result, load):
    for s in range(3):
        make_result("good", s, rate=0.7, rng_seed=s)
        make_result("bad", s, rate=0.2, rng_seed=100 + s)
    lb = _only(build_leaderboards(load()))
    assert lb.row("good").cells["ndcg@10"].markers == ("b",)
    bad = lb.row("bad")
    bad.cells["ndcg@10"] = dataclasses.replace(bad.cells["ndcg@10"], markers=("a",))
    found = mark_disagreements(lb)
    assert len(found) == 1 and "bad is marked better than good on ndcg@10" in found[0]



def _explanation_result(results_dir, method, seed, hyps, refs, protocol=None):
    """An explanation result with consistent corpus metrics, per-example scores and texts."""
    from benchmark.metrics.text import TEXT_METRICS, text_metrics
    from benchmark.results import write_result

    names = list(TEXT_METRICS)
    record = {
        "dataset": {"name": "toy", "key": "toy", "content_hash": "0123"},
        "task": {"name": "explanation", "kind": "generation", "metrics": names},
        "method": {"name": method, "params": {}, "fit_info": {}},
        "seed": seed,
        "protocol": {"split": "grouped", "id_indexing": "original", **(protocol or {})},
        "environment": {"git_commit": "abcdef1234567890", "hardware": {"cpu": "test"}},
    }
    corpus, per = text_metrics(hyps, refs)
    record["metrics"] = {m: corpus[m] for m in names}
    record["users_evaluated"] = len(hyps)
    per_example = {"users": np.arange(len(hyps)) + 1000 * seed,
                   "hypothesis": np.array(hyps), "reference": np.array(refs), **per}
    return write_result(results_dir, record, per_example)


def test_generation_boards_test_the_printed_corpus_statistic(results_dir, load):
    rng = np.random.default_rng(0)
    words = "the cream is soft and light on my skin it smells good all day long".split()
    for seed in range(2):
        refs = [" ".join(rng.choice(words, 8)) for _ in range(40)]
        close = [" ".join(r.split()[:6]) for r in refs]  # long shared n-grams
        loose = [" ".join(rng.choice(words, 8)) for _ in range(40)]
        _explanation_result(results_dir, "close", seed, close, refs)
        _explanation_result(results_dir, "loose", seed, loose, refs)
    lb = _only(build_leaderboards(load()))
    assert lb.test == "corpus-randomization"
    for comp in lb.comparisons:
        printed = (lb.row(comp.a).cells[comp.metric].mean
                   - lb.row(comp.b).cells[comp.metric].mean)
        assert comp.mean_diff == pytest.approx(printed)  # the tested number is the printed one
        assert comp.n_users == 80
    assert lb.row("close").cells["bleu-4"].markers == ("b",)
    assert mark_disagreements(lb) == []


def test_explanation_header_shows_the_split_checks(results_dir, load):
    from benchmark.leaderboard import to_markdown

    refs = ["the cream is soft and light", "it smells good all day"]
    for seed, cold in ((0, 5), (1, 9)):
        _explanation_result(results_dir, "m", seed, ["the cream is soft", "it smells"], refs,
                            protocol={"verbatim_overlap": {"valid": 0.0, "test": 0.0},
                                      "users_without_training": {"valid": 4, "test": cold},
                                      "duplicates_collapsed": 12})
    md = to_markdown(_only(build_leaderboards(load())))
    assert "- **Verbatim overlap:** share of references equal to a training reference " in md
    assert "valid 0.0%, test 0.0%" in md
    assert "- **Cold users:** evaluated examples whose user has no training explanation: " \
        "valid 4, test 5–9 (over seeds)" in md
    assert "- **Duplicates:** 12 reviews repeated" in md
    assert "approximate randomization of the printed statistic" in md


def test_answers_cut_by_the_token_budget_are_noted(make_result, load):
    def cut(n, budget):
        def edit(record):
            record["method"]["params"] = {"max_new_tokens": budget}
            record["method"]["predict_info"] = {"answers": 200, "cut_by_max_new_tokens": n}
        return edit

    make_result("gen", 0, edit=cut(180, 80))
    make_result("gen", 1, edit=cut(20, 80))
    make_result("whole", 0, edit=cut(0, "auto"))
    make_result("pop", 0)
    lb = _only(build_leaderboards(load()))
    assert [n for n in lb.notes if "cut by the token budget" in n] == [
        "gen: 200 of 400 generated answers were cut by the token budget (max_new_tokens 80); "
        "the candidates they did not reach rank last in list order, so the row partly "
        "measures the budget, not the model."]


def test_llm_weights_are_named_in_the_notes(make_result, load):
    weights = {"files": [{"file": "model.safetensors", "bytes": 3, "sha256": "ab" * 32}],
               "form": "GGUF Q4_1 de-quantised to float32"}
    for s in range(2):
        make_result("llm", s, edit=lambda r: r.update(backend={"backend": "hf",
                                                               "weights": weights}))
    make_result("pop", 0)
    lb = _only(build_leaderboards(load()))
    assert [n for n in lb.notes if n.startswith("llm: LLM weights")] == [
        "llm: LLM weights model.safetensors sha256 abababababab; GGUF Q4_1 de-quantised to "
        "float32."]
    assert not any(n.startswith("pop:") for n in lb.notes)


def test_fit_cost_counts_every_sitting_of_a_resumed_fit():
    from benchmark.leaderboard.build import fit_cost

    def rec(timing, **info):
        return {"timing": {"fit_seconds": timing}, "method": {"fit_info": info}}

    assert fit_cost(rec(50.0, fit_seconds=40.0)) == 50.0  # one sitting: the runner's clock
    # resumed before sittings were recorded: the method's epoch time over all sittings
    assert fit_cost(rec(50.0, fit_seconds=400.0, resumed_from_epoch=3)) == 400.0
    # recorded: the runner already added them
    assert fit_cost(rec(450.0, fit_seconds=400.0, resumed_from_epoch=3,
                        seconds_in_earlier_sittings=350.0)) == 450.0
    assert fit_cost({"timing": {}}) is None
