import numpy as np
import pandas as pd
import pytest

from benchmark.data.schema import build_dataset
from benchmark.errors import DataError, ResultsError
from benchmark.metrics.text import text_metrics
from tasks.base import EvalContext
from tasks.explanation import (
    EXPLANATION,
    EXPLANATION_SPLIT_RULE,
    build_examples,
    first_sentence,
    normalise_text,
    prepare,
    split_checks,
    split_examples,
)
from tasks.split import CHRONOLOGY_RULE, leave_one_out


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
    assert ex["copies"].tolist() == [1, 1, 1]
    # scent: 2 docs, strong: 2 docs; scent comes first in sentence 1, strong first in sentence 2
    assert ex["feature"].tolist() == ["scent", "strong", "bottle"]


def test_no_reviews_is_a_clear_error():
    ds = review_dataset(["One two three four."])
    ds.reviews = None
    with pytest.raises(DataError, match="no review text"):
        build_examples(ds)


def test_split_keeps_every_item_in_training():
    rng = np.random.default_rng(0)
    ex = pd.DataFrame({"user": rng.integers(0, 60, 400), "item": rng.integers(0, 40, 400),
                       "explanation": [f"distinct sentence number {i}" for i in range(400)]})
    part = split_examples(ex, seed=3)
    train = ex[part == "train"]
    assert set(ex["item"]) == set(train["item"])
    assert (part == "test").sum() > 20 and (part == "valid").sum() > 20
    assert part.equals(split_examples(ex, seed=3))
    assert not part.equals(split_examples(ex, seed=4))


# ---- duplicates, the grouped split, the cross-task guard ---------------------------------------
def duplicated_reviews(n_users: int = 40, n_items: int = 12, seed: int = 0):
    """Reviews as Amazon 2018 has them: each user repeats one text across product variants
    (with changed case and spacing), and a few generic sentences are shared between users."""
    rng = np.random.default_rng(seed)
    users, items, texts, stamps = [], [], [], []
    t = 0
    for u in range(n_users):
        own = f"User {u} finds this cream soft and light on the skin."
        for k, i in enumerate(rng.choice(n_items, size=6, replace=False)):
            users.append(f"u{u}")
            items.append(f"i{i}")
            if k < 3:  # the same text on three variants, re-spaced and re-cased
                texts.append(own if k != 1 else "  " + own.upper().replace(" ", "  "))
            elif k == 3:
                texts.append("It works well for my dry skin.")  # shared by every user
            else:
                texts.append(f"Review {u}-{k} about item {i} with its own words.")
            stamps.append(t)
            t += 1
    reviews = pd.DataFrame({"user": users, "item": items, "rating": 5.0, "text": texts,
                            "summary": "", "timestamp": stamps})
    return build_dataset(name="dup", source="mem", content_hash="h", format="test",
                         users=pd.Series(users), items=pd.Series(items),
                         timestamps=pd.Series(stamps), reviews=reviews)


