"""Explanation generation: given a user and an item, write the user's explanation sentence.

Data contract: the dataset must carry reviews (``Dataset.reviews`` with ``user``, ``item``,
``text``). From each review one example is derived:

* ``explanation``: the first sentence of the review text with ``min_words`` to ``max_words``
  whitespace-separated words (sentences end at ``.``, ``!`` or ``?`` followed by space; internal
  whitespace is collapsed). Reviews with no such sentence give no example.
* ``feature``: the explanation's word (lower-cased, letters only, at least 3 letters, not a
  stop word) that occurs in the most explanations of the whole dataset; ties go to the word
  appearing first in the sentence. It stands in for P5's aspect terms, which came from a
  sentiment-analysis toolkit the datasets here do not ship.

Examples are split per interaction with the run's seed (``ratios`` train/valid/test), then any
valid or test example whose user or item has no training example moves to training, so every
user and item is seen in training, as in P5's explanation splits.

Cross-task leak guard: a method that trains on several tasks at once (P5, POD) would learn the
user-item pair of a sequential validation/test target from its review if that review were an
explanation training example. ``prepare`` therefore marks such training examples ``held-out``
(used by no one), so the ranking evaluations stay leak-free.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from benchmark.data.schema import Dataset
from benchmark.errors import ConfigError, DataError
from tasks.base import check_prompt, describe_prompt, variant_name
from tasks.split import Split

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
        out = describe_prompt(asdict(self))
        out["metrics"] = list(self.metrics)
        out["ratios"] = list(self.ratios)
        return out


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


def build_examples(dataset: Dataset, task: ExplanationTask = EXPLANATION) -> pd.DataFrame:
    """One row per usable review: ``user``, ``item``, ``rating``, ``explanation``, ``feature``."""
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
    out = pd.DataFrame(
        {
            "user": reviews["user"].to_numpy()[keep],
            "item": reviews["item"].to_numpy()[keep],
            "rating": reviews["rating"].to_numpy()[keep] if "rating" in reviews else np.nan,
            "explanation": [sentences[i] for i in keep],
            "feature": features,
        }
    )
    if out.empty:
        raise DataError(
            f"no review of {dataset.name!r} has a sentence of {task.min_words}-{task.max_words} "
            "words",
            path=dataset.source,
        )
    return out


def split_examples(
    examples: pd.DataFrame, seed: int, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> pd.Series:
    """A ``part`` label (train/valid/test) per example; see the module docstring for the rule."""
    rng = np.random.default_rng([int(seed), 0xE4])
    n = len(examples)
    order = rng.permutation(n)
    n_train = int(round(ratios[0] * n))
    n_valid = int(round(ratios[1] * n))
    part = np.empty(n, dtype=object)
    part[order[:n_train]] = "train"
    part[order[n_train : n_train + n_valid]] = "valid"
    part[order[n_train + n_valid :]] = "test"
    users = examples["user"].to_numpy()
    items = examples["item"].to_numpy()
    train_users = set(users[part == "train"].tolist())
    train_items = set(items[part == "train"].tolist())
    for i in order:  # deterministic pass; moving one example can cover others
        if part[i] != "train" and (users[i] not in train_users or items[i] not in train_items):
            part[i] = "train"
            train_users.add(users[i])
            train_items.add(items[i])
    return pd.Series(part, index=examples.index, name="part")


@dataclass
class ExplanationData:
    """Explanation examples with their split labels (``train``/``valid``/``test``/``held-out``)."""

    examples: pd.DataFrame
    parts: pd.Series

    def part(self, name: str) -> pd.DataFrame:
        return self.examples[self.parts == name]


def prepare(dataset: Dataset, split: Split | None, seed: int,
            task: ExplanationTask = EXPLANATION) -> ExplanationData:
    """Examples and split for ``seed``, with the cross-task leak guard applied against ``split``."""
    examples = build_examples(dataset, task)
    parts = split_examples(examples, seed, task.ratios)
    if split is not None:
        held = set(zip(split.users.tolist(), split.valid.tolist()))
        held |= set(zip(split.users.tolist(), split.test.tolist()))
        pairs = list(zip(examples["user"].tolist(), examples["item"].tolist()))
        mask = np.array([p in held for p in pairs]) & (parts == "train").to_numpy()
        parts = parts.copy()
        parts[mask] = "held-out"
    return ExplanationData(examples=examples, parts=parts)
