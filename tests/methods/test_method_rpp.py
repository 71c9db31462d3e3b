"""rpp: the policies learn from validation rewards only, predictions parse like llmrank, and a
run through the harness with a tiny LLM."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never download

import hashlib
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.backends.llm import LLMSpec
from benchmark.config import RunConfig
from benchmark.data.schema import build_dataset
from benchmark.errors import ConfigError
from benchmark.results import load_result
from benchmark.runner import run
from methods import METHODS
from methods.base import FitContext
from methods.llm_budget import STOP, answer_budget
from methods.llm_parsing import complete_order, parse_ranking
from methods.rpp import OUTPUT_OPTIONS, PATTERNS, REASONING_OPTIONS, RPP, RPPLL, ndcg_at
from tasks.split import leave_one_out

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmark" / "backends" / "llm"))
from fake_llm import FakeBackend
from guards import NoTestSplit
from llm_tiny import save_tiny_llm

N_USERS = 16
#: the output-format sentence the fake LLM "understands" (bracketed numbers)
MAGIC = 1
FAST = dict(user_dim=8, cf_epochs=2, hidden=16)


def _candidates(prompt):
    """(number, title) of the candidate lines of a prompt."""
    return [(int(k), t) for k, t in re.findall(r"^\[(\d+)\] (.*)$", prompt, re.MULTILINE)]


def _shuffled(prompt):
    """A random order of the candidates, seeded by the prompt (deterministic)."""
    numbers = [k for k, _ in _candidates(prompt)]
    seed = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "little")
    return ", ".join(map(str, np.random.default_rng(seed).permutation(numbers)))


def _target_first(prompt, word):
    """The user's ``word`` item ("Target" = validation, "Test") first, then the others."""
    user = re.search(r"Marker of user (\d+)\b", prompt).group(1)
    cands = _candidates(prompt)
    first = [k for k, t in cands if t == f"{word} film {user}"]
    return " > ".join(f"[{k}]" for k in first + [k for k, _ in cands if k not in first])


def _valid_last(prompt):
    user = re.search(r"Marker of user (\d+)\b", prompt).group(1)
    cands = _candidates(prompt)
    return ", ".join(str(k) for k, t in cands if t != f"Target film {user}")


def magic_rule(prompt):
    """The validation target first only under the MAGIC output format; else a random order."""
    sentence = OUTPUT_OPTIONS[MAGIC].split("(")[0]
    return _target_first(prompt, "Target") if sentence in prompt else _shuffled(prompt)


@pytest.fixture(scope="module")
def world():
    """16 users; user u: 4 common films, then "Marker of user u" (last training item, so every
    history option shows it), "Target film u" (validation), "Test film u" (test)."""
    rng = np.random.default_rng(0)
    titles = [f"Marker of user {u}" for u in range(N_USERS)]
    titles += [f"Target film {u}" for u in range(N_USERS)]
    titles += [f"Test film {u}" for u in range(N_USERS)]
    titles += [f"Common film {k}" for k in range(60)]
    ids = {t: i + 1 for i, t in enumerate(titles)}
    rows = []
    for u in range(N_USERS):
        common = rng.choice(60, size=4, replace=False)
        seq = [ids[f"Common film {k}"] for k in common]
        seq += [ids[f"Marker of user {u}"], ids[f"Target film {u}"], ids[f"Test film {u}"]]
        rows += [(u, i, t) for t, i in enumerate(seq)]
    f = pd.DataFrame(rows, columns=["u", "i", "t"])
    info = pd.DataFrame({"raw_id": [str(i) for i in range(1, len(titles) + 1)], "title": titles,
                         "categories": ["Drama"] * len(titles)})
    ds = build_dataset(name="ml-fake", source="mem", content_hash="h", format="test",
                       users=f.u, items=f.i, timestamps=f.t, item_info=info)
    return ds, leave_one_out(ds)


def fitted(world, rule, split=None, seed=0, **params):
    ds, full = world
    backend = FakeBackend(rule)
    method = RPP(**{**FAST, **params})
    method.fit(FitContext(dataset=ds, split=NoTestSplit(split or full), seed=seed,
                          show_progress=False, llm=LLMSpec.from_backend(backend)))
    return method, backend


