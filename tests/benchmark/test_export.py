"""``benchmark.export`` and ``python -m benchmark export``: per-user tables out, as parquet files
or a saved ``DatasetDict``, from results the real runner wrote (``small_results``)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.errors import ConfigError, ResultsError
from benchmark.export import MANIFEST, PROVENANCE, export_results, split_name
from benchmark.metrics.text import CORPUS_METRICS
from benchmark.results import iter_result_files, load_result


def _results(results_dir):
    return [load_result(p) for p in iter_result_files(results_dir)]


def _check_table(frame: pd.DataFrame, results_dir, dataset: str, task: str,
                 methods: set[str] | None = None) -> None:
    """The table holds exactly the (dataset, task) results of ``methods`` (default all), and
    every row is its result's: unit ids, per-unit arrays, metric values and provenance; the
    per-unit means are the JSON's numbers (corpus BLEU excepted)."""
    group = [r for r in _results(results_dir) if r.key[:2] == (dataset, task)
             and (methods is None or r.key[2] in methods)]
    assert group and len(frame) == sum(len(r.users) for r in group)
    assert set(frame["dataset"]) == {dataset} and set(frame["task"]) == {task}
    for res in group:
        rec = res.record
        rows = frame[(frame["method"] == res.key[2]) & (frame["seed"] == res.key[3])]
        unit = "example" if rec["task"]["kind"] == "generation" else "user"
        assert np.array_equal(rows[unit].to_numpy(), res.users)
        for key, arr in res.per_user.items():
            if key != "users":
                assert rows[key].tolist() == arr.tolist(), key
        for metric, value in rec["metrics"].items():
            if metric not in CORPUS_METRICS:
                assert rows[metric].mean() == pytest.approx(value, abs=1e-12)
        assert set(PROVENANCE) <= set(frame.columns)
        first = rows.iloc[0]
        assert first["result_file"] == res.path.relative_to(results_dir).as_posix()
        assert first["config_hash"] == rec["config_hash"]
        assert first["git_commit"] == rec["environment"]["git_commit"]
        assert first["dataset_content_hash"] == rec["dataset"]["content_hash"]
        assert first["per_user_sha256"] == rec["per_user_sha256"]
        cand = (rec.get("candidates_file") or {}).get("sha256")
        assert (pd.isna(first["candidates_sha256"]) if cand is None
                else first["candidates_sha256"] == cand)


TABLES = [("Reviews_5", "explanation"), ("toy", "sequential"), ("toy", "topn")]


def test_parquet_export_round_trips(small_results, tmp_path):
    out = tmp_path / "export"
    written = export_results(small_results, out, "parquet")
    assert [(t.dataset, t.task) for t in written] == TABLES
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["format"] == "parquet"
    for table in manifest["tables"]:
        assert table["file"] == f"{table['dataset']}/{table['task']}.parquet"
        frame = pd.read_parquet(out / table["file"])
        assert len(frame) == table["rows"]
        _check_table(frame, small_results, table["dataset"], table["task"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no temp dir left


def test_hf_export_opens_with_load_from_disk(small_results, tmp_path):
    datasets = pytest.importorskip(
        "datasets", reason='--format hf needs the hf extra: pip install "recbench[hf]"'
    )
    out = tmp_path / "hf"
    export_results(small_results, out, "hf", methods=["pop", "item-expl"])
    dd = datasets.load_from_disk(str(out))
    assert sorted(dd) == [split_name(d, t) for d, t in TABLES]
    for table in json.loads((out / MANIFEST).read_text())["tables"]:
        frame = dd[table["split"]].to_pandas()
        _check_table(frame, small_results, table["dataset"], table["task"],
                     methods={"pop", "item-expl"})


def test_split_names_are_word_characters():
    assert split_name("p5_toys+random-ids", "sequential+prompt=unseen") == (
        "p5_toys_random_ids__sequential_prompt_unseen")


def test_a_directory_export_did_not_write_is_refused_without_force(small_results, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match=r"not empty and was not written by `benchmark export`"
                                          r".*--force"):
        export_results(small_results, out, "parquet")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    export_results(small_results, out, "parquet", tasks="topn", force=True)
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "toy"]
    # a previous export is replaced whole, without --force
    export_results(small_results, out, "parquet", tasks="sequential")
    assert [p.name for p in (out / "toy").iterdir()] == ["sequential.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_the_results_directory_is_never_an_export_target(small_results, tmp_path):
    results = shutil.copytree(small_results, tmp_path / "work" / "results")
    for target in (tmp_path / "work", results, results / "export"):
        with pytest.raises(ConfigError, match="results directory"):
            export_results(results, target, "parquet", force=True)
    assert len(iter_result_files(results)) == len(iter_result_files(small_results))


def test_relative_targets_and_the_current_directory(small_results, tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work / "sub")
    for target in (".", ".."):
        with pytest.raises(ConfigError, match="is or holds the current directory"):
            export_results(small_results, target, "parquet", force=True)
    export_results(small_results, "../exports/../out", "parquet", tasks="topn")
    assert sorted(p.name for p in work.iterdir()) == ["out", "sub"]  # no temp dir left
    assert sorted(p.name for p in (work / "out").iterdir()) == [MANIFEST, "toy"]


def test_a_failed_export_leaves_the_previous_one(small_results, tmp_path, monkeypatch):
    out = tmp_path / "export"
    export_results(small_results, out, "parquet", tasks="topn")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("pyarrow.parquet.write_table", disk_full)
    with pytest.raises(OSError, match="disk full"):
        export_results(small_results, out, "parquet")
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_hf_without_datasets_names_the_extra(small_results, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)  # import fails
    with pytest.raises(ConfigError, match=r'pip install "recbench\[hf\]"'):
        export_results(small_results, tmp_path / "out", "hf")
    assert not (tmp_path / "out").exists()


def test_cli_export(small_results, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["export", "--format", "parquet", "--results-dir", str(small_results),
                 "--datasets", "toy", "--tasks", "sequential,topn", "--methods", "pop",
                 "--seeds", "0", str(out)]) == 0
    assert "wrote 2 table(s)" in capsys.readouterr().out
    frame = pd.read_parquet(out / "toy" / "topn.parquet")
    assert set(frame["method"]) == {"pop"} and set(frame["seed"]) == {0}

    assert main(["export", "--format", "parquet", "--results-dir", str(small_results),
                 "--methods", "sasrek", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "no result for method 'sasrek'" in err and "idplus1" in err
    assert not (tmp_path / "x").exists()
    assert main(["export", "--format", "parquet", "--results-dir", str(tmp_path / "none"),
                 str(tmp_path / "x")]) == 2
    assert "no such results directory" in capsys.readouterr().err
    assert main(["export", "--format", "parquet", "--results-dir", str(small_results),
                 "--seeds", "one", str(tmp_path / "x")]) == 2
    assert "--seeds 'one': expected comma-separated integers" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--format", "csv", str(tmp_path / "x")])
    assert exit_.value.code == 2
    assert "invalid choice: 'csv'" in capsys.readouterr().err


def test_unknown_format_from_python_is_named(small_results, tmp_path):
    with pytest.raises(ConfigError, match=r"--format 'csv': expected one of parquet, hf"):
        export_results(small_results, tmp_path / "x", "csv")


def test_empty_results_directory_is_an_error(tmp_path):
    (tmp_path / "results").mkdir()
    with pytest.raises(ResultsError, match="holds no results"):
        export_results(tmp_path / "results", tmp_path / "out", "parquet")
    assert not (tmp_path / "out").exists()
