"""Fixtures of the reliability battery (issue 14): every input error stops before the first fit
with exit status 2, one line naming the file or field, and the results tree as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from benchmark.cli import main


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, bytes]]:
    """Every file under a directory with its bytes ({} when the directory does not exist)."""

    def take(root: Path) -> dict[str, bytes]:
        if not root.exists():
            return {}
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file()}

    return take


@pytest.fixture
def cli(capsys) -> Callable[..., tuple[int, list[str]]]:
    """``python -m benchmark ARGS`` in-process: (exit status, the lines written to stderr)."""

    def call(*argv: str) -> tuple[int, list[str]]:
        capsys.readouterr()
        code = main(list(argv))
        return code, capsys.readouterr().err.splitlines()

    return call


@pytest.fixture
def no_fit(monkeypatch) -> None:
    """Any fit fails the test: the checks under test must come before training."""

    def refuse(self, ctx):
        raise AssertionError("trained before the input was checked")

    for target in ("methods.pop.Popularity.fit", "methods.random_baseline.RandomScores.fit"):
        monkeypatch.setattr(target, refuse)
