from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data import p5
from benchmark.data.schema import TITLES_FROM_FILE, TITLES_IDGENREC, TITLES_NONE, build_dataset
from tasks.quirks import TIE_BREAK, data_quirks, tie_shares

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def dataset(rows, titles=None):
    users, items, stamps = zip(*rows)
    info = None if titles is None else pd.DataFrame({"raw_id": list(titles),
                                                      "title": list(titles.values())})
    return build_dataset(name="d", source="", content_hash="", format="atomic",
                         users=pd.Series(users), items=pd.Series(items),
                         timestamps=pd.Series(stamps), item_info=info)


ROWS = [
    ("a", 1, 1), ("a", 2, 2), ("a", 3, 2),            # test ties with the one before
    ("b", 1, 5), ("b", 2, 5), ("b", 3, 6),            # validation ties
    ("c", 1, 1), ("c", 2, 2),                         # too short for the split: not counted
    ("d", 4, 3), ("d", 1, 3), ("d", 2, 3), ("d", 3, 3),  # both tie
    ("e", 3, 9), ("e", 2, 8), ("e", 1, 7),            # neither (file order is not time order)
]


def test_tie_shares_count_split_users_only():
    valid, test = tie_shares(dataset(ROWS).interactions)
    assert (valid, test) == (2 / 4, 2 / 4)


def test_tie_shares_without_split_users():
    assert tie_shares(dataset([("a", 1, 1), ("a", 2, 1)]).interactions) == (0.0, 0.0)
    empty = pd.DataFrame({"user": np.empty(0, np.int64), "timestamp": np.empty(0, np.int64)})
    assert tie_shares(empty) == (0.0, 0.0)


def test_data_quirks_record():
    quirks = data_quirks(dataset(ROWS), targets_in_history=1, n_evaluated=4)
    assert quirks == {
        "valid_ties_previous": 0.5,
        "test_ties_previous": 0.5,
        "tie_break": TIE_BREAK,
        "test_in_history": 0.25,
        "titles": TITLES_NONE,
    }
    assert data_quirks(dataset(ROWS), targets_in_history=0, n_evaluated=0)["test_in_history"] == 0


def test_titles_origin(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path))
    assert dataset(ROWS, titles={"1": "One"}).titles_origin == TITLES_FROM_FILE
    assert p5.load(FIXTURES / "p5/tiny").titles_origin == TITLES_FROM_FILE
    for _ in range(2):  # parsed, then read back from the cache
        assert p5.load(FIXTURES / "p5/idgenrec").titles_origin == TITLES_IDGENREC
