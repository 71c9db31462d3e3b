"""Task definitions, registered by name.

A task declares which targets, which candidates and which metrics; its kind turns it into
requests for a method, scores the answers and describes the protocol (``tasks.base.Task``).
Methods never see how they are scored. What reads a result later (re-scoring, ``compare``, the
leaderboard) asks :func:`result_kind` with the ``task.kind`` the record carries.
"""

import importlib

from benchmark.errors import ResultsError
from benchmark.registry import LazyRegistry
from tasks.base import EvalContext, EvalRequests, Evaluation, ResultKind, Task
from tasks.ranking import RankingTask

TASKS: LazyRegistry = LazyRegistry("task", name_attr="name")
TASKS.add("sequential", "tasks.ranking:SEQUENTIAL")
TASKS.add("topn", "tasks.ranking:TOPN")
TASKS.add("rerank", "tasks.ranking:RERANK")
TASKS.add("explanation", "tasks.explanation:EXPLANATION")

#: ``task.kind`` as result records carry it -> ``"module:NAME"`` of its :class:`ResultKind`
RESULT_KINDS = {
    "full": "tasks.ranking:RANKING_RESULTS",
    "candidates": "tasks.ranking:RANKING_RESULTS",
    "generation": "tasks.explanation:GENERATION_RESULTS",
}


def result_kind(kind: str | None, where: object = "a result") -> ResultKind:
    """How results of task kind ``kind`` are read back; records without a kind predate the
    generation tasks and are ranking results. ``where`` names the file in the error."""
    target = RESULT_KINDS.get("full" if kind is None else kind)
    if target is None:
        raise ResultsError(
            f"{where}: task.kind {kind!r} is not a kind this version of recbench reads "
            f"({', '.join(RESULT_KINDS)}); update recbench, or rerun the entry with --force"
        )
    module, _, name = target.partition(":")
    found = getattr(importlib.import_module(module), name)
    if not isinstance(found, ResultKind):
        raise TypeError(f"{target} is not a tasks.base.ResultKind")
    return found


__all__ = [
    "RESULT_KINDS",
    "TASKS",
    "EvalContext",
    "EvalRequests",
    "Evaluation",
    "RankingTask",
    "ResultKind",
    "Task",
    "result_kind",
]
