"""llmrank: prompts, parsing into ranks, and runs through the harness with --backend/--llm."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never download

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.backends.llm import LLMSpec
from benchmark.cli import main
from benchmark.config import RunConfig, load_config, stable_hash
from benchmark.data.schema import build_dataset
from benchmark.errors import ConfigError
from benchmark.metrics import target_ranks
from benchmark.results import load_result
from benchmark.runner import Runner, entry_config, run
from methods.base import FitContext
from methods.llmrank import LLMRank
from tasks import TASKS
from tasks.split import leave_one_out

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmark" / "backends" / "llm"))
from fake_llm import FakeBackend, scripted
from llm_tiny import save_tiny_llm

TITLES = ["Toy Story (1995)", "Heat (1995)", "Casino (1995)", "GoldenEye (1995)",
          "Jumanji (1995)", "Usual Suspects, The (1995)", "Fargo (1996)", "Babe (1995)"]


@pytest.fixture(scope="module")
def titled():
    """4 users over 8 titled items; user u watched items u+1 .. u+4."""
    rows = [(u, u + 1 + t, t) for u in range(4) for t in range(4)]
    f = pd.DataFrame(rows, columns=["u", "i", "t"])
    info = pd.DataFrame({"raw_id": [str(i) for i in range(1, 9)], "title": TITLES})
    ds = build_dataset(name="ml-tiny", source="mem", content_hash="h", format="test",
                       users=f.u, items=f.i, timestamps=f.t, item_info=info)
    return ds, leave_one_out(ds)


def fitted(titled, backend, **params):
    ds, split = titled
    method = LLMRank(**params)
    poisoned = dataclasses.replace(split, test=None)  # zero-shot: fit never reads the test split
    method.fit(FitContext(dataset=ds, split=poisoned, seed=0, show_progress=False,
                          llm=LLMSpec.from_backend(backend)))
    return method


def test_parsed_answers_become_ranks_and_rates(titled):
    _, split = titled
    candidates = np.array([[5, 6, 7, 8]] * 4)
    answers = ["3, 1", "no idea", "[2] > [2] > [9] > [4]", "Babe (1995)\nFargo..."]
    backend = FakeBackend(scripted(answers))
    method = fitted(titled, backend)
    scores = method.score_candidates(split.users, split.histories("test"), candidates)
    assert backend.calls == 1  # every user's prompt in one generate call
    orders = torch.argsort(scores, dim=1, descending=True).tolist()
    assert orders == [[2, 0, 1, 3], [0, 1, 2, 3], [1, 3, 0, 2], [3, 2, 0, 1]]
    for row in scores:  # distinct scores: pessimistic ties can never cost a rank
        assert len(set(row.tolist())) == 4
    ranks = target_ranks(scores, torch.tensor([2, 2, 2, 2])).tolist()
    assert ranks == [1, 3, 4, 2]  # the candidate numbered [3] sits where each answer put it
    info = method.predict_info
    assert info["answers"] == 4 and info["invalid_output_rate"] == pytest.approx(0.25)
    assert info["mean_fraction_ranked"] == pytest.approx((2 + 0 + 2 + 2) / 4 / 4)
    assert info["duplicates"] == 1 and info["out_of_range"] == 1
    assert info["cut_by_max_new_tokens"] == 1 and info["chat_template"] is False
    assert info["parse_rules"] == {"index": 2, "none": 1, "title": 1}
    assert info["example_answers"] == ["3, 1", "no idea", "[2] > [2] > [9] > [4]"]


def test_generate_budget_grows_with_the_list_and_stops_at_the_end_mark(titled):
    from methods.llm_budget import STOP, answer_budget

    _, split = titled
    backend = FakeBackend(scripted(["1"] * 3))
    method = fitted(titled, backend)
    lists = [np.array([[5, 6]]), np.array([[5, 6, 7, 8]]), np.array([[5, 6, 7, 8, 1, 2, 3]])]
    for row in lists:
        method.score_candidates(split.users[:1], split.histories("test")[:1], row)
    budgets = [r.max_new_tokens for r in backend.requests]
    assert budgets[0] < budgets[1] < budgets[2]
    assert budgets == [answer_budget(backend.encode, [TITLES[i - 1] for i in row[0]])
                       for row in lists]
    assert all(r.stop == STOP for r in backend.requests)
    assert "write END" in backend.prompts[0]
    info = method.predict_info
    assert info["max_new_tokens"] == "auto" and info["max_budget"] == budgets[2]
    assert info["mean_budget"] == pytest.approx(sum(budgets) / 3)


def test_a_fixed_budget_is_kept_and_its_cut_answers_counted(titled):
    _, split = titled
    backend = FakeBackend(scripted(["2, 1...", "1, 2, 3, 4"]))
    method = fitted(titled, backend, max_new_tokens=7)
    method.score_candidates(split.users[:2], split.histories("test")[:2],
                            np.array([[5, 6, 7, 8]] * 2))
    assert [r.max_new_tokens for r in backend.requests] == [7, 7]
    info = method.predict_info
    assert info["cut_by_max_new_tokens"] == 1 and info["max_new_tokens"] == 7


def test_rates_accumulate_over_batches_of_one_task(titled):
    _, split = titled
    backend = FakeBackend(scripted(["1", "nothing", "nothing", "2"]))
    method = fitted(titled, backend)
    for sl in (slice(0, 3), slice(3, 4)):
        method.score_candidates(split.users[sl], split.histories("test")[sl],
                                np.array([[5, 6, 7, 8]] * (sl.stop - sl.start)))
    assert method.predict_info["answers"] == 4
    assert method.predict_info["invalid_output_rate"] == pytest.approx(0.5)


def test_prompt_lists_recent_history_and_numbered_candidates(titled):
    _, split = titled
    backend = FakeBackend(scripted(["1"]))
    method = fitted(titled, backend, history_len=2)
    user = 3  # watched items 4..7; the test item 7 is not in the test-time history
    method.score_candidates(split.users[user:user + 1], [split.histories("test")[user]],
                            np.array([[8, 1, 2]]))
    prompt = backend.prompts[0]
    assert "these movies" in prompt  # "ml-" dataset: items are movies
    assert "- Jumanji (1995)\n- Usual Suspects, The (1995)\n" in prompt  # last 2, oldest first
    assert "GoldenEye" not in prompt and "Fargo" not in prompt
    assert "[1] Babe (1995)\n[2] Toy Story (1995)\n[3] Heat (1995)" in prompt
    assert "candidate numbers only" in prompt and prompt.endswith("Answer:")
    assert method.fit_info["items_with_title"] == 8 and method.fit_info["item_noun"] == "movie"


def test_chat_template_wraps_the_prompt_when_the_model_has_one(titled, tmp_path):
    from benchmark.backends.llm.hf import HFBackend

    backend = HFBackend(save_tiny_llm(tmp_path / "llm"))
    _, split = titled
    method = fitted(titled, backend, prompt_style="title")
    prompt, used = method.build_prompt(backend, split.histories("test")[0], np.array([5, 6]))
    assert used and prompt.startswith("<|im_start|>user\n") and "titles only" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize("params, match", [
    ({"prompt_style": "free"}, "prompt_style"), ({"history_len": 0}, "history_len"),
    ({"max_new_tokens": "80"}, "max_new_tokens"), ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"temperature": 1}, "unknown parameter"),
])  # fmt: skip
def test_bad_params(params, match):
    with pytest.raises((ConfigError, TypeError), match=match):
        LLMRank(**params)


# ---- the harness: --backend, --llm and a run on the rerank task ----------------------------


@pytest.fixture
def movies_dir(tmp_path, monkeypatch):
    """40 users, 60 titled items in RecBole's atomic format (.inter + .item)."""
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(40):
        for t, i in enumerate(rng.choice(np.arange(1, 61), size=int(rng.integers(4, 8)),
                                         replace=False)):
            inter.append(f"{u}\t{i}\t4\t{1000 + t}")
    items = ["item_id:token\tmovie_title:token_seq"]
    items += [f"{i}\t{TITLES[i % len(TITLES)].split(' (')[0]} {i}" for i in range(1, 61)]
    folder = tmp_path / "movies"
    folder.mkdir()
    (folder / "movies.inter").write_text("\n".join(inter) + "\n")
    (folder / "movies.item").write_text("\n".join(items) + "\n")
    return folder