def fitted_ll(world, score_rule, split=None, seed=0, **params):
    """rpp-ll fitted on ``world`` with a fake LLM that scores by ``score_rule``."""
    ds, full = world
    backend = FakeBackend(score_rule=score_rule)
    method = RPPLL(**{**FAST, **params})
    method.fit(FitContext(dataset=ds, split=NoTestSplit(split or full), seed=seed,
                          show_progress=False, llm=LLMSpec.from_backend(backend)))
    return method, backend


def test_policy_moves_toward_the_rewarded_output_format(world):
    _, split = world
    method, backend = fitted(world, magic_rule, iterations=10, train_users=N_USERS, lr=0.05)
    start = 1 / len(OUTPUT_OPTIONS)
    probs = method.fit_info["choice_distribution"]["output"]
    assert probs[MAGIC] > 2 * start  # from 0.2 to well above 0.4
    assert probs[MAGIC] == max(probs)
    assert method.fit_info["greedy_choices"]["output"][MAGIC] == N_USERS
    curve = method.fit_info["reward_curve"]
    assert len(curve) == 10 and np.mean(curve[-3:]) > np.mean(curve[:3]) + 0.1
    # all prompts of an iteration in one call, and a prompt asked before is never re-sent
    assert backend.calls <= 10 and len(set(backend.prompts)) == len(backend.prompts)
    info = method.fit_info
    assert info["llm_prompts"] == len(backend.prompts) and info["llm_calls"] == backend.calls
    assert info["llm_prompts"] + info["cached_answers"] == 10 * N_USERS
    # the greedy choice at predict time follows the policy
    assert (method.choose(split.users)[:, PATTERNS.index("output")] == MAGIC).all()
    # every answer may be a full ranking of its list, and stops at the end mark
    for request in backend.requests[:5]:
        titles = [t for _, t in _candidates(request.prompt)]
        assert request.max_new_tokens == answer_budget(backend.encode, titles)
        assert request.stop == STOP and "write END" in request.prompt


def test_rewards_come_from_the_validation_target_only(world):
    oracle, _ = fitted(world, lambda p: _target_first(p, "Target"), iterations=2)
    assert oracle.fit_info["reward_curve"] == [1.0, 1.0]
    valid_last, backend = fitted(world, _valid_last, iterations=2)
    assert valid_last.fit_info["reward_curve"] == [0.0, 0.0]  # rank 20 of 20: beyond NDCG@10
    for prompt in backend.prompts:  # training prompts show training history only
        user = re.search(r"Marker of user (\d+)\b", prompt).group(1)
        titles = [t for _, t in _candidates(prompt)]
        assert f"Target film {user}" in titles  # the validation target is the positive
        assert prompt.count("Target film") + prompt.count("Test film") == sum(
            t.startswith(("Target", "Test")) for t in titles)


def test_the_test_targets_do_not_change_the_fit(world):
    _, split = world
    base, _ = fitted(world, magic_rule, iterations=3)
    moved = leave_one_out(world[0])
    moved.test = np.roll(split.test, 1)
    other, _ = fitted(world, magic_rule, split=moved, iterations=3)
    assert other.fit_info["reward_curve"] == base.fit_info["reward_curve"]
    for a, b in zip(base.policies.parameters(), other.policies.parameters()):
        assert torch.equal(a, b)


def test_fit_is_deterministic_given_the_seed(world):
    a, _ = fitted(world, magic_rule, iterations=3)
    b, _ = fitted(world, magic_rule, iterations=3)
    c, _ = fitted(world, magic_rule, iterations=3, seed=1)
    assert a.fit_info["reward_curve"] == b.fit_info["reward_curve"]
    assert a.fit_info["choice_distribution"] == b.fit_info["choice_distribution"]
    assert a.fit_info["reward_curve"] != c.fit_info["reward_curve"]


