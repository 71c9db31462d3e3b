"""The generation budget of ranking answers: derived from the list, readable in full."""

import pytest

from benchmark.errors import ConfigError
from methods.llm_budget import (
    END_MARK,
    LEAD_IN_TOKENS,
    answer_budget,
    full_answer,
)
from methods.llm_parsing import parse_ranking
from methods.llmrank import LLMRank
from methods.rpp import RPP

TITLES = ["Toy Story (1995)", "Heat (1995)", "Usual Suspects, The (1995)", "Fargo (1996)",
          "Twelve Monkeys (1995)", "Babe (1995)"]


def words(text: str) -> list[int]:
    return [len(w) for w in text.split()]


def test_the_full_answer_is_one_the_parser_reads_completely():
    answer = full_answer(TITLES)
    assert answer.endswith(f"\n{END_MARK}")
    # generation stops at the end mark, so the parser sees the lines before it
    parsed = parse_ranking(answer[: answer.index(END_MARK)], TITLES)
    assert parsed.order == list(range(len(TITLES))) and parsed.valid


def test_budget_covers_the_full_answer_and_grows_with_the_list():
    budgets = [answer_budget(words, TITLES[:n]) for n in range(1, len(TITLES) + 1)]
    assert budgets == sorted(budgets) and len(set(budgets)) == len(budgets)
    for n, budget in enumerate(budgets, start=1):
        assert budget >= len(words(full_answer(TITLES[:n]))) + LEAD_IN_TOKENS


def test_budget_follows_title_length():
    short = answer_budget(words, ["Heat"] * 4)
    long = answer_budget(words, ["The Good, the Bad and the Ugly (1966)"] * 4)
    assert long > short


@pytest.mark.parametrize("method", [LLMRank, RPP])
@pytest.mark.parametrize("value", ["80", 0, -3, True, 1.5, None])
def test_bad_budgets_are_refused(method, value):
    with pytest.raises(ConfigError, match=f"method_params.{method.name}.max_new_tokens"):
        method(max_new_tokens=value)


@pytest.mark.parametrize("method", [LLMRank, RPP])
@pytest.mark.parametrize("value", ["auto", 1, 300])
def test_good_budgets_pass(method, value):
    assert method(max_new_tokens=value).params["max_new_tokens"] == value
