import json

import numpy as np
import pytest

from benchmark.errors import ResultsError
from benchmark.results import (
    atomic_create_bytes,
    atomic_write_text,
    iter_result_files,
    load_result,
    result_paths,
    write_result,
)


def record(seed=0):
    return {
        "dataset": {"key": "toy"}, "task": {"name": "sequential"}, "method": {"name": "pop"},
        "seed": seed, "metrics": {"hr@10": 0.5},
    }


def test_round_trip(tmp_path):
    per_user = {"users": np.arange(4), "rank": np.array([1, 2, 30, 4]),
                "hr@10": np.array([1.0, 1, 0, 1])}
    path = write_result(tmp_path, {**record(), "metrics": {"hr@10": 0.75}}, per_user)
    assert path == result_paths(tmp_path, "toy", "sequential", "pop", 0)[0]
    res = load_result(path)
    assert res.record["metrics"] == {"hr@10": 0.75}
    assert res.key == ("toy", "sequential", "pop", 0)
    for k, v in per_user.items():
        assert np.array_equal(res.per_user[k], v)
    assert iter_result_files(tmp_path) == [path]


def test_sidecar_from_another_run_is_detected(tmp_path):
    path = write_result(tmp_path, record(), {"users": np.arange(3), "rank": np.ones(3)})
    other = tmp_path / "other"
    other_path = write_result(other, record(), {"users": np.arange(3), "rank": np.zeros(3)})
    path.with_suffix(".npz").write_bytes(other_path.with_suffix(".npz").read_bytes())
    with pytest.raises(ResultsError, match="sha256 does not match"):
        load_result(path)


def test_no_pickle_in_sidecar(tmp_path):
    with pytest.raises(ValueError, match="dtype object"):
        write_result(tmp_path, record(), {"users": np.array([object()], dtype=object)})
    assert iter_result_files(tmp_path) == []


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    atomic_write_text(target, json.dumps({"v": 1}))

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, json.dumps({"v": 2}))
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left behind


def test_atomic_create_keeps_the_first_writer(tmp_path):
    target = tmp_path / "sub" / "cands.npz"
    assert atomic_create_bytes(target, b"first") is True
    assert atomic_create_bytes(target, b"second") is False
    assert target.read_bytes() == b"first"
    assert [p.name for p in target.parent.iterdir()] == ["cands.npz"]  # no temp file left


def test_atomic_writes_get_plain_open_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        atomic_create_bytes(tmp_path / "b.npz", b"x")
    finally:
        os.umask(umask)
    # mkstemp alone would leave 0600
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.npz").stat().st_mode & 0o777 == 0o644
