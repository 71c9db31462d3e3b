"""What every task kind shares: the ``Task`` interface the runner calls, what a task is given to
score a fitted method (``EvalContext``) and what it hands back (``Evaluation``), how its written
results are read back (``ResultKind``), the requests a ranking method answers, and the prompt
and variant-name helpers.

A task kind (``tasks.ranking.RankingTask``, ``tasks.explanation.ExplanationTask``) declares what
it asks a method for, scores the answers with the pure functions of ``benchmark.metrics`` and
describes its protocol, so the runner needs no per-kind code and a new kind touches ``tasks/``
only. Its ``ResultKind`` does the same for what reads results later: re-scoring a result from
its sidecar (``benchmark.results``), pairing units (``benchmark.compare``), the significance test
and the protocol header of a leaderboard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from benchmark.errors import ConfigError
from tasks.split import CHRONOLOGY_RULE, Split

if TYPE_CHECKING:
    from benchmark.data.schema import Dataset
    from benchmark.results import Result
    from methods.base import Method
    from tasks.explanation import ExplanationData


@dataclass
class EvalContext:
    """What a task needs to score a method fitted on one (dataset, seed), besides the method."""

    #: the dataset as loaded (its quirks are recorded with ranking results)
    dataset: Dataset
    #: the run's leave-one-out split, of the data as the method saw it (``id_indexing``)
    split: Split
    seed: int
    #: ``<results_dir>/<dataset_key>/<task>``: where samples shared by every method persist
    task_dir: Path
    #: files a record names are recorded relative to it
    results_dir: Path
    id_indexing: str = "original"
    #: the review examples and their split, on review datasets (``tasks.explanation.prepare``)
    explanation: ExplanationData | None = None
    batch_size: int = 256
    progress: bool = False


@dataclass
class Evaluation:
    """A task's scoring of one method: what the result record and its sidecar hold."""

    #: the sidecar's arrays; ``users`` is the pairing key (users, or example ids)
    per_user: dict[str, np.ndarray]
    metrics: dict[str, float]
    #: what the scoring measured about its requests (``Task.protocol`` adds the rest)
    protocol: dict[str, Any] = field(default_factory=dict)
    #: further top-level record fields, e.g. the shared files the requests came from
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """How many users (or examples) were evaluated."""
        return len(self.per_user["users"])


class Task(Protocol):
    """A task kind: what it asks a method for, how it scores the answers, how it describes its
    protocol. ``evaluate`` is the timed part of a run; ``protocol`` is not."""

    name: str
    description: str
    kind: str
    metrics: tuple[str, ...]
    prompt: str

    @property
    def needs_reviews(self) -> bool:
        """Whether the task is built from review text (the runner refuses datasets without)."""
        ...

    def with_options(self, options: dict[str, Any]) -> Task: ...

    def check_data(self, dataset: Dataset) -> None:
        """Refuse, before any training, a dataset the task cannot be built from."""
        ...

    def check_samples(
        self, task_dir: Path, *, seed: int, dataset: Dataset, users: np.ndarray,
        results_dir: Path,
    ) -> None:
        """Refuse, before any training, a stored sample under ``task_dir`` that a run of
        ``seed`` would read but that is damaged or was drawn for other data."""
        ...

    def describe(self) -> dict: ...

    def evaluate(self, method: Method, ctx: EvalContext) -> Evaluation: ...

    def protocol(self, ctx: EvalContext, evaluation: Evaluation) -> dict[str, Any]: ...


@dataclass(frozen=True)
class BoardFacts:
    """What a leaderboard knows about the protocol behind one table, as plain data, for the
    header its task kind writes (:attr:`ResultKind.header`)."""

    #: the header's dataset line (name, sizes, content hash)
    dataset: str
    #: the protocol the seeds share, and each seed's own (splits drawn per seed differ in counts)
    protocol: dict[str, Any]
    protocol_by_seed: list[dict[str, Any]]
    #: the results' ``task`` record (kind, candidates, metrics, ...)
    task: dict[str, Any]
    metrics: list[str]
    #: distinct counts of evaluated and of dropped units over the results
    evaluated: list[int]
    dropped: list[int]


