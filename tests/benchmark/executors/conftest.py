"""The small dataset of tests/benchmark/test_runner.py, for runs through the executors."""

import numpy as np
import pytest

from benchmark.config import RunConfig


@pytest.fixture
def toy_dir(tmp_path):
    """60 users, about 190 items; each user walks forward through the catalogue."""
    rng = np.random.default_rng(0)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(60):
        start = int(rng.integers(1, 180))
        for t in range(int(rng.integers(4, 12))):
            lines.append(f"{u}\t{start + t}\t4\t{1000 + t}")
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "toy.inter").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def toy_config(toy_dir):
    """``RunConfig`` of pop and random on the toy data, two tasks, two seeds: four runs of two
    tasks each; keywords override."""

    def make(results_dir, **kw) -> RunConfig:
        base = dict(
            methods=["pop", "random"], datasets=[str(toy_dir)], tasks=["sequential", "topn"],
            seeds=[0, 1], results_dir=str(results_dir), progress=False,
        )
        base.update(kw)
        return RunConfig(**base)

    return make
