"""Resume trusts nothing it cannot verify (issue 14, point 6): an entry is finished only when
its JSON parses and its per-user file matches the sha256 recorded in it; anything else is rerun,
one line saying why."""

from __future__ import annotations

import pytest

from benchmark.errors import ResultsError
from benchmark.results import load_result
from benchmark.resume import is_finished, read_entry, sidecar_problem


@pytest.fixture
def finished(toy_dir, tmp_path, cli):
    """A results tree with one finished entry, and the command that made it."""
    res = tmp_path / "res"
    argv = ["run", "--methods", "pop", "--datasets", str(toy_dir), "--tasks", "sequential",
            "--seeds", "0", "--results-dir", str(res), "--no-progress"]
    assert cli(*argv)[0] == 0
    return argv, res / "toy/sequential/pop/seed0.json"


def test_truncated_per_user_file_is_rerun(finished, cli):
    argv, json_path = finished
    npz = json_path.with_suffix(".npz")
    npz.write_bytes(npz.read_bytes()[:100])
    code, err = cli(*argv)
    assert code == 0
    assert err == [f"rerunning {json_path}: its per-user file does not match its recorded sha256"]
    load_result(json_path)  # whole again: the sidecar matches its record


def test_missing_per_user_file_is_rerun(finished, cli):
    argv, json_path = finished
    json_path.with_suffix(".npz").unlink()
    code, err = cli(*argv)
    assert code == 0 and err == [f"rerunning {json_path}: its per-user file seed0.npz is missing"]
    load_result(json_path)


def test_unparseable_json_is_rerun(finished, cli):
    argv, json_path = finished
    json_path.write_text('{"config_hash": ')
    code, err = cli(*argv)
    assert code == 0 and err == [f"rerunning {json_path}: its JSON does not parse"]
    load_result(json_path)


def test_verified_entries_are_skipped_silently(finished, cli, capsys):
    argv, json_path = finished
    before = json_path.read_bytes()
    code, err = cli(*argv)
    assert code == 0 and err == [] and json_path.read_bytes() == before


def test_another_configuration_is_still_refused(finished, toy_dir, cli):
    argv, json_path = finished
    npz = json_path.with_suffix(".npz")
    npz.write_bytes(b"")  # damaged too: still not overwritten under another configuration
    code, err = cli(*argv, "--profile", "paper")
    assert code == 2 and len(err) == 1 and "different configuration" in err[0]
    assert npz.read_bytes() == b""


def test_the_checks_one_by_one(finished):
    _, json_path = finished
    record = read_entry(json_path)
    assert record is not None and sidecar_problem(json_path, record) is None
    assert is_finished(json_path)
    assert sidecar_problem(json_path, {}) == "it records no per-user file and sha256"
    json_path.write_text("[1, 2]")
    assert read_entry(json_path) is None and not is_finished(json_path)
    assert not is_finished(json_path.with_name("seed9.json"))


def test_load_result_still_refuses_what_resume_reruns(finished):
    _, json_path = finished
    json_path.with_suffix(".npz").write_bytes(b"x")
    with pytest.raises(ResultsError, match="sha256 does not match"):
        load_result(json_path)