@dataclass(frozen=True)
class ResultKind:
    """How results of one task kind are read back after the run, by the ``task.kind`` their
    records carry (``tasks.result_kind``): what one per-sample row is, how the metrics are
    recomputed from the sidecar, which significance test compares two methods on its boards,
    and the leaderboard header lines that describe its protocol."""

    #: what a row of the sidecar is, plural ("users", "examples"): the pairing unit of tests
    unit: str
    #: what one seed contributes to a leaderboard cell (the caption's wording)
    per_seed_value: str
    #: ``(result, metric names) -> (metrics, per-unit vectors)`` from the sidecar's evidence
    recompute: Callable[[Result, Sequence[str]], tuple[dict[str, float], dict[str, np.ndarray]]]
    #: the header lines ``(label, text)`` of a board of this kind
    header: Callable[[BoardFacts], list[tuple[str, str]]]
    #: the test every board of this kind uses (``benchmark.stats`` names); None: the board's
    test: str | None = None


def span_text(values: Sequence[int]) -> str:
    """One number, or a range when results disagree (a leaderboard note explains why)."""
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:,}"
    return f"{min(values):,}–{max(values):,}"


def split_protocol(ctx: EvalContext) -> dict[str, Any]:
    """The protocol fields every task records: how interactions are ordered, how item ids were
    assigned, how many users the split dropped."""
    return {
        "chronology": CHRONOLOGY_RULE,
        "id_indexing": ctx.id_indexing,
        "users_dropped": ctx.split.n_dropped,
    }


@dataclass
class EvalRequests:
    """One batch of work for a method: rank ``targets`` given ``histories``.

    For candidate tasks, ``candidates[i]`` lists the items to score for user ``i`` and
    ``target_col[i]`` is where the held-out positive sits in that row.
    """

    users: np.ndarray
    histories: list[np.ndarray]
    targets: np.ndarray
    candidates: np.ndarray | None = None
    target_col: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.users)


#: Prompt wordings a task can ask for. "seen": the wording the method trained on; "unseen": a
#: template held out of training (P5's zero-shot prompts). Methods list the ones they support in
#: ``Method.prompt_variants``; the harness refuses other combinations before any training.
PROMPTS = ("seen", "unseen")


def check_prompt(task_name: str, options: dict[str, Any]) -> None:
    """Refuse a ``prompt`` option outside ``PROMPTS``."""
    if "prompt" in options and options["prompt"] not in PROMPTS:
        raise ConfigError(
            f"task_options.{task_name}.prompt: {options['prompt']!r} is not one of "
            f"{', '.join(PROMPTS)}"
        )


def check_eval_users(task_name: str, value: Any) -> int | None:
    """``eval_users`` as stored: a positive count, or None for every user (0 or "all")."""
    if isinstance(value, bool):
        pass  # an int to Python, but true/false is no number of users
    elif value is None or value == "all" or value == 0:
        return None
    elif isinstance(value, int) and value > 0:
        return value
    raise ConfigError(
        f"task_options.{task_name}.eval_users: expected a positive number of users, or 0 or "
        f"'all' for every user; got {value!r}"
    )


def describe_prompt(described: dict[str, Any]) -> dict[str, Any]:
    """Drop ``prompt`` when it is the default, so results written before the option existed
    keep their config hashes."""
    if described.get("prompt") == "seen":
        del described["prompt"]
    return described


def variant_name(base: str, options: dict[str, Any]) -> str:
    """``sequential`` + ``{mask_history: False}`` -> ``sequential+mask_history=false``."""
    suffix = "+".join(f"{k}={_option_text(options[k])}" for k in sorted(options))
    return f"{base}+{suffix}" if suffix else base


def parse_variant(name: str) -> tuple[str, dict[str, Any]]:
    """Inverse of ``variant_name``: a task name as it appears in results, e.g.
    ``sequential+prompt=unseen``, gives ``("sequential", {"prompt": "unseen"})``."""
    base, *parts = name.split("+")
    options: dict[str, Any] = {}
    for part in parts:
        key, sep, text = part.partition("=")
        if not sep or not key or not text:
            raise ConfigError(
                f"task {name!r}: option {part!r} is not key=value; write e.g. "
                "'sequential+prompt=unseen'"
            )
        options[key] = _option_value(key, text)
    return base, options


def _option_value(key: str, text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if key == "metrics":
        return text.split(",")
    if text.lstrip("-").isdigit():
        return int(text)
    return text


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)
