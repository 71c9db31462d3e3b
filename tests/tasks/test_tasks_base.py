"""Task variants: names that round-trip, the prompt option, stable descriptions."""

import pytest

from benchmark.errors import ConfigError
from tasks.base import parse_variant, variant_name
from tasks.explanation import EXPLANATION
from tasks.ranking import SEQUENTIAL, TOPN


def test_variant_names_round_trip():
    for options in ({"prompt": "unseen"}, {"mask_history": False, "prompt": "unseen"},
                    {"n_negatives": 49}, {}):
        base, parsed = parse_variant(variant_name("topn", options))
        assert base == "topn" and parsed == options


def test_task_from_its_result_name():
    task = SEQUENTIAL.with_options(parse_variant("sequential+prompt=unseen")[1])
    assert task.name == "sequential+prompt=unseen" and task.prompt == "unseen"
    assert task.describe()["prompt"] == "unseen"
    expl = EXPLANATION.with_options({"prompt": "unseen"})
    assert expl.name == "explanation+prompt=unseen" and expl.describe()["prompt"] == "unseen"


def test_default_prompt_is_not_in_the_description():
    # results written before the option existed keep their config hashes
    for task in (SEQUENTIAL, TOPN, EXPLANATION):
        assert "prompt" not in task.describe()


@pytest.mark.parametrize("bad, match", [
    ("sequential+prompt", "not key=value"),
    ("sequential+=x", "not key=value"),
])
def test_malformed_variant_names(bad, match):
    with pytest.raises(ConfigError, match=match):
        parse_variant(bad)


def test_bad_prompt_values_and_options():
    with pytest.raises(ConfigError, match="not one of seen, unseen"):
        SEQUENTIAL.with_options({"prompt": "zero-shot"})
    with pytest.raises(ConfigError, match="settable: \\['prompt'\\]"):
        EXPLANATION.with_options({"min_words": 2})