def test_llm_is_checked_early(tmp_path, capsys):
    # --backend's checks: tests/benchmark/backends/llm/test_llm_spec.py
    with pytest.raises(ConfigError, match="no config.json"):
        load_config(None, {"llm": str(tmp_path)})
    code = main(["run", "--methods", "llmrank", "--tasks", "rerank", "--llm", str(tmp_path),
                 "--results-dir", str(tmp_path / "res")])
    assert code == 2 and "config.json" in capsys.readouterr().err
    assert not (tmp_path / "res").exists()


def test_llmrank_answers_candidate_tasks_only(movies_dir, tmp_path):
    cfg = RunConfig(methods=["llmrank"], datasets=[str(movies_dir)], tasks=["sequential"],
                    results_dir=str(tmp_path / "res"), progress=False)
    with pytest.raises(ConfigError, match="cannot answer task"):
        run(cfg)


def test_backend_flags_reach_only_llm_entries(tmp_path):
    task = TASKS.get("rerank")
    ds = type("D", (), {"name": "d", "content_hash": "h"})()
    plain, flagged = RunConfig(), RunConfig(backend="hf", llm=str(tmp_path))
    assert entry_config(flagged, ds, task, "pop", 0) == entry_config(plain, ds, task, "pop", 0)
    entry = entry_config(flagged, ds, task, "llmrank", 0)
    assert entry["backend"] == "hf" and entry["llm"] == str(tmp_path)
    assert "backend" not in entry_config(plain, ds, task, "llmrank", 0)
    assert stable_hash(entry) != stable_hash(entry_config(plain, ds, task, "llmrank", 0))


