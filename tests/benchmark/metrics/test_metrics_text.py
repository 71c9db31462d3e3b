import math
from collections import Counter

import numpy as np
import pytest
import sacrebleu

from benchmark.metrics.text import (
    TEXT_METRICS,
    bleu_p5,
    rouge_p5,
    rouge_score_package,
    sacrebleu_standard,
    sentence_bleu_p5,
    text_metrics,
)


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def reference_corpus_bleu(hyps: list[str], refs: list[str], max_order: int) -> tuple[float, float]:
    """Independent corpus BLEU (x100) in the TF NMT ``compute_bleu`` form, plus its brevity penalty.

    Clipped n-gram matches and possible n-grams are summed over the corpus; score is the
    geometric mean of the precisions (uniform weights over orders 1..max_order) times
    BP = exp(1 - r/c) when c < r; 0 as soon as any order has precision 0.
    """
    matches = [0] * max_order
    possible = [0] * max_order
    c = r = 0
    for hyp, ref in zip(hyps, refs):
        ht, rt = hyp.split(), ref.split()
        c += len(ht)
        r += len(rt)
        for n in range(1, max_order + 1):
            matches[n - 1] += sum((_ngrams(ht, n) & _ngrams(rt, n)).values())
            possible[n - 1] += max(len(ht) - n + 1, 0)
    precisions = [m / p if p > 0 else 0.0 for m, p in zip(matches, possible)]
    bp = 1.0 if c >= r else (math.exp(1.0 - r / c) if c > 0 else 0.0)
    if min(precisions) == 0.0:
        return 0.0, bp
    geo = math.exp(sum(math.log(p) for p in precisions) / max_order)
    return 100.0 * bp * geo, bp


# Several sentences, 4-gram matches present, hypotheses at least as long as references.
CORPUS_MULTI = (
    [
        "the battery life is great and the screen is bright",
        "this coffee maker brews a strong cup of coffee",
        "the shoes fit well but the laces are short",
    ],
    [
        "the battery life is great and the screen is very bright",
        "this coffee maker makes a strong cup of coffee",
        "the shoes fit well and the laces are long",
    ],
)
# Unigram and bigram matches but no 4-gram match anywhere: BLEU-4 must be exactly 0.
CORPUS_NO_4GRAM = (
    ["great product for the price", "nice color but small size"],
    ["the price is great for this product", "small size but nice color overall"],
)
# Hypotheses much shorter than references: brevity penalty < 1 with non-zero precisions.
CORPUS_SHORT = (
    ["the room was clean and quiet", "good food"],
    [
        "the room was clean and quiet and the staff were friendly",
        "good food and good service at a fair price",
    ],
)


def _random_corpus(seed: int, size: int = 40) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(8)]  # small vocabulary so higher-order n-grams do match
    hyps, refs = [], []
    for _ in range(size):
        ref = list(rng.choice(vocab, size=int(rng.integers(3, 12))))
        hyp = ref.copy()
        for i in range(len(hyp)):
            if rng.random() < 0.3:
                hyp[i] = str(rng.choice(vocab))
        hyp = hyp[: int(rng.integers(1, len(hyp) + 1))] if rng.random() < 0.3 else hyp
        hyps.append(" ".join(hyp))
        refs.append(" ".join(ref))
    return hyps, refs


@pytest.mark.parametrize(
    "corpus",
    [CORPUS_MULTI, CORPUS_NO_4GRAM, CORPUS_SHORT, _random_corpus(0), _random_corpus(1)],
    ids=["multi", "no-4gram", "short", "random0", "random1"],
)
@pytest.mark.parametrize("order", [1, 2, 4])
def test_bleu_p5_equals_independent_formula(corpus, order):
    hyps, refs = corpus
    expected, _ = reference_corpus_bleu(hyps, refs, order)
    assert bleu_p5(hyps, refs, order) == pytest.approx(expected, abs=1e-9, rel=0)


