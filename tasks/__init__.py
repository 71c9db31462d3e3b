"""Task definitions, registered by name.

A task declares which targets, which candidates and which metrics; its kind turns it into
requests for a method, scores the answers and describes the protocol (``tasks.base.Task``).
Methods never see how they are scored.
"""

from benchmark.registry import LazyRegistry
from tasks.base import EvalContext, EvalRequests, Evaluation, Task
from tasks.ranking import RankingTask

TASKS: LazyRegistry = LazyRegistry("task", name_attr="name")
TASKS.add("sequential", "tasks.ranking:SEQUENTIAL")
TASKS.add("topn", "tasks.ranking:TOPN")
TASKS.add("rerank", "tasks.ranking:RERANK")
TASKS.add("explanation", "tasks.explanation:EXPLANATION")

__all__ = ["TASKS", "EvalContext", "EvalRequests", "Evaluation", "RankingTask", "Task"]
