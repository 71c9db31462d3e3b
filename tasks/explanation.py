"""Explanation generation: given a user and an item, write the user's explanation sentence.

Data contract: the dataset must carry reviews (``Dataset.reviews`` with ``user``, ``item``,
``text``, optionally ``timestamp``). From each review one example is derived:

* ``explanation``: the first sentence of the review text with ``min_words`` to ``max_words``
  whitespace-separated words (sentences end at ``.``, ``!`` or ``?`` followed by space; internal
  whitespace is collapsed). Reviews with no such sentence give no example.
* ``feature``: the explanation's word (lower-cased, letters only, at least 3 letters, not a
  stop word) that occurs in the most explanations of the whole dataset; ties go to the word
  appearing first in the sentence. It stands in for P5's aspect terms, which came from a
  sentiment-analysis toolkit the datasets here do not ship.

Duplicates. Review crawls repeat a user's text across variants of one product (Amazon 2018
All_Beauty: 4,092 reviews, 1,275 distinct (user, text) pairs). A test reference that is also a
training reference measures memorisation, so:

1. One example per (user, normalised text) -- normalised = lower-cased, whitespace collapsed --
   the earliest review (timestamp, then file row) standing for its copies.
2. The split is grouped by normalised text: every example sharing a text (any user) lands in the
   same part, so no validation or test reference equals a training reference. Groups are drawn
   in a seeded order and filled train/valid/test by example counts (``ratios``).

Cross-task leak guard: a method that trains on several tasks at once (P5, POD) would learn the
user-item pair of a sequential validation/test target from its review if that review were an
explanation training example. Such examples may never be training examples: in a training group
they are ``held-out`` (used by no one).

Coverage: after the guard, any valid/test example whose item has no training example moves to
training with its whole text group (its guarded members to ``held-out``), so every evaluated
item has at least one training example. Moving groups only adds training examples, so one pass
in the seeded group order settles it. Users are *not* covered the same way, a deliberate
departure from P5's splits (which keep every user in training): after collapsing copies most
users of a review set have a single distinct sentence (All_Beauty: 1,136 examples, 855 users),
and demanding a training sentence for every evaluated user left 28-34 test examples per seed
there instead of about 110. An evaluated user may therefore have no training explanation (a
multitask method still learns the user's id from the ranking tasks); :func:`split_checks`
counts those examples and checks both promises, and every result records the counts.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from benchmark.data.schema import Dataset
from benchmark.errors import ConfigError, DataError, ResultsError
from benchmark.stats.labels import CORPUS_TEST
from tasks.base import (
    BoardFacts,
    EvalContext,
    Evaluation,
    ResultKind,
    check_prompt,
    describe_prompt,
    span_text,
    split_protocol,
    variant_name,
)
from tasks.split import Split

if TYPE_CHECKING:
    from benchmark.results import Result
    from methods.base import Method

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z]+")
STOP_WORDS = frozenset(
    """a an the and or but if then so than that this these those it its it's is are was were be
    been being am do does did have has had i me my we our you your he she they them their his
    her of to in on at by for with from as about into over after before very really just too
    also not no can could would should will all any some one two more most much many other
    such only own same what which who whom when where why how get got use used using like
    well good great nice product love loved""".split()
)
#: the example and split rule as recorded in every explanation result
EXPLANATION_SPLIT_RULE = (
    "one example per (user, case/space-normalised explanation text), the earliest review kept; "
    "train/valid/test 8:1:1 by example count, grouped by normalised text in a seeded order, so "
    "no valid/test reference equals any training reference; reviews of the users' sequential "
    "valid/test items never in training; every evaluated item has a training example, an "
    "evaluated user may have none (counted under users_without_training)"
)


@dataclass(frozen=True)
class ExplanationTask:
    """Declarative definition of the explanation task (see module docstring)."""

    name: str
    description: str
    kind: str = "generation"
    metrics: tuple[str, ...] = (
        "bleu-1",
        "bleu-4",
        "rouge-1",
        "rouge-2",
        "rouge-l",
        "sacrebleu",
        "rouge-score-1",
        "rouge-score-2",
        "rouge-score-l",
    )
    min_words: int = 4
    max_words: int = 30
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    #: prompt wording for prompt-based methods, as in ``tasks.base.PROMPTS``
    prompt: str = "seen"
    #: the example and split rule (module docstring); part of every config hash, so results of
    #: an earlier rule (per review, copies split apart) never mix with these
    split: str = "dedup-user-text+grouped-by-text"

    @property
    def needs_reviews(self) -> bool:
        """The examples come from review text."""
        return True

    def check_data(self, dataset: Dataset) -> None:
        """Nothing beyond review text (``needs_reviews``), whose absence the runner reports for
        every task that needs it at once."""

    def check_samples(
        self, task_dir: Path, *, seed: int, dataset: Dataset, users: np.ndarray,
        results_dir: Path,
    ) -> None:
        """No stored samples: the examples and split are rebuilt from the data each run."""

    def with_options(self, options: dict[str, Any]) -> ExplanationTask:
        """A variant named after the change; only ``prompt`` is settable (the example rule and
        split define the data, so changing them would be another task)."""
        if not options:
            return self
        unknown = sorted(set(options) - {"prompt"})
        if unknown:
            raise ConfigError(
                f"task_options.{self.name}: unknown option(s) {unknown}; settable: ['prompt']"
            )
        check_prompt(self.name, options)
        return dataclasses.replace(self, name=variant_name(self.name, options), **options)

    def describe(self) -> dict:
        """The task as stored in every result record (and hashed into its config hash)."""
        out = describe_prompt(asdict(self))
        out["metrics"] = list(self.metrics)
        out["ratios"] = list(self.ratios)
        return out

    def evaluate(self, method: Method, ctx: EvalContext) -> Evaluation:
        """Ask ``method`` for an explanation of every test example and score the texts against
        the references (the record's metrics are corpus-level: BLEU, mean ROUGE)."""
        from benchmark.metrics.text import text_metrics

        data = ctx.explanation
        if data is None:
            raise ResultsError(
                f"task {self.name!r}: the dataset has no review examples to explain"
            )
        test = data.part("test")
        references = test["explanation"].tolist()
        hypotheses = method.generate_explanations(
            test["user"].to_numpy(), test["item"].to_numpy(), test["feature"].tolist()
        )
        if len(hypotheses) != len(references) or not all(isinstance(h, str) for h in hypotheses):
            raise ResultsError(
                f"method {method.name!r} returned {len(hypotheses)} explanations for "
                f"{len(references)} requests (or non-text items); expected one string each"
            )
        corpus, per_example = text_metrics(hypotheses, references)
        counts = data.parts.value_counts().to_dict()
        protocol = {
            "split": EXPLANATION_SPLIT_RULE,
            "tie_rule": None,
            "candidates": None,
            "examples": {k: int(v) for k, v in sorted(counts.items())},
            # reviews folded into an earlier identical (user, text) example
            "duplicates_collapsed": int(data.examples["copies"].sum() - len(data.examples)),
            **split_checks(data.examples, data.parts),
        }
        # a log that re-scores without rebuilding the split: which example, whose, what
        # was expected and what was written ("users" holds the example ids, the pairing key)
        per_user = {
            "users": test.index.to_numpy(np.int64),
            "user": test["user"].to_numpy(np.int64),
            "item": test["item"].to_numpy(np.int64),
            "reference": np.array(references, dtype=str),
            "hypothesis": np.array(hypotheses, dtype=str),
            **{m: per_example[m] for m in self.metrics},
        }
        metrics = {m: float(corpus[m]) for m in self.metrics}
        return Evaluation(per_user=per_user, metrics=metrics, protocol=protocol)

    def protocol(self, ctx: EvalContext, evaluation: Evaluation) -> dict[str, Any]:
        """The record's protocol: the sequential split it guards against, and the example rule
        and split checks ``evaluate`` measured."""
        return {**split_protocol(ctx), **evaluation.protocol}


EXPLANATION = ExplanationTask(
    name="explanation",
    description="generate the user's explanation sentence for an item (needs reviews)",
)


def first_sentence(text: str, min_words: int, max_words: int) -> str | None:
    """The first sentence of ``text`` whose word count is within the bounds, else None."""
    if not isinstance(text, str):
        return None
    for sentence in _SENTENCE_END.split(text.strip()):
        words = sentence.split()
        if min_words <= len(words) <= max_words:
            return " ".join(words)
    return None


def _content_words(sentence: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(sentence)]
    return [w for w in words if len(w) >= 3 and w not in STOP_WORDS]


def normalise_text(sentence: str) -> str:
    """The form in which two explanations count as the same text: lower-cased, whitespace
    runs collapsed to one space, stripped."""
    return " ".join(sentence.lower().split())


def build_examples(dataset: Dataset, task: ExplanationTask = EXPLANATION) -> pd.DataFrame:
    """One row per distinct (user, normalised explanation): ``user``, ``item``, ``rating``,
    ``explanation``, ``feature``, ``timestamp``, ``review`` (row of ``dataset.reviews``) and
    ``copies`` (how many usable reviews it stands for). Row ids (the index) run 0..n-1 in review
    order; the earliest copy (timestamp, then file row) is kept."""
    if dataset.reviews is None or "text" not in dataset.reviews:
        raise DataError(
            f"dataset {dataset.name!r} has no review text, which the explanation task needs; "
            "use a review dataset such as the amazon2018 format",
            path=dataset.source,
        )
    reviews = dataset.reviews
    sentences = [first_sentence(t, task.min_words, task.max_words) for t in reviews["text"]]
    keep = [i for i, s in enumerate(sentences) if s is not None]
    words = [_content_words(sentences[i]) for i in keep]
    doc_freq = Counter(w for ws in words for w in set(ws))
    features = [max(ws, key=lambda w: (doc_freq[w], -ws.index(w))) if ws else "" for ws in words]
    stamps = (reviews["timestamp"].to_numpy()[keep] if "timestamp" in reviews
              else np.arange(len(reviews))[keep])
    out = pd.DataFrame(
        {
            "user": reviews["user"].to_numpy()[keep],
            "item": reviews["item"].to_numpy()[keep],
            "rating": reviews["rating"].to_numpy()[keep] if "rating" in reviews else np.nan,
            "explanation": [sentences[i] for i in keep],
            "feature": features,
            "timestamp": stamps,
            "review": np.asarray(keep, dtype=np.int64),
        }
    )
    if out.empty:
        raise DataError(
            f"no review of {dataset.name!r} has a sentence of {task.min_words}-{task.max_words} "
            "words",
            path=dataset.source,
        )
    return collapse_duplicates(out)


def collapse_duplicates(examples: pd.DataFrame) -> pd.DataFrame:
    """One row per (user, normalised explanation), the earliest (``timestamp``, then row) kept,
    with ``copies`` counting the rows it stands for; the index is reset to 0..n-1."""
    text = examples["explanation"].map(normalise_text)
    order = np.lexsort((np.arange(len(examples)), examples["timestamp"].to_numpy()))
    ranked = examples.iloc[order].assign(_text=text.iloc[order].to_numpy())
    copies = ranked.groupby(["user", "_text"], sort=False)["_text"].transform("size")
    first = ~ranked.duplicated(subset=["user", "_text"], keep="first")
    kept = ranked[first.to_numpy()].assign(copies=copies[first.to_numpy()].to_numpy())
    kept = kept.sort_index().drop(columns="_text")
    return kept.reset_index(drop=True)


def split_examples(
    examples: pd.DataFrame,
    seed: int,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    no_train: np.ndarray | None = None,
    cover_users: bool = False,
) -> pd.Series:
    """A ``part`` label (train/valid/test/held-out) per example, grouped by normalised text;
    ``no_train`` marks examples that may not be trained on (the cross-task guard). See the
    module docstring for the rule; ``cover_users`` also gives every evaluated user a training
    example (P5's rule, not the task's: ``perf/explanation_split.py`` measures what it costs)."""
    n = len(examples)
    no_train = np.zeros(n, dtype=bool) if no_train is None else np.asarray(no_train, dtype=bool)
    if no_train.shape != (n,):
        raise ValueError(f"no_train has shape {no_train.shape}, expected ({n},)")
    groups, _ = pd.factorize(examples["explanation"].map(normalise_text), sort=False)
    n_groups = int(groups.max()) + 1 if n else 0
    rng = np.random.default_rng([int(seed), 0xE5])
    order = rng.permutation(n_groups)
    sizes = np.bincount(groups, minlength=n_groups)
    before = np.cumsum(sizes[order]) - sizes[order]  # examples ahead of each group in the draw
    n_train = int(round(ratios[0] * n))
    n_valid = int(round(ratios[1] * n))
    group_part = np.empty(n_groups, dtype=object)
    group_part[order] = np.where(
        before < n_train, "train", np.where(before < n_train + n_valid, "valid", "test")
    )
    members: list[list[int]] = [[] for _ in range(n_groups)]
    for i, g in enumerate(groups.tolist()):
        members[g].append(i)
    part = np.empty(n, dtype=object)
    items = examples["item"].to_numpy()
    users = examples["user"].to_numpy()
    train_items: set = set()
    train_users: set = set()

    def assign(g: int, label: str) -> None:
        group_part[g] = label
        for i in members[g]:
            if label == "train" and no_train[i]:
                part[i] = "held-out"
            else:
                part[i] = label
                if label == "train":
                    train_items.add(items[i])
                    train_users.add(users[i])

    for g in range(n_groups):
        assign(g, group_part[g])
    def uncovered(i: int) -> bool:
        return items[i] not in train_items or (cover_users and users[i] not in train_users)

    for g in order:  # coverage: one pass in the seeded order settles it (docstring)
        if group_part[g] != "train" and any(uncovered(i) for i in members[g]):
            assign(int(g), "train")
    return pd.Series(part, index=examples.index, name="part")


def split_checks(examples: pd.DataFrame, parts: pd.Series) -> dict[str, Any]:
    """What the split promises, measured per evaluated part: the share of references whose
    normalised text is also a training reference and the examples whose item has no training
    example (both 0 by construction), and the examples whose user has none (allowed; see the
    module docstring). Every result records them."""
    text = examples["explanation"].map(normalise_text)
    train = (parts == "train").to_numpy()
    train_text = set(text[train])
    train_users = set(examples["user"][train].tolist())
    train_items = set(examples["item"][train].tolist())
    out: dict[str, dict[str, Any]] = {
        "verbatim_overlap": {}, "items_without_training": {}, "users_without_training": {},
    }
    for name in ("valid", "test"):
        mask = (parts == name).to_numpy()
        hits = sum(t in train_text for t in text[mask])
        out["verbatim_overlap"][name] = float(hits / mask.sum()) if mask.any() else 0.0
        out["items_without_training"][name] = int(
            sum(i not in train_items for i in examples["item"][mask].tolist()))
        out["users_without_training"][name] = int(
            sum(u not in train_users for u in examples["user"][mask].tolist()))
    return out


@dataclass
class ExplanationData:
    """Explanation examples with their split labels (``train``/``valid``/``test``/``held-out``)."""

    examples: pd.DataFrame
    parts: pd.Series

    def part(self, name: str) -> pd.DataFrame:
        return self.examples[self.parts == name]


def prepare(dataset: Dataset, split: Split | None, seed: int,
            task: ExplanationTask = EXPLANATION) -> ExplanationData:
    """Examples and split for ``seed``; with ``split``, the reviews of its users' sequential
    valid/test items are kept out of training (the cross-task leak guard)."""
    examples = build_examples(dataset, task)
    no_train = None
    if split is not None:
        held = set(zip(split.users.tolist(), split.valid.tolist()))
        held |= set(zip(split.users.tolist(), split.test.tolist()))
        pairs = zip(examples["user"].tolist(), examples["item"].tolist())
        no_train = np.fromiter((p in held for p in pairs), dtype=bool, count=len(examples))
    parts = split_examples(examples, seed, task.ratios, no_train=no_train)
    return ExplanationData(examples=examples, parts=parts)


# ---- reading explanation results back --------------------------------------------------------


def recompute_generation(result: Result, names: Sequence[str]) -> tuple[dict[str, float], dict]:
    """A generation result's corpus metrics and per-example vectors from its sidecar's texts."""
    from benchmark.metrics.text import text_metrics

    corpus, vectors = text_metrics(*result.texts())
    return {m: corpus[m] for m in names}, {m: vectors[m] for m in names}


def _parts(values: dict[str, Any], fmt: str) -> str:
    """``{"valid": x, "test": y}`` of one seed's protocol as "valid x, test y"."""
    return ", ".join(f"{k} {fmt.format(values[k])}" for k in ("valid", "test") if k in values)


def generation_header(facts: BoardFacts) -> list[tuple[str, str]]:
    """The protocol lines of an explanation board: split rule, checks of the split over the
    seeds, and what each metric column is."""
    from benchmark.metrics.text import TEXT_METRICS

    p = facts.protocol
    items = [
        ("Dataset", facts.dataset),
        ("Split", str(p.get("split"))),
        ("Examples evaluated", span_text(facts.evaluated)),
    ]
    seeds = facts.protocol_by_seed or [p]
    if "duplicates_collapsed" in p:
        items.append(("Duplicates", f"{p['duplicates_collapsed']:,} reviews repeated an earlier "
                      "(user, text) example and were folded into it"))
    if all("verbatim_overlap" in s for s in seeds):
        worst = {k: max(s["verbatim_overlap"].get(k, 0.0) for s in seeds)
                 for k in ("valid", "test")}
        items.append(("Verbatim overlap", "share of references equal to a training reference "
                      "(case/space-normalised), largest over seeds: " + _parts(worst, "{:.1%}")))
    else:
        items.append(("Verbatim overlap", "not measured by these results' split"))
    if all("users_without_training" in s for s in seeds):
        cold = {k: span_text(sorted({s["users_without_training"][k] for s in seeds}))
                for k in ("valid", "test")}
        items.append(("Cold users", "evaluated examples whose user has no training "
                      "explanation: " + _parts(cold, "{}") + " (over seeds); every evaluated "
                      "item has one"))
    for metric in facts.metrics:
        if metric in TEXT_METRICS:
            items.append((metric, TEXT_METRICS[metric]))
    items.append((
        "Significance",
        "each column's own statistic is tested (the table's corpus BLEU, not smoothed "
        "sentence BLEU), by approximate randomization over the test examples",
    ))
    return items


#: how explanation results (``task.kind`` generation) are read back: the columns are corpus
#: statistics, so every board tests them by corpus-level approximate randomization
GENERATION_RESULTS = ResultKind(
    unit="examples",
    per_seed_value="each column's value on that seed's test examples (corpus BLEU, mean ROUGE)",
    recompute=recompute_generation,
    header=generation_header,
    test=CORPUS_TEST,
)
