"""Runs through a local Ray instance give the results of a local run, and resume the same way."""

import numpy as np
import pytest

from benchmark.errors import ConfigError, RecbenchError
from benchmark.executors import RunFailed, RunSpec
from benchmark.results import iter_result_files, load_result
from benchmark.runner import Runner, run

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_session():
    """A 2-CPU Ray instance on the loopback address for the module; the executor uses it
    rather than starting one."""
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, _node_ip_address="127.0.0.1",
             object_store_memory=100 * 2**20, log_to_driver=False)
    yield
    ray.shutdown()


def relative(paths, root):
    return [p.relative_to(root) for p in paths]


def test_ray_run_equals_local_run_and_skips_finished(ray_session, toy_config, tmp_path):
    local_dir, ray_dir = tmp_path / "local", tmp_path / "ray"
    local = run(toy_config(local_dir))
    runner = Runner(toy_config(ray_dir, executor="ray"))
    remote = runner.run()
    assert len(local) == 2 * 2 * 2
    # the same files, returned in the same (plan) order and in the same form
    assert relative(remote, ray_dir) == relative(local, local_dir)
    assert {p.relative_to(ray_dir) for p in ray_dir.rglob("*.npz")} == {
        p.relative_to(local_dir) for p in local_dir.rglob("*.npz")
    }
    for path in local:
        a, b = load_result(path), load_result(ray_dir / path.relative_to(local_dir))
        assert b.record["metrics"] == a.record["metrics"]
        assert b.record["config_hash"] == a.record["config_hash"]
        if a.record["candidates_file"]:  # the same lists (the files' zip timestamps differ)
            assert b.record["candidates_file"]["path"] == a.record["candidates_file"]["path"]
            cand = a.record["candidates_file"]["path"]
            with np.load(local_dir / cand) as za, np.load(ray_dir / cand) as zb:
                assert all(np.array_equal(za[k], zb[k]) for k in za.files)
        assert set(b.per_user) == set(a.per_user)
        for key, values in a.per_user.items():
            assert np.array_equal(b.per_user[key], values), (path, key)
        assert a.record["environment"]["executor"] == {"name": "local"}
        assert b.record["environment"]["executor"] == {"name": "ray", "address": "local"}
    # a second run finds everything finished and submits nothing
    before = {p: p.read_bytes() for p in iter_result_files(ray_dir)}
    again = Runner(toy_config(ray_dir, executor="ray"))
    assert again.run() == [] and again.skipped == 8
    assert {p: p.read_bytes() for p in iter_result_files(ray_dir)} == before
    # and a local run over the Ray run's results finds them finished too
    assert run(toy_config(ray_dir)) == []


def test_ray_resumes_a_partial_matrix(ray_session, toy_config, tmp_path):
    res = tmp_path / "res"
    run(toy_config(res, methods=["pop"], seeds=[0], tasks=["sequential"]))
    runner = Runner(toy_config(res, methods=["pop"], seeds=[0, 1], executor="ray"))
    written = runner.run()
    assert runner.skipped == 1
    assert sorted(str(p.relative_to(res)) for p in written) == [
        "toy/sequential/pop/seed1.json", "toy/topn/pop/seed0.json", "toy/topn/pop/seed1.json",
    ]


def test_a_failed_run_is_named_and_the_others_finish(ray_session, tmp_path):
    from benchmark.executors.ray import RayExecutor

    out = tmp_path / "out"
    out.mkdir()

    def execute(spec):  # runs in the Ray workers (pickled by value)
        if spec.seed == 1:
            raise ValueError("no luck")
        path = out / f"seed{spec.seed}.json"
        path.write_text("{}")
        return [path]

    specs = [RunSpec("toy", "pop", seed, ("sequential",)) for seed in range(3)]
    with pytest.raises(RunFailed, match=r"run toy pop seed 1 \[sequential\] failed: "
                                        r"ValueError: no luck") as info:
        RayExecutor().run(specs, execute, progress=False)
    assert not isinstance(info.value, RecbenchError)
    assert info.value.spec == specs[1]
    assert sorted(p.name for p in out.iterdir()) == ["seed0.json", "seed2.json"]


def test_a_run_no_node_can_hold_is_refused_before_any_work(ray_session, toy_config, tmp_path):
    # sasrec asks for a GPU under the paper profile; this Ray instance has none
    cfg = toy_config(tmp_path / "res", methods=["sasrec"], profile="paper", executor="ray")
    with pytest.raises(ConfigError, match=r"asks for 1 CPU\(s\) and 1 GPU\(s\).*--device cpu"):
        run(cfg)
    assert not (tmp_path / "res").exists()