def test_bleu_fixture_corpora_exercise_the_intended_branches():
    # guards against the equality test passing vacuously (e.g. everything 0)
    assert reference_corpus_bleu(*CORPUS_MULTI, 4)[0] > 10
    assert reference_corpus_bleu(*CORPUS_NO_4GRAM, 4)[0] == 0.0
    assert bleu_p5(*CORPUS_NO_4GRAM, 4) == 0.0
    assert bleu_p5(*CORPUS_NO_4GRAM, 1) > 50
    score, bp = reference_corpus_bleu(*CORPUS_SHORT, 4)
    assert bp < 0.5 and score > 0
    assert reference_corpus_bleu(*_random_corpus(0), 4)[0] > 0


def test_bleu_is_corpus_level_not_mean_of_sentences():
    hyps, refs = CORPUS_MULTI
    per_sentence = np.mean([bleu_p5([h], [r], 4) for h, r in zip(hyps, refs)])
    assert bleu_p5(hyps, refs, 4) != pytest.approx(per_sentence)


def test_p5_bleu_uses_whitespace_tokens_unlike_standard_sacrebleu():
    hyps, refs = ["it is really great!"], ["it is really great !"]
    # whitespace tokens: "great!" matches neither "great" nor "!", so 3 of 4 unigrams match;
    # c = 4 < r = 5 so BP = exp(1 - 5/4) -> 75 * exp(-0.25) = 58.41
    assert bleu_p5(hyps, refs, 1) == pytest.approx(75.0 * math.exp(-0.25))
    # 13a splits the "!" off, so the standard score sees identical strings
    assert sacrebleu_standard(hyps, refs) == pytest.approx(100.0)
    assert sacrebleu_standard(hyps, refs) == sacrebleu.corpus_bleu(hyps, [refs]).score


def test_sentence_bleu_is_smoothed_per_example():
    hyps, refs = CORPUS_NO_4GRAM
    vec = sentence_bleu_p5(hyps, refs, 4)
    assert vec.shape == (2,) and vec.dtype == np.float64
    assert np.all(vec > 0)  # unsmoothed corpus BLEU-4 of the same text is exactly 0
    # order 1 with matches: smoothing is inert, so a one-pair corpus agrees with the P5 number
    assert sentence_bleu_p5(hyps[:1], refs[:1], 1)[0] == pytest.approx(
        bleu_p5(hyps[:1], refs[:1], 1)
    )
    assert sentence_bleu_p5(["a b c d e"], ["a b c d e"], 4)[0] == pytest.approx(100.0)


# ROUGE, P5-compatible: hand-computed cases (whitespace tokens, unique n-grams, beta = P/R).
#
# Case A: hyp "the cat sat on the mat", ref "the cat is on the mat"
#   unigram sets: hyp {the,cat,sat,on,mat} (5), ref {the,cat,is,on,mat} (5), overlap 4
#     P = R = 4/5 -> F = 0.8 -> 80
#     (multiset counting would give overlap 5 of 6 -> 83.33: "the" is repeated)
#   bigram sets: hyp {the cat, cat sat, sat on, on the, the mat}, ref {the cat, cat is, is on,
#     on the, the mat}, overlap 3 -> P = R = 3/5 -> 60
#   LCS "the cat on the mat" = 5; P = R = 5/6, beta = 1 -> F = 5/6 -> 83.33
#
# Case B: hyp "a b c", ref "a x b y c z"
#   unigrams: overlap 3, P = 3/3 = 1, R = 3/6 = 1/2 -> F = 2*1*0.5/1.5 = 2/3 -> 66.67
#   bigrams: {ab, bc} vs {ax, xb, by, yc, cz}, overlap 0 -> 0
#   LCS "a b c" = 3: P = 1, R = 1/2, beta = P/R = 2, beta^2 = 4
#     F = (1 + 4) * 1 * 0.5 / (0.5 + 4 * 1) = 2.5 / 4.5 = 5/9 -> 55.56   (F1 would be 66.67)
#
# Case C (repeated words): hyp "good good good", ref "good food"
#   unigram sets: hyp {good} (1), ref {good, food} (2), overlap 1: P = 1, R = 1/2 -> F = 2/3
#     (multiset: overlap min(3,1) = 1, P = 1/3, R = 1/2 -> F1 = 0.4)
#   bigram sets: {good good} vs {good food}, overlap 0 -> 0
#   LCS "good" = 1: P = 1/3, R = 1/2, beta = 2/3, beta^2 = 4/9
#     F = (13/9)(1/6) / (1/2 + (4/9)(1/3)) = (13/54) / (35/54) = 13/35 -> 37.14
ROUGE_CASES = [
    ("the cat sat on the mat", "the cat is on the mat", 80.0, 60.0, 500.0 / 6.0),
    ("a b c", "a x b y c z", 200.0 / 3.0, 0.0, 500.0 / 9.0),
    ("good good good", "good food", 200.0 / 3.0, 0.0, 1300.0 / 35.0),
]


