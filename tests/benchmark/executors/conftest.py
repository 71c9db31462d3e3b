"""Run configs over the shared ``toy_dir`` dataset (tests/conftest.py), for the executors."""

import pytest

from benchmark.config import RunConfig


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
