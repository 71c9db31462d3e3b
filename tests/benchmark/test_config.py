import pytest

from benchmark.config import load_config, stable_hash
from benchmark.errors import ConfigError


def test_yaml_then_flags_win(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "methods: [pop, sasrec]\nseeds: 0,1\nresults-dir: out\n"
        "method_params:\n  sasrec: {hidden: 32}\n"
    )
    cfg = load_config(path, {"seeds": "4", "methods": None})
    assert cfg.methods == ["pop", "sasrec"]
    assert cfg.seeds == [4]
    assert cfg.results_dir == "out"
    assert cfg.method_params == {"sasrec": {"hidden": 32}}


@pytest.mark.parametrize(
    "text, message",
    [
        ("methodz: [pop]\n", "unknown option 'methodz'"),
        ("seeds: [a]\n", "seeds: expected a list of int"),
        ("profile: gpu\n", "profile: unknown 'gpu'"),
        ("id_indexing: shuffled\n", "id_indexing: unknown"),
        ("- just a list\n", "expected a mapping"),
        ("methods: [pop\n", "not valid YAML"),
        ("force: yes please\n", "force: expected true or false"),
    ],
)
def test_bad_config_names_the_field(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, {})


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml", {})


def test_stable_hash_ignores_key_order():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def test_executor_address_and_tensor_parallelism_from_yaml_and_flags(tmp_path):
    pytest.importorskip("ray")
    path = tmp_path / "run.yaml"
    path.write_text("executor: ray\naddress: 10.0.0.1:6379\ntensor-parallel-size: 2\n")
    cfg = load_config(path, {"address": "auto"})
    assert (cfg.executor, cfg.address, cfg.tensor_parallel_size) == ("ray", "auto", 2)
    assert load_config(None, {}).executor == "local"


@pytest.mark.parametrize(
    "text, message",
    [
        ("executor: spark\n", "executor: unknown 'spark'"),
        ("address: 10.0.0.1:6379\n", "address: '10.0.0.1:6379' is for --executor ray only"),
        ("tensor_parallel_size: 0\n", "tensor_parallel_size: must be a positive integer"),
        ("tensor_parallel_size: two\n", "tensor_parallel_size: expected an integer"),
        ("tensor_parallel_size: 2\nbackend: hf\n", "tensor_parallel_size: 2 needs the vllm"),
        ("command: python -m benchmark run\n", "unknown option 'command'"),
    ],
)
def test_bad_executor_config_names_the_field(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, {})
