"""The default executor: every run in this process, one after another.

It stops at the first failure and raises it unchanged (a ``KeyboardInterrupt`` included), so a
rerun resumes at the first run without results.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from benchmark.executors.base import ExecuteFn, RunSpec


class LocalExecutor:
    """Runs specs in order in the calling process."""

    name = "local"

    def run(
        self, specs: Sequence[RunSpec], execute: ExecuteFn, *, progress: bool = True
    ) -> list[Path]:
        written: list[Path] = []
        bar = tqdm(total=len(specs), desc="fits", disable=not progress, unit="fit")
        try:
            for spec in specs:
                bar.set_postfix_str(f"{spec.dataset} {spec.method} seed {spec.seed}")
                written += execute(spec)
                bar.update(1)
        finally:
            bar.close()
        return written
