"""Text-generation metrics for the explanation task: BLEU and ROUGE, P5-compatible and standard.

Published explanation numbers for P5 (Geng et al., RecSys 2022) and POD/PeaPOD (Li et al.,
CIKM 2023) come from a specific pair of scripts, so we reproduce those ("P5-compatible") and
report the widely used library versions next to them under different names, because the two
disagree by several points on the same text:

* BLEU, P5-compatible (``bleu-1``, ``bleu-4``): corpus BLEU over whitespace tokens, no smoothing,
  x100 -- the classic TensorFlow NMT ``compute_bleu`` formula, which
  ``sacrebleu.metrics.BLEU(tokenize="none", smooth_method="none", max_ngram_order=n)`` reproduces
  exactly. ``bleu-1`` is unigram-only BLEU (max n-gram order 1), not the 1-gram precision.
* BLEU, standard (``sacrebleu``): ``sacrebleu.corpus_bleu`` defaults (13a tokenization, exp
  smoothing, order 4).
* ROUGE, P5-compatible (``rouge-1``, ``rouge-2``, ``rouge-l``): the tf-seq2seq ``rouge.py`` that
  P5 ships -- whitespace tokens, no stemming or lower-casing, n-grams counted as *sets*, ROUGE-L
  F with beta = P/R; per-pair F averaged over pairs.
* ROUGE, standard (``rouge-score-*``): Google's ``rouge-score`` package, which lower-cases, keeps
  only ``[a-z0-9]`` runs as tokens, counts n-grams as multisets and uses F1 for ROUGE-L.

All scores are on a 0-100 scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sacrebleu
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

TEXT_METRICS: dict[str, str] = {
    "bleu-1": "BLEU-1, P5-compatible: corpus, whitespace tokens, unigram only, no smoothing "
    "(sacrebleu tokenize=none, max_ngram_order=1)",
    "bleu-4": "BLEU-4, P5-compatible: corpus, whitespace tokens, no smoothing "
    "(sacrebleu tokenize=none)",
    "sacrebleu": "SacreBLEU, standard: corpus, 13a tokenization, exp smoothing, order 4 "
    "(not comparable to P5 BLEU-4)",
    "rouge-1": "ROUGE-1 F, P5-compatible: mean per pair, whitespace tokens, unique unigrams, "
    "no stemming/lower-casing",
    "rouge-2": "ROUGE-2 F, P5-compatible: mean per pair, whitespace tokens, unique bigrams, "
    "no stemming/lower-casing",
    "rouge-l": "ROUGE-L F, P5-compatible: mean per pair, whitespace-token LCS, F with beta=P/R",
    "rouge-score-1": "ROUGE-1 F1, rouge-score package: mean per pair, lower-cased alphanumeric "
    "tokens, n-gram counts, no stemming",
    "rouge-score-2": "ROUGE-2 F1, rouge-score package: mean per pair, lower-cased alphanumeric "
    "tokens, n-gram counts, no stemming",
    "rouge-score-l": "ROUGE-L F1, rouge-score package: mean per pair, lower-cased alphanumeric "
    "tokens, LCS, no stemming",
}

_ROUGE_SCORE_KEYS = {
    "rouge1": "rouge-score-1",
    "rouge2": "rouge-score-2",
    "rougeL": "rouge-score-l",
}


def _check_pairs(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[list, list]:
    """Validate aligned, non-empty inputs; a bare string is rejected (it would iterate chars)."""
    for name, seq in (("hypotheses", hypotheses), ("references", references)):
        if isinstance(seq, str):
            raise TypeError(f"{name} must be a sequence of strings, not a single string")
    if len(hypotheses) != len(references):
        raise ValueError(
            f"hypotheses and references differ in length: {len(hypotheses)} hypotheses vs "
            f"{len(references)} references"
        )
    if len(hypotheses) == 0:
        raise ValueError("hypotheses and references are empty: nothing to score")
    return list(hypotheses), list(references)


def _check_order(max_order: int) -> None:
    if isinstance(max_order, bool) or not isinstance(max_order, int) or max_order < 1:
        raise ValueError(f"max_order must be a positive int, got {max_order!r}")


def bleu_p5(hypotheses: Sequence[str], references: Sequence[str], max_order: int) -> float:
    """Corpus BLEU (x100) as P5/POD computed it: whitespace tokens, no smoothing.

    Any n-gram order with zero matches makes the score 0, and the brevity penalty uses the
    summed corpus lengths -- both as in the TF NMT ``compute_bleu`` that P5 used.
    """
    hyps, refs = _check_pairs(hypotheses, references)
    _check_order(max_order)
    metric = BLEU(tokenize="none", smooth_method="none", max_ngram_order=max_order)
    return float(metric.corpus_score(hyps, [refs]).score)


def sacrebleu_standard(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Standard SacreBLEU (x100) with library defaults, for comparison with MT-style reporting."""
    hyps, refs = _check_pairs(hypotheses, references)
    return float(sacrebleu.corpus_bleu(hyps, [refs]).score)


