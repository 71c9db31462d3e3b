"""Render leaderboards as Markdown, LaTeX and CSV (and the index of a directory of them).

Output is a pure function of the result files (no timestamps, no absolute paths, fixed float
formats), so regenerating from the same results gives byte-identical files and
:mod:`benchmark.leaderboard.publish` can tell a CI job whether the committed tables are stale.
"""

from __future__ import annotations

import csv
import io
import math
import re
from typing import Any

from tabulate import tabulate

from benchmark.leaderboard.build import Leaderboard, Row
from benchmark.leaderboard.cards import card_link
from benchmark.leaderboard.charts import charts_for
from benchmark.stats import CORPUS_RESAMPLES, CORPUS_TEST, TEST_NAMES
from tasks import result_kind
from tasks.base import BoardFacts
from tasks.ranking import METRIC_TIE_RULE

__all__ = [
    "INDEX",
    "METRIC_TIE_RULE",
    "render_index",
    "to_csv",
    "to_latex",
    "to_markdown",
]

#: the index of a leaderboard directory
INDEX = "README.md"


# --- formatting helpers -----------------------------------------------------------------------


def _num(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.4f}"


def _value(mean: float, std: float | None) -> str:
    return _num(mean) if std is None else f"{_num(mean)} ± {_num(std)}"


def _fit(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def _ups(x: float | None) -> str:
    """Users per second: whole numbers, but two significant digits below 10, so that an LLM's
    0.4 users/s does not print as 0."""
    if x is None:
        return "–"
    return f"{x:.2g}" if x < 10 else f"{x:,.0f}"


def _mem(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def _seeds(row: Row) -> str:
    return ", ".join(str(s) for s in row.seeds)


def _per_seed_value(lb: Leaderboard) -> str:
    """What one seed contributes to a cell, as the board's task kind says."""
    return result_kind(lb.task_info.get("kind"), lb.task).per_seed_value


def _test_caption(lb: Leaderboard) -> str:
    n = len(lb.comparisons)
    if lb.test == CORPUS_TEST:
        return (
            f"{TEST_NAMES[lb.test]} (corpus BLEU from per-sentence n-gram counts, mean ROUGE), "
            f"each test example's two outputs swapped at random within its seed, "
            f"{CORPUS_RESAMPLES:,} resamples, two-sided (Riezler & Maxwell 2005), "
            f"Holm-corrected over all {n} comparison{'s' if n != 1 else ''} in this table "
            f"(every method pair × metric), α = {lb.alpha:g}"
        )
    return (
        f"{TEST_NAMES.get(lb.test, lb.test)} on per-user values averaged over the seeds both "
        f"methods share, Holm-corrected over all {n} comparison{'s' if n != 1 else ''} in "
        f"this table (every method pair × metric), α = {lb.alpha:g}"
    )


def _protocol_items(lb: Leaderboard) -> list[tuple[str, str]]:
    """The header: the lines the board's task kind writes about its protocol, then the code."""
    d = lb.dataset
    chash = str(d.get("content_hash") or "")[:12]
    facts = BoardFacts(
        dataset=(f"{d.get('name')} ({d.get('n_users', 0):,} users, {d.get('n_items', 0):,} "
                 f"items, {d.get('n_interactions', 0):,} interactions), content hash {chash}"),
        protocol=lb.protocol,
        protocol_by_seed=list(lb.protocol_by_seed.values()),
        task=lb.task_info,
        metrics=list(lb.metrics),
        evaluated=list(lb.users_evaluated),
        dropped=list(lb.users_dropped),
    )
    items = result_kind(lb.task_info.get("kind"), lb.task).header(facts)
    if lb.git_commits:
        items.append(("Code", ", ".join(c[:12] for c in lb.git_commits)))
    return items


# --- Markdown ---------------------------------------------------------------------------------


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_cell(row: Row, metric: str) -> str:
    cell = row.cells[metric]
    text = _value(cell.mean, cell.std)
    if cell.best:
        text = f"**{text}**"
    if cell.markers:
        text += f"<sup>{''.join(cell.markers)}</sup>"
    return text


def to_markdown(lb: Leaderboard) -> str:
    """Title, protocol header, table, caption with the marker legend, notes and references."""
    out = [f"# {lb.dataset_key} — {lb.task}", ""]
    if lb.task_info.get("description"):
        out += [str(lb.task_info["description"]).strip(), ""]
    out += [f"- **{k}:** {_md_escape(v)}" for k, v in _protocol_items(lb)]
    out.append("")
    headers = ["", "Method", *lb.metrics, "Seeds", "Fit (s)", "Train (samples/s)",
               "Predict (users/s)", "Peak mem (MB)"]
    body = [
        [
            row.letter,
            f"[{_md_escape(row.method)}]({card_link(lb, row.method)})"
            + (" (baseline)" if row.baseline else "") + (" †" if row.capped_seeds else ""),
            *(_md_cell(row, m) for m in lb.metrics),
            _seeds(row),
            _fit(row.fit_seconds),
            _ups(row.train_samples_per_second),
            _ups(row.predict_users_per_second),
            _mem(row.peak_memory_mb),
        ]
        for row in lb.rows
    ]
    align = ["left", "left", *(["right"] * len(lb.metrics)), "left", "right", "right", "right",
             "right"]
    out.append(
        tabulate(body, headers=headers, tablefmt="github", disable_numparse=True, colalign=align)
    )
    out.append("")
    legend = ", ".join(f"{letter} = {_md_escape(m)}" for letter, m in lb.legend)
    out.append(
        f"*Mean ± sample std over seeds of {_per_seed_value(lb)}; **bold**: best mean "
        f"per column; rows sorted by {lb.main_metric}. Superscript letters mark the methods a "
        f"row is significantly better than: {_test_caption(lb)}. Legend: {legend}. Each "
        "method links to its run card (command, config, environment, data hashes, per-seed "
        "results and per-sample logs).*"
    )
    if lb.notes:
        out += ["", "Notes:", ""]
        out += [f"- {_md_escape(n)}" for n in lb.notes]
    charts = charts_for(lb)
    if charts:
        out += ["", "## Charts", ""]
        for chart in charts:
            out += [f"![{chart.alt}]({lb.task}/{chart.name})", ""]
        out.append(
            "*Bars: 95% confidence intervals of the mean over seeds (Student t from the "
            "table's std, clipped at 0); a method with one seed has none.*"
        )
    baselines = [row for row in lb.rows if row.baseline]
    if baselines:
        out += ["", "## Baselines", "",
                "Reference points, not published methods: a row that does not beat them has "
                "not shown what it adds.", ""]
        out += [f"- **{_md_escape(row.method)}**: {_md_escape(row.baseline)}"
                for row in baselines]
    refs = [row for row in lb.rows if row.bibtex]
    if refs:
        out += ["", "## References", ""]
        for row in refs:
            out += [f"### {row.method}", "", "```bibtex", row.bibtex.strip(), "```", ""]
        out.pop()
    return "\n".join(out) + "\n"


# --- LaTeX ------------------------------------------------------------------------------------

_TEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "–": "--",
    "—": "---",
    "×": r"$\times$",
    "α": r"$\alpha$",
}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX_SPECIALS))


