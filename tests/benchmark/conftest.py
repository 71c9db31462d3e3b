"""A small results directory written by the real runner, shared (read-only) by the tests that
read results back: ranking results on a toy atomic dataset and explanation results on toy
reviews."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.config import RunConfig
from benchmark.runner import run


def _write_interactions(folder: Path) -> Path:
    """40 users walking forward through about 150 items (atomic format)."""
    rng = np.random.default_rng(0)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(40):
        start = int(rng.integers(1, 150))
        for t in range(int(rng.integers(4, 10))):
            lines.append(f"{u}\t{start + t}\t4\t{1000 + t}")
    folder.mkdir(parents=True)
    (folder / "toy.inter").write_text("\n".join(lines) + "\n")
    return folder


def _write_reviews(path: Path) -> Path:
    """Amazon-2018-style reviews: each item's explanation in two wordings, so the grouped split
    can hold one out while the other trains."""
    rng = np.random.default_rng(1)
    words = ["rose", "mint", "lemon", "vanilla", "cedar", "lavender"]
    rows = []
    for u in range(30):
        for t, i in enumerate(rng.choice(len(words), size=4, replace=False)):
            text = f"The {words[i]} cream feels soft and smells of {words[i]} all day"
            rows.append({"reviewerID": f"U{u}", "asin": f"B{i}", "overall": 5.0,
                         "reviewText": text + (" every time" if u % 2 else "") + ". Buy it!",
                         "summary": "ok", "unixReviewTime": 1000 + t})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="session")
def small_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<dir>/toy/{sequential,topn}/{pop,idplus1}/seed{0,1}`` and
    ``<dir>/Reviews_5/explanation/{item-expl,user-copy}/seed0``; do not write into it."""
    base = tmp_path_factory.mktemp("small_results")
    results = base / "results"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECBENCH_CACHE", str(base / "cache"))
        run(RunConfig(methods=["pop", "idplus1"], datasets=[str(_write_interactions(base / "toy"))],
                      tasks=["sequential", "topn"], seeds=[0, 1], results_dir=str(results),
                      progress=False))
        run(RunConfig(methods=["item-expl", "user-copy"],
                      datasets=[str(_write_reviews(base / "Reviews_5.json"))],
                      tasks=["explanation"], seeds=[0], results_dir=str(results),
                      progress=False))
    return results
