"""Prompt templates of the P5 family (P5, POD) for T5: sequential, direct top-N, explanation.

The families and their numbering follow P5 (Geng et al., RecSys 2022): 2 = sequential,
5 = direct recommendation, 3 = explanation; ids are ``"<family number>-<template number>"``. The
wording is our own, written in the spirit of P5's prompts, not copied from them.

Choices:

* Ids as text, as in P5: a user is ``user_{user}`` (the 0-based dataset user index), an item is
  its bare number ``{item}`` (the dataset's 1-based item index, after any re-indexing).
* Lists of items (histories, candidate lists) are the item numbers separated by single spaces,
  oldest first for histories (``"1 2 3"``). Item numbers never contain a space, so the
  separator is unambiguous, and it costs one token less per item than ``", "`` under T5's
  SentencePiece vocabulary, so longer histories fit in the input.
* Held-out templates: like P5, the last template of each family (2-8, 5-8, 3-6) is *unseen*,
  kept out of training to measure zero-shot generalisation to new prompt wording. The sample
  builders in ``methods.p5.samples`` refuse unseen templates at the training stage.
* Titles: only explanation templates use the item title (``{title}``), as P5 did; sequential
  and direct templates are id-only. Templates needing a title or a feature word are optional:
  the builders choose among the templates whose fields a sample actually has, and every
  family has seen and unseen templates that need ids only, so datasets without titles work.
* Direct templates come in two styles: yes/no (``{item}`` asked about, target ``{answer}`` =
  ``"yes"``/``"no"``) and choose-from-candidates (``{candidates}``, target the positive's id).
* POD (Li, Zhang, Chen, CIKM 2023) trains on these long templates but infers on a short input
  without instruction words; ``SHORT`` holds one such format per family (``"user_12 ; 5 9 33"``
  for sequential). They are ``Template`` objects marked ``short`` and ``seen=False``, so they
  can be passed to the evaluation builders but never to the training ones.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

FAMILIES = ("sequential", "direct", "explanation")
FAMILY_NUMBER = {"sequential": 2, "direct": 5, "explanation": 3}
#: every field a template may use; ``title`` and ``feature`` are optional per sample
FIELDS = frozenset(
    {"user", "history", "target", "item", "answer", "candidates", "title", "feature", "explanation"}
)
#: fields that some samples lack (no title in the data, no feature word in the sentence)
OPTIONAL_FIELDS = frozenset({"title", "feature"})
ITEM_SEPARATOR = " "


def _field_names(fmt: str) -> frozenset[str]:
    """Named fields of a format string; rejects positional or attribute fields early."""
    names = set()
    for _, name, spec, conv in string.Formatter().parse(fmt):
        if name is None:
            continue
        if not name.isidentifier() or spec or conv:
            raise ValueError(f"template field {name!r} in {fmt!r} must be a plain name")
        names.add(name)
    return frozenset(names)


@dataclass(frozen=True)
class Template:
    """One prompt: ``source`` and ``target`` are ``str.format`` strings with named fields.

    ``needs`` (computed) is every field the source and target use; ``source_needs`` and
    ``target_needs`` those of each side (an evaluation input needs only the source's).
    """

    family: str
    id: str
    source: str
    target: str
    seen: bool
    short: bool = False
    needs: frozenset[str] = field(init=False)
    source_needs: frozenset[str] = field(init=False, repr=False, compare=False)
    target_needs: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"template {self.id}: unknown family {self.family!r}")
        source_needs, target_needs = _field_names(self.source), _field_names(self.target)
        needs = source_needs | target_needs
        unknown = needs - FIELDS
        if unknown:
            raise ValueError(f"template {self.id}: unknown field(s) {sorted(unknown)}")
        # parsed once here: rendering runs per training sample
        object.__setattr__(self, "needs", needs)
        object.__setattr__(self, "source_needs", source_needs)
        object.__setattr__(self, "target_needs", target_needs)

    @property
    def style(self) -> str:
        """``"yes_no"`` or ``"choose"`` for direct templates, ``"generate"`` otherwise."""
        if "answer" in self.needs:
            return "yes_no"
        if "candidates" in self.needs:
            return "choose"
        return "generate"


def _family(family: str, seen_until: int, pairs: Sequence[tuple[str, str]]) -> list[Template]:
    """Number the templates of ``family``; those after ``seen_until`` are held out (unseen)."""
    number = FAMILY_NUMBER[family]
    return [
        Template(family, f"{number}-{i}", src, tgt, seen=i <= seen_until)
        for i, (src, tgt) in enumerate(pairs, start=1)
    ]


_SEQUENTIAL = [
    ("user_{user} interacted with these items in order: {history}. Which item comes next?",
     "{target}"),
    ("Here is the interaction history of user_{user}: {history}. "
     "Predict the item this user will choose next.", "{target}"),
    ("Items seen by user_{user}, oldest first: {history}. What is the next item?", "{target}"),
    ("Based on the sequence {history}, recommend the next item for user_{user}.", "{target}"),
    ("Next item after this sequence: {history}", "{target}"),
    ("user_{user} went through items {history} one after another. Guess the next one.",
     "{target}"),
    ("Continue the item sequence of user_{user}: {history} ->", "{target}"),
    ("What will user_{user} pick after {history}? Answer with an item number.", "{target}"),
]

_DIRECT = [
    ("Would user_{user} be interested in item {item}? Answer yes or no.", "{answer}"),
    ("user_{user} has interacted with {history}. Should item {item} be recommended to this "
     "user?", "{answer}"),
    ("Is item {item} a good recommendation for user_{user}?", "{answer}"),
    ("Given the history {history} of user_{user}, will the user like item {item}? yes or no",
     "{answer}"),
    ("Choose the best item for user_{user} from these candidates: {candidates}", "{target}"),
    ("user_{user} has interacted with {history}. Which of the following items should be "
     "recommended next? {candidates}", "{target}"),
    ("Candidates: {candidates}. Select one to recommend to user_{user}.", "{target}"),
    ("From the items {candidates}, pick the one user_{user} is most likely to interact with.",
     "{target}"),
]

_EXPLANATION = [
    ("Write an explanation of why user_{user} chose item {item}.", "{explanation}"),
    ("user_{user} interacted with item {item}. In one sentence, say what the user thought of "
     "it, mentioning {feature}.", "{explanation}"),
    ('Write the review sentence user_{user} would give "{title}".', "{explanation}"),
    ("Explain the opinion of user_{user} on {title} (item {item}), focusing on its {feature}.",
     "{explanation}"),
    ("Why might user_{user} like item {item}? Talk about {feature}.", "{explanation}"),
    ("Give a one-sentence reason from user_{user} about item {item}.", "{explanation}"),
]

TEMPLATES: dict[str, list[Template]] = {
    "sequential": _family("sequential", 7, _SEQUENTIAL),
    "direct": _family("direct", 7, _DIRECT),
    "explanation": _family("explanation", 5, _EXPLANATION),
}

#: POD's short inference inputs: ids only, no instruction words, one per family
SHORT: dict[str, Template] = {
    "sequential": Template("sequential", "2-short", "user_{user} ; {history}", "{target}",
                           seen=False, short=True),
    "direct": Template("direct", "5-short", "user_{user} ; {candidates}", "{target}",
                       seen=False, short=True),
    "explanation": Template("explanation", "3-short", "user_{user} ; {item}", "{explanation}",
                            seen=False, short=True),
}


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"unknown template family {family!r}; expected one of {FAMILIES}")


def seen_templates(family: str) -> list[Template]:
    """Templates used in training for ``family``."""
    _check_family(family)
    return [t for t in TEMPLATES[family] if t.seen]


def unseen_templates(family: str) -> list[Template]:
    """Held-out templates of ``family`` (zero-shot prompt evaluation only)."""
    _check_family(family)
    return [t for t in TEMPLATES[family] if not t.seen]


def get_template(template_id: str) -> Template:
    """Look a template up by id (``"2-3"``, ``"5-short"``...)."""
    for t in [*(t for ts in TEMPLATES.values() for t in ts), *SHORT.values()]:
        if t.id == template_id:
            return t
    raise KeyError(f"no template with id {template_id!r}")


def format_value(value: object) -> str:
    """Text of a field value: integers as bare numbers, item sequences space-separated."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"template field value must not be a bool, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return ITEM_SEPARATOR.join(map(format_value, value))
    raise TypeError(f"cannot render template field value of type {type(value).__name__}")


def _fill(template: Template, fmt: str, names: frozenset[str], fields: dict) -> str:
    values = {}
    for name in names:
        value = fields.get(name)
        if value is None:
            raise KeyError(f"template {template.id} ({template.family}) needs field {name!r}")
        values[name] = format_value(value)
    return fmt.format_map(values)


def render(template: Template, **fields: object) -> tuple[str, str]:
    """(source, target) text; a missing (or None) needed field raises KeyError naming both.

    Extra fields are ignored, so callers can pass every field they have.
    """
    return (
        _fill(template, template.source, template.source_needs, fields),
        _fill(template, template.target, template.target_needs, fields),
    )


def render_source(template: Template, **fields: object) -> str:
    """Source text only, for evaluation inputs whose target is not known to the caller."""
    return _fill(template, template.source, template.source_needs, fields)


def short_input(family: str, **fields: object) -> str:
    """POD's short inference input for ``family`` (e.g. ``"user_12 ; 5 9 33"``)."""
    _check_family(family)
    return render_source(SHORT[family], **fields)