def tex_escape(text: str) -> str:
    """Escape LaTeX special characters (and the few non-ASCII symbols this module emits)."""
    return _TEX_RE.sub(lambda m: _TEX_SPECIALS[m.group(0)], str(text))


def _tex_cell(row: Row, metric: str) -> str:
    cell = row.cells[metric]
    mean = _num(cell.mean)
    text = rf"\textbf{{{mean}}}" if cell.best else mean
    if cell.std is not None:
        text += rf" {{\scriptsize $\pm$ {_num(cell.std)}}}"
    if cell.markers:
        text += f"$^{{{''.join(cell.markers)}}}$"
    return text


def _tex_label(lb: Leaderboard) -> str:
    return "tab:" + re.sub(r"[^A-Za-z0-9:.-]+", "-", f"{lb.dataset_key}-{lb.task}")


def to_latex(lb: Leaderboard) -> str:
    """A booktabs ``table`` for ``\\input``: bold best, ``$^{ab}$`` markers, caption legend."""
    cols = "ll" + "r" * len(lb.metrics) + "lrrrr"
    header = [
        "",
        "Method",
        *(tex_escape(m) for m in lb.metrics),
        "Seeds",
        "Fit (s)",
        "Train/s",
        "Users/s",
        "Mem (MB)",
    ]
    legend = ", ".join(f"{letter}: {tex_escape(m)}" for letter, m in lb.legend)
    caption = (
        f"{tex_escape(lb.dataset_key)} --- {tex_escape(lb.task)}. Mean $\\pm$ sample std over "
        f"seeds; bold: best mean per column. Superscripts mark the methods a row is "
        f"significantly better than: {tex_escape(_test_caption(lb))}. {legend}."
    )
    lines = [
        f"% {lb.dataset_key} / {lb.task}: generated by benchmark.leaderboard; do not edit.",
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{caption}}}",
        rf"\label{{{_tex_label(lb)}}}",
        rf"\begin{{tabular}}{{{cols}}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    for row in lb.rows:
        cells = [
            row.letter,
            tex_escape(row.method) + (r" {\scriptsize (baseline)}" if row.baseline else "")
            + (r"$^\dagger$" if row.capped_seeds else ""),
            *(_tex_cell(row, m) for m in lb.metrics),
            tex_escape(_seeds(row)),
            tex_escape(_fit(row.fit_seconds)),
            tex_escape(_ups(row.train_samples_per_second)).replace(",", "{,}"),
            tex_escape(_ups(row.predict_users_per_second)).replace(",", "{,}"),
            tex_escape(_mem(row.peak_memory_mb)).replace(",", "{,}"),
        ]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if lb.notes:
        lines.append(r"\par\smallskip\footnotesize")
        lines += [f"{tex_escape(n)}\\par" for n in lb.notes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


# --- CSV --------------------------------------------------------------------------------------


def _csv_float(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def to_csv(lb: Leaderboard) -> str:
    """One row per method, full-precision numbers; ``<metric>_better_than`` holds the markers."""
    header = ["dataset", "task", "rank", "letter", "method", "baseline", "n_seeds", "seeds"]
    for m in lb.metrics:
        header += [f"{m}_mean", f"{m}_std", f"{m}_best", f"{m}_better_than"]
    header += ["fit_seconds", "train_samples_per_second", "predict_users_per_second",
               "peak_memory_mb", "users_evaluated"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for rank, row in enumerate(lb.rows, start=1):
        line: list[Any] = [
            lb.dataset_key, lb.task, rank, row.letter, row.method, int(bool(row.baseline)),
            row.n_seeds,
            " ".join(str(s) for s in row.seeds),
        ]
        for m in lb.metrics:
            cell = row.cells[m]
            line += [_csv_float(cell.mean), _csv_float(cell.std), int(cell.best),
                     "".join(cell.markers)]
        line += [
            _csv_float(row.fit_seconds),
            _csv_float(row.train_samples_per_second),
            _csv_float(row.predict_users_per_second),
            _csv_float(row.peak_memory_mb),
            " ".join(str(u) for u in row.users_evaluated),
        ]
        writer.writerow(line)
    return buf.getvalue()


# --- directory of leaderboards ----------------------------------------------------------------


def render_index(boards: list[Leaderboard]) -> str:
    out = [
        "# Leaderboards",
        "",
        "Generated from the committed result files by `benchmark.leaderboard`; do not edit by "
        "hand, regenerate instead. Each table links every method to its run card "
        "(`<task>/cards/<method>.md`: command, config, environment, data hashes, per-seed "
        "results and per-sample logs) and shows its charts (`<task>/chart_*.png`).",
        "",
        "The same boards as a web page, with tables sorted by a click on any column: open "
        "[site/index.html](site/index.html) in a browser (it works offline, from disk).",
        "",
    ]
    if not boards:
        out.append("No results yet.")
        return "\n".join(out) + "\n"
    body = []
    for lb in boards:
        base = f"{lb.dataset_key}/{lb.task}"
        top = lb.rows[0]
        best = f"{_md_escape(top.method)} ({_num(top.cells[lb.main_metric].mean)} {lb.main_metric})"
        body.append([
            f"[{_md_escape(lb.dataset_key)}]({base}.md)",
            _md_escape(lb.task),
            str(len(lb.rows)),
            best,
            f"[md]({base}.md) · [tex]({base}.tex) · [csv]({base}.csv)",
        ])
    out.append(tabulate(
        body, headers=["Dataset", "Task", "Methods", "Top", "Files"], tablefmt="github",
        disable_numparse=True,
    ))
    return "\n".join(out) + "\n"
