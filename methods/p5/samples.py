"""Text samples for the P5 family: the protocol's data rendered through ``methods.p5.templates``.

Leak rules (the point of this module): training samples are built from ``split.train`` only.
A user's validation and test items are never a training target and never appear in a training
history; for direct recommendation, "interacted" means "in the training sequence", so the
validation and test items are not even looked at when drawing training negatives (they may be
drawn as negatives, exactly as any item the model has not been told about). Training builders
refuse held-out (unseen) and short templates.

Choices:

* Sequential training: every prefix of a user's training sequence predicts the item after it
  (positions 1..len-1, so the history is never empty), or a random subset of
  ``prefixes_per_user`` positions per call, which a trainer re-draws each epoch. Histories keep
  the most recent ``max_history`` items (default 20, so 20 ids plus the prompt fit T5's 512
  tokens). Each sample gets one template drawn uniformly from the usable training templates.
* Direct training: for each user, ``positives_per_user`` times, a template is drawn, then a
  random position of the training sequence gives the positive and the items before it the
  history (so no template sees the positive in its own history). Templates with a history
  draw from positions 1..; a user with one training item uses only history-free templates,
  or gives no sample if there are none (such users give no sequential sample either). A
  choose template gets the positive plus ``n_candidates - 1`` negatives in a shuffled list,
  target the positive's id; a yes/no template gives a balanced pair: the positive with
  ``"yes"`` and one negative with ``"no"``. Negatives are distinct items outside the user's
  training sequence.
* Evaluation stages (``"valid"``/``"test"``): history ``split.histories(stage)`` (truncated
  like training) and target ``split.targets(stage)``; one sample per user per template given
  (default: every template of the family, seen and unseen, in order, that the stage can
  render: choose-style ones for direct, for explanation those every example has the fields
  of). Direct evaluation needs the harness's candidate lists and takes choose-style and short
  templates (``direct_yes_no_sources`` scores candidates one by one with a yes/no template).
* Templates needing an optional field (item title, feature word) are used only for samples that
  have it; at evaluation, a template passed explicitly that some example cannot fill is an
  error rather than a silent skip, so every template is scored on the same examples.
* ``Sample.target_item`` is the item the target text names (sequential, choose); None for
  yes/no and explanation samples.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.data.schema import Dataset
from methods.p5.templates import (
    OPTIONAL_FIELDS,
    TEMPLATES,
    Template,
    render,
    render_source,
    seen_templates,
)
from tasks.split import Split

DEFAULT_MAX_HISTORY = 20
STAGES = ("train", "valid", "test")


@dataclass(frozen=True)
class Sample:
    """One rendered text pair and where it came from."""

    source: str
    target: str
    family: str
    template_id: str
    user: int
    target_item: int | None = None


def truncate(history: np.ndarray, max_history: int) -> np.ndarray:
    """The most recent ``max_history`` items (the end of a chronological history)."""
    if max_history < 1:
        raise ValueError(f"max_history must be at least 1, got {max_history}")
    return np.asarray(history)[-max_history:]


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")


def _templates_for(
    family: str, stage: str, templates: Sequence[Template] | None
) -> list[Template]:
    """Default and validate the templates: training takes seen long templates only."""
    if templates is None and stage == "train":
        templates = seen_templates(family)
    elif templates is None:
        templates = [t for t in TEMPLATES[family] if t.style != "yes_no"]
    templates = list(templates)
    if not templates:
        raise ValueError(f"no templates given for {family}")
    for t in templates:
        if t.family != family:
            raise ValueError(f"template {t.id} is a {t.family} template, not {family}")
        if stage == "train" and not t.seen:
            raise ValueError(
                f"template {t.id} is held out of training (unseen or short); "
                "it may only be used at the valid/test stages"
            )
    return templates


def _present(fields: Mapping[str, object]) -> frozenset[str]:
    """Fields with a usable value: not None, and optional text fields not empty."""
    out = set()
    for name, value in fields.items():
        if value is None:
            continue
        if name in OPTIONAL_FIELDS and isinstance(value, str) and not value.strip():
            continue
        if isinstance(value, np.ndarray | list | tuple) and len(value) == 0:
            continue
        out.add(name)
    return frozenset(out)


def _pick(
    templates: Sequence[Template], fields: Mapping[str, object], rng: np.random.Generator
) -> Template:
    present = _present(fields)
    usable = [t for t in templates if t.needs <= present]
    if not usable:
        ids = ", ".join(t.id for t in templates)
        raise ValueError(f"none of templates {ids} can be rendered from fields {sorted(present)}")
    return usable[int(rng.integers(len(usable)))]


def _require(template: Template, fields: Mapping[str, object], what: str) -> None:
    missing = sorted(template.needs - _present(fields))
    if missing:
        raise ValueError(f"template {template.id} needs {missing}, which {what} lacks")


def _need_rng(rng: np.random.Generator | None, stage: str) -> np.random.Generator:
    if rng is None:
        raise ValueError(f"stage {stage!r} draws templates and items at random: pass rng")
    return rng


def sequential_samples(
    split: Split,
    *,
    stage: str,
    max_history: int = DEFAULT_MAX_HISTORY,
    rng: np.random.Generator | None = None,
    templates: Sequence[Template] | None = None,
    prefixes_per_user: int | None = None,
) -> list[Sample]:
    """Next-item samples; training ones come from training sequences only (module docstring)."""
    _check_stage(stage)
    templates = _templates_for("sequential", stage, templates)
    out: list[Sample] = []
    if stage == "train":
        rng = _need_rng(rng, stage)
        if prefixes_per_user is not None and prefixes_per_user < 1:
            raise ValueError(f"prefixes_per_user must be at least 1, got {prefixes_per_user}")
        for t in templates:  # every sequential field is always present in training
            _require(t, {"user": 0, "history": [1], "target": 2}, "a training sample")
        for user, seq in zip(split.users.tolist(), split.train):
            positions = np.arange(1, len(seq))
            if prefixes_per_user is not None and len(positions) > prefixes_per_user:
                positions = np.sort(rng.choice(positions, size=prefixes_per_user, replace=False))
            picks = rng.integers(len(templates), size=len(positions)).tolist()
            items = seq.tolist()
            for j, k in zip(positions.tolist(), picks):
                t = templates[k]
                target = items[j]
                history = items[max(0, j - max_history) : j]
                src, tgt = render(t, user=user, history=history, target=target)
                out.append(Sample(src, tgt, t.family, t.id, user, target))
        return out
    histories = split.histories(stage)
    targets = split.targets(stage).tolist()
    for t in templates:
        for user, hist, target in zip(split.users.tolist(), histories, targets):
            fields = {"user": user, "history": truncate(hist, max_history), "target": target}
            _require(t, fields, f"user {user}'s {stage} sample")
            src, tgt = render(t, **fields)
            out.append(Sample(src, tgt, t.family, t.id, user, int(target)))
    return out


def sample_negatives(
    interacted: set[int], n_items: int, k: int, rng: np.random.Generator
) -> list[int]:
    """``k`` distinct items in 1..n_items outside ``interacted``, uniformly."""
    available = n_items - len(interacted)
    if available < k:
        raise ValueError(
            f"a user interacted with {len(interacted)} of {n_items} items: fewer than {k} "
            "negatives remain; use fewer candidates"
        )
    chosen: list[int] = []
    picked: set[int] = set()
    while len(chosen) < k:
        for item in rng.integers(1, n_items + 1, size=2 * (k - len(chosen)) + 8).tolist():
            if item not in interacted and item not in picked:
                picked.add(item)
                chosen.append(item)
                if len(chosen) == k:
                    break
    return chosen


def direct_samples(
    split: Split,
    *,
    stage: str,
    rng: np.random.Generator | None = None,
    n_candidates: int = 100,
    templates: Sequence[Template] | None = None,
    max_history: int = DEFAULT_MAX_HISTORY,
    positives_per_user: int = 1,
    candidates: np.ndarray | None = None,
) -> list[Sample]:
    """Direct (top-N) samples; training positives and "interacted" come from ``split.train``.

    At ``valid``/``test`` pass ``candidates`` (``[n_users, C]``, aligned with ``split.users``,
    each row holding that user's target), as sampled by the harness.
    """
    _check_stage(stage)
    templates = _templates_for("direct", stage, templates)
    if stage != "train":
        return _direct_eval(split, stage, templates, max_history, candidates)
    rng = _need_rng(rng, stage)
    if n_candidates < 2:
        raise ValueError(f"n_candidates must be at least 2, got {n_candidates}")
    out: list[Sample] = []
    without_history = [t for t in templates if "history" not in t.needs]
    for user, seq in zip(split.users.tolist(), split.train):
        interacted = set(seq.tolist())
        # a history needs an item before the positive; one-item users get the other templates
        usable = templates if len(seq) > 1 else without_history
        if not usable:
            continue
        for _ in range(positives_per_user):
            t = usable[int(rng.integers(len(usable)))]
            j = int(rng.integers(1 if "history" in t.needs else 0, len(seq)))
            positive = int(seq[j])
            history = seq[max(0, j - max_history) : j]
            if t.style == "yes_no":
                negative = sample_negatives(interacted, split.n_items, 1, rng)[0]
                for item, answer in ((positive, "yes"), (negative, "no")):
                    src, tgt = render(t, user=user, history=history, item=item, answer=answer)
                    out.append(Sample(src, tgt, t.family, t.id, user, None))
            else:
                negatives = sample_negatives(interacted, split.n_items, n_candidates - 1, rng)
                cands = rng.permutation(np.array([positive, *negatives], dtype=np.int64))
                src, tgt = render(t, user=user, history=history, candidates=cands,
                                  target=positive)
                out.append(Sample(src, tgt, t.family, t.id, user, positive))
    return out


def _direct_eval(
    split: Split,
    stage: str,
    templates: list[Template],
    max_history: int,
    candidates: np.ndarray | None,
) -> list[Sample]:
    if candidates is None:
        raise ValueError(f"direct samples at stage {stage!r} need the harness's candidates")
    candidates = np.asarray(candidates)
    if candidates.ndim != 2 or len(candidates) != split.n_users:
        raise ValueError(
            f"candidates must be [n_users={split.n_users}, C], got shape {candidates.shape}"
        )
    histories = split.histories(stage)
    targets = split.targets(stage).tolist()
    out: list[Sample] = []
    for t in templates:
        if t.style == "yes_no":
            raise ValueError(
                f"template {t.id} is yes/no: score candidates one by one with "
                "direct_yes_no_sources"
            )
        for user, hist, target, row in zip(split.users.tolist(), histories, targets, candidates):
            if target not in row:
                raise ValueError(f"user {user}'s {stage} target {target} is not a candidate")
            src = direct_source(t, user, hist, row, max_history=max_history)
            out.append(Sample(src, str(target), t.family, t.id, user, int(target)))
    return out


def direct_source(
    template: Template,
    user: int,
    history: np.ndarray,
    candidates: np.ndarray,
    *,
    max_history: int = DEFAULT_MAX_HISTORY,
) -> str:
    """Source text of a choose-style (or short) direct template for given candidates."""
    if template.family != "direct" or template.style == "yes_no":
        raise ValueError(
            f"template {template.id} is not a choose-style direct template; for yes/no "
            "templates use direct_yes_no_sources"
        )
    return render_source(
        template, user=user, history=_history_or_none(history, max_history), candidates=candidates
    )


def direct_yes_no_sources(
    template: Template,
    user: int,
    history: np.ndarray,
    candidates: np.ndarray,
    *,
    max_history: int = DEFAULT_MAX_HISTORY,
) -> list[str]:
    """One yes/no question per candidate, in candidate order (score each by P("yes"))."""
    if template.style != "yes_no":
        raise ValueError(f"template {template.id} is not a yes/no template")
    hist = _history_or_none(history, max_history)
    return [
        render_source(template, user=user, history=hist, item=item)
        for item in np.asarray(candidates).tolist()
    ]


def _history_or_none(history: np.ndarray, max_history: int) -> np.ndarray | None:
    """Truncated history; None when empty, so a template that needs it fails with KeyError."""
    hist = truncate(history, max_history)
    return hist if len(hist) else None


def explanation_samples(
    examples: pd.DataFrame,
    parts: pd.Series,
    *,
    part: str,
    dataset: Dataset | None = None,
    templates: Sequence[Template] | None = None,
    rng: np.random.Generator | None = None,
) -> list[Sample]:
    """Explanation samples for the examples labelled ``part`` (``tasks.explanation``).

    ``dataset`` supplies item titles (templates needing a title are used only when the item has
    one); without it only title-free templates apply. At ``valid``/``test`` the default
    templates are those every example of the part can fill (see the module docstring).
    """
    _check_stage(part)
    explicit = templates is not None
    templates = _templates_for("explanation", part, templates)
    if not parts.index.equals(examples.index):
        raise ValueError("parts must be aligned with examples (same index)")
    rows = examples[(parts == part).to_numpy()]
    titles = None
    if dataset is not None and "title" in dataset.items:
        titles = dataset.items["title"].to_numpy(dtype=object)
    feature_col = rows["feature"] if "feature" in rows else pd.Series(None, index=rows.index)
    records = []
    for user, item, explanation, feature in zip(
        rows["user"].tolist(), rows["item"].tolist(), rows["explanation"].tolist(),
        feature_col.tolist(),
    ):
        title = titles[int(item) - 1] if titles is not None else None
        records.append({
            "user": int(user),
            "item": int(item),
            "explanation": explanation,
            "feature": feature if isinstance(feature, str) else None,
            "title": title if isinstance(title, str) else None,
        })
    out: list[Sample] = []
    if part == "train":
        rng = _need_rng(rng, part)
        for fields in records:
            t = _pick(templates, fields, rng)
            src, tgt = render(t, **fields)
            out.append(Sample(src, tgt, t.family, t.id, fields["user"], None))
        return out
    present = [_present(f) for f in records]
    if not explicit:  # default: the templates every example of this part can fill
        templates = [t for t in templates if all(t.needs <= p for p in present)]
    for t in templates:
        lacking = [f for f, p in zip(records, present) if not t.needs <= p]
        if lacking:
            missing = sorted(t.needs - _present(lacking[0]))
            raise ValueError(
                f"template {t.id} needs {missing}, which {len(lacking)} of {len(records)} "
                f"{part} examples lack; evaluate it on the examples that have them"
            )
        for fields in records:
            src, tgt = render(t, **fields)
            out.append(Sample(src, tgt, t.family, t.id, fields["user"], None))
    return out


def interleave(
    samples_by_family: Mapping[str, Sequence[Sample]],
    rng: np.random.Generator,
    batch_size: int,
    *,
    length_pool: int | None = None,
) -> list[list[Sample]]:
    """One epoch of single-family batches, families taking turns batch by batch.

    POD trains its tasks alternately batch by batch. Each family's samples are shuffled (with
    ``rng``, families in mapping order), cut into batches (the last may be short), and the
    batches are dealt round-robin in mapping order; once a family runs out the others go on,
    so every sample appears exactly once.

    ``length_pool`` (batches per pool) groups samples of similar length, so a batch pads less
    (a batch is padded to its longest prompt): each run of ``length_pool * batch_size``
    shuffled samples is sorted by source length and cut into batches, and the family's batches
    are then shuffled, so long and short batches still alternate at random.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if length_pool is not None and length_pool < 1:
        raise ValueError(f"length_pool must be at least 1 batch, got {length_pool}")
    queues: dict[str, deque[list[Sample]]] = {}
    for family, samples in samples_by_family.items():
        order = rng.permutation(len(samples)).tolist()
        if length_pool is None:
            batches = [order[k : k + batch_size] for k in range(0, len(order), batch_size)]
        else:
            pool = length_pool * batch_size
            batches = []
            for start in range(0, len(order), pool):
                run = sorted(order[start : start + pool], key=lambda i: len(samples[i].source))
                batches += [run[k : k + batch_size] for k in range(0, len(run), batch_size)]
            batches = [batches[i] for i in rng.permutation(len(batches)).tolist()]
        queues[family] = deque([samples[i] for i in batch] for batch in batches)
    out: list[list[Sample]] = []
    while any(queues.values()):
        for queue in queues.values():
            if queue:
                out.append(queue.popleft())
    return out
