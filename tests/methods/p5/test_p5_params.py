"""The P5 family's parameters: each profile's defaults (the values the committed results ran
with, so config hashes and results stay valid) and the checks of user values."""

from __future__ import annotations

from typing import Any

import pytest

from benchmark.errors import ConfigError
from benchmark.runner import _check_params
from methods.base import Method
from methods.p5.p5 import P5
from methods.p5.peapod import PeaPODKNN, PeaPODNoUser, PeaPODPool
from methods.p5.pod import POD

#: P5's ``cpu`` defaults, in order (the values the committed results ran with): the
#: ``defaults`` dict before ``Params``, with issue 17's CPU recipe written over it
P5_CPU: dict[str, Any] = {
    "ranking": "exact", "num_beams": 20, "beam_keep_all_finished": False, "max_history": 20,
    "valid_users": 1000, "seq_template": "2-1", "unseen_template": "2-8", "expl_template": "3-1",
    "unseen_expl_template": "3-6", "direct_candidates": 20, "expl_beams": 4, "expl_groups": 1,
    "expl_diversity": 0.0, "expl_min_length": 10, "expl_max_length": 40, "eval_batch_size": 64,
    "backbone": None, "select_on": "auto", "d_model": 128, "d_ff": 512, "num_layers": 2,
    "num_heads": 2, "dropout": 0.1, "vocab_size": 3000, "id_tokens": "bpe", "epochs": 40,
    "patience": 5, "batch_size": 32, "lr": 3e-4, "weight_decay": 0.01, "warmup": 0.05,
    "clip": 1.0, "prefixes_per_user": 16, "max_input_len": 160, "max_target_len": 48,
    "rank_families": "sequential,direct", "lr_schedule": "constant", "length_pool": 50,
    "fast_dropout": True, "time_limit": None,
}  # fmt: skip
#: what the ``paper`` profile writes over them (P5's recipe: no early stopping, lr 1e-3
#: decaying linearly over 10 epochs, every prefix, torch's dropout, plain shuffle)
P5_PAPER = {"valid_users": 1000, "epochs": 10, "patience": None, "batch_size": 32,
            "lr": 1e-3, "prefixes_per_user": None, "max_input_len": 512, "max_target_len": 64,
            "expl_beams": 21, "expl_groups": 3, "expl_min_length": 10, "lr_schedule": "linear",
            "length_pool": None, "fast_dropout": False}  # fmt: skip
POD_CPU = {**P5_CPU, "n_prompts": 3}
POD_PAPER = {**P5_PAPER, "patience": 5, "lr": 5e-4, "batch_size": 64, "epochs": 30,
             "n_prompts": 3}
PEAPOD_CPU = {**POD_CPU, "user_prompt": True, "prompt_length": 3, "user_dim": 64,
              "cf_epochs": 10}  # fmt: skip
PEAPOD_PAPER = {**POD_PAPER, "prompt_length": 3, "user_dim": 512}

#: per method: (its ``cpu`` defaults, its ``defaults["paper"]``)
OLD = {
    P5: (P5_CPU, P5_PAPER),
    POD: (POD_CPU, POD_PAPER),
    PeaPODPool: ({**PEAPOD_CPU, "pool_size": 10}, {**PEAPOD_PAPER, "pool_size": 10}),
    PeaPODKNN: ({**PEAPOD_CPU, "neighbours": 20, "user_heads": 4},
                {**PEAPOD_PAPER, "neighbours": 20, "user_heads": 4}),
    PeaPODNoUser: ({**PEAPOD_CPU, "user_prompt": False},
                   {**PEAPOD_PAPER, "user_prompt": False}),
}  # fmt: skip
FAMILY = list(OLD)


@pytest.mark.parametrize("cls", FAMILY, ids=lambda c: c.name)
def test_profile_defaults_are_the_values_the_results_ran_with(cls: type[Method]) -> None:
    cpu, paper = OLD[cls]
    assert list(cls(profile="cpu").params.items()) == list(cpu.items())
    assert list(cls(profile="paper").params.items()) == list({**cpu, **paper}.items())
    assert cls.param_defaults("cpu") == cpu and cls.param_defaults("other") == cpu
    assert dict(cls.defaults["cpu"]) == cpu and dict(cls.defaults["paper"]) == paper


@pytest.mark.parametrize("cls", FAMILY, ids=lambda c: c.name)
def test_every_parameter_is_checked(cls: type[Method]) -> None:
    assert cls.Params is not None
    assert [f.name for f in cls.Params.specs() if f.metadata.get("check") is None] == []


