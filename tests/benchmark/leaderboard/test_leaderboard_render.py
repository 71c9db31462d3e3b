"""Markdown/LaTeX/CSV rendering and the write/check round trip of a leaderboard directory."""

from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import pytest

from benchmark.errors import ResultsError
from benchmark.leaderboard import (
    build_leaderboards,
    check_leaderboards,
    to_csv,
    to_latex,
    to_markdown,
    write_leaderboards,
)
from benchmark.leaderboard.render import METRIC_TIE_RULE, tex_escape


@pytest.fixture
def two_methods(make_result):
    """A clearly better ``my_model`` (a) over ``pop`` (b), three seeds each."""
    for s in range(3):
        make_result("my_model", s, rate=0.7, rng_seed=s)
        make_result("base_line", s, rate=0.2, rng_seed=100 + s)


@pytest.fixture
def board(two_methods, load):
    (lb,) = build_leaderboards(load())
    return lb


def test_markdown_contents(board):
    md = to_markdown(board)
    lines = md.splitlines()
    assert lines[0] == "# toy — sequential"
    assert "Predict each user's last interaction." in md
    assert "- **Split:** leave-one-out" in md
    assert "- **Chronology:** timestamp" in md
    assert "- **Candidates:** full catalogue; items in the user's history are masked" in md
    assert "- **Item ids:** original" in md
    assert f"- **Metric ties:** {METRIC_TIE_RULE}" in md
    assert "- **Users evaluated:** 200" in md
    assert "- **Users dropped:** 3" in md
    assert "content hash 0123456789ab" in md and "0123456789abcdef" not in md
    header = next(line for line in lines if line.startswith("|") and "Method" in line)
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "", "Method", "hr@10", "ndcg@10", "Seeds", "Fit (s)", "Train (samples/s)",
        "Predict (users/s)", "Peak mem (MB)",
    ]
    row_a = next(line for line in lines if line.startswith("| a "))
    row_b = next(line for line in lines if line.startswith("| b "))
    mean = board.row("my_model").cells["ndcg@10"].mean
    std = board.row("my_model").cells["ndcg@10"].std
    assert f"**{mean:.4f} ± {std:.4f}**<sup>b</sup>" in row_a
    assert "my_model" in row_a and "0, 1, 2" in row_a
    assert "base_line" in row_b and "<sup>" not in row_b and "**" not in row_b
    caption = next(line for line in lines if line.startswith("*Mean"))
    assert "paired t-test" in caption
    assert "Holm" in caption and "α = 0.05" in caption
    assert "all 2 comparisons" in caption
    assert "Legend: a = my_model, b = base_line." in caption
    assert "## References" not in md  # neither name has BibTeX
    assert md.endswith("\n") and not md.endswith("\n\n")


def test_markdown_references_and_single_seed(make_result, load, registry):
    class Cited:
        bibtex = "@inproceedings{cited2020,\n  title={Cited}\n}\n"

    registry.add("cited", Cited)
    make_result("cited", 0)
    make_result("uncited", 0, rng_seed=3)
    (lb,) = build_leaderboards(load())
    md = to_markdown(lb)
    refs = md.split("## References", 1)[1]
    assert "### cited\n\n```bibtex\n@inproceedings{cited2020,\n  title={Cited}\n}\n```\n" in refs
    assert "uncited" not in refs
    assert " ± " not in md.split("## References")[0].split("| a ")[1].splitlines()[0]


def test_latex_contents(board):
    tex = to_latex(board)
    assert r"\begin{tabular}{llrrlrrrr}" in tex
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert tex.count(rule) == 1
    a_line = next(line for line in tex.splitlines() if line.startswith("a & "))
    b_line = next(line for line in tex.splitlines() if line.startswith("b & "))
    assert r"my\_model" in a_line and r"\textbf{" in a_line and "$^{b}$" in a_line
    assert r"base\_line" in b_line and r"\textbf" not in b_line and "$^{" not in b_line
    assert r"{\scriptsize $\pm$ " in a_line
    assert r"\caption{toy --- sequential." in tex
    assert r"a: my\_model, b: base\_line" in tex
    assert r"$\alpha$ = 0.05" in tex
    assert r"\label{tab:toy-sequential}" in tex
    assert "±" not in tex and "α" not in tex and "—" not in tex  # ASCII-safe


def test_tex_escape():
    assert tex_escape("a_b & 50% #1 $x$ {y} ~^\\") == (
        r"a\_b \& 50\% \#1 \$x\$ \{y\} \textasciitilde{}\textasciicircum{}\textbackslash{}"
    )