@pytest.mark.parametrize("hyp, ref, r1, r2, rl", ROUGE_CASES)
def test_rouge_p5_hand_computed(hyp, ref, r1, r2, rl):
    out = rouge_p5([hyp], [ref])
    assert set(out) == {"rouge-1", "rouge-2", "rouge-l"}
    assert out["rouge-1"][0] == pytest.approx(r1, abs=1e-9)
    assert out["rouge-2"][0] == pytest.approx(r2, abs=1e-9)
    assert out["rouge-l"][0] == pytest.approx(rl, abs=1e-9)


def test_rouge_p5_is_per_pair_vector():
    hyps = [c[0] for c in ROUGE_CASES]
    refs = [c[1] for c in ROUGE_CASES]
    out = rouge_p5(hyps, refs)
    np.testing.assert_allclose(out["rouge-l"], [c[4] for c in ROUGE_CASES], atol=1e-9)
    assert out["rouge-1"].shape == (3,) and out["rouge-1"].dtype == np.float64


def test_rouge_p5_is_case_sensitive_and_unstemmed():
    out = rouge_p5(["The Cats"], ["the cat"])
    assert out["rouge-1"][0] == 0.0
    assert rouge_score_package(["The Cat"], ["the cat"])["rouge-score-1"][0] == pytest.approx(100)


def test_rouge_score_package_known_case():
    out = rouge_score_package(["the cat sat on the mat"], ["the cat is on the mat"])
    assert set(out) == {"rouge-score-1", "rouge-score-2", "rouge-score-l"}
    # multiset unigrams: overlap the x2, cat, on, mat = 5 of 6 each side -> 83.33
    assert out["rouge-score-1"][0] == pytest.approx(500.0 / 6.0)
    assert out["rouge-score-2"][0] == pytest.approx(60.0)
    assert out["rouge-score-l"][0] == pytest.approx(500.0 / 6.0)


def test_rouge_p5_and_rouge_score_differ_on_repeated_words():
    hyp, ref = ["good good good"], ["good food"]
    p5 = rouge_p5(hyp, ref)
    pkg = rouge_score_package(hyp, ref)
    assert p5["rouge-1"][0] == pytest.approx(200.0 / 3.0)  # set counting
    assert pkg["rouge-score-1"][0] == pytest.approx(40.0)  # multiset counting
    assert p5["rouge-l"][0] == pytest.approx(1300.0 / 35.0)  # beta = P/R
    assert pkg["rouge-score-l"][0] == pytest.approx(40.0)  # F1
    assert p5["rouge-1"][0] != pytest.approx(pkg["rouge-score-1"][0])
    assert p5["rouge-l"][0] != pytest.approx(pkg["rouge-score-l"][0])


