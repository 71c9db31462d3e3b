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
    """

    name: str
    description: str
    kind: Literal["full", "candidates"]
    metrics: tuple[str, ...] = DEFAULT_METRICS
    n_negatives: int = 0
    mask_history: bool = True

    @property
    def n_candidates(self) -> int | None:
        return self.n_negatives + 1 if self.kind == "candidates" else None

    def with_options(self, options: dict[str, Any]) -> RankingTask:
        """A variant with some fields changed, named after the change so its results and
        leaderboard stay apart: ``sequential`` + ``{mask_history: false}`` gives
        ``sequential+mask_history=false``."""
        if not options:
            return self
        settable = {"metrics", "n_negatives", "mask_history"}
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
        if "mask_history" in values and not isinstance(values["mask_history"], bool):
            raise ConfigError(f"task_options.{self.name}.mask_history: expected true or false")
        if "n_negatives" in values:
            n = values["n_negatives"]
            if self.kind != "candidates" or not isinstance(n, int) or n < 1:
                raise ConfigError(
                    f"task_options.{self.name}.n_negatives: a positive integer, for candidate "
                    "tasks only"
                )
        suffix = "+".join(
            f"{k}={_option_text(values[k])}" for k in sorted(values)
        )
        return dataclasses.replace(self, name=f"{self.name}+{suffix}", **values)

    def describe(self) -> dict:
        """The task as stored in every result record."""
        out = asdict(self)
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


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)