def test_csv_contents(board):
    rows = list(csv.DictReader(io.StringIO(to_csv(board))))
    assert [r["method"] for r in rows] == ["my_model", "base_line"]
    a, b = rows
    assert a["rank"] == "1" and a["letter"] == "a" and a["n_seeds"] == "3"
    assert a["seeds"] == "0 1 2"
    cell = board.row("my_model").cells["hr@10"]
    assert float(a["hr@10_mean"]) == cell.mean
    assert float(a["hr@10_std"]) == cell.std
    assert a["hr@10_best"] == "1" and b["hr@10_best"] == "0"
    assert a["ndcg@10_better_than"] == "b" and b["ndcg@10_better_than"] == ""
    assert float(a["fit_seconds"]) == 1.5
    assert float(a["predict_users_per_second"]) == 400.0
    assert float(a["peak_memory_mb"]) == 100.0
    assert a["users_evaluated"] == "200"


def test_csv_single_seed_std_is_blank(make_result, load):
    make_result("m", 0)
    (lb,) = build_leaderboards(load())
    (row,) = csv.DictReader(io.StringIO(to_csv(lb)))
    assert row["ndcg@10_std"] == "" and row["n_seeds"] == "1"


def test_notes_are_rendered(make_result, load):
    make_result("full", 0, rate=0.5)
    make_result("partial", 0, users=np.arange(10, 200), rng_seed=4)
    (lb,) = build_leaderboards(load())
    md, tex = to_markdown(lb), to_latex(lb)
    assert "Notes:" in md and "different users" in md
    assert "different users" in tex
    assert "- **Users evaluated:** 190–200" in md


def test_renders_are_deterministic(two_methods, load):
    first = build_leaderboards(load())[0]
    second = build_leaderboards(load())[0]
    for render in (to_markdown, to_latex, to_csv):
        assert render(first) == render(second)


def test_write_then_check_round_trip(two_methods, results_dir, tmp_path, make_result):
    out = tmp_path / "leaderboards"
    written = write_leaderboards(results_dir, out)
    rel = sorted(p.relative_to(out).as_posix() for p in written)
    assert rel == [
        "MANIFEST", "README.md", "site/index.html", "site/toy/sequential.html",
        "toy/sequential.csv", "toy/sequential.md", "toy/sequential.tex",
        "toy/sequential/cards/base_line.md", "toy/sequential/cards/my_model.md",
        "toy/sequential/chart_cost.png", "toy/sequential/chart_metric.png",
    ]
    readme = (out / "README.md").read_text()
    assert "[md](toy/sequential.md)" in readme and "[csv](toy/sequential.csv)" in readme
    assert check_leaderboards(results_dir, out) == []

    # byte-identical regeneration, and an unchanged file is not rewritten
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in written}
    write_leaderboards(results_dir, out)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in written} == before

    md = out / "toy" / "sequential.md"
    md.write_text(md.read_text().replace("my_model", "hand_edit"))
    problems = check_leaderboards(results_dir, out)
    assert len(problems) == 1 and problems[0].startswith(f"changed: {md}")

    write_leaderboards(results_dir, out)
    assert check_leaderboards(results_dir, out) == []
    make_result("newcomer", 0, key="other")
    problems = check_leaderboards(results_dir, out)
    assert any(p.startswith("missing:") and "other/sequential.md" in p for p in problems)
    assert any("README.md" in p for p in problems)

    (out / "toy" / "sequential.tex").unlink()
    assert any(
        p == f"missing: {out / 'toy' / 'sequential.tex'}"
        for p in check_leaderboards(results_dir, out)
    )


def test_stale_leaderboards_are_removed(two_methods, results_dir, tmp_path, make_result):
    make_result("m", 0, key="gone")
    out = tmp_path / "leaderboards"
    write_leaderboards(results_dir, out)
    assert (out / "gone" / "sequential.md").exists()
    keep = [out / "notes.txt", out / "toy" / "figure.png"]
    for path in keep:
        path.write_text("not ours")

    shutil.rmtree(results_dir / "gone")
    problems = check_leaderboards(results_dir, out)
    assert any(p.startswith("extra:") and "gone/sequential.csv" in p for p in problems)
    write_leaderboards(results_dir, out)
    assert not (out / "gone").exists()
    assert all(path.read_text() == "not ours" for path in keep)
    assert check_leaderboards(results_dir, out) == []


