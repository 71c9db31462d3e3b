"""The static web site: page structure, links, escaping, self-containment and determinism.

Parsed with the standard library's HTML parser; ``test_site_browser.py`` opens the pages in
Chromium and clicks.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from benchmark.leaderboard import (
    build_leaderboards,
    check_leaderboards,
    render_site_index,
    render_site_page,
    write_leaderboards,
)
from benchmark.leaderboard.site import SITE_INDEX, site_page


class Page(HTMLParser):
    """Tags with their attributes, and the body rows of each table as lists of cells."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, list[dict]] = {}
        self.heads: dict[str, list[dict]] = {}
        self._table: str | None = None
        self._section = ""
        self._row: dict | None = None
        self._cell: dict | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table":
            self._table = a.get("id") or ""
            self.tables[self._table], self.heads[self._table] = [], []
        elif tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self._table is not None:
            self._row = {"attrs": a, "cells": []}
        elif tag in ("td", "th") and self._row is not None:
            self._cell = {"attrs": a, "text": "", "html_tags": []}
        elif self._cell is not None:
            self._cell["html_tags"].append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self._row["cells"].append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            target = self.tables if self._section == "tbody" else self.heads
            target[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"] += data

    def links(self) -> list[str]:
        return [a[k] for tag, a in self.tags for k in ("href", "src") if a.get(k)]


@pytest.fixture
def two_methods(make_result):
    """``my_model`` (a) clearly better than ``base_line`` (b), three seeds each."""
    for s in range(3):
        make_result("my_model", s, rate=0.7, rng_seed=s)
        make_result("base_line", s, rate=0.2, rng_seed=100 + s)


@pytest.fixture
def written(two_methods, results_dir, tmp_path) -> Path:
    out = tmp_path / "leaderboards"
    write_leaderboards(results_dir, out)
    return out


def test_board_page_table_matches_the_board(written, load):
    (lb,) = build_leaderboards(load())
    page = Page((written / site_page(lb)).read_text(encoding="utf-8"))
    (head,) = page.heads["board"]
    labels = [c["text"] for c in head["cells"]]
    assert labels == ["", "Method", "hr@10", "ndcg@10", "Seeds", "Fit (s)",
                      "Train (samples/s)", "Predict (users/s)", "Peak mem (MB)"]
    sorts = {c["text"]: c["attrs"]["aria-sort"] for c in head["cells"]}
    assert sorts["ndcg@10"] == "descending"  # the board's own order
    assert {v for k, v in sorts.items() if k != "ndcg@10"} == {"none"}

    rows = page.tables["board"]
    assert [r["attrs"]["data-method"] for r in rows] == ["my_model", "base_line"]
    assert [r["attrs"]["data-rank"] for r in rows] == ["0", "1"]
    for row, lb_row in zip(rows, lb.rows):
        cells = row["cells"]
        assert cells[0]["text"] == lb_row.letter
        assert cells[1]["text"].strip() == lb_row.method
        for cell, metric in zip(cells[2:4], lb.metrics):
            c = lb_row.cells[metric]
            markers = "".join(c.markers)
            assert cell["text"] == f"{c.mean:.4f} ± {c.std:.4f}{markers}"
            assert float(cell["attrs"]["data-value"]) == c.mean
            assert ("best" in cell["attrs"]["class"].split()) == c.best
            assert (("sup", {}) in cell["html_tags"]) == bool(markers)
        assert cells[4]["text"] == "0, 1, 2" and cells[4]["attrs"]["data-value"] == "3"
        assert cells[5]["text"] == f"{lb_row.fit_seconds:.1f}"
    assert rows[0]["cells"][3]["text"].endswith("b")  # my_model beats base_line
    assert not rows[1]["cells"][3]["text"].endswith("a")


def test_every_link_reaches_its_file(written, load):
    (lb,) = build_leaderboards(load())
    for rel in (SITE_INDEX, site_page(lb)):
        path = written / rel
        links = Page(path.read_text(encoding="utf-8")).links()
        assert links
        for link in links:
            target = (path.parent / unquote(link)).resolve()
            assert target.is_file(), f"{rel}: {link} reaches nothing"
    page = Page((written / site_page(lb)).read_text(encoding="utf-8"))
    links = page.links()
    assert "../../toy/sequential/cards/my_model.md" in links
    assert "../../toy/sequential/chart_metric.png" in links
    assert "../../toy/sequential/chart_cost.png" in links
    assert "../../toy/sequential.csv" in links and "../index.html" in links
    results = [x for x in links if x.endswith(".json")]
    assert len(results) == 6 and all("/results/toy/sequential/" in x for x in results)
    imgs = [a for tag, a in page.tags if tag == "img"]
    assert [a["src"] for a in imgs] == ["../../toy/sequential/chart_metric.png",
                                        "../../toy/sequential/chart_cost.png"]
    assert all(a["alt"] for a in imgs)


def test_index_page_lists_every_board(written, make_result, results_dir, tmp_path, load):
    make_result("m", 0, key="other+random-ids", task="topn")
    write_leaderboards(results_dir, written)
    boards = build_leaderboards(load())
    page = Page((written / SITE_INDEX).read_text(encoding="utf-8"))
    rows = page.tables["boards"]
    assert [(r["cells"][0]["text"], r["cells"][1]["text"]) for r in rows] == [
        (lb.dataset_key, lb.task) for lb in boards]
    assert "other+random-ids/topn.html" in page.links()
    assert (written / "site" / "other+random-ids" / "topn.html").is_file()
    assert "site/index.html" in (written / "README.md").read_text(encoding="utf-8")


def test_pages_are_self_contained(written, load):
    (lb,) = build_leaderboards(load())
    for rel in (SITE_INDEX, site_page(lb)):
        page = Page((written / rel).read_text(encoding="utf-8"))
        tags = [tag for tag, _ in page.tags]
        assert "link" not in tags and "iframe" not in tags
        scripts = [a for tag, a in page.tags if tag == "script"]
        assert len(scripts) == 1 and "src" not in scripts[0]
        assert tags.count("style") == 1
        for link in page.links():  # nothing from a CDN or any other host
            assert "://" not in link and not link.startswith("//"), link
        text = (written / rel).read_text(encoding="utf-8")
        assert "@import" not in text and "url(" not in text


def test_text_is_escaped(make_result, load):
    evil = 'x<b onclick="alert(1)">&amp;'
    describe = lambda r: r["task"].update(description="<script>alert(2)</script>")  # noqa: E731
    make_result(evil, 0, rate=0.5, edit=describe)
    make_result("plain", 0, rate=0.1, rng_seed=7, edit=describe)
    (lb,) = build_leaderboards(load())
    lb.notes.append("a note with <img src=x onerror=alert(3)> and `code`")
    text = render_site_page(lb, Path("leaderboards"))
    page = Page(text)
    assert [tag for tag, _ in page.tags].count("script") == 1
    assert not any(tag in ("b", "img") and "onclick" in a or "onerror" in a
                   for tag, a in page.tags)
    assert html.escape(evil) in text and evil not in text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(3)&gt; and <code>code</code>" in text
    rows = page.tables["board"]
    methods = [r["attrs"]["data-method"] for r in rows]
    assert evil in methods  # the attribute round-trips to the very name
    card = next(a["href"] for tag, a in page.tags
                if tag == "a" and a.get("href", "").endswith(".md") and "cards" in a["href"])
    assert "<" not in card and '"' not in card and "%3C" in card
    index = render_site_index([lb])
    assert html.escape(evil) in index and evil not in index


def test_missing_numbers_sort_last_and_show_a_dash(make_result, load):
    make_result("a", 0, edit=lambda r: r["timing"].update(fit_seconds=None))
    (lb,) = build_leaderboards(load())
    row = Page(render_site_page(lb, Path("lb"))).tables["board"][0]
    fit = row["cells"][5]
    assert fit["text"] == "–" and fit["attrs"]["data-value"] == ""


def test_site_is_deterministic_and_checked(written, results_dir, load):
    (lb,) = build_leaderboards(load())
    (again,) = build_leaderboards(load())
    assert render_site_page(lb, written) == render_site_page(again, written)
    assert render_site_index([lb]) == render_site_index([again])
    manifest = (written / "MANIFEST").read_text(encoding="utf-8").splitlines()
    assert SITE_INDEX in manifest and site_page(lb) in manifest
    assert check_leaderboards(results_dir, written) == []

    page = written / site_page(lb)
    page.write_text(page.read_text(encoding="utf-8").replace("my_model", "hand_edit"),
                    encoding="utf-8")
    problems = check_leaderboards(results_dir, written)
    assert len(problems) == 1 and problems[0].startswith(f"changed: {page}")
    page.unlink()
    assert check_leaderboards(results_dir, written) == [f"missing: {page}"]
    write_leaderboards(results_dir, written)
    assert check_leaderboards(results_dir, written) == []