def sentence_bleu_p5(
    hypotheses: Sequence[str], references: Sequence[str], max_order: int
) -> np.ndarray:
    """Per-example BLEU (x100) for paired significance tests, whitespace tokens.

    Unlike :func:`bleu_p5` these are SMOOTHED (sacrebleu ``exp``, effective order), because
    unsmoothed sentence BLEU-4 is 0 for nearly every sentence. Their mean is therefore not the
    corpus number; report :func:`bleu_p5` and use these only as paired samples.
    """
    hyps, refs = _check_pairs(hypotheses, references)
    _check_order(max_order)
    metric = BLEU(
        tokenize="none", smooth_method="exp", max_ngram_order=max_order, effective_order=True
    )
    return np.array(
        [metric.sentence_score(h, [r]).score for h, r in zip(hyps, refs)], dtype=np.float64
    )


def _ngram_set(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def _lcs_len(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence, O(len(a) * len(b)) time, O(len(b)) memory."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _f1(p: float, r: float) -> float:
    return 0.0 if p == 0.0 or r == 0.0 else 2.0 * p * r / (p + r)


def _rouge_n_set(hyp: list[str], ref: list[str], n: int) -> float:
    """ROUGE-N F over unique n-grams, as in P5's copy of tf-seq2seq ``rouge_n``."""
    h, r = _ngram_set(hyp, n), _ngram_set(ref, n)
    if not h or not r:
        return 0.0
    overlap = len(h & r)
    return _f1(overlap / len(h), overlap / len(r))


def _rouge_l_beta(hyp: list[str], ref: list[str]) -> float:
    """ROUGE-L F with beta = P/R, as in tf-seq2seq ``_f_lcs`` (which weights recall by P/R)."""
    lcs = _lcs_len(hyp, ref)
    if lcs == 0:
        return 0.0
    p, r = lcs / len(hyp), lcs / len(ref)
    beta2 = (p / r) ** 2
    return (1.0 + beta2) * p * r / (r + beta2 * p)


def rouge_p5(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-pair ROUGE-1/2/L F (x100) as P5 (and POD) computed them; P5 reports their mean.

    Deliberate deviations from the original script, all below 1e-6 points or crash-only: P5's
    code adds 1e-8 / 1e-12 to denominators (identical strings give 99.9999995, here 100); it
    splits on single spaces (``split(" ")``) where we split on any whitespace run; and it raises
    ZeroDivisionError for a reference without n-grams, which scores 0 here.
    """
    hyps, refs = _check_pairs(hypotheses, references)
    out: dict[str, list[float]] = {"rouge-1": [], "rouge-2": [], "rouge-l": []}
    for h, r in zip(hyps, refs):
        ht, rt = h.split(), r.split()
        out["rouge-1"].append(_rouge_n_set(ht, rt, 1))
        out["rouge-2"].append(_rouge_n_set(ht, rt, 2))
        out["rouge-l"].append(_rouge_l_beta(ht, rt))
    return {k: 100.0 * np.asarray(v, dtype=np.float64) for k, v in out.items()}


def rouge_score_package(
    hypotheses: Sequence[str], references: Sequence[str]
) -> dict[str, np.ndarray]:
    """Per-pair ROUGE-1/2/L F1 (x100) from the standard ``rouge-score`` package, no stemmer.

    Note its tokenizer lower-cases and drops everything outside ``[a-z0-9]`` (so non-ASCII words
    vanish), unlike the P5 whitespace tokens.
    """
    hyps, refs = _check_pairs(hypotheses, references)
    scorer = rouge_scorer.RougeScorer(list(_ROUGE_SCORE_KEYS), use_stemmer=False)
    out: dict[str, list[float]] = {k: [] for k in _ROUGE_SCORE_KEYS.values()}
    for h, r in zip(hyps, refs):
        scores = scorer.score(r, h)  # (target, prediction) order
        for name, key in _ROUGE_SCORE_KEYS.items():
            out[key].append(scores[name].fmeasure)
    return {k: 100.0 * np.asarray(v, dtype=np.float64) for k, v in out.items()}


# ---- sufficient statistics: what a corpus-level significance test resamples -----------------

#: columns that are corpus statistics (not the mean of per-example values)
CORPUS_METRICS = ("bleu-1", "bleu-4", "sacrebleu")

#: (sacrebleu BLEU options, max n-gram order) of each corpus column, as in :func:`text_metrics`
_BLEU_SETTINGS: dict[str, dict] = {
    "bleu-1": {"tokenize": "none", "smooth_method": "none", "max_ngram_order": 1},
    "bleu-4": {"tokenize": "none", "smooth_method": "none", "max_ngram_order": 4},
    "sacrebleu": {},  # library defaults: 13a, exp smoothing, order 4
}

_NO_MATCH_LOG = -9999999999.0  # sacrebleu's log(0)


def bleu_statistics(
    metric: str, hypotheses: Sequence[str], references: Sequence[str]
) -> np.ndarray:
    """Per-example BLEU sufficient statistics ``[n, 2 + 2 * order]`` for ``metric`` (one of
    :data:`CORPUS_METRICS`): hypothesis length, reference length, matched n-grams per order,
    total n-grams per order. Summed over examples they give the corpus score
    (:func:`bleu_from_statistics`)."""
    hyps, refs = _check_pairs(hypotheses, references)
    if metric not in _BLEU_SETTINGS:
        raise ValueError(f"{metric!r} is not a corpus BLEU column; known: {list(_BLEU_SETTINGS)}")
    bleu = BLEU(**_BLEU_SETTINGS[metric])
    # sacrebleu sums exactly these rows for its corpus score; the method is private but stable
    # across 2.x, and a test checks the sums against corpus_score
    return np.asarray(bleu._extract_corpus_statistics(hyps, [refs]), dtype=np.float64)


def bleu_from_statistics(metric: str, summed: np.ndarray) -> np.ndarray:
    """Corpus BLEU (x100) for each row of summed :func:`bleu_statistics` ``[R, k]``: sacrebleu's
    ``compute_bleu`` (smoothing ``none`` or ``exp``, no effective order), vectorised."""
    settings = {"smooth_method": "exp", "max_ngram_order": 4, **_BLEU_SETTINGS[metric]}
    order = int(settings["max_ngram_order"])
    exp_smoothing = settings["smooth_method"] == "exp"
    s = np.atleast_2d(np.asarray(summed, dtype=np.float64))
    sys_len, ref_len = s[:, 0], s[:, 1]
    correct, total = s[:, 2 : 2 + order], s[:, 2 + order : 2 + 2 * order]
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(sys_len < ref_len,
                      np.where(sys_len > 0, np.exp(1.0 - ref_len / np.maximum(sys_len, 1)), 0.0),
                      1.0)
    log_sum = np.zeros(len(s))
    alive = np.ones(len(s), dtype=bool)  # no order with zero total n-grams seen yet
    smooth = np.ones(len(s))
    for n in range(order):
        alive &= total[:, n] > 0
        hit = alive & (correct[:, n] > 0)
        miss = alive & (correct[:, n] == 0)
        p = np.zeros(len(s))
        p[hit] = 100.0 * correct[hit, n] / total[hit, n]
        if exp_smoothing:
            smooth = np.where(miss, smooth * 2.0, smooth)
            p[miss] = 100.0 / (smooth[miss] * total[miss, n])
        with np.errstate(divide="ignore"):
            log_sum += np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), _NO_MATCH_LOG)
    score = bp * np.exp(log_sum / order)
    return np.where(correct.sum(1) > 0, score, 0.0)


def text_metrics(
    hypotheses: Sequence[str], references: Sequence[str]
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """All explanation metrics: (corpus-level numbers, per-example vectors), keys of TEXT_METRICS.

    Corpus ROUGE is exactly the mean of its per-example vector. Corpus BLEU is not: it is the
    unsmoothed corpus statistic, while per-example BLEU vectors are smoothed sentence BLEU meant
    only for paired significance tests.
    """
    hyps, refs = _check_pairs(hypotheses, references)
    rouge = {**rouge_p5(hyps, refs), **rouge_score_package(hyps, refs)}
    corpus: dict[str, float] = {
        "bleu-1": bleu_p5(hyps, refs, 1),
        "bleu-4": bleu_p5(hyps, refs, 4),
        "sacrebleu": sacrebleu_standard(hyps, refs),
    }
    per_example: dict[str, np.ndarray] = {
        "bleu-1": sentence_bleu_p5(hyps, refs, 1),
        "bleu-4": sentence_bleu_p5(hyps, refs, 4),
        "sacrebleu": np.array(
            [sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(hyps, refs)],
            dtype=np.float64,
        ),
    }
    for key, vec in rouge.items():
        corpus[key] = float(vec.mean())
        per_example[key] = vec
    corpus = {k: corpus[k] for k in TEXT_METRICS}
    per_example = {k: per_example[k] for k in TEXT_METRICS}
    return corpus, per_example
