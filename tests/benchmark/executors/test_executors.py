"""Choosing and checking an executor, the local executor, and how a run's failure is reported."""

import importlib.util

import pytest

from benchmark.cli import main
from benchmark.errors import ConfigError, RecbenchError, ResultsError
from benchmark.executors import (
    RunFailed,
    RunInputError,
    RunSpec,
    check_executor,
    describe,
    get_executor,
    run_failed,
)
from benchmark.executors.local import LocalExecutor
from benchmark.executors.ray import _check_resources

SPEC = RunSpec("toy", "pop", 1, ("sequential", "topn"))


def test_local_is_the_default_and_runs_in_order():
    ex = get_executor("local")
    assert isinstance(ex, LocalExecutor) and ex.name == "local"
    specs = [RunSpec("toy", "pop", s, ("sequential",)) for s in (2, 0, 1)]
    seen = []
    assert ex.run(specs, lambda spec: seen.append(spec.seed) or [spec.seed], progress=False) == [
        2, 0, 1,
    ]
    assert seen == [2, 0, 1]


def test_local_executor_stops_at_the_first_failure_unchanged():
    def execute(spec):
        if spec.seed == 0:
            raise KeyboardInterrupt
        return []

    specs = [RunSpec("toy", "pop", s, ("sequential",)) for s in (0, 1)]
    with pytest.raises(KeyboardInterrupt):
        LocalExecutor().run(specs, execute, progress=False)


def test_ray_executor_is_chosen_by_name():
    pytest.importorskip("ray")
    from benchmark.executors.ray import RayExecutor

    ex = get_executor("ray", "10.0.0.1:6379")
    assert isinstance(ex, RayExecutor) and ex.address == "10.0.0.1:6379"


@pytest.mark.parametrize(
    ("name", "address", "device", "message"),
    [
        ("dask", None, "auto", "executor: unknown 'dask'; expected one of local, ray"),
        ("local", "10.0.0.1:6379", "auto", "address: '10.0.0.1:6379' is for --executor ray"),
        ("ray", "headnode", "auto", "address: 'headnode' is not a Ray address"),
        ("ray", "http://h:1", "auto", "is not a Ray address"),
        ("ray", None, "cuda:1", "device: 'cuda:1' cannot be honoured with --executor ray"),
    ],
)
def test_bad_executor_settings_are_refused(name, address, device, message):
    if name == "ray":
        pytest.importorskip("ray")
    with pytest.raises(ConfigError, match=message):
        check_executor(name, address, device)


@pytest.mark.parametrize("address", [None, "auto", "10.0.0.1:6379", "head.local:6379",
                                     "ray://head:10001"])
def test_good_ray_addresses_pass(address):
    pytest.importorskip("ray")
    check_executor("ray", address, "cuda")


def test_ray_without_the_package_names_the_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[ray\]"'):
        check_executor("ray")
    check_executor("local")  # the default needs nothing


def test_cli_refuses_a_bad_executor_before_any_work(toy_dir, tmp_path, capsys):
    res = tmp_path / "res"
    code = main(["run", "--methods", "pop", "--datasets", str(toy_dir), "--executor", "dask",
                 "--results-dir", str(res)])
    assert code == 2 and "executor: unknown 'dask'" in capsys.readouterr().err
    code = main(["run", "--methods", "pop", "--datasets", str(toy_dir), "--address",
                 "10.0.0.1:6379", "--results-dir", str(res)])
    assert code == 2 and "--executor ray" in capsys.readouterr().err
    assert not res.exists()


def test_executor_is_described_for_the_record():
    assert describe("local") == {"name": "local"}
    assert describe("ray") == {"name": "ray", "address": "local"}
    assert describe("ray", "10.0.0.1:6379") == {"name": "ray", "address": "10.0.0.1:6379"}


def test_a_failure_names_its_run_and_input_errors_stay_input_errors():
    bug = run_failed(SPEC, ValueError("bad shape"))
    assert type(bug) is RunFailed and not isinstance(bug, RecbenchError)
    assert str(bug) == "run toy pop seed 1 [sequential, topn] failed: ValueError: bad shape"
    bad_input = run_failed(SPEC, ResultsError("no user has 3 interactions"), n_failed=3)
    assert isinstance(bad_input, RunInputError) and isinstance(bad_input, RecbenchError)
    assert "2 other run(s) failed too" in str(bad_input)


def test_runs_no_node_can_hold_are_refused():
    nodes = [
        {"Alive": True, "Resources": {"CPU": 16, "GPU": 2}},
        {"Alive": True, "Resources": {"CPU": 2}},
        {"Alive": False, "Resources": {"CPU": 64, "GPU": 8}},
    ]
    fits = [RunSpec("d", "m", 0, ("t",), {"num_cpus": 1, "num_gpus": 2}),
            RunSpec("d", "m", 1, ("t",), {"num_cpus": 16, "num_gpus": 0})]
    _check_resources(nodes, fits)
    with pytest.raises(ConfigError, match=r"largest nodes have 16 CPU\(s\) and 2 GPU\(s\)"):
        _check_resources(nodes, [RunSpec("d", "m", 0, ("t",), {"num_cpus": 1, "num_gpus": 4})])
    with pytest.raises(ConfigError, match="more CPUs"):
        _check_resources(nodes, [RunSpec("d", "m", 0, ("t",), {"num_cpus": 32, "num_gpus": 0})])


def test_unreachable_ray_head_fails_fast_with_the_fix():
    import socket
    import time

    from benchmark.errors import ConfigError
    from benchmark.executors.ray import check_reachable

    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=f"ray start --head --port={port}"):
        check_reachable(f"127.0.0.1:{port}")
    assert time.perf_counter() - t0 < 10
    with pytest.raises(ConfigError, match="must be a number"):
        check_reachable("127.0.0.1:abc")
    for unchecked in (None, "auto", "ray://127.0.0.1:1", "somehost"):
        check_reachable(unchecked)  # left to Ray
