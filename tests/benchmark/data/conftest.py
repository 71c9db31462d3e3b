"""Shared fixtures for the dataset-layer tests: fixture paths and an isolated cache root."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmark.errors import DataError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "data"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own cache root, so no test reads or writes ~/.cache/recbench."""
    root = tmp_path_factory.mktemp("recbench-cache")
    monkeypatch.setenv("RECBENCH_CACHE", str(root))
    return root


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def copy_fixture(tmp_path: Path) -> Callable[[str], Path]:
    """Copy ``tests/fixtures/data/<rel>`` to a writable temp directory and return the copy."""

    def copy(rel: str, dest: str | None = None) -> Path:
        target = tmp_path / (dest or Path(rel).name)
        shutil.copytree(FIXTURES / rel, target)
        return target

    return copy


@pytest.fixture
def data_error() -> Callable[..., str]:
    """Run ``fn`` expecting a DataError; check it names ``file`` (and ``line``); return it."""

    def check(fn: Callable[[], object], file: str, line: int | None = None) -> str:
        with pytest.raises(DataError) as info:
            fn()
        message = str(info.value)
        assert file in message, message
        if line is not None:
            assert f"line {line}:" in message, message
            assert info.value.line == line
        return message

    return check