def test_end_to_end_rerank_with_a_tiny_llm(movies_dir, tmp_path):
    llm = save_tiny_llm(tmp_path / "tiny-llm")
    res = tmp_path / "res"
    code = main(["run", "--methods", "llmrank,random", "--datasets", str(movies_dir),
                 "--tasks", "rerank+eval_users=12", "--seeds", "0", "--llm", str(llm),
                 "--backend", "hf", "--results-dir", str(res), "--no-progress"])
    assert code == 0
    folder = res / "movies" / "rerank+eval_users=12"
    rec = load_result(folder / "llmrank/seed0.json").record
    assert rec["users_evaluated"] == 12 and rec["protocol"]["user_sample"]["evaluated"] == 12
    assert rec["backend"]["backend"] == "hf" and rec["backend"]["model_dir"] == str(llm)
    assert rec["backend"]["requested"] == {"backend": "hf", "llm": str(llm)}
    assert rec["config"]["llm"] == str(llm) and rec["config"]["backend"] == "hf"
    info = rec["method"]["predict_info"]
    assert info["answers"] == 12 and info["chat_template"] is True
    assert 0.0 <= info["invalid_output_rate"] <= 1.0 and 0 <= info["mean_fraction_ranked"] <= 1
    other = load_result(folder / "random/seed0.json")
    assert np.array_equal(other.users, load_result(folder / "llmrank/seed0.json").users)
    assert "backend" not in other.record and "llm" not in other.record["config"]
    # finished entries are recognised (same config hash) and not rerun
    cfg = load_config(None, {"methods": "llmrank", "datasets": str(movies_dir),
                             "tasks": "rerank+eval_users=12", "seeds": "0", "llm": str(llm),
                             "backend": "hf", "results_dir": str(res), "progress": False})
    assert run(cfg) == []
    assert not Runner(cfg).llm.built  # nothing to answer: the model was never loaded


