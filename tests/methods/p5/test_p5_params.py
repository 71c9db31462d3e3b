"""The P5 family's parameters: each profile's defaults (the values the committed results ran
with, so config hashes and results stay valid) and the checks of user values."""

from __future__ import annotations

from typing import Any

import pytest

from methods.base import Method
from methods.p5.p5 import P5
from methods.p5.peapod import PeaPODKNN, PeaPODNoUser, PeaPODPool
from methods.p5.pod import POD

#: P5's ``cpu`` defaults, in order, as written in the ``defaults`` dict before ``Params``
P5_CPU: dict[str, Any] = {
    "ranking": "exact", "num_beams": 20, "beam_keep_all_finished": False, "max_history": 20,
    "valid_users": 200, "seq_template": "2-1", "unseen_template": "2-8", "expl_template": "3-1",
    "unseen_expl_template": "3-6", "direct_candidates": 20, "expl_beams": 4, "expl_groups": 1,
    "expl_diversity": 0.0, "expl_min_length": 10, "expl_max_length": 40, "eval_batch_size": 64,
    "backbone": None, "select_on": "auto", "d_model": 128, "d_ff": 512, "num_layers": 2,
    "num_heads": 2, "dropout": 0.1, "vocab_size": 3000, "epochs": 10, "patience": None,
    "batch_size": 32, "lr": 1e-3, "weight_decay": 0.01, "warmup": 0.05, "clip": 1.0,
    "prefixes_per_user": 4, "max_input_len": 160, "max_target_len": 48,
}  # fmt: skip
#: what the ``paper`` profile wrote over them (the ``defaults["paper"]`` dict)
P5_PAPER = {"epochs": 10, "batch_size": 32, "prefixes_per_user": None, "max_input_len": 512,
            "max_target_len": 64, "valid_users": 1000, "expl_beams": 21, "expl_groups": 3,
            "expl_min_length": 10}  # fmt: skip
POD_CPU = {**P5_CPU, "patience": 5, "n_prompts": 3}
POD_PAPER = {**P5_PAPER, "lr": 5e-4, "batch_size": 64, "epochs": 30, "n_prompts": 3}
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
