"""build_dataset details the loaders rely on."""

import numpy as np
import pandas as pd
import pytest

from benchmark.data.schema import build_dataset


def build(users, items, ts, **kw):
    return build_dataset(
        name="t", source="mem", content_hash="h", format="test",
        users=pd.Series(users), items=pd.Series(items), timestamps=pd.Series(ts), **kw,
    )  # fmt: skip


def test_numeric_ids_sorted_numerically_and_ties_by_row():
    ds = build([2, 10, 2, 2], [30, 4, 100, 4], [5, 1, 5, 1])
    assert ds.user_raw_ids == ["2", "10"]
    assert ds.items["raw_id"].tolist() == ["4", "30", "100"]
    assert ds.sequences()[0].tolist() == [1, 2, 3]  # 4@1, then 30 and 100 tied at 5
    assert ds.interactions["row"].tolist() == [3, 0, 2, 1]


def test_non_ascii_digits_are_not_numeric_ids():
    ds = build(["u", "u"], ["2", "\u0661"], [1, 2])  # ARABIC-INDIC DIGIT ONE
    assert ds.items["raw_id"].tolist() == ["2", "\u0661"]  # first-appearance order


def test_item_info_int_and_str_ids_are_one_item():
    info = pd.DataFrame(
        {"raw_id": [1, "1", 7], "title": ["A", "dup", "Z"], "asin": ["x", "y", "z"]}
    )
    ds = build(["u"], ["1"], [0], item_info=info)
    assert ds.items["raw_id"].tolist() == ["1", "7"]
    assert ds.items["title"].tolist() == ["A", "Z"]
    assert ds.items["asin"].tolist() == ["x", "z"]  # extra columns are carried
    assert ds.items["categories"].tolist() == [None, None]


def test_missing_item_metadata_is_none():
    info = pd.DataFrame({"raw_id": ["b"], "title": [np.nan], "categories": ["C"]})
    ds = build(["u", "u"], ["a", "b"], [0, 1], item_info=info)
    assert ds.items["title"].tolist() == [None, None]
    assert ds.items["categories"].tolist() == [None, "C"]


def test_string_timestamps_are_refused():
    with pytest.raises(TypeError, match="numeric"):
        build(["u", "u"], ["a", "b"], ["10", "9"])


def test_explicit_rows():
    ds = build(["u", "u"], ["a", "b"], [1, 1], rows=pd.Series([4, 9]))
    assert ds.interactions["row"].tolist() == [4, 9]


def test_reviews_are_reindexed_and_unknown_ones_dropped():
    reviews = pd.DataFrame(
        {"user": ["u", "v", "w"], "item": ["b", "a", "a"], "rating": [1.0, 2.0, 3.0],
         "text": ["t1", "t2", "t3"], "summary": [None, None, None], "timestamp": [1, 2, 3]}
    )  # fmt: skip
    ds = build(["u", "v"], ["a", "b"], [0, 1], reviews=reviews)
    assert ds.reviews["user"].tolist() == [0, 1]
    assert ds.reviews["item"].tolist() == [2, 1]
    assert ds.reviews["text"].tolist() == ["t1", "t2"]


def test_empty_dataset_sequences():
    ds = build([], [], np.array([], dtype=np.int64))
    assert ds.sequences() == []
