"""Spread the runs over a Ray cluster: one Ray task per run.

Why Ray rather than a scheduler of our own: it places each run where the CPUs and GPUs it asks
for (``RunSpec.resources``, from the method's profile) are free, gives it those GPUs through
``CUDA_VISIBLE_DEVICES``, retries runs whose node died, and the same code serves one multi-GPU
node (a local Ray instance) and a cluster (``address``).

Workers write their results with the same atomic writer into the same results directory, so on a
cluster that directory must be a filesystem every node mounts at the same path. The driver
leaves finished runs out before submitting; each worker checks again before fitting. A failed
run does not stop the others: every run finishes (its results stay written), then the first
failure is raised, naming its run.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from benchmark.errors import ConfigError
from benchmark.executors.base import ExecuteFn, RunSpec, run_failed


class RayExecutor:
    """Runs specs as Ray tasks on the cluster at ``address`` (None: a Ray instance already
    connected in this process, else a new local one). ``init_options`` go to ``ray.init``."""

    name = "ray"

    def __init__(self, address: str | None = None, **init_options: Any) -> None:
        self.address = address
        self.init_options = init_options

    def run(
        self, specs: Sequence[RunSpec], execute: ExecuteFn, *, progress: bool = True
    ) -> list[Path]:
        if not specs:
            return []
        import ray

        started = not ray.is_initialized()
        if started:
            check_reachable(self.address)
            ray.init(address=self.address, **self.init_options)
        try:
            _check_resources(ray.nodes(), specs)
            return _run(ray, specs, execute, progress)
        finally:
            if started:
                ray.shutdown()


def check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` head that does not answer: ``ray.init`` itself retries
    for minutes before it gives up. Other forms (None, ``auto``, ``ray://...``, a bare
    host) go to Ray unchecked."""
    if not address or "://" in address or address == "auto" or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ConfigError(f"--address {address!r}: the port after ':' must be a number")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(
            f"--address {address}: no Ray head answers there ({exc.strerror or exc}). Start one "
            f"with `ray start --head --port={port}` on {host}, check the host and port, or leave "
            "--address out to start Ray on this machine."
        ) from None


def _execute(execute: ExecuteFn, spec: RunSpec) -> list[Path]:
    """The body of every Ray task (``execute`` arrives from the object store, once per task)."""
    return execute(spec)


def _run(ray: Any, specs: Sequence[RunSpec], execute: ExecuteFn, progress: bool) -> list[Path]:
    # GPU runs get a fresh worker process each (Ray's own default for GPU functions), so a
    # finished run's CUDA memory and engine processes are gone before the next run starts
    cpu_task = ray.remote(_execute)
    gpu_task = ray.remote(max_calls=1)(_execute)
    fn = ray.put(execute)
    index = {}
    for i, spec in enumerate(specs):
        gpus = spec.resources.get("num_gpus", 0)
        ref = (gpu_task if gpus else cpu_task).options(
            num_cpus=spec.resources.get("num_cpus", 1), num_gpus=gpus,
            name=f"recbench {spec.label}",
        ).remote(fn, spec)
        index[ref] = i
    written: list[list[Path]] = [[] for _ in specs]
    failures: list[tuple[RunSpec, BaseException, BaseException]] = []
    pending = list(index)
    bar = tqdm(total=len(specs), desc="runs", disable=not progress, unit="run")
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                spec = specs[index[ref]]
                try:
                    written[index[ref]] = ray.get(ref)
                except Exception as exc:  # a failed run must not stop the others
                    cause = _cause(exc)
                    failures.append((spec, exc, cause))
                    first = str(cause).splitlines()[0] if str(cause) else ""
                    bar.write(f"run {spec.label} failed: {type(cause).__name__}: {first}")
                bar.set_postfix_str(f"{spec.dataset} {spec.method} seed {spec.seed}")
                bar.update(1)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref)
        raise
    finally:
        bar.close()
    if failures:
        spec, exc, cause = failures[0]
        raise run_failed(spec, cause, len(failures)) from exc
    return [p for paths in written for p in paths]


def _cause(exc: BaseException) -> BaseException:
    """The exception raised inside the task (Ray wraps it in a ``RayTaskError``)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def _check_resources(nodes: list[dict[str, Any]], specs: Sequence[RunSpec]) -> None:
    """Refuse a run that no node of the cluster can ever hold (Ray would wait forever)."""
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive", True)]
    for spec in specs:
        cpus = spec.resources.get("num_cpus", 1)
        gpus = spec.resources.get("num_gpus", 0)
        if any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in alive):
            continue
        most_gpus = max((r.get("GPU", 0) for r in alive), default=0)
        most_cpus = max((r.get("CPU", 0) for r in alive), default=0)
        fix = (
            "run it on CPUs with --device cpu, or add a node with that many GPUs"
            if gpus > most_gpus else "start Ray with more CPUs per node"
        )
        raise ConfigError(
            f"executor: run {spec.label} asks for {cpus:g} CPU(s) and {gpus:g} GPU(s) on one "
            f"node, but the Ray cluster's largest nodes have {most_cpus:g} CPU(s) and "
            f"{most_gpus:g} GPU(s); {fix}"
        )
