"""The leaderboards as a static web site: ``<out>/site/index.html`` and one page per board.

A reader who does not want Markdown opens ``site/index.html`` from disk and gets sortable
tables, the charts and links to the run cards and result files. Pages are rendered from the
same :class:`Leaderboard` objects as the Markdown tables (and format numbers with the same
helpers), so the two cannot disagree.

Each page is self-contained: its CSS and the sorting script are inline and nothing is loaded
from the network, so it works offline and from a ``file://`` path. Charts, cards and result
files are reached by relative links into the leaderboard directory and ``results/``, not
copied. Like every other output, a page is a pure function of the results (no dates, stable
order), which lets ``leaderboard --check`` compare it byte for byte.
"""

from __future__ import annotations

import html
import math
import os
import posixpath
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from benchmark.leaderboard.build import Leaderboard, Row
from benchmark.leaderboard.cards import card_path
from benchmark.leaderboard.charts import charts_for
from benchmark.leaderboard.render import (
    INDEX,
    _fit,
    _mem,
    _num,
    _per_seed_value,
    _protocol_items,
    _test_caption,
    _ups,
    _value,
)

__all__ = ["SITE_DIR", "SITE_INDEX", "render_site", "render_site_index", "render_site_page",
           "site_page"]

#: the site's folder inside the leaderboard directory
SITE_DIR = "site"
#: the site's entry page, relative to the leaderboard directory
SITE_INDEX = f"{SITE_DIR}/index.html"

_CSS = """\
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:90rem;padding:1rem 1.5rem;color:#1f2328;line-height:1.45}
a{color:#0550ae}nav{font-size:.9rem;margin-bottom:1rem}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;
background:#f3f4f6;padding:0 .2em;border-radius:3px}
dl.protocol{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;font-size:.9rem}
dl.protocol dt{font-weight:600}dl.protocol dd{margin:0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.88rem;font-variant-numeric:tabular-nums}
caption{caption-side:bottom;text-align:left;font-size:.85rem;padding-top:.5rem;
max-width:80rem;color:#4b5563}
th,td{border-bottom:1px solid #d0d7de;padding:.3rem .6rem;white-space:nowrap}
thead th{background:#f6f8fa;text-align:left;vertical-align:bottom}thead th.num{text-align:right}
td.num{text-align:right}tbody th{text-align:left;font-weight:normal}
th[aria-sort]{cursor:pointer}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;
color:inherit;width:100%;text-align:inherit}
th[aria-sort=ascending] button::after{content:" \\25B2"}
th[aria-sort=descending] button::after{content:" \\25BC"}
td.best{font-weight:700}sup{font-weight:normal;color:#6e7781}
.tag{font-size:.8em;color:#6e7781}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #d0d7de}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:.8rem}
"""

# Sorts a table.sortable by the clicked column: numbers by the data-value of each cell (the
# mean, not the printed "mean ± std"), text as text, missing values last in both directions,
# ties in the board's order (data-rank). A first click sorts ascending, the next descending. The
# header's button makes it reachable by keyboard; the whole cell takes the click.
_JS = """\
(function () {
  "use strict";
  function key(cell, type) {
    var v = cell.getAttribute("data-value");
    if (type === "text") { return v === null ? null : v; }
    if (v === null || v === "") { return null; }
    var x = parseFloat(v);
    return isNaN(x) ? null : x;
  }
  function compare(a, b, col, type, dir) {
    var x = key(a.cells[col], type), y = key(b.cells[col], type);
    if (x === null || y === null) {
      if (x !== y) { return x === null ? 1 : -1; }
    } else if (x !== y) {
      return dir * (x < y ? -1 : 1);
    }
    return Number(a.getAttribute("data-rank")) - Number(b.getAttribute("data-rank"));
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.tHead.rows[0].cells;
    var body = table.tBodies[0];
    Array.prototype.forEach.call(heads, function (th, col) {
      if (!th.querySelector("button")) { return; }
      th.addEventListener("click", function () {  // anywhere in the header cell
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        var type = th.getAttribute("data-type");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) { return compare(a, b, col, type, dir); });
        Array.prototype.forEach.call(heads, function (h) {
          if (h.hasAttribute("aria-sort")) { h.setAttribute("aria-sort", "none"); }
        });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
"""

_CODE_RE = re.compile(r"`([^`]+)`")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _inline(text: str) -> str:
    """Escaped text, with the Markdown code spans the notes use (`x`) as ``<code>``."""
    return _CODE_RE.sub(r"<code>\1</code>", _esc(text))


def _href(rel: str) -> str:
    """A relative link as an attribute value. Percent-encoded so that a name with ``#``, ``?``,
    spaces or a colon (read as a URL scheme) still reaches its file; ``+`` and ``=``, common in
    board names, stay readable."""
    return _esc(quote(rel, safe="/+=,@"))


def site_page(lb: Leaderboard) -> str:
    """A board's page, relative to the leaderboard directory."""
    return f"{SITE_DIR}/{lb.dataset_key}/{lb.task}.html"


