"""The command line's own failure modes (issue 14, point 8): Ctrl-C, data-file header and row
errors, and abbreviated flags."""

from __future__ import annotations

import argparse

import pytest

from benchmark.cli import build_parser, main
from benchmark.results import iter_result_files


def test_ctrl_c_prints_one_line_and_exits_130(toy_dir, tmp_path, cli, monkeypatch):
    from methods.random_baseline import RandomScores

    real_fit = RandomScores.fit

    def fit(self, ctx):
        if ctx.seed == 1:
            raise KeyboardInterrupt
        real_fit(self, ctx)

    monkeypatch.setattr(RandomScores, "fit", fit)
    res = tmp_path / "res"
    argv = ["run", "--methods", "random", "--datasets", str(toy_dir), "--seeds", "0,1",
            "--results-dir", str(res), "--no-progress"]
    code, err = cli(*argv)
    assert code == 130
    assert err == ["interrupted after 2 of 4 entries; rerun the same command to resume"]
    assert len(iter_result_files(res)) == 2
    monkeypatch.setattr(RandomScores, "fit", real_fit)
    assert cli(*argv) == (0, [])
    assert len(iter_result_files(res)) == 4


def test_ctrl_c_before_the_plan(toy_dir, tmp_path, cli, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("benchmark.runner.load_dataset", interrupt)
    code, err = cli("run", "--methods", "pop", "--datasets", str(toy_dir),
                    "--results-dir", str(tmp_path / "res"), "--no-progress")
    assert code == 130 and len(err) == 1 and err[0].startswith("interrupted before")


def atomic(tmp_path, text):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "bad.inter").write_text(text)
    return folder


def test_duplicated_column_is_named_as_in_the_file(tmp_path, cli, no_fit):
    d = atomic(tmp_path, "user_id:token\titem_id:token\ttimestamp:float\ttimestamp:float\n"
                         "1\t2\t3\t4\n")
    res = tmp_path / "res"
    code, err = cli("run", "--methods", "pop", "--datasets", str(d), "--results-dir", str(res))
    assert code == 2 and len(err) == 1
    assert "bad.inter, line 1:" in err[0] and "'timestamp:float'" in err[0]
    assert "timestamp:float.1" not in err[0]
    assert not res.exists()


def test_row_with_an_extra_field_is_one_line_about_the_row(tmp_path, cli, no_fit):
    d = atomic(tmp_path, "user_id:token\titem_id:token\ttimestamp:float\n1\t2\t3\n1\t3\t4\t5\n")
    res = tmp_path / "res"
    code, err = cli("run", "--methods", "pop", "--datasets", str(d), "--results-dir", str(res))
    assert code == 2 and len(err) == 1
    assert "bad.inter, line 3: this line has 4 fields, but the header has 3" in err[0]
    assert "typed header" not in err[0]  # the hint is about the row, not the header's layout
    assert not res.exists()


def test_abbreviated_flags_are_refused(toy_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--seed", "0", "--datasets", str(toy_dir),
              "--results-dir", str(tmp_path / "res")])
    assert info.value.code == 2
    assert "unrecognized arguments: --seed" in capsys.readouterr().err
    assert not (tmp_path / "res").exists()


def test_every_parser_takes_whole_flag_names_only():
    parser = build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    parsers = [parser, *(p for s in subs for p in s.choices.values())]
    assert len(parsers) == 8  # top level; run, list, audit, leaderboard, cite, compare, export
    assert [p.prog for p in parsers if p.allow_abbrev] == []