def test_fit_info_records_curve_options_and_distributions(world):
    method, _ = fitted(world, magic_rule, iterations=2, train_users=5,
                       history_lengths=[2, 3], history_genres=True)
    info = method.fit_info
    assert info["iterations"] == 2 and info["train_users"] == 5 and len(info["reward_curve"]) == 2
    assert all(0.0 <= r <= 1.0 for r in info["reward_curve"])
    sizes = {"role": 5, "history": 4, "reasoning": 7, "output": 5}
    assert {k: len(v) for k, v in info["options"].items()} == sizes
    assert info["options"]["history"][3] == "3 most recent movie titles with genres"
    for k, n in sizes.items():
        dist = info["choice_distribution"][k]
        assert len(dist) == n and sum(dist) == pytest.approx(1.0, abs=1e-5)
        assert 0 < info["choice_entropy"][k] <= info["max_entropy"][k] + 1e-9
        assert info["mean_user_entropy"][k] <= info["choice_entropy"][k] + 1e-6
        assert sum(info["greedy_choices"][k]) == N_USERS
    assert "ALS" in info["user_representation"]
    assert "training split only" in info["user_representation"]
    assert info["llm_calls"] == 2 and info["llm_seconds"] >= 0


def test_prompt_patterns(world):
    ds, split = world
    method, _ = fitted(world, magic_rule, iterations=1, history_lengths=[2, 3])
    backend = FakeBackend(magic_rule)
    hist = split.histories("test")[0]  # ..., Marker of user 0, Target film 0
    prompt, chat = method.build_prompt(backend, hist, np.array([40, 41]), [3, 3, 2, 0])
    assert not chat and prompt.startswith("You are a friend who knows the user's taste in movies")
    assert "- Marker of user 0 | Drama\n- Target film 0 | Drama\n" in prompt
    assert prompt.count("\n- ") == 3  # 3 most recent, with genres
    assert "[1] Test film 7\n[2] Test film 8" in prompt
    assert "most recent movies" in prompt and "numbers only" in prompt
    plain, _ = method.build_prompt(backend, hist, np.array([40, 41]), [0, 0, 0, 1])
    assert "| Drama" not in plain and plain.count("\n- ") == 2
    assert "[4] > [1]" not in plain  # examples fit the list: no number beyond 2
    assert "[1] > ..." in plain


def test_role_is_the_system_message_in_a_chat_template(world, tmp_path):
    from benchmark.backends.llm.hf import HFBackend

    backend = HFBackend(save_tiny_llm(tmp_path / "llm"))
    method, _ = fitted(world, magic_rule, iterations=1)
    prompt, used = method.build_prompt(backend, world[1].train[0], np.array([40, 41]),
                                       [0, 0, 0, 0])
    assert used and prompt.startswith("<|im_start|>system\nYou are a movie recommender system.")
    assert prompt.endswith("<|im_start|>assistant\n")


def test_predictions_have_no_ties_and_parse_like_llmrank(world):
    _, split = world
    method, _ = fitted(world, magic_rule, iterations=1)
    answers = ["3, 1", "no idea", "[2] > [2] > [9] > [4]", "Test film 8\nTest film 7"]
    replies = iter(answers)
    method.llm = LLMSpec.from_backend(FakeBackend(lambda p: next(replies)))
    candidates = np.array([[40, 41, 42, 43]] * 4)
    users = split.users[:4]
    scores = method.score_candidates(users, split.histories("test")[:4], candidates)
    titles = ["Test film 7", "Test film 8", "Test film 9", "Test film 10"]
    for row, answer in zip(scores, answers):
        assert len(set(row.tolist())) == 4
        expected = complete_order(parse_ranking(answer, titles).order, 4)
        assert torch.argsort(row, descending=True).tolist() == expected
    info = method.predict_info
    assert info["answers"] == 4 and info["invalid_output_rate"] == pytest.approx(0.25)
    assert info["duplicates"] == 1 and info["out_of_range"] == 1 and info["choice"] == "greedy"
    chosen = method.choose(users)
    for k, pattern in enumerate(PATTERNS):
        hist = info["chosen_options"][pattern]
        assert sum(hist) == 4
        assert hist == np.bincount(chosen[:, k].numpy(), minlength=len(hist)).tolist()


def test_sampled_choices_are_seeded(world):
    _, split = world
    a, _ = fitted(world, magic_rule, iterations=1, predict_sample=True)
    b, _ = fitted(world, magic_rule, iterations=1, predict_sample=True)
    assert torch.equal(a.choose(split.users), b.choose(split.users))


def test_ndcg_reward():
    assert ndcg_at(1) == 1.0 and ndcg_at(3) == pytest.approx(0.5)
    assert ndcg_at(10) > 0 and ndcg_at(11) == 0.0


