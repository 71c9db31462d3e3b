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


def test_every_field_but_files_only_ones_has_a_run_flag():
    """A new RunConfig field gets its flag from the field; the CLI lists none by hand."""
    import dataclasses

    from benchmark.cli import build_parser
    from benchmark.config import RunConfig, run_flags

    flags = {f.dest: f.flag for f in run_flags()}
    no_flag = {"method_params", "data_options", "command"}
    assert set(flags) == {f.name for f in dataclasses.fields(RunConfig)} - no_flag
    assert flags["results_dir"] == "--results-dir" and flags["progress"] == "--no-progress"
    assert flags["task_options"] == "--no-mask-history"
    run_help = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert all(flag in run_help for flag in flags.values())
    helps = {f.dest: f.help for f in run_flags()}
    assert helps["methods"].endswith("(default pop,random,sasrec)")  # from the field's default


def test_flags_parse_to_the_fields_types():
    from benchmark.cli import build_parser

    def run_args(*argv: str):
        return build_parser().parse_args(["run", *argv])

    args = run_args("--batch-size", "8", "--force", "--no-progress", "--no-mask-history")
    assert (args.batch_size, args.force, args.progress) == (8, True, False)
    assert args.task_options == {"sequential": {"mask_history": False}}
    args.task_options["sequential"]["mask_history"] = True  # the CLI copies; this must not leak
    fresh = run_args()
    assert (fresh.force, fresh.progress, fresh.task_options, fresh.seeds) == (None,) * 4
    with pytest.raises(SystemExit):
        run_args("--tensor-parallel-size", "two")


def test_coercion_follows_the_annotations(tmp_path):
    cfg = load_config(None, {"seeds": "3, 4", "batch_size": "16", "results_dir": tmp_path})
    assert cfg.seeds == [3, 4] and cfg.batch_size == 16 and cfg.results_dir == str(tmp_path)
    with pytest.raises(ConfigError, match="command line: seeds: expected a list of int"):
        load_config(None, {"seeds": "a"})
    with pytest.raises(ConfigError, match=r"data_options: expected a mapping, e\.g\. \{kcore: 5\}"):
        load_config(None, {"data_options": [1]})


def test_flag_of_refuses_an_unknown_field():
    from benchmark.config import flag_of

    assert flag_of("id_indexing") == "--id-indexing"
    with pytest.raises(KeyError):
        flag_of("no_such_field")


def test_methods_flag_runs_a_subset_of_the_files_methods(tmp_path):
    """``--config board.yaml --methods pod``: the file's parameters of the methods left out do
    not apply (the runner refuses parameters of a method it does not run)."""
    path = tmp_path / "c.yaml"
    path.write_text("methods: [p5, pod]\nmethod_params:\n  p5: {epochs: 80}\n  pod: {epochs: 70}\n")
    cfg = load_config(path, {"methods": "pod"})
    assert cfg.methods == ["pod"] and cfg.method_params == {"pod": {"epochs": 70}}
    assert load_config(path, {}).method_params == {"p5": {"epochs": 80}, "pod": {"epochs": 70}}
