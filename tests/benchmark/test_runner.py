"""End-to-end runs of the harness on a small dataset written in RecBole's atomic format."""

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.config import RunConfig
from benchmark.errors import ResultsError
from benchmark.results import iter_result_files, load_result
from benchmark.runner import run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "methods"))
from guards import dies_on_call  # noqa: E402


def config(toy_dir, tmp_path, **kw):
    base = dict(
        methods=["pop", "random", "idplus1"], datasets=[str(toy_dir)],
        tasks=["sequential", "topn"], seeds=[0, 1], results_dir=str(tmp_path / "res"),
        progress=False, cache_dir=None,
    )
    base.pop("cache_dir")
    base.update(kw)
    return RunConfig(**base)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))


def test_matrix_writes_one_result_per_entry(toy_dir, tmp_path):
    cfg = config(toy_dir, tmp_path)
    paths = run(cfg)
    assert len(paths) == 3 * 2 * 2
    res = load_result(tmp_path / "res/toy/topn/idplus1/seed1.json")
    rec = res.record
    assert rec["users_evaluated"] == 60 == len(res.users)
    assert set(rec["metrics"]) == {"hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10", "mrr@10"}
    assert rec["protocol"]["tie_rule"].startswith("pessimistic")
    assert rec["dataset"]["content_hash"] and rec["config_hash"]
    assert rec["environment"]["packages"]["torch"]
    assert rec["timing"]["fit_seconds"] >= 0
    # the walk makes max+1 the answer: the leak probe is perfect on sequential
    seq = load_result(tmp_path / "res/toy/sequential/idplus1/seed0.json").record
    assert seq["metrics"]["hr@1"] == 1.0
    assert seq["protocol"]["leak_audit"]["test_max_id_plus_one"] == 1.0
    rnd = load_result(tmp_path / "res/toy/sequential/random/seed0.json").record
    assert rnd["metrics"]["hr@1"] < 0.5


def test_candidates_are_shared_by_methods_and_persisted(toy_dir, tmp_path):
    run(config(toy_dir, tmp_path, methods=["pop"], tasks=["topn"], seeds=[0]))
    cand = tmp_path / "res/toy/topn/candidates-seed0.npz"
    first = np.load(cand)["candidates"].copy()
    run(config(toy_dir, tmp_path, methods=["random"], tasks=["topn"], seeds=[0]))
    assert np.array_equal(np.load(cand)["candidates"], first)


def test_rerun_skips_finished_and_force_reruns(toy_dir, tmp_path, monkeypatch):
    cfg = config(toy_dir, tmp_path, methods=["pop"], seeds=[0])
    run(cfg)
    before = {p: p.read_text() for p in iter_result_files(tmp_path / "res")}

    def no_fit(self, ctx):
        raise AssertionError("finished entries must not be refitted")

    monkeypatch.setattr("methods.pop.Popularity.fit", no_fit)
    assert run(cfg) == []
    assert {p: p.read_text() for p in iter_result_files(tmp_path / "res")} == before
    with pytest.raises(AssertionError, match="must not be refitted"):
        run(config(toy_dir, tmp_path, methods=["pop"], seeds=[0], force=True))


def test_interrupted_run_resumes(toy_dir, tmp_path, monkeypatch):
    from methods.random_baseline import RandomScores

    calls = {"n": 0}
    real_fit = RandomScores.fit

    def flaky_fit(self, ctx):
        calls["n"] += 1
        if ctx.seed == 1:
            raise KeyboardInterrupt
        real_fit(self, ctx)

    monkeypatch.setattr(RandomScores, "fit", flaky_fit)
    cfg = config(toy_dir, tmp_path, methods=["random"])
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    done = [p.name for p in iter_result_files(tmp_path / "res")]
    assert sorted(done) == ["seed0.json", "seed0.json"]
    monkeypatch.setattr(RandomScores, "fit", real_fit)
    written = run(cfg)
    assert sorted(p.name for p in written) == ["seed1.json", "seed1.json"]