@pytest.mark.parametrize("cls, bad, close", [
    (P5, "num_beam", "num_beams"),
    (P5, "seq_templte", "seq_template"),
    (POD, "n_prompt", "n_prompts"),
    (PeaPODPool, "pool_sise", "pool_size"),
    (PeaPODKNN, "neighbors", "neighbours"),
    (PeaPODNoUser, "user_promt", "user_prompt"),
], ids=lambda v: getattr(v, "name", v))  # fmt: skip
def test_an_unknown_name_suggests_the_closest_one(cls: type[Method], bad: str, close: str) -> None:
    with pytest.raises(TypeError, match=f"unknown parameter '{bad}' \\(did you mean '{close}'"):
        cls(**{bad: 1})
    with pytest.raises(ConfigError, match=f"method_params.{cls.name}.{bad}: .*did you mean "
                                          f"'{close}'"):  # fmt: skip
        _check_params(cls, "cpu", {bad: 1})


def test_a_knob_of_another_variant_is_unknown() -> None:
    for cls, knob in ((PeaPODPool, "neighbours"), (PeaPODKNN, "pool_size"), (P5, "n_prompts")):
        with pytest.raises(TypeError, match=f"unknown parameter '{knob}'.* for {cls.name};"):
            cls(**{knob: 5})


@pytest.mark.parametrize("cls, params, match", [
    (P5, {"epochs": "10"}, "p5.epochs: a positive integer, got '10'"),
    (P5, {"epochs": 2.0}, "p5.epochs: a positive integer, got 2.0"),
    (P5, {"lr": "1e-3"}, "p5.lr: a number >= 0, got '1e-3'"),
    (P5, {"lr": 0}, "p5.lr: must be > 0, got 0"),
    (P5, {"dropout": 1.5}, "p5.dropout: a number from 0 to 1, got 1.5"),
    (P5, {"warmup": True}, "p5.warmup: a number from 0 to 1, got True"),
    (P5, {"beam_keep_all_finished": "yes"}, "p5.beam_keep_all_finished: true or false"),
    (P5, {"ranking": "greedy"}, "p5.ranking: 'greedy' is not one of exact, beam, free"),
    (P5, {"select_on": "bleu"}, "p5.select_on: 'bleu' is not one of auto, sequential"),
    (P5, {"seq_template": "9-9"}, "p5.seq_template: no template with id '9-9'"),
    (P5, {"unseen_template": 28}, "p5.unseen_template: no template with id 28"),
    (P5, {"patience": 0}, "p5.patience: null or a positive integer, got 0"),
    (P5, {"prefixes_per_user": "all"}, "p5.prefixes_per_user: null or a positive integer"),
    (P5, {"backbone": 5}, "p5.backbone: null or a local directory, got 5"),
    (P5, {"expl_min_length": -1}, "p5.expl_min_length: an integer >= 0, got -1"),
    (P5, {"expl_diversity": -0.5}, "p5.expl_diversity: a number >= 0, got -0.5"),
    (P5, {"expl_beams": 4, "expl_groups": 3},
     r"p5.expl_beams: must be divisible by expl_groups \(3\), got 4"),
    (POD, {"n_prompts": 0}, "pod.n_prompts: a positive integer, got 0"),
    (POD, {"patience": "5"}, "pod.patience: null or a positive integer, got '5'"),
    (PeaPODPool, {"pool_size": 0}, "peapod.pool_size: a positive integer, got 0"),
    (PeaPODPool, {"user_prompt": 1}, "peapod.user_prompt: true or false, got 1"),
    (PeaPODPool, {"cf_epochs": 0}, "peapod.cf_epochs: a positive integer, got 0"),
    (PeaPODKNN, {"user_heads": True}, "peapod-knn.user_heads: a positive integer, got True"),
    (PeaPODKNN, {"user_dim": 10, "user_heads": 4},
     r"peapod-knn.user_dim: must be divisible by user_heads \(4\), got 10"),
    (PeaPODNoUser, {"user_prompt": True}, "peapod-no-user.user_prompt: false .*ablation"),
])  # fmt: skip
def test_a_bad_value_names_the_field(cls: type[Method], params: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match="method_params." + match):
        cls(**params)


def test_null_turns_the_optional_knobs_off() -> None:
    params = P5(patience=None, prefixes_per_user=None, backbone=None).params
    assert [params[k] for k in ("patience", "prefixes_per_user", "backbone")] == [None] * 3
    assert POD(patience=None).params["patience"] is None
    assert P5(profile="paper", backbone="/t5-small").params["backbone"] == "/t5-small"