def _from_page(lb: Leaderboard, target: str) -> str:
    """``target`` (relative to the leaderboard directory) relative to the board's page."""
    return posixpath.relpath(target, posixpath.dirname(site_page(lb)))


def _document(title: str, body: list[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>\n{_CSS}</style>",
        "</head>",
        "<body>",
        *body,
        f"<script>\n{_JS}</script>",
        "</body>",
        "</html>",
    ]) + "\n"


def _sort_head(label: str, kind: str, sort: str = "none", cls: str = "") -> str:
    """A sortable column header: ``kind`` is "number" or "text"; ``sort`` its aria-sort; ``cls``
    "num" for a right-aligned column of numbers."""
    cls_attr = f' class="{cls}"' if cls else ""
    return (f'<th scope="col" data-type="{kind}" aria-sort="{sort}"{cls_attr}>'
            f'<button type="button">{_esc(label)}</button></th>')


def _number(x: float | None) -> str:
    """A sort key for ``data-value``: full precision, empty when there is no number."""
    return "" if x is None or math.isnan(x) else repr(float(x))


def _metric_td(row: Row, metric: str) -> str:
    cell = row.cells[metric]
    text = _esc(_value(cell.mean, cell.std))
    if cell.markers:
        text += f"<sup>{_esc(''.join(cell.markers))}</sup>"
    cls = "num best" if cell.best else "num"
    return f'<td class="{cls}" data-value="{_number(cell.mean)}">{text}</td>'


def _efficiency_td(x: float | None, text: str) -> str:
    return f'<td class="num" data-value="{_number(x)}">{_esc(text)}</td>'


def _seeds_td(row: Row, page_dir: Path) -> str:
    """The seeds, each linking to its result file (relative to the page, as on the cards)."""
    links = []
    for seed, source in zip(row.seeds, row.sources):
        rel = Path(os.path.relpath(Path(source).resolve(), page_dir.resolve())).as_posix()
        links.append(f'<a href="{_href(rel)}" title="{_esc(Path(source).name)}">{seed}</a>')
    return f'<td data-value="{row.n_seeds}">{", ".join(links)}</td>'


def _row_html(lb: Leaderboard, index: int, row: Row, page_dir: Path) -> str:
    method = (f'<a href="{_href(_from_page(lb, card_path(lb, row.method)))}">'
              f"{_esc(row.method)}</a>")
    if row.baseline:
        method += ' <span class="tag">(baseline)</span>'
    if row.capped_seeds:
        method += ' <span class="tag" title="a fit stopped at its epoch cap">†</span>'
    cells = [
        f'<td data-value="{index}">{_esc(row.letter)}</td>',
        f'<th scope="row" data-value="{_esc(row.method)}">{method}</th>',
        *(_metric_td(row, m) for m in lb.metrics),
        _seeds_td(row, page_dir),
        _efficiency_td(row.fit_seconds, _fit(row.fit_seconds)),
        _efficiency_td(row.train_samples_per_second, _ups(row.train_samples_per_second)),
        _efficiency_td(row.predict_users_per_second, _ups(row.predict_users_per_second)),
        _efficiency_td(row.peak_memory_mb, _mem(row.peak_memory_mb)),
    ]
    return (f'<tr data-rank="{index}" data-method="{_esc(row.method)}">'
            + "".join(cells) + "</tr>")


def _caption(lb: Leaderboard) -> str:
    legend = ", ".join(f"{_esc(letter)} = {_esc(m)}" for letter, m in lb.legend)
    return (
        f"Mean ± sample std over seeds of {_esc(_per_seed_value(lb))}; <strong>bold</strong>: "
        f"best mean per column; rows sorted by {_esc(lb.main_metric)} (click a column header to "
        "sort by its mean; click again to reverse). Superscript letters mark the methods a row "
        f"is significantly better than: {_esc(_test_caption(lb))}. Legend: {legend}. Each "
        "method links to its run card, each seed to its result file."
    )