def test_changed_config_is_not_silently_mixed(toy_dir, tmp_path):
    run(config(toy_dir, tmp_path, methods=["pop"], seeds=[0], tasks=["sequential"]))
    other = config(toy_dir, tmp_path, methods=["pop"], seeds=[0], tasks=["sequential"],
                   id_indexing="original", profile="paper")
    with pytest.raises(ResultsError, match="different configuration"):
        run(other)


def test_random_ids_kill_the_leak_probe(toy_dir, tmp_path):
    run(config(toy_dir, tmp_path, methods=["idplus1"], tasks=["sequential"], seeds=[0],
               id_indexing="random"))
    rec = json.loads((tmp_path / "res/toy+random-ids/sequential/idplus1/seed0.json").read_text())
    assert rec["protocol"]["id_indexing"] == "random"
    assert rec["metrics"]["hr@1"] < 0.2


def test_cli_errors_are_clear_and_write_nothing(toy_dir, tmp_path, capsys):
    res = tmp_path / "res"
    code = main(["run", "--methods", "sasrek", "--datasets", str(toy_dir),
                 "--results-dir", str(res)])
    err = capsys.readouterr().err
    assert code == 2 and "unknown method 'sasrek'" in err and "Did you mean 'sasrec'" in err
    code = main(["run", "--methods", "pop", "--tasks", "seqential", "--datasets", str(toy_dir),
                 "--results-dir", str(res)])
    assert code == 2 and "Did you mean 'sequential'" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "bad.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\n1\tx\tnoon\n")
    code = main(["run", "--methods", "pop", "--datasets", str(bad), "--results-dir", str(res)])
    err = capsys.readouterr().err
    assert code == 2 and "bad.inter" in err
    code = main(["run", "--methods", "pop", "--datasets", str(tmp_path / "missing"),
                 "--results-dir", str(res)])
    assert code == 2 and "missing" in capsys.readouterr().err
    assert not res.exists()


def test_cli_run_and_leaderboard(toy_dir, tmp_path, capsys):
    res, out = tmp_path / "res", tmp_path / "lb"
    assert main(["run", "--methods", "pop,random", "--datasets", str(toy_dir), "--seeds", "0,1",
                 "--results-dir", str(res), "--no-progress"]) == 0
    assert main(["leaderboard", "--results-dir", str(res), "--out", str(out)]) == 0
    table = (out / "toy" / "sequential.md").read_text()
    assert "pop" in table and "random" in table and "pessimistic" in table
    assert main(["leaderboard", "--results-dir", str(res), "--out", str(out), "--check"]) == 0
    (out / "toy" / "topn.md").write_text("edited\n")
    assert main(["leaderboard", "--results-dir", str(res), "--out", str(out), "--check"]) == 1


