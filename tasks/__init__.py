"""Task definitions, registered by name.

A task is declarative data: which targets, which candidates, which metrics. The harness turns
it into requests for a method and scores the answers; methods never see how it is scored.
"""

from benchmark.registry import LazyRegistry
from tasks.base import EvalRequests, RankingTask

TASKS: LazyRegistry = LazyRegistry("task")
TASKS.add("sequential", "tasks.ranking:SEQUENTIAL")
TASKS.add("topn", "tasks.ranking:TOPN")
TASKS.add("rerank", "tasks.ranking:RERANK")
TASKS.add("explanation", "tasks.explanation:EXPLANATION")

__all__ = ["TASKS", "EvalRequests", "RankingTask"]
