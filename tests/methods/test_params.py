"""The typed parameter declarations (``methods.params``) and the ``defaults`` view derived
from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from benchmark.errors import ConfigError
from benchmark.runner import _check_params
from methods import METHODS
from methods.base import Method
from methods.llmrank import LLMRank
from methods.params import (
    Params,
    choice,
    distinct_positive_ints,
    param,
    positive_int,
    positive_int_or,
    unknown_message,
)
from methods.rpp import RPP, RPPLL


class _Toy(Method):
    name = "toy"

    @dataclass
    class Params(Params):
        size: int = param(3, paper=7, check=positive_int)
        mode: str = param("a", check=choice("a", "b"))
        lengths: list[int] = param([1, 2], check=distinct_positive_ints)
        budget: Any = param("auto", check=positive_int_or("auto", "derived"))

    def fit(self, ctx: Any) -> None:
        pass

    def score_all(self, users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        return torch.zeros(len(users), 1)


def test_params_are_a_plain_dict_of_profile_defaults_then_overrides():
    assert _Toy().params == {"size": 3, "mode": "a", "lengths": [1, 2], "budget": "auto"}
    assert list(_Toy(profile="paper").params) == ["size", "mode", "lengths", "budget"]
    assert _Toy(profile="paper").params["size"] == 7
    assert _Toy(profile="paper", size=9).params["size"] == 9
    assert _Toy(profile="unknown-profile").params["size"] == 3  # as the defaults dicts did


def test_a_list_default_is_not_shared_between_instances():
    first = _Toy()
    first.params["lengths"].append(3)
    assert _Toy().params["lengths"] == [1, 2]


@pytest.mark.parametrize("params, match", [
    ({"size": 0}, "method_params.toy.size: a positive integer, got 0"),
    ({"size": True}, "method_params.toy.size: a positive integer, got True"),
    ({"mode": "c"}, "method_params.toy.mode: 'c' is not one of a, b"),
    ({"lengths": [2, 2]}, r"method_params.toy.lengths: distinct positive integers, got \[2, 2\]"),
    ({"budget": 0}, "method_params.toy.budget: 'auto' \\(derived\\) or a positive integer"),
])  # fmt: skip
def test_a_bad_value_names_the_field(params, match):
    with pytest.raises(ConfigError, match=match):
        _Toy(**params)


def test_an_unknown_name_suggests_the_closest_one():
    with pytest.raises(TypeError, match="unknown parameter 'sise' \\(did you mean 'size'\\?\\) "
                                        "for toy; accepted: budget, lengths, mode, size"):
        _Toy(sise=4)
    with pytest.raises(TypeError, match="did you mean 'history_len'"):
        LLMRank(histroy_len=5)
    assert "did you mean" not in unknown_message("m", ["zzz"], ["history_len"])
    assert unknown_message("m", ["x"], []) == "unknown parameter 'x' for m; m takes no parameters"


def test_the_runner_check_names_the_config_field_and_suggests():
    with pytest.raises(ConfigError, match="method_params.rpp.iteratons: .*did you mean "
                                          "'iterations'"):
        _check_params(RPP, "cpu", {"iteratons": 3})
    with pytest.raises(ConfigError, match="method_params.rpp.iterations: a positive integer"):
        _check_params(RPP, "cpu", {"iterations": 0})


def test_defaults_is_a_read_only_view_of_the_declaration():
    assert dict(RPP.defaults["paper"]) == {"iterations": 15, "history_genres": False}
    assert RPP.defaults["cpu"]["iterations"] == 10
    assert "max_new_tokens" not in RPPLL.defaults["cpu"] and "normalise" in RPPLL.defaults["cpu"]
    assert list(RPPLL.defaults["cpu"])[-1] == "normalise"
    with pytest.raises(TypeError):
        RPP.defaults["cpu"]["iterations"] = 3  # type: ignore[index]


def test_a_defaults_dict_is_refused():
    with pytest.raises(TypeError, match="declare the parameters as a Params dataclass"):

        class _Old(_Toy):
            defaults: ClassVar[dict] = {"cpu": {"x": 1}, "paper": {"x": 2}}


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_builds_under_every_profile(name):
    cls = METHODS.get(name)
    for profile in ("cpu", "paper"):
        method = cls(profile=profile)
        assert method.params == cls.param_defaults(profile)
        assert list(method.params) == [f.name for f in cls.Params.specs()]