@pytest.mark.filterwarnings("error")
def test_empty_and_whitespace_hypotheses_score_zero():
    hyps = ["", "   ", "\t\n"]
    refs = ["a b c d", "a b c d", ""]
    corpus, per = text_metrics(hyps, refs)
    assert all(v == 0.0 for v in corpus.values()), corpus
    assert all(np.all(v == 0.0) for v in per.values()), per


def test_identical_strings_score_100():
    text = ["the room was clean and the staff were friendly", "great value for the money"]
    corpus, per = text_metrics(text, text)
    for key, value in corpus.items():
        assert value == pytest.approx(100.0), key
        np.testing.assert_allclose(per[key], 100.0, err_msg=key)


def test_text_metrics_keys_shapes_and_consistency():
    hyps, refs = _random_corpus(3, size=7)
    corpus, per = text_metrics(hyps, refs)
    assert list(corpus) == list(TEXT_METRICS)
    assert list(per) == list(TEXT_METRICS)
    assert set(TEXT_METRICS) == {
        "bleu-1",
        "bleu-4",
        "sacrebleu",
        "rouge-1",
        "rouge-2",
        "rouge-l",
        "rouge-score-1",
        "rouge-score-2",
        "rouge-score-l",
    }
    assert all(
        isinstance(label, str) and label and "\n" not in label for label in TEXT_METRICS.values()
    )
    for key, vec in per.items():
        assert isinstance(vec, np.ndarray) and vec.shape == (7,) and vec.dtype == np.float64, key
        assert isinstance(corpus[key], float), key
    for key in ("rouge-1", "rouge-2", "rouge-l", "rouge-score-1", "rouge-score-2", "rouge-score-l"):
        assert corpus[key] == float(per[key].mean()), key
    assert corpus["bleu-1"] == bleu_p5(hyps, refs, 1)
    assert corpus["bleu-4"] == bleu_p5(hyps, refs, 4)
    assert corpus["sacrebleu"] == sacrebleu_standard(hyps, refs)
    np.testing.assert_array_equal(per["bleu-4"], sentence_bleu_p5(hyps, refs, 4))
    np.testing.assert_allclose(
        per["sacrebleu"], [sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(hyps, refs)]
    )


@pytest.mark.parametrize(
    "fn",
    [
        lambda h, r: bleu_p5(h, r, 4),
        sacrebleu_standard,
        lambda h, r: sentence_bleu_p5(h, r, 4),
        rouge_p5,
        rouge_score_package,
        text_metrics,
    ],
)
def test_input_validation(fn):
    with pytest.raises(ValueError, match=r"2 hypotheses vs 3 references"):
        fn(["a", "b"], ["a", "b", "c"])
    with pytest.raises(ValueError, match="empty"):
        fn([], [])
    with pytest.raises(TypeError, match="single string"):
        fn("a b", "a b")


@pytest.mark.parametrize("order", [0, -1, 1.0, True])
def test_bad_max_order(order):
    with pytest.raises(ValueError, match="max_order"):
        bleu_p5(["a"], ["a"], order)
    with pytest.raises(ValueError, match="max_order"):
        sentence_bleu_p5(["a"], ["a"], order)


@pytest.mark.parametrize("metric", ["bleu-1", "bleu-4", "sacrebleu"])
def test_bleu_statistics_sum_to_the_corpus_score(metric):
    from benchmark.metrics.text import bleu_from_statistics, bleu_statistics, text_metrics

    rng = np.random.default_rng(0)
    words = "the a cream skin soft smell good bad hair it works".split()
    for _ in range(200):
        n = int(rng.integers(1, 6))
        hyps = [" ".join(rng.choice(words, int(rng.integers(1, 12)))) for _ in range(n)]
        refs = [" ".join(rng.choice(words, int(rng.integers(1, 12)))) for _ in range(n)]
        stats = bleu_statistics(metric, hyps, refs)
        corpus, _ = text_metrics(hyps, refs)
        got = bleu_from_statistics(metric, stats.sum(0, keepdims=True))[0]
        assert got == pytest.approx(corpus[metric], abs=1e-9)