def test_cli_list_shows_registries(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("sasrec", "pop", "idplus1", "sequential", "topn", "rerank", "ml-100k", "p5"):
        assert name in out


def test_task_options_make_a_separate_variant(toy_dir, tmp_path):
    run(config(toy_dir, tmp_path, methods=["pop"], seeds=[0], tasks=["sequential"],
               task_options={"sequential": {"mask_history": False}}))
    masked = run(config(toy_dir, tmp_path, methods=["pop"], seeds=[0], tasks=["sequential"]))
    unmasked = load_result(
        tmp_path / "res/toy/sequential+mask_history=false/pop/seed0.json"
    ).record
    assert unmasked["task"]["mask_history"] is False
    assert load_result(masked[0]).record["task"]["mask_history"] is True
    # history items stay in the ranking, so popular seen items push targets down
    assert unmasked["metrics"]["ndcg@10"] <= load_result(masked[0]).record["metrics"]["ndcg@10"]


def test_bad_task_options_are_rejected(toy_dir, tmp_path):
    from benchmark.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown option"):
        run(config(toy_dir, tmp_path, tasks=["sequential"],
                   task_options={"sequential": {"mask": False}}))
    with pytest.raises(ConfigError, match="for candidate tasks only"):
        run(config(toy_dir, tmp_path, tasks=["sequential"],
                   task_options={"sequential": {"n_negatives": 5}}))
    with pytest.raises(ConfigError, match="not among --tasks"):
        run(config(toy_dir, tmp_path, tasks=["sequential"], task_options={"topn": {}}))
    assert not (tmp_path / "res").exists()


def test_data_options_reach_the_loader(toy_dir, tmp_path):
    from benchmark.errors import ConfigError

    with pytest.raises(ConfigError, match="kcore"):
        run(config(toy_dir, tmp_path, data_options={"kcore": 5}))


@pytest.fixture
def reviews_file(tmp_path):
    """Amazon-2018-style reviews: every item has its own recognisable explanation, in two
    wordings (so one can be evaluated while the other trains: the split groups equal texts)."""
    rng = np.random.default_rng(1)
    phrases = {
        i: f"the {w} cream feels soft and smells of {w} all day" for i, w in
        enumerate(["rose", "mint", "lemon", "vanilla", "cedar", "lavender"])
    }
    rows = []
    for u in range(40):
        for t, i in enumerate(rng.choice(6, size=4, replace=False)):
            rows.append({"reviewerID": f"U{u}", "asin": f"B{i}", "overall": 5.0,
                         "reviewText": phrases[int(i)].capitalize()
                         + (" every time" if u % 2 else "") + ". Would buy again!",
                         "summary": "ok", "unixReviewTime": 1000 + t})
    path = tmp_path / "Reviews_5.json"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_explanation_task_runs_generation_methods(reviews_file, tmp_path):
    written = run(config(reviews_file, tmp_path, methods=["item-expl", "user-copy", "global-expl"],
                         tasks=["explanation"], seeds=[0]))
    res = load_result(written[0])
    rec = res.record
    assert rec["task"]["kind"] == "generation"
    assert rec["metrics"]["rouge-1"] > 80.0  # the item's phrase in its other wording
    assert len(res.per_user["hypothesis"]) == rec["users_evaluated"] > 0
    assert rec["protocol"]["examples"]["test"] == rec["users_evaluated"]
    assert rec["protocol"]["verbatim_overlap"] == {"valid": 0.0, "test": 0.0}
    # the per-example log re-scores without the split: texts, users and items
    assert set(res.per_user) >= {"users", "user", "item", "reference", "hypothesis"}
    assert not set(res.per_user["reference"]) & set(res.per_user["hypothesis"]) - {""}
    copy = load_result(written[1]).record
    assert copy["method"]["name"] == "user-copy" and copy["users_evaluated"] > 0
    constant = load_result(written[2])
    assert len(set(constant.per_user["hypothesis"])) == 1  # one answer for every example
    assert constant.record["method"]["fit_info"]["answer"] == constant.per_user["hypothesis"][0]


def test_ranking_methods_refuse_generation_and_vice_versa(reviews_file, toy_dir, tmp_path):
    from benchmark.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot answer task") as err:
        run(config(reviews_file, tmp_path, methods=["pop"], tasks=["explanation"]))
    assert "Methods that can: global-expl, item-expl, p5," in str(err.value)
    assert "user-copy" in str(err.value)
    with pytest.raises(ConfigError, match="cannot answer task") as err:
        run(config(reviews_file, tmp_path, methods=["user-copy"], tasks=["sequential"]))
    able = str(err.value).split("Methods that can: ")[1]
    assert "pop" in able and "sasrec" in able and "item-expl" not in able  # ranking methods
    with pytest.raises(ConfigError, match="no review text"):
        run(config(toy_dir, tmp_path, methods=["item-expl"], tasks=["explanation"]))
    assert not (tmp_path / "res").exists()


def test_too_few_items_for_candidates_fails_before_training(reviews_file, tmp_path):
    from benchmark.errors import ConfigError

    # 6 items, users with 4: a 1 + 99 list cannot be sampled
    with pytest.raises(ConfigError, match="n_negatives: 2"):
        run(config(reviews_file, tmp_path, methods=["pop"], tasks=["sequential", "topn"]))
    assert not (tmp_path / "res").exists()
    written = run(config(reviews_file, tmp_path, methods=["pop"], tasks=["topn"], seeds=[0],
                         task_options={"topn": {"n_negatives": 2}}))
    assert load_result(written[0]).record["task"]["n_candidates"] == 3


def test_prompt_variants_need_a_method_with_held_out_prompts(toy_dir, tmp_path):
    from benchmark.errors import ConfigError

    with pytest.raises(ConfigError, match="Methods with held-out prompts: p5"):
        run(config(toy_dir, tmp_path, methods=["pop"], tasks=["sequential+prompt=unseen"]))
    with pytest.raises(ConfigError, match="cannot be evaluated on task"):
        run(config(toy_dir, tmp_path, methods=["pod"], tasks=["topn+prompt=unseen"]))
    assert not (tmp_path / "res").exists()


def test_p5_answers_seen_and_unseen_prompts_in_one_fit(toy_dir, tmp_path):
    tiny = dict(d_model=32, d_ff=64, num_layers=1, num_heads=2, vocab_size=150, epochs=1,
                valid_users=10, batch_size=32, prefixes_per_user=1)
    written = run(config(toy_dir, tmp_path, methods=["p5"], seeds=[0],
                         tasks=["sequential", "sequential+prompt=unseen"],
                         method_params={"p5": tiny}))
    records = {load_result(p).record["task"]["name"]: load_result(p).record for p in written}
    seen, unseen = records["sequential"], records["sequential+prompt=unseen"]
    assert seen["method"]["predict_info"]["input"] == "2-1"
    assert unseen["method"]["predict_info"]["input"] == "2-8"
    assert unseen["task"]["prompt"] == "unseen" and "prompt" not in seen["task"]
    assert seen["method"]["fit_info"] == unseen["method"]["fit_info"]  # one fit


def test_cli_records_the_command_and_executor_outside_the_config_hash(toy_dir, tmp_path,
                                                                       capsys):
    res = tmp_path / "my results"
    argv = ["run", "--methods", "pop", "--datasets", str(toy_dir), "--tasks", "sequential",
            "--seeds", "0", "--results-dir", str(res), "--no-progress"]
    assert main(argv) == 0
    assert "wrote 1 result(s)" in capsys.readouterr().out
    rec = load_result(res / "toy/sequential/pop/seed0.json").record
    assert rec["command"] == (
        f"python -m benchmark run --methods pop --datasets {toy_dir} --tasks sequential "
        f"--seeds 0 --results-dir '{res}' --no-progress"
    )
    assert rec["environment"]["executor"] == {"name": "local"}
    assert "command" not in rec["config"] and "executor" not in rec["config"]
    # another command line for the same entry: recognised as finished
    assert main([*argv[:-1], "--executor", "local"]) == 0
    assert "wrote 0 result(s)" in capsys.readouterr().out
    assert run(config(toy_dir, tmp_path, methods=["pop"], tasks=["sequential"], seeds=[0],
                      results_dir=str(res))) == []
    # from Python there is no command line
    written = run(config(toy_dir, tmp_path, methods=["random"], tasks=["sequential"], seeds=[0]))
    assert load_result(written[0]).record["command"] is None


def test_one_run_per_fit_answers_its_unfinished_tasks(toy_dir, tmp_path, monkeypatch):
    from benchmark.runner import Runner

    runner = Runner(config(toy_dir, tmp_path, methods=["pop"], seeds=[0, 1]))
    runner.run()
    (tmp_path / "res/toy/topn/pop/seed1.json").unlink()
    again = Runner(config(toy_dir, tmp_path, methods=["pop"], seeds=[0, 1]))
    again.methods, again.tasks = again._check_names()
    again.datasets = runner.datasets
    specs = again.plan()
    assert [(s.method, s.seed, s.tasks) for s in specs] == [("pop", 1, ("topn",))]
    assert again.skipped == 3
    assert specs[0].resources == {"num_cpus": 1, "num_gpus": 0}
    # the run checks again before fitting: finished meanwhile, it fits nothing
    run(config(toy_dir, tmp_path, methods=["pop"], seeds=[1], tasks=["topn"]))

    def no_fit(self, ctx):
        raise AssertionError("a finished run must not be refitted")

    monkeypatch.setattr("methods.pop.Popularity.fit", no_fit)
    assert again.execute(specs[0]) == []


def test_a_run_asks_for_what_its_method_and_device_need(toy_dir, tmp_path):
    from benchmark.runner import Runner
    from methods.pop import Popularity
    from methods.sasrec import SASRec

    def resources(cls, **kw):
        return Runner(config(toy_dir, tmp_path, **kw)).resources(cls)

    assert resources(SASRec, profile="paper") == {"num_cpus": 1, "num_gpus": 1}
    assert resources(SASRec, profile="paper", device="cpu")["num_gpus"] == 0
    assert resources(SASRec, profile="cpu")["num_gpus"] == 0
    assert resources(Popularity, profile="paper")["num_gpus"] == 0
    # an explicit GPU device asks for one (Ray resolves the device where the run lands)
    assert resources(Popularity, device="cuda", executor="ray")["num_gpus"] == 1


def test_misspelt_method_param_names_the_field_before_any_data_loads(toy_dir, tmp_path):
    from benchmark.errors import ConfigError

    cfg = config(toy_dir, tmp_path, methods=["sasrec"], seeds=[0],
                 method_params={"sasrec": {"hiden": 32}})
    with pytest.raises(ConfigError, match=r"method_params\.sasrec\.hiden: .*did you mean 'hidden'"):
        run(cfg)
    assert not (tmp_path / "res").exists()


def test_explanation_baselines_answer_every_prompt_wording(reviews_file, tmp_path):
    """The retrieval baselines read no prompt: they stand on the held-out-template board too,
    with the answers they give on the seen one."""
    written = run(config(reviews_file, tmp_path, methods=["item-expl"],
                         tasks=["explanation", "explanation+prompt=unseen"], seeds=[0]))
    seen, unseen = (load_result(p) for p in written)
    assert unseen.record["task"]["name"] == "explanation+prompt=unseen"
    assert np.array_equal(seen.per_user["hypothesis"], unseen.per_user["hypothesis"])


def test_a_killed_fit_resumes_from_its_checkpoint_and_cleans_up(toy_dir, tmp_path, monkeypatch):
    import methods.training as training

    real = training.valid_ndcg

    def dies_in_epoch_2():
        return dies_on_call(real, 2, KeyboardInterrupt())

    def slow(*args, **kw):  # the first sitting's epoch costs at least a second
        time.sleep(1.0)
        return real(*args, **kw)

    tiny = {"hidden": 8, "n_layers": 1, "n_heads": 1, "inner": 16, "max_len": 6,
            "max_epochs": 3, "patience": None}  # fmt: skip
    cfg = config(toy_dir, tmp_path, methods=["sasrec"], seeds=[0], tasks=["sequential"],
                 method_params={"sasrec": tiny})  # fmt: skip
    monkeypatch.setattr(training, "valid_ndcg", dies_on_call(slow, 2, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    (saved,) = (tmp_path / "res").glob("*/.checkpoints/sasrec-seed0-*.pt")
    monkeypatch.setattr(training, "valid_ndcg", real)
    (path,) = run(cfg)  # the same command again
    record = load_result(path).record
    info = record["method"]["fit_info"]
    assert info["resumed_from_epoch"] == 1 and info["epochs"] == 3
    # the fit's cost counts the first sitting's epoch too, not only this process's
    assert info["seconds_in_earlier_sittings"] >= 1.0
    assert record["timing"]["fit_seconds"] > info["seconds_in_earlier_sittings"]
    assert not saved.exists()  # the result is written: the checkpoint is gone
    # --force ignores (and removes) a checkpoint: the fit starts over
    monkeypatch.setattr(training, "valid_ndcg", dies_in_epoch_2())
    with pytest.raises(KeyboardInterrupt):
        run(dataclasses.replace(cfg, force=True))
    assert saved.exists()
    monkeypatch.setattr(training, "valid_ndcg", real)
    (path,) = run(dataclasses.replace(cfg, force=True))
    assert "resumed_from_epoch" not in load_result(path).record["method"]["fit_info"]


def test_a_changed_default_does_not_resume_a_stale_checkpoint(toy_dir, tmp_path, monkeypatch):
    """The checkpoint is named by the parameters as resolved, defaults included: after a
    release changes a default, the same command starts over instead of resuming a fit that
    was made under the old one."""
    import methods.training as training
    from methods.sasrec import SASRec

    real = training.valid_ndcg
    tiny = {"hidden": 8, "n_layers": 1, "n_heads": 1, "inner": 16, "max_len": 6,
            "max_epochs": 3, "patience": None}  # fmt: skip
    cfg = config(toy_dir, tmp_path, methods=["sasrec"], seeds=[0], tasks=["sequential"],
                 method_params={"sasrec": tiny})  # fmt: skip
    monkeypatch.setattr(training, "valid_ndcg", dies_on_call(real, 2, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    (stale,) = (tmp_path / "res").glob("*/.checkpoints/sasrec-seed0-*.pt")
    monkeypatch.setattr(training, "valid_ndcg", real)
    init = SASRec.__init__

    def new_release(self, profile="cpu", **params):  # the same config, a changed default
        init(self, profile, **params)
        self.params["weight_decay"] = 1e-4

    monkeypatch.setattr(SASRec, "__init__", new_release)
    (path,) = run(cfg)
    info = load_result(path).record["method"]["fit_info"]
    assert "resumed_from_epoch" not in info
    assert stale.exists()  # the stale fit's checkpoint is left alone, not loaded


@pytest.fixture
def saved_amazon2023(tmp_path):
    """An Amazon-Reviews-2023-style dataset as the hub's configs look after save_to_disk:
    raw_review_<Category> (ms timestamps, review title and text) and raw_meta_<Category>;
    every item has its own explanation in two wordings (see ``reviews_file``)."""
    datasets = pytest.importorskip("datasets")
    rng = np.random.default_rng(1)  # the draw of ``reviews_file``: its grouped split has a test
    words = ["rose", "mint", "lemon", "vanilla", "cedar", "lavender"]
    reviews = []
    for u in range(40):
        for t, i in enumerate(rng.choice(6, size=4, replace=False)):
            text = (f"The {words[i]} cream feels soft and smells of {words[i]} all day"
                    + (" every time" if u % 2 else "") + ". Would buy again!")  # fmt: skip
            reviews.append({"rating": 5.0, "title": "ok", "text": text, "images": [],
                            "asin": f"B{i}x", "parent_asin": f"P{i}", "user_id": f"U{u}",
                            "timestamp": 1_600_000_000_000 + 1000 * t, "helpful_vote": 0,
                            "verified_purchase": True})  # fmt: skip
    meta = [{"main_category": "All Beauty", "title": f"{w.capitalize()} Cream",
             "categories": ["Beauty"], "parent_asin": f"P{i}"} for i, w in enumerate(words)]
    folder = tmp_path / "Tiny_Beauty"
    full = datasets.DatasetDict({"full": datasets.Dataset.from_list(reviews)})
    full.save_to_disk(str(folder / "raw_review_Tiny_Beauty"))
    datasets.Dataset.from_list(meta).save_to_disk(str(folder / "raw_meta_Tiny_Beauty"))
    return folder


def test_saved_amazon2023_runs_sequential_and_explanation(saved_amazon2023, tmp_path):
    written = run(config(saved_amazon2023, tmp_path, methods=["pop"], tasks=["sequential"],
                         seeds=[0]))  # fmt: skip
    written += run(config(saved_amazon2023, tmp_path, methods=["item-expl", "user-copy"],
                          tasks=["explanation"], seeds=[0]))  # fmt: skip
    assert [p.relative_to(tmp_path / "res").as_posix() for p in written] == [
        "Tiny_Beauty/sequential/pop/seed0.json",
        "Tiny_Beauty/explanation/item-expl/seed0.json",
        "Tiny_Beauty/explanation/user-copy/seed0.json",
    ]
    seq = load_result(written[0]).record
    assert seq["dataset"]["format"] == "amazon2023"
    assert seq["dataset"]["n_users"] == 40 and seq["users_evaluated"] == 40
    assert seq["protocol"]["split"].startswith("leave-one-out")
    expl = load_result(written[1]).record
    assert expl["users_evaluated"] > 0 and expl["metrics"]["rouge-1"] > 80.0
    assert expl["protocol"]["verbatim_overlap"] == {"valid": 0.0, "test": 0.0}
    assert load_result(written[2]).record["users_evaluated"] > 0


def test_recbole_presplit_set_is_evaluated_on_its_own_split(tmp_path):
    fixture = Path(__file__).resolve().parents[1] / "fixtures/data/recbole-split/tiny"
    written = run(config(fixture, tmp_path, methods=["pop"], tasks=["sequential"], seeds=[0]))
    res = load_result(written[0])
    rec = res.record
    assert rec["dataset"]["format"] == "recbole-split"
    assert rec["protocol"]["split"].startswith("given by the files (RecBole pre-split layout)")
    assert rec["users_evaluated"] == 4 and rec["protocol"]["users_dropped"] == 0


def test_the_code_version_is_read_before_the_fit(toy_dir, tmp_path, monkeypatch):
    """A long fit outlives its checkout's HEAD: the result names the code that started it."""
    import benchmark.runner as runner_mod
    from methods.pop import Popularity

    state = {"commit": "a" * 40}
    real_environment = runner_mod.environment

    def environment(device, outputs=()):
        return {**real_environment(device, outputs), "git_commit": state["commit"]}

    real_fit = Popularity.fit

    def fit_then_checkout_moves(self, ctx):
        real_fit(self, ctx)
        state["commit"] = "b" * 40  # e.g. `git pull` in the clone while the fit ran

    monkeypatch.setattr(runner_mod, "environment", environment)
    monkeypatch.setattr(Popularity, "fit", fit_then_checkout_moves)
    run(config(toy_dir, tmp_path, methods=["pop"], tasks=["topn"], seeds=[0]))
    rec = load_result(tmp_path / "res/toy/topn/pop/seed0.json").record
    assert rec["environment"]["git_commit"] == "a" * 40


def test_a_changed_default_keeps_a_finished_result_and_says_so(toy_dir, tmp_path, monkeypatch,
                                                               capsys):  # fmt: skip
    """The config hash covers the config's ``method_params``, not the defaults: after a default
    changes, a finished entry is kept (its hash still matches), but the run names the value
    it ran with and the one it would run with now."""
    from methods.sasrec import SASRec

    tiny = {"hidden": 8, "n_layers": 1, "n_heads": 1, "inner": 16, "max_len": 6,
            "max_epochs": 1, "patience": None}  # fmt: skip
    cfg = config(toy_dir, tmp_path, methods=["sasrec"], seeds=[0], tasks=["sequential"],
                 method_params={"sasrec": tiny})  # fmt: skip
    run(cfg)
    capsys.readouterr()
    assert run(cfg) == []
    assert "keeping" not in capsys.readouterr().err  # same defaults: nothing to say
    real = SASRec.Params.defaults_for

    def new_release(profile="cpu"):  # the same config, a changed default
        return {**real(profile), "weight_decay": 1e-4}

    monkeypatch.setattr(SASRec.Params, "defaults_for", new_release)
    assert run(cfg) == []
    err = capsys.readouterr().err
    assert "keeping" in err and "weight_decay=0.0 (now 0.0001)" in err and "--force" in err
    assert "hidden" not in err  # set by the config, so unchanged