def test_missing_or_empty_results_change_nothing(two_methods, results_dir, tmp_path):
    out = tmp_path / "lb"
    write_leaderboards(results_dir, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    empty = tmp_path / "empty"
    empty.mkdir()
    for bad, says in ((tmp_path / "typo", "no such results directory"),
                      (empty, "holds no results")):
        with pytest.raises(ResultsError, match=says) as err:
            write_leaderboards(bad, out)
        assert str(bad) in str(err.value)
        with pytest.raises(ResultsError, match=says):
            check_leaderboards(bad, out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_only_files_it_wrote_are_deleted(two_methods, results_dir, tmp_path, make_result):
    make_result("m", 0, key="gone")
    out = tmp_path / "o"
    (out / "toy").mkdir(parents=True)
    (out / "toy" / "notes.md").write_text("mine")  # a user's file beside the tables
    (out / "sub").mkdir()
    (out / "sub" / "a.md").write_text("mine too")
    write_leaderboards(results_dir, out)
    assert (out / "gone" / "sequential.md").is_file()
    assert "gone/sequential.md" in (out / "MANIFEST").read_text()
    for p in sorted((results_dir / "gone").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    (results_dir / "gone").rmdir()
    write_leaderboards(results_dir, out)
    assert not (out / "gone").exists()  # its own stale files (and emptied folders) go
    assert (out / "toy" / "notes.md").read_text() == "mine"  # everything else stays
    assert (out / "sub" / "a.md").read_text() == "mine too"
    assert check_leaderboards(results_dir, out) == []


def test_a_file_in_the_way_is_named_not_overwritten(two_methods, results_dir, tmp_path):
    out = tmp_path / "o"
    (out / "toy").mkdir(parents=True)
    (out / "toy" / "sequential.md").write_text("my own table")
    with pytest.raises(ResultsError, match="not written by") as err:
        write_leaderboards(results_dir, out)
    assert str(out / "toy" / "sequential.md") in str(err.value)
    assert (out / "toy" / "sequential.md").read_text() == "my own table"
    assert sorted(p.name for p in out.rglob("*")) == ["sequential.md", "toy"]


def test_a_directory_from_before_manifests_is_adopted(two_methods, results_dir, tmp_path):
    out = tmp_path / "o"
    write_leaderboards(results_dir, out)
    (out / "MANIFEST").unlink()  # as written by a version without manifests
    (out / "toy" / "old.md").write_text("stale table of a vanished task")
    write_leaderboards(results_dir, out)
    assert not (out / "toy" / "old.md").exists() and (out / "MANIFEST").is_file()


def test_data_quirks_are_shown_in_the_header(make_result, load):
    quirks = {"valid_ties_previous": 0.2, "test_ties_previous": 0.9071, "test_in_history": 0.25,
              "tie_break": "source file row order (stable sort)",
              "titles": "generated ids from IDGenRec (P5 datasets without titles)"}
    make_result("a", 0, edit=lambda r: r["protocol"].update(data_quirks=quirks))
    md = to_markdown(build_leaderboards(load())[0])
    line = next(ln for ln in md.splitlines() if ln.startswith("- **Data quirks:**"))
    assert "90.7% of users' test and 20.0% of their validation" in line
    assert "source file row order (stable sort) decides" in line
    assert "25.0% of test items are already in the user's history" in line
    assert "LLM methods read these ids as titles" in line


def test_results_without_quirks_say_so(two_methods, load):
    md = to_markdown(build_leaderboards(load())[0])
    assert "- **Data quirks:** not recorded by these results" in md


def test_baselines_are_marked_and_listed(two_methods, load, registry):
    import types

    registry.add("base_line", f"{__name__}:_FakeBaseline")
    globals()["_FakeBaseline"] = types.SimpleNamespace(
        baseline="items by training popularity", bibtex="")
    lb = build_leaderboards(load())[0]
    md = to_markdown(lb)
    assert "[base_line](sequential/cards/base_line.md) (baseline)" in md
    assert "## Baselines" in md and "- **base_line**: items by training popularity" in md
    assert "(baseline)" not in md.split("## Baselines")[0].split("my_model")[1].split("\n")[0]
    assert "base\\_line {\\scriptsize (baseline)}" in to_latex(lb)
    rows = list(csv.DictReader(io.StringIO(to_csv(lb))))
    assert {r["method"]: r["baseline"] for r in rows} == {"my_model": "0", "base_line": "1"}


def test_quirks_come_from_any_result_that_recorded_them(make_result, load):
    quirks = {"valid_ties_previous": 0.1, "test_ties_previous": 0.44, "test_in_history": 0.0,
              "tie_break": "source file row order (stable sort)", "titles": "from the data file"}
    make_result("aaa_old", 0)  # sorts first and predates the record
    make_result("zzz_new", 0, edit=lambda r: r["protocol"].update(data_quirks=quirks))
    md = to_markdown(build_leaderboards(load())[0])
    assert "44.0% of users' test and 10.0% of their validation" in md


def test_slow_predictions_keep_two_significant_digits():
    from benchmark.leaderboard.render import _ups

    assert [_ups(x) for x in (None, 0.3976, 2.71, 13.4, 16840.2)] == [
        "–", "0.4", "2.7", "13", "16,840"]
