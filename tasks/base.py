"""What a ranking task is (declarative) and the requests it hands to a method."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from benchmark.errors import ConfigError
from benchmark.metrics import DEFAULT_METRICS, parse_metric


@dataclass(frozen=True)
class RankingTask:
    """A ranking task over the leave-one-out split.

    ``kind="full"`` ranks the target among all items (optionally masking the user's history);
    ``kind="candidates"`` ranks it among ``n_negatives`` sampled items the user never
    interacted with, in an order shuffled with the run's seed and persisted with the results.
    ``eval_users`` evaluates a seeded sample of that many users instead of all of them, for
    methods too slow to answer every user (an LLM generating a ranking per user).
    """

    name: str
    description: str
    kind: Literal["full", "candidates"]
    metrics: tuple[str, ...] = DEFAULT_METRICS
    n_negatives: int = 0
    mask_history: bool = True
    #: which prompt wording prompt-based methods are evaluated with (see ``PROMPTS``)
    prompt: str = "seen"
    #: evaluate a seeded sample of this many users (the same for every method); None = all
    eval_users: int | None = None

    @property
    def n_candidates(self) -> int | None:
        return self.n_negatives + 1 if self.kind == "candidates" else None

    def with_options(self, options: dict[str, Any]) -> RankingTask:
        """A variant with some fields changed, named after the change so its results and
        leaderboard stay apart: ``sequential`` + ``{mask_history: false}`` gives
        ``sequential+mask_history=false``."""
        if not options:
            return self
        settable = {"metrics", "n_negatives", "mask_history", "prompt", "eval_users"}
        unknown = sorted(set(options) - settable)
        if unknown:
            raise ConfigError(
                f"task_options.{self.name}: unknown option(s) {unknown}; settable: "
                f"{sorted(settable)}"
            )
        values = dict(options)
        if "metrics" in values:
            try:
                values["metrics"] = tuple(str(m).lower() for m in values["metrics"])
                for m in values["metrics"]:
                    parse_metric(m)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"task_options.{self.name}.metrics: {exc}") from exc
        check_prompt(self.name, values)
        if "mask_history" in values and not isinstance(values["mask_history"], bool):
            raise ConfigError(f"task_options.{self.name}.mask_history: expected true or false")
        if "n_negatives" in values:
            n = values["n_negatives"]
            if self.kind != "candidates" or not isinstance(n, int) or n < 1:
                raise ConfigError(
                    f"task_options.{self.name}.n_negatives: a positive integer, for candidate "
                    "tasks only"
                )
        named = dict(values)
        if "eval_users" in values:
            values["eval_users"] = check_eval_users(self.name, values["eval_users"])
            named["eval_users"] = values["eval_users"] or "all"  # 0 and "all" name alike
        return dataclasses.replace(self, name=variant_name(self.name, named), **values)

    def describe(self) -> dict:
        """The task as stored in every result record (and hashed into its config hash)."""
        out = describe_prompt(asdict(self))
        if out.get("eval_users") is None:
            # omitted when unset, so results written before the option existed keep their hashes
            out.pop("eval_users", None)
        out["metrics"] = list(self.metrics)
        out["n_candidates"] = self.n_candidates
        return out


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
