"""The web site in a real browser: headless Chromium opens the pages from disk (file://), the
rows and charts are there, and clicking a column header reorders the rows.

Needs the ``site-test`` extra (Playwright's Python driver) and a Chromium on the machine (Debian:
``apt-get install chromium``; never ``playwright install``). Set ``RECBENCH_CHROMIUM`` to use
another binary. Without either the tests skip and say why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from benchmark.leaderboard import build_leaderboards, write_leaderboards
from benchmark.leaderboard.site import SITE_INDEX, site_page

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is not installed: pip install '.[site-test]' to run the browser tests",
)

REPO = Path(__file__).resolve().parents[3]


def _chromium() -> str | None:
    """``RECBENCH_CHROMIUM`` when set, else Debian's ``chromium``; None when it is not there."""
    configured = os.environ.get("RECBENCH_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    path = _chromium()
    if path is None:
        where = os.environ.get("RECBENCH_CHROMIUM") or "chromium on PATH or /usr/bin/chromium"
        pytest.skip(f"no Chromium ({where} is not there): apt-get install chromium, or set "
                    "RECBENCH_CHROMIUM to a Chromium binary")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    pg = browser.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    pg.close()
    assert errors == [], f"script errors on the page: {errors}"


@pytest.fixture
def site(make_result, results_dir, tmp_path, load) -> tuple[Path, object]:
    """Four methods with distinct hr@10 means and a tie (``tie_a``/``tie_b`` get the same
    values), one without a fit time; written like ``python -m benchmark leaderboard``."""
    n = 200
    rng = np.random.default_rng(0)
    shared = (rng.random(n) < 0.4).astype(np.float64)
    for s in range(2):
        make_result("strong", s, rate=0.8, rng_seed=s)
        make_result("weak", s, rate=0.1, rng_seed=10 + s,
                    edit=lambda r: r["timing"].update(fit_seconds=None))
        make_result("tie_b", s, values=shared)
        make_result("tie_a", s, values=shared)
    out = tmp_path / "leaderboards"
    write_leaderboards(results_dir, out)
    (lb,) = build_leaderboards(load())
    return out, lb


def _methods(pg) -> list[str]:
    return pg.eval_on_selector_all("#board tbody tr", "rs => rs.map(r => r.dataset.method)")


def _column(pg, index: int) -> list[str]:
    return pg.eval_on_selector_all(
        "#board tbody tr", f"rs => rs.map(r => r.cells[{index}].getAttribute('data-value'))")


def _header(pg, label: str):
    return pg.locator("#board thead th").filter(has_text=label).first


def test_rows_and_charts_are_there(site, page):
    out, lb = site
    page.goto((out / site_page(lb)).as_uri())
    assert _methods(page) == [row.method for row in lb.rows]
    assert page.locator("#board tbody tr").count() == len(lb.rows)
    strong = page.locator('#board tbody tr[data-method="strong"]')
    assert strong.locator("sup").first.inner_text() == "".join(
        lb.row("strong").cells["hr@10"].markers)
    assert " ± " in strong.locator("td.num").first.inner_text()
    images = page.locator("img")
    assert images.count() == 2
    for i in range(2):  # loaded from disk through the relative link
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")


def test_clicking_a_header_sorts_by_its_mean(site, page):
    out, lb = site
    page.goto((out / site_page(lb)).as_uri())
    col = 2 + lb.metrics.index("hr@10")
    means = {row.method: row.cells["hr@10"].mean for row in lb.rows}
    by_rank = [row.method for row in lb.rows]
    tie = sorted(["tie_a", "tie_b"], key=by_rank.index)  # the board's order of the tied pair
    assert tie == ["tie_a", "tie_b"]  # equal means: the board breaks the tie by name

    _header(page, "Method").click()
    _header(page, "Method").click()  # by name, descending: the tied pair the other way round
    assert [m for m in _methods(page) if m.startswith("tie")] == tie[::-1]

    _header(page, "hr@10").click()
    assert _header(page, "hr@10").get_attribute("aria-sort") == "ascending"
    order = _methods(page)
    assert [means[m] for m in order] == sorted(means.values())
    assert [float(v) for v in _column(page, col)] == sorted(means.values())
    # ties keep the board's order, not the order the previous click left
    assert [m for m in order if m.startswith("tie")] == tie

    _header(page, "hr@10").click()
    assert _header(page, "hr@10").get_attribute("aria-sort") == "descending"
    order = _methods(page)
    assert [means[m] for m in order] == sorted(means.values(), reverse=True)
    assert [m for m in order if m.startswith("tie")] == tie
    # the cells moved with their rows: still "mean ± std" with the letters they had
    strong = page.locator('#board tbody tr[data-method="strong"]').locator("td.num").nth(
        lb.metrics.index("hr@10"))
    cell = lb.row("strong").cells["hr@10"]
    assert strong.inner_text() == (f"{cell.mean:.4f} ± {cell.std:.4f}"
                                   + "".join(cell.markers))


def test_missing_values_sort_last_both_ways(site, page):
    out, lb = site
    page.goto((out / site_page(lb)).as_uri())
    fit = _header(page, "Fit (s)")
    fit.click()
    assert _methods(page)[-1] == "weak"
    fit.click()
    assert _methods(page)[-1] == "weak"
    assert fit.get_attribute("aria-sort") == "descending"
    _header(page, "Method").click()
    assert _methods(page) == sorted(row.method for row in lb.rows)
    assert fit.get_attribute("aria-sort") == "none"


def test_index_links_to_the_board(site, page):
    out, lb = site
    page.goto((out / SITE_INDEX).as_uri())
    page.locator("#boards a", has_text=lb.task).click()
    page.wait_for_url("**/" + site_page(lb).split("/", 1)[1])
    assert page.locator("h1").inner_text() == f"{lb.dataset_key} — {lb.task}"


def test_committed_site_opens(page):
    """The site committed under ``leaderboards/`` opens from disk with every board's charts."""
    index = REPO / "leaderboards" / SITE_INDEX
    if not index.is_file():
        pytest.skip(f"{index} is not there (regenerate with python -m benchmark leaderboard)")
    page.goto(index.as_uri())
    links = page.eval_on_selector_all("#boards tbody a", "as => as.map(a => a.href)")
    assert links
    for href in links:
        page.goto(href)
        assert page.locator("#board tbody tr").count() > 0
        images = page.locator("img")
        assert images.count() > 0, href
        for i in range(images.count()):
            assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0"), href
