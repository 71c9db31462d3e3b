"""Executors: where the runs of a matrix execute (``--executor local|ray``).

Each takes the list of run specs and a function that executes one spec and returns the result
paths it wrote; the runner decides what to run, the executor only where and when. ``local``
runs them one after another in this process; ``ray`` spreads them over a Ray cluster.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

from benchmark.errors import ConfigError
from benchmark.executors.base import (
    ExecuteFn,
    Executor,
    RunFailed,
    RunInputError,
    RunSpec,
    run_failed,
)

__all__ = [
    "EXECUTORS",
    "ExecuteFn",
    "Executor",
    "RunFailed",
    "RunInputError",
    "RunSpec",
    "check_executor",
    "describe",
    "get_executor",
    "run_failed",
]

#: ``--executor`` values
EXECUTORS = ("local", "ray")
#: ``--address``: a Ray head's HOST:PORT (``ray://`` for Ray Client), or ``auto`` for the
#: cluster that ``ray start`` set up on this machine
_ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


def check_executor(name: str, address: str | None = None, device: str = "auto") -> None:
    """Refuse an unknown executor, a Ray one without the ray package, or a malformed address,
    before any work."""
    if name not in EXECUTORS:
        raise ConfigError(f"executor: unknown {name!r}; expected one of {', '.join(EXECUTORS)}")
    if name != "ray":
        if address is not None:
            raise ConfigError(
                f"address: {address!r} is for --executor ray only; add --executor ray or drop "
                "--address"
            )
        return
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(
            "executor: 'ray' needs the ray package; install it with pip install -e \".[ray]\""
        )
    if address is not None and address != "auto" and not _ADDRESS.match(address):
        raise ConfigError(
            f"address: {address!r} is not a Ray address; expected HOST:PORT of the head node "
            "(e.g. 10.0.0.1:6379, as printed by `ray start --head`), ray://HOST:PORT for Ray "
            "Client, or auto"
        )
    if device.startswith("cuda:") and device != "cuda:0":
        raise ConfigError(
            f"device: {device!r} cannot be honoured with --executor ray: Ray gives each run its "
            "own GPU(s) (seen as cuda:0); use --device auto or cuda"
        )


def get_executor(name: str, address: str | None = None) -> Executor:
    """The executor called ``name`` (see ``EXECUTORS``)."""
    check_executor(name, address)
    if name == "ray":
        from benchmark.executors.ray import RayExecutor

        return RayExecutor(address)
    from benchmark.executors.local import LocalExecutor

    return LocalExecutor()


def describe(name: str, address: str | None = None) -> dict[str, Any]:
    """What a result records about the executor that ran it (not part of its config hash:
    a result is the same whichever executor produced it)."""
    if name == "ray":
        return {"name": "ray", "address": address or "local"}
    return {"name": name}