@pytest.mark.parametrize("params, match", [
    ({"temperature": 1}, "unknown parameter"), ({"iterations": 0}, "iterations"),
    ({"train_users": 2.5}, "train_users"), ({"lr": 0}, "lr"), ({"entropy_coef": -1}, "entropy"),
    ({"history_lengths": []}, "history_lengths"), ({"history_lengths": [5, 5]}, "history"),
    ({"history_genres": "yes"}, "history_genres"), ({"max_new_tokens": True}, "max_new"),
])  # fmt: skip
def test_bad_params(params, match):
    with pytest.raises((ConfigError, TypeError), match=match):
        RPP(**params)


def test_registered_and_profiles():
    assert METHODS.get("rpp") is RPP and RPP.uses_llm and RPP.task_kinds == {"candidates"}
    assert RPP(profile="paper").params["iterations"] == 15
    assert len(RPP(profile="paper").history_actions) == 3
    assert "Mao, Wenyu" in RPP.bibtex and "2407.17115" in RPP.bibtex


def _tiny_run(tmp_path, **cfg_fields):
    """A RunConfig of rpp on ``rerank`` over a 30-user film fixture with a tiny random Llama."""
    rng = np.random.default_rng(0)
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(30):
        for t, i in enumerate(rng.choice(np.arange(1, 61), size=int(rng.integers(4, 8)),
                                         replace=False)):
            inter.append(f"{u}\t{i}\t4\t{1000 + t}")
    items = ["item_id:token\tmovie_title:token_seq"] + [f"{i}\tFilm {i}" for i in range(1, 61)]
    folder = tmp_path / "movies"
    folder.mkdir(exist_ok=True)
    (folder / "movies.inter").write_text("\n".join(inter) + "\n")
    (folder / "movies.item").write_text("\n".join(items) + "\n")
    llm = tmp_path / "tiny-llm"
    if not llm.exists():
        save_tiny_llm(llm)
    return RunConfig(methods=["rpp"], datasets=[str(folder)], tasks=["rerank+eval_users=6"],
                     seeds=[0], llm=str(llm), backend="hf", results_dir=str(tmp_path / "res"),
                     progress=False,
                     method_params={"rpp": {"iterations": 2, "train_users": 4,
                                            "max_new_tokens": 8, **FAST}},
                     **cfg_fields)  # fmt: skip


RERANK_RESULT = Path("res") / "movies" / "rerank+eval_users=6" / "rpp" / "seed0.json"


