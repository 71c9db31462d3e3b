"""P2Rec and its controls end to end on a tiny fixture with a tiny random Llama: targets from
training interactions only, the controls differ from p2rec in one stage, stage 2 is
deterministic for a seed, stage 1 learns, and the pooled LM's cached top-layer path is exact."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cycle_data import cycle_dataset

from benchmark.backends.llm import LLMSpec
from benchmark.errors import ConfigError
from methods import METHODS
from methods import p2rec as p2rec_module
from methods.base import FitContext
from methods.checkpoint import EpochCheckpoint
from methods.pooled_lm import PooledLM
from tasks.split import leave_one_out

# the tiny random Llama of the LLM backend tests (a saved directory, nothing downloaded)
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmark" / "backends" / "llm"))
from llm_tiny import save_tiny_llm  # noqa: E402

TINY = {"hidden": 16, "n_layers": 1, "n_heads": 1, "inner": 32, "max_len": 12, "max_epochs": 3,
        "patience": 2, "dropout": 0.0, "n_categories": 4, "tune_layers": 1, "sft_epochs": 3,
        "max_history": 8, "sft_batch_size": 8}  # fmt: skip


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_llm(tmp_path_factory.mktemp("tiny-llm")))


@pytest.fixture(scope="module")
def data():
    dataset = cycle_dataset(titles=True)
    return dataset, leave_one_out(dataset)


def fit(name: str, llm_dir: str, data, split=None, checkpoint=None, **params):
    dataset, default_split = data
    cls = METHODS.get(name)
    tiny = {k: v for k, v in TINY.items() if k in cls.param_defaults("cpu")}  # self-init: no LLM
    method = cls("cpu", **{**tiny, **params})
    method.fit(FitContext(dataset=dataset, split=split or default_split, seed=0,
                          show_progress=False, llm=LLMSpec(model_dir=llm_dir),
                          checkpoint=checkpoint))  # fmt: skip
    return method


def scores(method, data) -> torch.Tensor:
    _, split = data
    return method.score_all(split.users, split.histories("valid"))


def test_every_stage_runs_and_reports(llm_dir, data):
    method = fit("p2rec", llm_dir, data)
    info = method.fit_info
    assert scores(method, data).shape == (data[1].n_users, data[1].n_items + 1)
    assert info["item_init"] == "llm-tuned"
    assert info["stage0"]["epochs"] >= 1 and info["stage2"]["backend"] == "transformers"
    stage1 = info["stage1"]
    assert len(stage1["history"]) == stage1["epochs"] and stage1["n_categories"] == 4
    assert sum(stage1["category_sizes"]) == data[1].n_items
    assert stage1["users_truncated"] == data[1].n_users  # 12 training items, prompts keep 8
    # the trivial predictor's held-out loss is there for scale, and is a real loss
    assert 0.0 < stage1["heldout_loss_of_mean_shares"] < 1.0
    # the final sasrec's fit is the row's: its curve and stop reason are at the top level
    assert info["history"] and info["stop_reason"] in {"patience", "cap"}
    assert info["llm"]["weights"]["files"]


def test_stage1_learns(llm_dir, data):
    history = fit("p2rec", llm_dir, data, sft_epochs=6, sft_patience=6, sft_lr=1e-3,
                  head_lr=1e-2).fit_info["stage1"]["history"]  # fmt: skip
    assert history[-1]["loss"] < history[0]["loss"]


def test_stage1_targets_come_from_training_interactions_only(llm_dir, data, monkeypatch):
    seen: list[list[np.ndarray]] = []
    real = p2rec_module.preference_targets

    def spy(histories, labels, k):
        seen.append([np.array(h) for h in histories])
        return real(histories, labels, k)

    monkeypatch.setattr(p2rec_module, "preference_targets", spy)
    _, split = data
    fit("p2rec", llm_dir, data, max_epochs=1, sft_epochs=1)
    # other validation and test targets (rotated among users): same training data, same targets
    moved = dataclasses.replace(split, valid=np.roll(split.valid, 1), test=np.roll(split.test, 3))
    fit("p2rec", llm_dir, data, split=moved, max_epochs=1, sft_epochs=1)
    for histories in seen:
        for h, train in zip(histories, split.train, strict=True):
            assert np.array_equal(h, train)


def test_untuned_control_differs_only_by_stage1(llm_dir, data):
    untuned = fit("p2rec-untuned", llm_dir, data)
    assert "stage1" not in untuned.fit_info
    # stage 1 with nothing learnt (learning rates 0) leaves the LLM as the control has it
    still = fit("p2rec", llm_dir, data, sft_lr=1e-30, head_lr=1e-30)
    assert torch.allclose(still.final.vectors, untuned.final.vectors, atol=1e-5)
    assert torch.allclose(scores(still, data), scores(untuned, data), atol=1e-5)
    tuned = fit("p2rec", llm_dir, data, sft_lr=1e-2, head_lr=1e-2)
    assert not torch.allclose(tuned.final.vectors, untuned.final.vectors, atol=1e-3)


def test_self_init_starts_from_stage0_table_without_an_llm(llm_dir, data):
    method = fit("p2rec-self-init", llm_dir, data)
    assert "llm" not in method.fit_info and "stage1" not in method.fit_info
    assert method.final.vectors.shape == (data[1].n_items, TINY["hidden"])
    assert not METHODS.get("p2rec-self-init").uses_llm and METHODS.get("p2rec").uses_llm
    # it records only what shaped it: SASRec's knobs and the table's use, none of the LLM's
    assert {"pooling", "tune", "n_categories", "sft_epochs"}.isdisjoint(method.params)
    assert {"item_init", "embedding", "hidden"} <= set(method.params)


def test_stage2_vectors_and_scores_are_deterministic_for_a_seed(llm_dir, data):
    a, b = fit("p2rec", llm_dir, data), fit("p2rec", llm_dir, data)
    assert torch.equal(a.final.vectors, b.final.vectors)
    assert torch.equal(scores(a, data), scores(b, data))


def test_frozen_table_trains_only_the_adapter(llm_dir, data):
    method = fit("p2rec", llm_dir, data, reduce="adapter", embedding="frozen")
    table = method.final.net.item_emb
    assert not isinstance(table, torch.nn.Embedding)
    assert method.final.vectors.shape[1] == PooledLM(llm_dir).width  # the LM's own width
    assert torch.equal(table.vectors, method.final.vectors)  # the buffer never moved
    assert table.weight.shape == (data[1].n_items + 1, TINY["hidden"])
    assert torch.all(table.weight[0] == 0)


def test_bad_combination_is_refused_naming_the_field():
    with pytest.raises(ConfigError, match="p2rec.reduce"):
        METHODS.get("p2rec")("cpu", reduce="adapter", embedding="init")


def test_stage_checkpoints_are_removed_when_the_fit_ends(llm_dir, data, tmp_path):
    checkpoint = EpochCheckpoint(tmp_path / "p2rec-seed0-abc.pt")
    fit("p2rec", llm_dir, data, checkpoint=checkpoint, max_epochs=1, sft_epochs=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("tune", ["top", "lora", "full"])
def test_pooled_lm_training_path_equals_its_encoder(llm_dir, tune):
    texts = ["The capital of France is Paris.", "Toy Story (1995), Heat (1995)", "Stop here."]
    lm = PooledLM(llm_dir, tune=tune, tune_layers=1, batch_size=2)
    with torch.no_grad():
        trained = lm.forward_train(lm.prepare(texts))
    assert torch.allclose(lm.encode(texts), trained, atol=1e-5)
    n_weights = len(list(lm.model.parameters()))
    if tune == "full":
        assert len(lm.trainable()) == n_weights
    else:
        assert 0 < len(lm.trainable()) < n_weights


@pytest.mark.parametrize("tune_layers", [1, 2])
def test_prepare_stops_below_the_tuned_layers_with_the_same_states(llm_dir, tune_layers):
    """The frozen pass ends at the last frozen layer: the same states the whole model's
    ``hidden_states`` hold there, with the tuned layers never run."""
    texts = ["The capital of France is Paris.", "Toy Story (1995), Heat (1995)"]
    lm = PooledLM(llm_dir, tune="top", tune_layers=tune_layers, batch_size=2)
    cut = lm.n_layers - tune_layers
    ran: list[int] = []
    hooks = [layer.register_forward_hook(lambda m, a, o, i=i: ran.append(i))
             for i, layer in enumerate(lm.model.layers)]  # fmt: skip
    prepared = lm.prepare(texts)
    for hook in hooks:
        hook.remove()
    assert sorted(set(ran)) == list(range(cut))
    seqs = lm.tokenize(texts)
    ids, mask = lm._pad_ids(seqs)  # the batch prepare ran (batch_size 2)
    with torch.no_grad():
        whole = lm.model(input_ids=ids, attention_mask=mask, output_hidden_states=True,
                         use_cache=False)  # fmt: skip
    for row, (seq, states) in enumerate(zip(seqs, prepared)):
        assert torch.equal(states, whole.hidden_states[cut][row, : len(seq)])
