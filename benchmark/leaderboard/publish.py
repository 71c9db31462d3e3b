"""Keep a directory of rendered leaderboards in sync with the results, owning only its files.

``write_leaderboards`` writes every table, run card, chart and the index atomically and records
what it wrote in ``MANIFEST`` (one relative path per line). The next write deletes only files
named in that manifest that are no longer produced; anything else under the directory (notes, a
user's own tables) is left alone, and a file it would overwrite without having written it is an
error that names it. ``check_leaderboards`` tells a CI job whether the committed directory is
what the results render to. Nothing is changed when the results cannot be read: a missing or
empty results directory is an error, not an empty leaderboard.

Beside each table ``<dataset>/<task>/`` holds its run cards (``cards/<method>.md``, checked like
the tables) and charts (``chart_*.png``, checked by the hash of their data, see
:mod:`benchmark.leaderboard.charts`). ``site/`` holds the same boards as HTML pages
(:mod:`benchmark.leaderboard.site`), listed in the manifest and checked like the tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.errors import ResultsError
from benchmark.leaderboard.build import build_leaderboards
from benchmark.leaderboard.cards import card_charts, card_path, render_card
from benchmark.leaderboard.charts import DATA_KEY, Chart, charts_for, read_png_text
from benchmark.leaderboard.render import INDEX, render_index, to_csv, to_latex, to_markdown
from benchmark.leaderboard.site import SITE_DIR, render_site
from benchmark.results import (
    atomic_write_bytes,
    atomic_write_text,
    load_result,
    select_result_files,
)

__all__ = ["MANIFEST", "check_leaderboards", "render_all", "write_leaderboards"]

#: the list of files the last write produced, relative to the output directory
MANIFEST = "MANIFEST"
_MANIFEST_HEADER = (
    "# Files written by `python -m benchmark leaderboard`; it deletes only files listed here.\n"
)
#: how the index of directories written before the manifest existed begins
_LEGACY_INDEX_START = "# Leaderboards\n\nGenerated from the committed result files by"


def _results(results_dir: Path) -> list:
    """Every result under ``results_dir``; an error (nothing written) when there are none."""
    return [load_result(p) for p in select_result_files(results_dir)]


def _render(
    results_dir: Path, out_dir: Path, **kw: Any
) -> tuple[dict[str, str], dict[str, Chart]]:
    """Text files (tables, index, run cards, web pages, manifest) and charts, keyed by path
    relative to ``out_dir``."""
    results = _results(Path(results_dir))
    by_path = {res.path: res for res in results}
    boards = build_leaderboards(results, **kw)
    files: dict[str, str] = {INDEX: render_index(boards)}
    charts: dict[str, Chart] = {}
    for lb in boards:
        base = f"{lb.dataset_key}/{lb.task}"
        files[f"{base}.md"] = to_markdown(lb)
        files[f"{base}.tex"] = to_latex(lb)
        files[f"{base}.csv"] = to_csv(lb)
        for row in lb.rows:
            rel = card_path(lb, row.method)
            runs = [by_path[p] for p in row.sources]
            files[rel] = render_card(lb, row, runs, (Path(out_dir) / rel).parent)
            for chart in card_charts(lb, row, runs):
                charts[f"{Path(rel).parent.as_posix()}/{chart.name}"] = chart
        for chart in charts_for(lb):
            charts[f"{base}/{chart.name}"] = chart
    files.update(render_site(boards, out_dir))  # only .html: no clash with the files above
    files[MANIFEST] = _MANIFEST_HEADER + "".join(f"{p}\n" for p in sorted({*files, *charts}))
    return files, charts


def render_all(
    results_dir: Path, out_dir: Path = Path("leaderboards"), **kw: Any
) -> dict[str, str]:
    """Every text file :func:`write_leaderboards` owns, as relative POSIX path -> text.

    ``out_dir`` is where they will be written: run cards link to the result files relative
    to it.
    """
    return _render(results_dir, out_dir, **kw)[0]


def _legacy_owned(out_dir: Path) -> set[str]:
    """What a version without a manifest wrote, recognised by its index: tables one level
    down, run cards, charts (and web pages)."""
    index = out_dir / INDEX
    if not (index.is_file() and index.read_text(encoding="utf-8").startswith(
            _LEGACY_INDEX_START)):
        return set()
    candidates = [
        index,
        *(p for p in out_dir.glob("*/*") if p.suffix in (".md", ".tex", ".csv")),
        *out_dir.glob("*/*/cards/*.md"),
        *out_dir.glob("*/*/chart_*.png"),
        *out_dir.glob(f"{SITE_DIR}/*.html"),  # a site whose manifest was lost
        *out_dir.glob(f"{SITE_DIR}/*/*.html"),
    ]
    return {p.relative_to(out_dir).as_posix() for p in candidates
            if p.is_file() and not p.name.startswith(".")}


def owned(out_dir: Path) -> set[str]:
    """Files the previous write produced: its manifest (itself included), or, for a directory
    written before manifests, the files its recognisable layout names."""
    path = out_dir / MANIFEST
    if not path.is_file():
        return _legacy_owned(out_dir)
    lines = path.read_text(encoding="utf-8").splitlines()
    entries = {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}
    for rel in entries:  # a manifest must not reach outside its directory
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise ResultsError(f"{path}: entry {rel!r} points outside {out_dir}; fix the file")
    return entries | {MANIFEST}


def _chart_digest(path: Path) -> str | None:
    """The data hash recorded in a chart PNG, or None when it has none."""
    return read_png_text(path).get(DATA_KEY) if path.is_file() else None


def write_leaderboards(results_dir: Path, out_dir: Path, **kw: Any) -> list[Path]:
    """Write every leaderboard, run card, chart, the index and the manifest atomically; delete
    the files of vanished groups and rows that the previous manifest lists.

    Unchanged files are left untouched (their mtimes too; a chart is redrawn only when the data
    it plots changed). Returns every current file, sorted.
    """
    out_dir = Path(out_dir)
    files, charts = _render(results_dir, out_dir, **kw)
    previous = owned(out_dir)
    current = set(files) | set(charts)
    collisions = sorted(rel for rel in current - previous if (out_dir / rel).exists())
    if collisions:
        shown = ", ".join(str(out_dir / rel) for rel in collisions[:5])
        more = f" and {len(collisions) - 5} more" if len(collisions) > 5 else ""
        raise ResultsError(
            f"{shown}{more}: not written by `benchmark leaderboard` (not in {out_dir / MANIFEST})"
            " but in the way of a file it writes; move or delete it, or choose another --out. "
            "Nothing was changed."
        )
    for rel in sorted(previous - current):
        path = out_dir / rel
        if not path.is_file():
            continue
        path.unlink()
        parent = path.parent
        while parent != out_dir and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    written = []
    for rel, text in sorted(files.items()):
        path = out_dir / rel
        if not (path.is_file() and path.read_text(encoding="utf-8") == text):
            atomic_write_text(path, text)
        written.append(path)
    for rel, chart in sorted(charts.items()):
        path = out_dir / rel
        if _chart_digest(path) != chart.digest:
            atomic_write_bytes(path, chart.render())
        written.append(path)
    return sorted(written)


def _first_difference(expected: str, found: str) -> str:
    exp, got = expected.splitlines(), found.splitlines()
    for i, (e, g) in enumerate(zip(exp, got, strict=False), start=1):
        if e != g:
            return f"line {i}: expected {e!r}, found {g!r}"
    if len(exp) != len(got):
        return f"expected {len(exp)} lines, found {len(got)}"
    return "line endings or trailing whitespace differ"


def check_leaderboards(results_dir: Path, out_dir: Path, **kw: Any) -> list[str]:
    """Differences between ``out_dir`` and what the results would render; empty if up to date."""
    out_dir = Path(out_dir)
    files, charts = _render(results_dir, out_dir, **kw)
    problems = []
    for rel in sorted(set(files) | set(charts) | owned(out_dir)):
        path = out_dir / rel
        if rel not in files and rel not in charts:
            if path.is_file():
                problems.append(f"extra: {path} matches no result group (stale; regenerate)")
        elif not path.is_file():
            problems.append(f"missing: {path}")
        elif rel in charts:
            found_digest = _chart_digest(path)
            if found_digest != charts[rel].digest:
                problems.append(
                    f"changed: {path}, its plotted data differ from the results (data hash "
                    f"{(found_digest or 'none')[:12]}, expected {charts[rel].digest[:12]})"
                )
        else:
            found = path.read_text(encoding="utf-8")
            if found != files[rel]:
                problems.append(f"changed: {path}, {_first_difference(files[rel], found)}")
    return problems
