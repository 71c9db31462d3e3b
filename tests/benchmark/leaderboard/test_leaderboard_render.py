"""Markdown/LaTeX/CSV rendering and the write/check round trip of a leaderboard directory."""

from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import pytest

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
        "README.md", "toy/sequential.csv", "toy/sequential.md", "toy/sequential.tex",
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


def test_empty_results_give_an_index_only(tmp_path):
    out = tmp_path / "lb"
    written = write_leaderboards(tmp_path / "nothing", out)
    assert written == [out / "README.md"]
    assert "No results yet." in (out / "README.md").read_text()
    assert check_leaderboards(tmp_path / "nothing", out) == []