def _per_review_split(examples, seed):
    """The rule this suite used before: a seeded split per review, copies split apart."""
    order = np.random.default_rng(seed).permutation(len(examples))
    part = np.array(["train"] * len(examples), dtype=object)
    part[order[: len(examples) // 5]] = "test"
    return pd.Series(part, index=examples.index)


def test_copies_of_a_users_text_collapse_to_the_earliest():
    ds = duplicated_reviews()
    ex = build_examples(ds)
    # per user: one own text (3 copies), the shared sentence, 2 distinct reviews
    assert len(ex) == 40 * 4
    own = ex[ex["copies"] == 3]
    assert len(own) == 40 and (ex["copies"].sum() == 40 * 6)
    # the earliest copy stands for the others (timestamps rise with the review row)
    assert own["explanation"].str.startswith("User ").all()
    assert ex.index.tolist() == list(range(len(ex)))
    assert normalise_text("  A  b\tC ") == "a b c"


def test_grouped_split_leaves_no_reference_in_training():
    ds = duplicated_reviews()
    raw = pd.DataFrame({"user": ds.reviews["user"], "item": ds.reviews["item"],
                        "explanation": ds.reviews["text"].str.strip()})
    # the fixture does leak under a per-review split of the raw reviews ...
    old = _per_review_split(raw, seed=0)
    assert split_checks(raw, old)["verbatim_overlap"]["test"] > 0.5
    # ... and not under the grouped split of the collapsed examples, for any seed
    ex = build_examples(ds)
    for seed in range(5):
        part = split_examples(ex, seed)
        checks = split_checks(ex, part)
        assert checks["verbatim_overlap"] == {"valid": 0.0, "test": 0.0}
        assert checks["items_without_training"] == {"valid": 0, "test": 0}
        train_text = set(ex["explanation"][part == "train"].map(normalise_text))
        test_text = ex["explanation"][part == "test"].map(normalise_text)
        assert (part == "test").sum() > 0 and not any(t in train_text for t in test_text)
        # a shared sentence is one group: all its copies land in one part
        shared = part[ex["explanation"] == "It works well for my dry skin."]
        assert shared.nunique() == 1


def test_split_checks_can_fail():
    ex = pd.DataFrame({"user": [0, 1, 2, 3], "item": [0, 0, 1, 2],
                       "explanation": ["same words here now"] * 2 + ["other a b c", "x y z w"]})
    part = pd.Series(["train", "test", "train", "valid"])
    checks = split_checks(ex, part)
    assert checks["verbatim_overlap"] == {"valid": 0.0, "test": 1.0}
    assert checks["items_without_training"] == {"valid": 1, "test": 0}
    assert checks["users_without_training"] == {"valid": 1, "test": 1}


def test_no_train_examples_never_train_and_coverage_still_holds():
    rng = np.random.default_rng(1)
    n = 300
    ex = pd.DataFrame({"user": rng.integers(0, 50, n), "item": rng.integers(0, 30, n),
                       "explanation": [f"sentence {i % 250} is here" for i in range(n)]})
    no_train = rng.random(n) < 0.3
    part = split_examples(ex, seed=2, no_train=no_train)
    assert not (no_train & (part == "train").to_numpy()).any()
    assert (part[no_train] != "train").all() and (part == "held-out").sum() > 0
    checks = split_checks(ex, part)
    assert checks["items_without_training"] == {"valid": 0, "test": 0}
    assert checks["verbatim_overlap"] == {"valid": 0.0, "test": 0.0}


def test_prepare_guards_sequential_targets_and_keeps_the_rule():
    ds = duplicated_reviews(n_users=60)
    split = leave_one_out(ds)
    for seed in range(3):
        data = prepare(ds, split, seed)
        ex, parts = data.examples, data.parts
        held = set(zip(split.users.tolist(), split.valid.tolist()))
        held |= set(zip(split.users.tolist(), split.test.tolist()))
        pairs = list(zip(ex["user"].tolist(), ex["item"].tolist()))
        train = (parts == "train").to_numpy()
        assert not any(p in held for p, t in zip(pairs, train) if t)  # the guard
        assert (parts == "held-out").sum() > 0
        checks = split_checks(ex, parts)  # the recorded rule holds after the guard
        assert checks["items_without_training"] == {"valid": 0, "test": 0}
        # users may lack a training sentence, and the record counts exactly those
        train_users = set(ex["user"][parts == "train"])
        lacking = sum(u not in train_users for u in ex["user"][parts == "test"])
        assert checks["users_without_training"]["test"] == lacking
        assert checks["verbatim_overlap"] == {"valid": 0.0, "test": 0.0}
        assert (parts == "test").sum() > 0


def test_covering_users_too_leaves_no_cold_user_and_fewer_test_examples():
    rng = np.random.default_rng(4)
    n_texts = rng.integers(1, 4, 120)  # most users write one or two distinct sentences
    users = np.repeat(np.arange(120), n_texts)
    ex = pd.DataFrame({"user": users, "item": rng.integers(0, 10, users.size),
                       "explanation": [f"sentence {i} of its user" for i in range(users.size)]})
    items_only = split_examples(ex, seed=1)
    both = split_examples(ex, seed=1, cover_users=True)
    assert split_checks(ex, both)["users_without_training"] == {"valid": 0, "test": 0}
    assert split_checks(ex, items_only)["users_without_training"]["test"] > 0
    assert (both == "test").sum() < (items_only == "test").sum()


class Oracle:
    """Writes the reference itself (or, ``short``, one explanation too few)."""

    name = "oracle"

    def __init__(self, data, short=False):
        self.texts = dict(zip(zip(data.examples["user"], data.examples["item"]),
                              data.examples["explanation"]))
        self.short = short

    def generate_explanations(self, users, items, features):
        out = [self.texts[(u, i)] for u, i in zip(users.tolist(), items.tolist())]
        return out[:-1] if self.short else out


def explanation_context(tmp_path, seed=0):
    ds = duplicated_reviews(n_users=60)
    split = leave_one_out(ds)
    return EvalContext(dataset=ds, split=split, seed=seed, task_dir=tmp_path / "explanation",
                       results_dir=tmp_path, explanation=prepare(ds, split, seed))


def test_evaluate_scores_the_test_examples_and_logs_the_texts(tmp_path):
    ctx = explanation_context(tmp_path)
    ev = EXPLANATION.evaluate(Oracle(ctx.explanation), ctx)
    test = ctx.explanation.part("test")
    assert ev.n == len(test) > 0
    assert np.array_equal(ev.per_user["users"], test.index.to_numpy())
    assert ev.per_user["hypothesis"].tolist() == ev.per_user["reference"].tolist()
    corpus, _ = text_metrics(ev.per_user["hypothesis"].tolist(),
                             ev.per_user["reference"].tolist())
    assert ev.metrics == {m: float(corpus[m]) for m in EXPLANATION.metrics}
    assert ev.metrics["rouge-1"] == pytest.approx(100.0)
    assert ev.fields == {}
    proto = EXPLANATION.protocol(ctx, ev)
    assert proto["split"] == EXPLANATION_SPLIT_RULE and proto["chronology"] == CHRONOLOGY_RULE
    assert proto["examples"]["test"] == ev.n and proto["tie_rule"] is None
    assert proto["verbatim_overlap"] == {"valid": 0.0, "test": 0.0}


def test_evaluate_refuses_a_wrong_number_of_texts_and_missing_reviews(tmp_path):
    ctx = explanation_context(tmp_path)
    with pytest.raises(ResultsError, match="returned"):
        EXPLANATION.evaluate(Oracle(ctx.explanation, short=True), ctx)
    ctx.explanation = None
    with pytest.raises(ResultsError, match="no review examples"):
        EXPLANATION.evaluate(Oracle(explanation_context(tmp_path).explanation), ctx)
