"""Reading rankings out of LLM answers: numbers, brackets, titles, and the malformed rest."""

import pytest

from methods.llm_parsing import complete_order, normalise_title, parse_ranking

TITLES = [
    "Toy Story (1995)",
    "Heat (1995)",
    "Usual Suspects, The (1995)",
    "12 Angry Men (1957)",
    "Die Hard (1988)",
    "Die Hard 2 (1990)",
    "Amélie (2001)",
]


@pytest.mark.parametrize("text, order", [
    ("3, 1, 2", [2, 0, 1]),
    ("3 > 1 > 2", [2, 0, 1]),
    ("3\n1\n2", [2, 0, 1]),
    ("Ranking: 2, 7", [1, 6]),
    ("The ranking is 3, 1, 2.", [2, 0, 1]),
    ("[3] > [1] > [2]", [2, 0, 1]),
    ("[3], [1]", [2, 0]),
    ("1. [3] Usual Suspects, The (1995)\n2. [1] Toy Story (1995)", [2, 0]),
    ("1. 3\n2. 1\n3. 2", [2, 0, 1]),  # rank numbers of an enumerated list are dropped
    ("- 4\n- 2", [3, 1]),
    ("Candidate 5 is the best, then candidate 2.", [4, 1]),
])  # fmt: skip
def test_indices(text, order):
    parsed = parse_ranking(text, TITLES)
    assert parsed.order == order and parsed.valid and "index" in parsed.how
    assert parsed.n_duplicates == parsed.n_out_of_range == 0


@pytest.mark.parametrize("text, order, how", [
    ("Heat (1995)\nToy Story (1995)", [1, 0], "title"),  # exact
    ("heat (1995)\nTOY STORY (1995)", [1, 0], "title"),  # case
    ("The Usual Suspects (1995)", [2], "title"),  # MovieLens's trailing article
    ("Amelie (2001)", [6], "title"),  # accents
    ("Toy Story", [0], "title"),  # the year left out
    ("1. Die Hard 2 (1990)\n2. Die Hard (1988)\n3. 12 Angry Men (1957)", [5, 4, 3], "title"),
    ("Heat (1995), Toy Story (1995) and Die Hard (1988)", [1, 0, 4], "title"),  # one line
    ("I'd pick Heat (1995): great cast.", [1], "title"),
    ("Usual Suspect (1995)", [2], "fuzzy"),
    ("Toy Stroy (1995)", [0], "fuzzy"),
])  # fmt: skip
def test_titles(text, order, how):
    parsed = parse_ranking(text, TITLES)
    assert parsed.order == order and how in parsed.how


def test_a_numbered_title_line_prefers_the_title():
    # "3." could be a rank or a candidate number; the title settles it
    assert parse_ranking("3. Heat (1995)\n1. Toy Story (1995)", TITLES).order == [1, 0]
    # a title that matches nothing: the leading number is read as the candidate number
    assert parse_ranking("3. Star Wars (1977)", TITLES).order == [2]


def test_numbers_inside_text_are_not_candidate_numbers():
    # an enumerated list of titles that are not candidates (copied from the history), cut
    # mid-line by the token budget: no rank number, year or "(1" is read as a candidate
    text = "1. Star Wars (1977)\n2. Apollo 13 (1995)\n3. Heat (1995)\n4. Fargo (1"
    parsed = parse_ranking(text, TITLES)
    assert parsed.order == [1] and parsed.n_unread == 3 and parsed.n_out_of_range == 0
    assert parse_ranking("Apollo 13 (1995)", TITLES).order == []
    assert parse_ranking("I like piano. 5 stars", TITLES).order == []
    titles = ["1941 (1979)", "Heat (1995)"]  # a title made of numbers is still a title
    assert parse_ranking("1941 (1979)\n2", titles).order == [0, 1]


def test_duplicates_first_mention_wins():
    parsed = parse_ranking("2, 1, 2, 3, 1", TITLES)
    assert parsed.order == [1, 0, 2] and parsed.n_duplicates == 2
    parsed = parse_ranking("Heat (1995)\nHeat (1995)\nToy Story (1995)", TITLES)
    assert parsed.order == [1, 0] and parsed.n_duplicates == 1


def test_out_of_range_numbers_are_skipped_and_counted():
    parsed = parse_ranking("9, 2, 0, 7, 20", TITLES)
    assert parsed.order == [1, 6] and parsed.n_out_of_range == 3
    parsed = parse_ranking("[8] [1]", TITLES)
    assert parsed.order == [0] and parsed.n_out_of_range == 1


@pytest.mark.parametrize("text", ["", "   \n\t", "I cannot rank movies.", "Sure! Here is:"])
def test_nothing_readable_is_invalid(text):
    parsed = parse_ranking(text, TITLES)
    assert parsed.order == [] and not parsed.valid


def test_partial_and_truncated_answers_keep_what_they_ranked():
    parsed = parse_ranking("Sure, here you go:\n4, 2, 6, 1", TITLES)
    assert parsed.order == [3, 1, 5, 0] and parsed.n_unread == 1
    assert parse_ranking("2, 5, 1, 3, ", TITLES).order == [1, 4, 0, 2]  # cut mid-list
    assert parse_ranking("1. Heat (1995)\n2. Toy Sto", TITLES).order == [1, 0]


def test_complete_order_appends_the_rest_in_candidate_order():
    assert complete_order([2, 0], 5) == [2, 0, 1, 3, 4]
    assert complete_order([], 3) == [0, 1, 2]
    assert complete_order([4, 4, 9, -1, 1], 5) == [4, 1, 0, 2, 3]
    order = complete_order(parse_ranking("7, 3, 7, 11", TITLES).order, len(TITLES))
    assert sorted(order) == list(range(len(TITLES)))  # a permutation: no ties


def test_normalise_title():
    assert normalise_title("Usual Suspects, The (1995)") == normalise_title(
        "the usual suspects (1995)"
    ) == "usual suspects 1995"
    assert normalise_title("  Amélie!!  ") == "amelie"
