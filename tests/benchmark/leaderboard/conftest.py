"""Synthetic result files for the leaderboard tests (no model is fitted)."""

from __future__ import annotations

import copy
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmark.registry import LazyRegistry
from benchmark.results import Result, load_all, write_result

METRICS = ["hr@10", "ndcg@10"]


def base_record(method: str, seed: int, *, key: str = "toy", task: str = "sequential") -> dict:
    return {
        "dataset": {
            "name": key.split("+")[0],
            "key": key,
            "content_hash": "0123456789abcdef0123",
            "format": "csv",
            "n_users": 200,
            "n_items": 50,
            "n_interactions": 2000,
        },
        "task": {
            "name": task,
            "kind": "full",
            "n_candidates": None,
            "mask_history": True,
            "description": "Predict each user's last interaction.",
            "metrics": list(METRICS),
        },
        "method": {"name": method, "params": {"dim": 8}, "fit_info": {}},
        "seed": seed,
        "protocol": {
            "split": "leave-one-out",
            "chronology": "timestamp",
            "tie_rule": "file order",
            "id_indexing": "original",
            "users_dropped": 3,
            "candidates": None,
        },
        "metrics": {},
        "users_evaluated": 0,
        "timing": {
            "fit_seconds": 1.5,
            "predict_seconds": 0.5,
            "predict_users_per_second": 400.0,
            "peak_memory_mb": 100.0,
        },
        "config_hash": "cafe",
        "environment": {
            "git_commit": "abcdef1234567890",
            "hardware": {"cpu": "test"},
            "packages": {},
        },
    }


def hits(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """0/1 per-user values with about ``rate`` ones."""
    return (rng.random(n) < rate).astype(np.float64)


MakeResult = Callable[..., Path]


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return tmp_path / "results"


@pytest.fixture
def make_result(results_dir: Path) -> MakeResult:
    """Write one result whose per-user metric values are given (or drawn at ``rate``)."""

    def make(
        method: str,
        seed: int = 0,
        *,
        values: dict[str, np.ndarray] | np.ndarray | None = None,
        rate: float = 0.3,
        users: np.ndarray | None = None,
        n_users: int = 200,
        key: str = "toy",
        task: str = "sequential",
        edit: Callable[[dict[str, Any]], None] | None = None,
        rng_seed: int | None = None,
    ) -> Path:
        record = base_record(method, seed, key=key, task=task)
        if users is None:
            users = np.arange(n_users, dtype=np.int64)
        users = np.asarray(users, dtype=np.int64)
        if values is None:
            rng = np.random.default_rng(rng_seed if rng_seed is not None else seed)
            values = hits(users.size, rate, rng)
        if isinstance(values, np.ndarray):
            values = {m: values for m in METRICS}
        # ranks that give these values (a hit at rank 1, a miss beyond the cut-off) when they are
        # 0/1 and alike for both metrics; other values are synthetic (load with verify=False)
        first = np.asarray(values[METRICS[0]], dtype=np.float64)
        rank = np.where(first > 0, 1, 11).astype(np.int64)
        per_user: dict[str, np.ndarray] = {"users": users, "rank": rank}
        for m in METRICS:
            per_user[m] = np.asarray(values[m], dtype=np.float64)
            record["metrics"][m] = float(np.mean(per_user[m]))
        record["users_evaluated"] = int(users.size)
        if edit is not None:
            edit(record)
        return write_result(results_dir, copy.deepcopy(record), per_user)

    return make


@pytest.fixture
def load(results_dir: Path) -> Callable[..., list[Result]]:
    """Load the written results; ``verify=False`` for synthetic per-user values that no rank
    vector gives (the metric check would rightly refuse them)."""
    return lambda verify=True: load_all(results_dir, verify=verify)


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> LazyRegistry:
    """An empty stand-in for ``methods.METHODS``.

    The BibTeX and baseline lookup (``benchmark.cite.method_attribute``) imports ``methods``,
    which imports torch (seconds); a fake module keeps these tests fast and independent of which
    real methods exist. Tests register fakes on it.
    """
    fake = types.ModuleType("methods")
    fake.METHODS = LazyRegistry("method")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "methods", fake)
    return fake.METHODS  # type: ignore[attr-defined]
