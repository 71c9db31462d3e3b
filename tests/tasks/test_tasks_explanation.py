import numpy as np
import pandas as pd
import pytest

from benchmark.data.schema import build_dataset
from benchmark.errors import DataError
from tasks.explanation import build_examples, first_sentence, split_examples


def test_first_sentence_rule():
    assert first_sentence("Great. This lotion smells lovely and lasts! Buy it.", 4, 30) == (
        "This lotion smells lovely and lasts!"
    )
    assert first_sentence("Too short. Also short!", 4, 30) is None
    long = " ".join(["word"] * 31) + ". Fine four word sentence."
    assert first_sentence(long, 4, 30) == "Fine four word sentence."
    assert first_sentence(None, 4, 30) is None


def review_dataset(texts):
    n = len(texts)
    users = pd.Series([f"u{i % 4}" for i in range(n)])
    items = pd.Series([f"i{i % 3}" for i in range(n)])
    reviews = pd.DataFrame({"user": users, "item": items, "rating": 5.0, "text": texts,
                            "summary": "", "timestamp": np.arange(n)})
    return build_dataset(name="r", source="mem", content_hash="h", format="test", users=users,
                         items=items, timestamps=pd.Series(np.arange(n)), reviews=reviews)


def test_feature_is_the_most_common_content_word():
    ds = review_dataset([
        "The scent is strong and fresh.",
        "Strong scent, but the bottle leaks badly.",
        "The bottle cap broke after a week.",
        "Ok.",
    ])
    ex = build_examples(ds)
    assert len(ex) == 3  # "Ok." has no 4-30 word sentence
    # scent: 2 docs, strong: 2 docs; scent comes first in sentence 1, strong first in sentence 2
    assert ex["feature"].tolist() == ["scent", "strong", "bottle"]


def test_no_reviews_is_a_clear_error():
    ds = review_dataset(["One two three four."])
    ds.reviews = None
    with pytest.raises(DataError, match="no review text"):
        build_examples(ds)


def test_split_keeps_every_user_and_item_in_training():
    rng = np.random.default_rng(0)
    ex = pd.DataFrame({"user": rng.integers(0, 60, 400), "item": rng.integers(0, 40, 400)})
    part = split_examples(ex, seed=3)
    train = ex[part == "train"]
    assert set(ex["user"]) == set(train["user"])
    assert set(ex["item"]) == set(train["item"])
    assert (part == "test").sum() > 20 and (part == "valid").sum() > 20
    assert part.equals(split_examples(ex, seed=3))
    assert not part.equals(split_examples(ex, seed=4))
