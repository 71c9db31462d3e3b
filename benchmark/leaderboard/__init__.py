"""Leaderboards built from committed result files: Markdown, LaTeX and CSV tables.

``build_leaderboards`` turns results into :class:`Leaderboard` objects (aggregation and
significance live there, once); the renderers only format them, and ``write_leaderboards`` /
``check_leaderboards`` (``publish``) keep a directory of rendered tables in sync with the results.
``site`` renders the same boards as a static web site (``<out>/site/index.html``).
"""

from benchmark.leaderboard.build import (
    Cell,
    Comparison,
    Leaderboard,
    Row,
    build_leaderboards,
    method_bibtex,
)
from benchmark.leaderboard.publish import check_leaderboards, render_all, write_leaderboards
from benchmark.leaderboard.render import to_csv, to_latex, to_markdown
from benchmark.leaderboard.site import render_site, render_site_index, render_site_page

__all__ = [
    "Cell",
    "Comparison",
    "Leaderboard",
    "Row",
    "build_leaderboards",
    "check_leaderboards",
    "method_bibtex",
    "render_all",
    "render_site",
    "render_site_index",
    "render_site_page",
    "to_csv",
    "to_latex",
    "to_markdown",
    "write_leaderboards",
]
