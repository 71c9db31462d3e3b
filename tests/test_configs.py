"""The committed run configs must stay valid as the code changes."""

from pathlib import Path

import pytest

from benchmark.config import load_config
from methods import METHODS
from tasks import TASKS

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads_and_names_exist(path):
    cfg = load_config(path, {})
    for name in cfg.methods:
        METHODS.get(name)
    for name in cfg.tasks:
        TASKS.get(name)