def test_smollm2_answers_parse(titled):
    """The real embedded SmolLM2-135M-Instruct on 3 users: its answers reach the parser (the one
    test with a real LLM; skipped when the model cannot be had)."""
    from benchmark.backends.llm import embedded_llm_dir, get_backend
    from benchmark.errors import DataError

    try:
        directory = embedded_llm_dir()  # cached after the first conversion
    except DataError as exc:
        pytest.skip(f"no embedded LLM: {exc}")
    _, split = titled
    method = fitted(titled, get_backend("hf", directory), max_new_tokens=40)
    scores = method.score_candidates(split.users[:3], split.histories("test")[:3],
                                     np.array([[5, 6, 7, 8]] * 3))
    assert scores.shape == (3, 4)
    info = method.predict_info
    assert info["answers"] == 3 and info["chat_template"] is True
    assert info["invalid_output_rate"] < 1 and all(info["example_answers"])


# ---- score mode: llmrank-ll -------------------------------------------------------------------
def _direct_logprob(backend, prompt: str, title: str) -> tuple[float, int]:
    """One full forward over prompt + title with no cache (the reference for score mode)."""
    from benchmark.backends.llm.base import continuation_ids, split_trailing_spaces

    prompt, spaces = split_trailing_spaces(prompt)
    p_ids = backend.encode(prompt)
    c_ids = continuation_ids(backend.encode, backend._encode_plain, p_ids, prompt,
                             spaces + title)
    with torch.no_grad():
        logits = backend.model(input_ids=torch.tensor([p_ids + c_ids])).logits[0].double()
    logp = torch.log_softmax(logits, -1)
    total = sum(float(logp[len(p_ids) + k - 1, t]) for k, t in enumerate(c_ids))
    return total, len(c_ids)


@pytest.mark.parametrize("normalise", ["mean", "sum"])
def test_score_mode_ranks_by_direct_log_likelihood(titled, tmp_path, normalise):
    from benchmark.backends.llm.hf import HFBackend
    from methods.llmrank import LLMRankLL

    ds, split = titled
    backend = HFBackend(save_tiny_llm(tmp_path / "llm"), batch_size=3)
    method = LLMRankLL(normalise=normalise)
    method.fit(FitContext(dataset=ds, split=dataclasses.replace(split, test=None), seed=0,
                          show_progress=False, llm=LLMSpec.from_backend(backend)))
    candidates = np.array([[5, 6, 7, 8], [8, 2, 6, 1]])
    histories = split.histories("test")[:2]
    scores = method.score_candidates(split.users[:2], histories, candidates)
    for u, (history, row) in enumerate(zip(histories, candidates)):
        prompt, chat = method.build_prompt(backend, history, row)
        assert chat and "Which movie will I watch next?" in prompt
        assert TITLES[row[0] - 1] not in prompt.split("oldest first:")[0]
        for k, item in enumerate(row):
            total, n = _direct_logprob(backend, prompt, TITLES[item - 1])
            expected = total / n if normalise == "mean" else total
            assert float(scores[u, k]) == pytest.approx(expected, abs=1e-4)
    info = method.predict_info
    assert info["mode"] == "score" and info["normalise"] == normalise
    assert info["continuations"] == 8 and info["mean_continuation_tokens"] > 1


def test_score_mode_params_are_checked():
    from methods.llmrank import LLMRankLL

    with pytest.raises(ConfigError, match="normalise"):
        LLMRankLL(normalise="max")
    with pytest.raises(ConfigError, match="history_len"):
        LLMRankLL(history_len=0)
    with pytest.raises(TypeError):
        LLMRankLL(max_new_tokens=80)  # nothing is generated in score mode
