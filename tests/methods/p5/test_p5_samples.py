"""P5 sample builders: no valid/test leak into training, truncation, negatives, interleaving."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from benchmark.data.schema import build_dataset
from methods.p5.samples import (
    Sample,
    direct_samples,
    direct_source,
    direct_yes_no_sources,
    explanation_samples,
    interleave,
    sample_negatives,
    sequential_samples,
    truncate,
)
from methods.p5.templates import SHORT, TEMPLATES, get_template, unseen_templates
from tasks.split import Split

N_ITEMS = 1000
VALID = np.array([901, 902, 903, 904], dtype=np.int64)  # sentinels: nowhere in training
TEST = np.array([951, 952, 953, 954], dtype=np.int64)
SENTINELS = {str(i) for i in [*VALID, *TEST]}


def _split() -> Split:
    train = [
        np.arange(1, 31, dtype=np.int64),  # long: 29 prefixes
        np.array([40, 41, 42], dtype=np.int64),
        np.array([50], dtype=np.int64),  # one item: no sequential training target
        np.array([7, 60, 7, 61, 62], dtype=np.int64),  # repeat consumption
    ]
    return Split(users=np.array([0, 3, 5, 8], dtype=np.int64), train=train, valid=VALID,
                 test=TEST, n_items=N_ITEMS, n_dropped=0)


def _numbers(text: str) -> list[int]:
    """Every item-like number in a text (user ids are written user_N and skipped)."""
    return [int(n) for n in re.findall(r"(?<![\w])\d+", text)]


def _trailing_items(source: str) -> list[int]:
    return [int(x) for x in re.search(r"((?:\d+ ?)+)\W*$", source).group(1).split()]


def _train_of(split: Split) -> dict[int, np.ndarray]:
    return dict(zip(split.users.tolist(), split.train))


# --- sequential ----------------------------------------------------------------------------


@pytest.mark.parametrize("prefixes", [None, 2])
def test_sequential_training_never_sees_valid_or_test_items(prefixes):
    split = _split()
    train = _train_of(split)
    samples = sequential_samples(split, stage="train", max_history=50,
                                 rng=np.random.default_rng(0), prefixes_per_user=prefixes)
    assert samples
    for s in samples:
        assert not SENTINELS & set(re.findall(r"\d+", s.source))
        assert s.target not in SENTINELS and s.target == str(s.target_item)
        assert s.target_item in train[s.user].tolist()
        assert set(_numbers(s.source)) <= set(train[s.user].tolist())
        assert s.family == "sequential" and get_template(s.template_id).seen


def test_sequential_training_every_prefix_once():
    split = _split()
    samples = sequential_samples(split, stage="train", rng=np.random.default_rng(1))
    per_user = Counter(s.user for s in samples)
    assert per_user == {0: 29, 3: 2, 8: 4}  # user 5 has a single training item
    assert [s.target_item for s in samples if s.user == 0] == list(range(2, 31))


def test_sequential_history_truncation_keeps_most_recent():
    split = _split()
    t = get_template("2-5")  # history is the source's tail
    samples = sequential_samples(split, stage="train", max_history=3,
                                 rng=np.random.default_rng(0), templates=[t])
    for s in samples:
        seq = _train_of(split)[s.user].tolist()
        hist = _trailing_items(s.source)
        j = [k for k in range(1, len(seq)) if seq[k] == s.target_item][0]
        if s.user != 8:  # unique items: the position is known
            assert hist == seq[max(0, j - 3) : j]
        assert len(hist) <= 3
    first = [s for s in samples if s.user == 0]
    assert _trailing_items(first[0].source) == [1]
    assert _trailing_items(first[-1].source) == [27, 28, 29]
    assert truncate(np.arange(10), 4).tolist() == [6, 7, 8, 9]
    with pytest.raises(ValueError):
        truncate(np.arange(3), 0)


def test_sequential_prefix_subset_is_seeded_and_bounded():
    split = _split()
    a = sequential_samples(split, stage="train", rng=np.random.default_rng(3), prefixes_per_user=3)
    b = sequential_samples(split, stage="train", rng=np.random.default_rng(3), prefixes_per_user=3)
    c = sequential_samples(split, stage="train", rng=np.random.default_rng(4), prefixes_per_user=3)
    assert a == b and a != c
    assert Counter(s.user for s in a) == {0: 3, 3: 2, 8: 3}
    assert len({s.target_item for s in a if s.user == 0}) == 3


def test_sequential_eval_uses_protocol_histories_and_targets():
    split = _split()
    t = get_template("2-5")
    valid = sequential_samples(split, stage="valid", templates=[t], max_history=4)
    assert [s.user for s in valid] == [0, 3, 5, 8]
    assert [s.target_item for s in valid] == VALID.tolist()
    assert _trailing_items(valid[0].source) == [27, 28, 29, 30]
    assert _trailing_items(valid[2].source) == [50]
    test = sequential_samples(split, stage="test", templates=[t], max_history=4)
    assert [s.target for s in test] == [str(i) for i in TEST]
    assert _trailing_items(test[0].source) == [28, 29, 30, 901]
    # default: every template (seen and unseen), one sample per user each
    every = sequential_samples(split, stage="test")
    assert Counter(s.template_id for s in every) == {t.id: 4 for t in TEMPLATES["sequential"]}
    short = sequential_samples(split, stage="test", templates=[SHORT["sequential"]])
    assert short[1].source == "user_3 ; 40 41 42 902"


def test_training_builders_refuse_held_out_short_and_foreign_templates():
    split = _split()
    rng = np.random.default_rng(0)
    for family, build in (("sequential", sequential_samples), ("direct", direct_samples)):
        for bad in (unseen_templates(family)[0], SHORT[family]):
            with pytest.raises(ValueError, match="held out"):
                build(split, stage="train", rng=rng, templates=[bad])
    with pytest.raises(ValueError, match="not sequential"):
        sequential_samples(split, stage="train", rng=rng, templates=[get_template("5-1")])
    with pytest.raises(ValueError, match="pass rng"):
        sequential_samples(split, stage="train")
    with pytest.raises(ValueError, match="stage"):
        sequential_samples(split, stage="dev")


def test_default_training_templates_cover_seen_and_never_unseen():
    split = _split()
    rng = np.random.default_rng(0)
    seq = [s for _ in range(5) for s in sequential_samples(split, stage="train", rng=rng)]
    direct = [s for _ in range(40) for s in direct_samples(split, stage="train", rng=rng,
                                                            n_candidates=5)]
    for family, samples in (("sequential", seq), ("direct", direct)):
        used = {s.template_id for s in samples}
        assert used == {t.id for t in TEMPLATES[family] if t.seen}


# --- direct --------------------------------------------------------------------------------


def test_direct_training_negatives_never_interacted_and_positives_from_train():
    split = _split()
    train = _train_of(split)
    rng = np.random.default_rng(5)
    samples = [s for _ in range(30) for s in direct_samples(split, stage="train", rng=rng,
                                                             n_candidates=20)]
    n_yes = n_no = n_choose = 0
    for s in samples:
        seq = set(train[s.user].tolist())
        t = get_template(s.template_id)
        if t.style == "yes_no":
            item = int(re.search(r"item (\d+)", s.source).group(1))
            if s.target == "yes":
                n_yes += 1
                assert item in seq
            else:
                n_no += 1
                assert s.target == "no" and item not in seq
            assert s.target_item is None
        else:
            n_choose += 1
            cands = [int(x) for x in re.search(r"(?:candidates: |items |following items should "
                                               r"be recommended next\? )((?:\d+ ?)+)",
                                               s.source, re.I).group(1).split()]
            assert len(cands) == len(set(cands)) == 20
            assert s.target_item in seq and str(s.target_item) == s.target
            assert s.target_item in cands
            assert not (set(cands) - {s.target_item}) & seq
        assert s.target not in SENTINELS
    assert n_yes == n_no > 0 and n_choose > 0


def test_direct_training_history_precedes_positive():
    split = _split()
    t = get_template("5-6")  # history then candidates
    rng = np.random.default_rng(2)
    for _ in range(20):
        samples = direct_samples(split, stage="train", rng=rng, n_candidates=3, templates=[t],
                                 max_history=2)
        assert sorted({s.user for s in samples}) == [0, 3, 8]  # user 5: one item, no history
        for s in direct_samples(split, stage="train", rng=rng, n_candidates=3, templates=[t],
                                max_history=2):
            seq = _train_of(split)[s.user].tolist()
            hist = [int(x) for x in re.search(r"with ((?:\d+ ?)+)\.", s.source).group(1).split()]
            j = seq.index(s.target_item)
            if s.user == 0:
                assert hist == seq[max(0, j - 2) : j]
            assert 1 <= len(hist) <= 2


def test_direct_is_deterministic_and_checks_capacity():
    split = _split()
    a = direct_samples(split, stage="train", rng=np.random.default_rng(9), n_candidates=10)
    b = direct_samples(split, stage="train", rng=np.random.default_rng(9), n_candidates=10)
    assert a == b
    with pytest.raises(ValueError, match="negatives"):
        sample_negatives(set(range(1, 10)), 10, 2, np.random.default_rng(0))
    negs = sample_negatives({1, 2, 3}, 10, 7, np.random.default_rng(0))
    assert sorted(negs) == list(range(4, 11))


def test_direct_eval_sources_from_given_candidates():
    split = _split()
    cands = np.array([[5, 901, 6], [7, 902, 8], [903, 9, 10], [11, 12, 904]])
    samples = direct_samples(split, stage="valid", templates=[get_template("5-8")],
                             candidates=cands)
    assert [s.target for s in samples] == [str(v) for v in VALID]
    assert "5 901 6" in samples[0].source and "user_0" in samples[0].source
    default = direct_samples(split, stage="valid", candidates=cands)  # choose-style ones
    assert [s.template_id for s in default[::4]] == ["5-5", "5-6", "5-7", "5-8"]
    short = direct_samples(split, stage="valid", templates=[SHORT["direct"]], candidates=cands)
    assert short[2].source == "user_5 ; 903 9 10"
    with pytest.raises(ValueError, match="yes/no"):
        direct_samples(split, stage="valid", templates=[get_template("5-1")], candidates=cands)
    with pytest.raises(ValueError, match="not a candidate"):
        direct_samples(split, stage="test", templates=[get_template("5-8")], candidates=cands)
    with pytest.raises(ValueError, match="candidates"):
        direct_samples(split, stage="test", templates=[get_template("5-8")])
    src = direct_source(get_template("5-6"), 4, np.arange(1, 40), [3, 2], max_history=2)
    assert "with 38 39." in src and src.endswith("3 2")
    with pytest.raises(ValueError, match="yes/no"):
        direct_source(get_template("5-2"), 4, np.arange(3), [3, 2])
    with pytest.raises(KeyError, match="history"):
        direct_source(get_template("5-6"), 4, np.array([], dtype=np.int64), [3, 2])
    qs = direct_yes_no_sources(get_template("5-2"), 4, np.array([1, 2]), [30, 31])
    assert len(qs) == 2 and "item 30" in qs[0] and "item 31" in qs[1] and "1 2" in qs[0]


# --- explanation ---------------------------------------------------------------------------


def _explanation_data():
    items = pd.Series(["1", "2", "3", "1"])
    users = pd.Series(["a", "b", "c", "c"])
    info = pd.DataFrame({"raw_id": ["1", "2", "3"], "title": ["Rose Soap", None, "Shampoo"],
                         "categories": [None, None, None]})
    ds = build_dataset(name="e", source="mem", content_hash="h", format="test", users=users,
                       items=items, timestamps=pd.Series(np.arange(4)), item_info=info)
    examples = pd.DataFrame({
        "user": [0, 1, 2, 2],
        "item": [1, 2, 3, 1],
        "explanation": ["Smells of fresh roses.", "It broke after a day.",
                        "My hair feels soft now.", "Lather is rich and thick."],
        "feature": ["roses", "", "hair", "lather"],
    }, index=[10, 11, 12, 13])
    parts = pd.Series(["train", "train", "test", "train"], index=examples.index)
    return ds, examples, parts


def test_explanation_training_uses_available_fields_and_seen_templates():
    ds, examples, parts = _explanation_data()
    rng = np.random.default_rng(0)
    samples = [s for _ in range(60) for s in explanation_samples(
        examples, parts, part="train", dataset=ds, rng=rng)]
    assert len(samples) == 180
    by_id = {t.id: t for t in TEMPLATES["explanation"]}
    for s in samples:
        t = by_id[s.template_id]
        assert t.seen and s.family == "explanation" and s.target_item is None
        if s.user == 1:  # item 2 has no title and the example no feature
            assert not t.needs & {"title", "feature"}
        assert s.target in examples["explanation"].tolist()
    assert {s.template_id for s in samples} == {t.id for t in TEMPLATES["explanation"] if t.seen}
    titled = [s for s in samples if "title" in by_id[s.template_id].needs]
    assert all("Rose Soap" in s.source for s in titled)
    featured = [s for s in samples if "feature" in by_id[s.template_id].needs and s.user == 0]
    assert featured and all("roses" in s.source for s in featured)
    # no dataset: title templates never used
    plain = explanation_samples(examples, parts, part="train", rng=np.random.default_rng(1))
    assert plain == explanation_samples(examples, parts, part="train",
                                        rng=np.random.default_rng(1))
    assert all("title" not in by_id[s.template_id].needs for s in plain)


def test_explanation_eval_every_template_or_clear_error():
    ds, examples, parts = _explanation_data()
    test = explanation_samples(examples, parts, part="test", dataset=ds)
    assert len(test) == len(TEMPLATES["explanation"])  # the test example has title and feature
    no_titles = explanation_samples(examples, parts, part="test")
    assert [s.template_id for s in no_titles] == ["3-1", "3-2", "3-5", "3-6"]
    assert all(s.target == "My hair feels soft now." and s.user == 2 for s in test)
    held = explanation_samples(examples, parts, part="test", templates=unseen_templates(
        "explanation"))
    assert held[0].source == "Give a one-sentence reason from user_2 about item 3."
    short = explanation_samples(examples, parts, part="test", templates=[SHORT["explanation"]])
    assert short[0].source == "user_2 ; 3"
    parts2 = pd.Series(["train", "valid", "train", "train"], index=examples.index)
    with pytest.raises(ValueError, match=r"3-2 needs \['feature'\]"):
        explanation_samples(examples, parts2, part="valid", templates=[get_template("3-2")])
    assert {s.template_id for s in explanation_samples(examples, parts2, part="valid")} == {
        "3-1", "3-6"}
    with pytest.raises(ValueError, match="aligned"):
        explanation_samples(examples, parts.reset_index(drop=True), part="test")


# --- interleaving --------------------------------------------------------------------------


def _fake(family: str, n: int) -> list[Sample]:
    return [Sample(f"{family} {i}", "t", family, "x", i) for i in range(n)]


def test_interleave_alternates_and_covers_each_sample_once():
    data = {"sequential": _fake("sequential", 23), "direct": _fake("direct", 10),
            "explanation": _fake("explanation", 4)}
    batches = interleave(data, np.random.default_rng(0), batch_size=4)
    assert all(len({s.family for s in b}) == 1 for b in batches)
    assert all(1 <= len(b) <= 4 for b in batches)
    flat = [s for b in batches for s in b]
    assert Counter(flat) == Counter(s for ss in data.values() for s in ss)
    fams = [b[0].family for b in batches]
    assert fams[:7] == ["sequential", "direct", "explanation", "sequential", "direct",
                        "sequential", "direct"]
    # consecutive batches differ while more than one family has batches left
    remaining = Counter(fams)
    for a, b in zip(fams, fams[1:]):
        remaining[a] -= 1
        if sum(1 for v in remaining.values() if v > 0) > 1:
            assert a != b
    again = interleave(data, np.random.default_rng(0), batch_size=4)
    other = interleave(data, np.random.default_rng(1), batch_size=4)
    assert again == batches and other != batches
    # shuffled within family: not the input order
    assert [s.user for s in flat if s.family == "sequential"] != list(range(23))
    assert interleave({}, np.random.default_rng(0), batch_size=4) == []


def test_interleave_length_pool_groups_similar_lengths_and_keeps_every_sample():
    rng = np.random.default_rng(0)
    data = {"sequential": [Sample("w " * int(n), "t", "sequential", "x", i)
                           for i, n in enumerate(rng.integers(1, 60, size=200))]}
    plain = interleave(data, np.random.default_rng(1), batch_size=8)
    grouped = interleave(data, np.random.default_rng(1), batch_size=8, length_pool=5)
    flat = [s for b in grouped for s in b]
    assert Counter(flat) == Counter(data["sequential"])

    def padding(batches: list[list[Sample]]) -> int:
        return sum(max(len(s.source) for s in b) * len(b) - sum(len(s.source) for s in b)
                   for b in batches)

    assert padding(grouped) < padding(plain) / 3
    # batch order is shuffled, not sorted by length within each pool
    longest = [max(len(s.source) for s in b) for b in grouped]
    assert longest != sorted(longest) and longest[:5] != sorted(longest[:5])
    assert grouped == interleave(data, np.random.default_rng(1), batch_size=8, length_pool=5)
    with pytest.raises(ValueError, match="length_pool"):
        interleave(data, rng, batch_size=8, length_pool=0)
