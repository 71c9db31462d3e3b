"""What an executor runs: one ``RunSpec`` per fit, and how a failed run is reported.

A run is one (dataset, method, seed) fit together with the task variants it answers (a fit of
``p5`` answers ``sequential`` and ``sequential+prompt=unseen`` alike), so it is the unit an
executor can place on a machine without fitting anything twice. A spec holds names only, never
data: the function that executes it carries the loaded datasets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from benchmark.errors import RecbenchError

#: executes one run and returns the result JSONs it wrote
ExecuteFn = Callable[["RunSpec"], list[Path]]


@dataclass(frozen=True)
class RunSpec:
    """One fit of ``method`` on ``dataset`` with ``seed``, evaluated on ``tasks``."""

    dataset: str
    method: str
    seed: int
    tasks: tuple[str, ...]
    #: what the run asks of a Ray cluster: ``{"num_cpus": .., "num_gpus": ..}``
    resources: dict[str, float] = field(default_factory=lambda: {"num_cpus": 1, "num_gpus": 0})

    @property
    def label(self) -> str:
        return f"{self.dataset} {self.method} seed {self.seed} [{', '.join(self.tasks)}]"


class Executor(Protocol):
    """Runs every spec with ``execute``; returns the written paths in the order of ``specs``."""

    name: str

    def run(
        self, specs: Sequence[RunSpec], execute: ExecuteFn, *, progress: bool = True
    ) -> list[Path]: ...


class RunFailed(RuntimeError):
    """A run failed on an executor that lets the other runs finish; names the run and chains
    the original error (``__cause__``), whose traceback shows where it failed."""

    def __init__(self, spec: RunSpec, cause: BaseException, n_failed: int = 1) -> None:
        more = f" ({n_failed - 1} other run(s) failed too, see above)" if n_failed > 1 else ""
        super().__init__(f"run {spec.label} failed: {type(cause).__name__}: {cause}{more}")
        self.spec = spec
        self.cause = cause


class RunInputError(RunFailed, RecbenchError):
    """A run failed on bad input (a ``RecbenchError`` in the worker): the CLI prints it as one
    line and exits with status 2, as it does for input errors found before any work."""


def run_failed(spec: RunSpec, cause: BaseException, n_failed: int = 1) -> RunFailed:
    """The error to raise for ``spec``'s failure: ``RunInputError`` for input errors."""
    cls = RunInputError if isinstance(cause, RecbenchError) else RunFailed
    return cls(spec, cause, n_failed)