def render_site_page(lb: Leaderboard, out_dir: Path) -> str:
    """One board as an HTML page: protocol header, sortable table, notes, charts, baselines
    and references. ``out_dir`` is the leaderboard directory: result files are linked relative
    to the page's place in it."""
    page_dir = Path(out_dir) / posixpath.dirname(site_page(lb))
    base = f"{lb.dataset_key}/{lb.task}"
    files = " · ".join(
        f'<a href="{_href(_from_page(lb, f"{base}.{ext}"))}">{ext}</a>'
        for ext in ("md", "tex", "csv")
    )
    title = f"{lb.dataset_key} — {lb.task}"
    body = [
        f'<nav><a href="{_href(_from_page(lb, SITE_INDEX))}">All leaderboards</a> · '
        f"this table as {files}</nav>",
        "<main>",
        f"<h1>{_esc(title)}</h1>",
    ]
    if lb.task_info.get("description"):
        body.append(f'<p class="description">{_inline(str(lb.task_info["description"]).strip())}'
                    "</p>")
    body += ['<h2 id="protocol">Protocol</h2>', '<dl class="protocol">']
    body += [f"<dt>{_esc(k)}</dt><dd>{_inline(v)}</dd>" for k, v in _protocol_items(lb)]
    body.append("</dl>")

    heads = [
        _sort_head("", "number"),
        _sort_head("Method", "text"),
        *(_sort_head(m, "number", "descending" if m == lb.main_metric else "none", "num")
          for m in lb.metrics),
        _sort_head("Seeds", "number"),
        _sort_head("Fit (s)", "number", cls="num"),
        _sort_head("Train (samples/s)", "number", cls="num"),
        _sort_head("Predict (users/s)", "number", cls="num"),
        _sort_head("Peak mem (MB)", "number", cls="num"),
    ]
    body += [
        '<h2 id="results">Results</h2>',
        '<div class="scroll">',
        '<table class="sortable board" id="board">',
        f"<caption>{_caption(lb)}</caption>",
        "<thead><tr>" + "".join(heads) + "</tr></thead>",
        "<tbody>",
        *(_row_html(lb, i, row, page_dir) for i, row in enumerate(lb.rows)),
        "</tbody>",
        "</table>",
        "</div>",
    ]
    if lb.notes:
        body += ['<h2 id="notes">Notes</h2>', "<ul>"]
        body += [f"<li>{_inline(n)}</li>" for n in lb.notes]
        body.append("</ul>")
    charts = charts_for(lb)
    if charts:
        body.append('<h2 id="charts">Charts</h2>')
        for chart in charts:
            src = _href(_from_page(lb, f"{base}/{chart.name}"))
            body.append(f'<figure><img src="{src}" alt="{_esc(chart.alt)}">'
                        f"<figcaption>{_esc(chart.alt)}</figcaption></figure>")
        body.append("<p><em>Bars: 95% confidence intervals of the mean over seeds (Student t "
                    "from the table's std, clipped at 0); a method with one seed has none.</em>"
                    "</p>")
    baselines = [row for row in lb.rows if row.baseline]
    if baselines:
        body += ['<h2 id="baselines">Baselines</h2>',
                 "<p>Reference points, not published methods: a row that does not beat them "
                 "has not shown what it adds.</p>", "<ul>"]
        body += [f"<li><strong>{_esc(row.method)}</strong>: {_inline(row.baseline)}</li>"
                 for row in baselines]
        body.append("</ul>")
    refs = [row for row in lb.rows if row.bibtex]
    if refs:
        body.append('<h2 id="references">References</h2>')
        for row in refs:
            body += [f"<h3>{_esc(row.method)}</h3>", f"<pre>{_esc(row.bibtex.strip())}</pre>"]
    body.append("</main>")
    return _document(f"{title} · recbench leaderboard", body)


def render_site_index(boards: Sequence[Leaderboard]) -> str:
    """The site's entry page: one sortable row per board, linking to its page."""
    body = [
        f'<nav>The same boards as Markdown: <a href="{_href(f"../{INDEX}")}">{INDEX}</a></nav>',
        "<main>",
        "<h1>recbench leaderboards</h1>",
        "<p>Generated from the committed result files by <code>python -m benchmark "
        "leaderboard</code>; do not edit by hand, regenerate instead. Each board's page has "
        "its protocol, a table you can sort by any column, its charts, and links to every "
        "method's run card and result files.</p>",
    ]
    if not boards:
        body += ["<p>No results yet.</p>", "</main>"]
        return _document("recbench leaderboards", body)
    heads = [_sort_head("Dataset", "text"), _sort_head("Task", "text"),
             _sort_head("Methods", "number", cls="num"), _sort_head("Top", "text"),
             _sort_head("Metric", "text"),
             # not sortable: boards rank by different metrics, so their values do not compare
             '<th scope="col" class="num">Top value</th>']
    rows = []
    for i, lb in enumerate(boards):
        top = lb.rows[0]
        mean = top.cells[lb.main_metric].mean
        link = _href(posixpath.relpath(site_page(lb), SITE_DIR))
        rows.append(
            f'<tr data-rank="{i}">'
            f'<td data-value="{_esc(lb.dataset_key)}">{_esc(lb.dataset_key)}</td>'
            f'<td data-value="{_esc(lb.task)}"><a href="{link}">{_esc(lb.task)}</a></td>'
            f'<td class="num" data-value="{len(lb.rows)}">{len(lb.rows)}</td>'
            f'<td data-value="{_esc(top.method)}">{_esc(top.method)}</td>'
            f'<td data-value="{_esc(lb.main_metric)}">{_esc(lb.main_metric)}</td>'
            f'<td class="num">{_esc(_num(mean))}</td></tr>'
        )
    body += [
        '<table class="sortable" id="boards">',
        "<thead><tr>" + "".join(heads) + "</tr></thead>",
        "<tbody>", *rows, "</tbody>",
        "</table>",
        "</main>",
    ]
    return _document("recbench leaderboards", body)


def render_site(boards: Sequence[Leaderboard], out_dir: Path) -> dict[str, str]:
    """Every page of the site, keyed by path relative to the leaderboard directory."""
    files = {SITE_INDEX: render_site_index(boards)}
    for lb in boards:
        files[site_page(lb)] = render_site_page(lb, out_dir)
    return files
