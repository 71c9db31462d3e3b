"""``git_state``: which trees count as the committed code, and what is recorded without git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchmark.environment import git_state


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel in ("benchmark/a.py", "configs/c.yaml", "pyproject.toml", "results/r.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x\n")
    _git(root.parent, "init", "-q", str(root))
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    git_state.cache_clear()
    yield root
    git_state.cache_clear()


def _dirty(root: Path):
    git_state.cache_clear()
    return git_state(root)["git_dirty"]


def test_clean_tree_and_changes_anywhere_but_outputs(repo: Path):
    assert _dirty(repo) is False and len(git_state(repo)["git_commit"]) == 40
    (repo / "results" / "new.json").write_text("{}")  # results are written while runs go
    (repo / "leaderboards").mkdir()
    (repo / "leaderboards" / "t.md").write_text("t")
    assert _dirty(repo) is False
    (repo / "configs" / "c.yaml").write_text("changed\n")  # tracked, outside the packages
    assert _dirty(repo) is True
    _git(repo, "checkout", "--", "configs/c.yaml")
    (repo / "pyproject.toml").write_text("changed\n")
    assert _dirty(repo) is True
    _git(repo, "checkout", "--", "pyproject.toml")
    (repo / "configs" / "untracked.yaml").write_text("new\n")  # untracked, outside outputs
    assert _dirty(repo) is True


def test_a_runs_own_results_dir_inside_the_tree_is_output(repo: Path):
    scratch = repo / "perf" / "results" / "check"
    scratch.mkdir(parents=True)
    (scratch / "seed1.json").write_text("{}")  # an earlier seed of a choice check
    assert _dirty(repo) is True  # without knowing it is this run's output
    git_state.cache_clear()
    assert git_state(repo, (scratch,))["git_dirty"] is False
    (repo / "perf" / "p.py").write_text("code\n")  # beside it, still code
    git_state.cache_clear()
    assert git_state(repo, (scratch,))["git_dirty"] is True
    git_state.cache_clear()
    assert git_state(repo, (repo,))["git_dirty"] is True  # the root is never an output
    git_state.cache_clear()


def test_without_git_nothing_is_claimed(tmp_path: Path):
    git_state.cache_clear()
    state = git_state(tmp_path)
    git_state.cache_clear()
    assert state == {"git_commit": "unknown", "git_dirty": "unknown"}
