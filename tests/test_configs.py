"""The committed run configs must stay valid as the code changes."""

from pathlib import Path

import pytest

from benchmark.config import load_config
from benchmark.runner import Runner

ROOT = Path(__file__).resolve().parent.parent / "configs"
CONFIGS = sorted(ROOT.rglob("*.yaml"))  # nested folders too (configs/p2rec-choices/)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_config_loads_and_names_exist(path):
    cfg = load_config(path, {})
    # the runner's checks before any data is read: names, task variants, method params and
    # which methods can answer which tasks
    methods, tasks = Runner(cfg)._check_names()
    assert list(methods) == cfg.methods and list(tasks) == cfg.tasks