def test_end_to_end_rerank_with_a_tiny_llm(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    assert run(_tiny_run(tmp_path))
    rec = load_result(tmp_path / RERANK_RESULT).record
    assert rec["users_evaluated"] == 6 and rec["backend"]["backend"] == "hf"
    assert "cache" not in rec["backend"]  # no answer file asked for, none recorded
    fit, pred = rec["method"]["fit_info"], rec["method"]["predict_info"]
    assert len(fit["reward_curve"]) == 2 and fit["llm_calls"] >= 1
    assert pred["answers"] == 6 and pred["chat_template"] is True
    assert all(sum(h) == 6 for h in pred["chosen_options"].values())
    assert 0.0 <= pred["invalid_output_rate"] <= 1.0


def test_a_rerun_with_an_answer_file_asks_the_llm_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    answers = tmp_path / "answers.sqlite"
    assert run(_tiny_run(tmp_path, llm_cache=str(answers)))
    first = load_result(tmp_path / RERANK_RESULT).record
    assert first["backend"]["cache"]["replayed"] == 0 and first["backend"]["cache"]["misses"] > 0
    assert run(_tiny_run(tmp_path, llm_cache=str(answers), force=True))
    again = load_result(tmp_path / RERANK_RESULT).record
    cache = again["backend"]["cache"]
    assert cache["misses"] == 0 and cache["replayed"] == first["backend"]["cache"]["misses"]
    assert cache["path"] == str(answers)
    assert again["metrics"] == first["metrics"] and again["config_hash"] == first["config_hash"]
    fit, refit = first["method"]["fit_info"], again["method"]["fit_info"]
    assert refit["reward_curve"] == fit["reward_curve"] and refit["llm_prompts"] == 0


# ---- score mode: rpp-ll -----------------------------------------------------------------------
#: the reasoning sentence under which the fake LLM "knows" the user's next film
MAGIC_REASON = 2


def _noise(prompt, text):
    """A deterministic pseudo-random log-likelihood in [-9, -1]."""
    digest = hashlib.sha256(f"{prompt}|{text}".encode()).digest()
    return -1.0 - 8.0 * int.from_bytes(digest[:4], "little") / 2**32


def _user(prompt):
    return re.search(r"Marker of user (\d+)\b", prompt).group(1)


def magic_scores(prompt, title):
    """The validation target scores best only under the MAGIC_REASON sentence."""
    sentence = REASONING_OPTIONS[MAGIC_REASON].format(noun="movie")
    if sentence in prompt and title == f"Target film {_user(prompt)}":
        return 0.0
    return _noise(prompt, title)


def test_score_mode_policy_moves_toward_the_rewarded_reasoning(world):
    _, split = world
    method, backend = fitted_ll(world, magic_scores, iterations=10, train_users=N_USERS,
                                lr=0.05)
    probs = method.fit_info["choice_distribution"]["reasoning"]
    assert probs[MAGIC_REASON] == max(probs) and probs[MAGIC_REASON] > 2 / len(probs)
    curve = method.fit_info["reward_curve"]
    assert np.mean(curve[-3:]) > np.mean(curve[:3]) + 0.1
    assert set(method.fit_info["options"]) == {"role", "history", "reasoning"}
    assert (method.choose(split.users)[:, 2] == MAGIC_REASON).all()
    assert backend.calls <= 10 and method.fit_info["llm_calls"] == backend.calls


def test_score_mode_reward_ranks_by_log_likelihood_of_the_validation_target(world):
    oracle, backend = fitted_ll(
        world, lambda p, t: 0.0 if t == f"Target film {_user(p)}" else -5.0, iterations=2)
    assert oracle.fit_info["reward_curve"] == [1.0, 1.0]
    worst, _ = fitted_ll(
        world, lambda p, t: -50.0 if t == f"Target film {_user(p)}" else -5.0, iterations=2)
    assert worst.fit_info["reward_curve"] == [0.0, 0.0]  # rank 20 of 20: beyond NDCG@10
    for request in backend.requests:
        user = _user(request.prompt)
        assert "Which movie will I watch next? Answer with its title only." in request.prompt
        assert "[1]" not in request.prompt and "Target film" not in request.prompt
        assert f"Target film {user}" in request.continuations
        assert len(request.continuations) == 20


def test_score_mode_predictions_are_the_title_log_likelihoods(world):
    _, split = world
    method, _ = fitted_ll(world, magic_scores, iterations=1)
    backend = FakeBackend(score_rule=_noise)
    method.llm = LLMSpec.from_backend(backend)
    candidates = np.array([[40, 41, 42, 43]] * 3)
    scores = method.score_candidates(split.users[:3], split.histories("test")[:3], candidates)
    titles = ["Test film 7", "Test film 8", "Test film 9", "Test film 10"]
    for row, request in zip(scores, backend.requests):
        assert request.continuations == tuple(titles)
        expected = [_noise(request.prompt, t) / len(t.split()) for t in titles]  # mean
        assert row.tolist() == pytest.approx(expected, abs=1e-5)
    info = method.predict_info
    assert info["mode"] == "score" and info["normalise"] == "mean" and info["users"] == 3
    assert all(sum(h) == 3 for h in info["chosen_options"].values())
    assert set(info["chosen_options"]) == {"role", "history", "reasoning"}


def test_score_mode_registered_with_its_own_params():
    assert METHODS.get("rpp-ll") is RPPLL and RPPLL.uses_llm
    assert "max_new_tokens" not in RPPLL.defaults["cpu"]
    assert RPPLL().params["normalise"] == "mean" and RPPLL().sizes == (5, 6, 7)
    assert RPPLL(profile="paper").params["iterations"] == 15
    with pytest.raises(TypeError, match="unknown parameter"):
        RPPLL(max_new_tokens=80)
    with pytest.raises(ConfigError, match="method_params.rpp-ll.normalise"):
        RPPLL(normalise="max")
    assert RPP().params["max_new_tokens"] == "auto"
