"""Charts beside each leaderboard: what they plot, and staleness judged by the data hash."""

from __future__ import annotations

import json
import math
import struct
import zlib

import numpy as np
import pytest
import scipy.stats

from benchmark.leaderboard import build_leaderboards, check_leaderboards, write_leaderboards
from benchmark.leaderboard.charts import (
    DATA_KEY,
    charts_for,
    confidence_interval,
    read_png_text,
)


@pytest.fixture
def board(make_result, load):
    for s in range(3):
        make_result("strong", s, rate=0.7, rng_seed=s)
        make_result("weak", s, rate=0.2, rng_seed=10 + s)
    make_result("once", 0, rate=0.4, rng_seed=20)
    (lb,) = build_leaderboards(load())
    return lb


def test_metric_chart_plots_the_table_with_t_intervals(board):
    metric, cost = charts_for(board)
    assert (metric.name, cost.name) == ("chart_metric.png", "chart_cost.png")
    points = metric.data["points"]
    assert [p["method"] for p in points] == [r.method for r in board.rows]
    strong = next(p for p in points if p["method"] == "strong")
    cell = board.row("strong").cells["ndcg@10"]
    half = scipy.stats.t.ppf(0.975, 2) * cell.std / math.sqrt(3)
    assert strong["mean"] == pytest.approx(cell.mean, rel=1e-6)
    assert strong["low"] == pytest.approx(cell.mean - half, rel=1e-5)
    assert strong["high"] == pytest.approx(cell.mean + half, rel=1e-5)
    once = next(p for p in points if p["method"] == "once")
    assert once["low"] is None and once["high"] is None and once["seeds"] == 1


def test_lower_end_is_clipped_at_zero(make_result, load):
    make_result("erratic", 0, rate=0.9, rng_seed=1)
    make_result("erratic", 1, rate=0.02, rng_seed=2)
    (lb,) = build_leaderboards(load())
    (point,) = charts_for(lb)[0].data["points"]
    cell = lb.row("erratic").cells["ndcg@10"]
    low, high = confidence_interval(cell.mean, cell.std, 2)
    assert low < 0 and point["low"] == 0.0
    assert point["high"] == pytest.approx(high, rel=1e-5)


def test_confidence_interval():
    assert confidence_interval(0.5, None, 1) is None
    assert confidence_interval(0.5, 0.1, 1) is None
    lo, hi = confidence_interval(0.5, 0.1, 4)
    assert hi - 0.5 == pytest.approx(3.182446 * 0.1 / 2, rel=1e-6)
    assert 0.5 - lo == pytest.approx(hi - 0.5)


def test_cost_chart_needs_timings(make_result, load):
    def untimed(record):
        record["timing"] = {}

    make_result("timed", 0)
    make_result("untimed", 0, edit=untimed, rng_seed=3)
    (lb,) = build_leaderboards(load())
    cost = next(c for c in charts_for(lb) if c.kind == "cost")
    assert [p["method"] for p in cost.data["points"]] == ["timed"]
    assert cost.data["points"][0]["seconds"] == 2.0  # fit 1.5 + predict 0.5
    assert cost.data["without_timing"] == ["untimed"]


def test_png_carries_the_data_hash_and_no_software_or_date(board, tmp_path):
    chart = charts_for(board)[0]
    png = chart.render()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert chart.render() == png  # same matplotlib, same bytes
    assert b"matplotlib" not in png.lower() and b"Software" not in png
    path = tmp_path / "c.png"
    path.write_bytes(png)
    text = read_png_text(path)
    assert text[DATA_KEY] == chart.digest
    assert set(text) == {DATA_KEY, "Title"}


def _png_with_text(key: str, value: str) -> bytes:
    """A PNG stream (signature, tEXt, IEND) that is not an image matplotlib would draw."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    body = key.encode("latin-1") + b"\0" + value.encode("latin-1")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"tEXt", body) + chunk(b"IEND", b"")


def test_write_check_and_stale_chart(make_result, results_dir, tmp_path):
    for s in range(2):
        make_result("a", s, rate=0.6, rng_seed=s)
        make_result("b", s, rate=0.3, rng_seed=10 + s)
    out = tmp_path / "lb"
    write_leaderboards(results_dir, out)
    md = (out / "toy" / "sequential.md").read_text()
    assert "](sequential/chart_metric.png)" in md and "](sequential/chart_cost.png)" in md
    chart = out / "toy" / "sequential" / "chart_metric.png"
    assert chart.is_file() and check_leaderboards(results_dir, out) == []

    # bytes are not compared: a different PNG with the same data hash passes
    digest = read_png_text(chart)[DATA_KEY]
    chart.write_bytes(_png_with_text(DATA_KEY, digest))
    assert check_leaderboards(results_dir, out) == []

    # a changed result makes the chart stale
    make_result("b", 1, values=np.zeros(200))
    problems = check_leaderboards(results_dir, out)
    assert any(p.startswith(f"changed: {chart}, its plotted data differ") for p in problems)
    write_leaderboards(results_dir, out)
    assert read_png_text(chart)[DATA_KEY] != digest
    assert check_leaderboards(results_dir, out) == []

    chart.write_bytes(b"not a png")
    assert any(p.startswith(f"changed: {chart}") and "data hash none" in p
               for p in check_leaderboards(results_dir, out))
    chart.unlink()
    assert f"missing: {chart}" in check_leaderboards(results_dir, out)
    write_leaderboards(results_dir, out)
    assert check_leaderboards(results_dir, out) == []


def _trained(best_epoch, scores, *, patience=None, stop_reason="cap"):
    def edit(rec):
        rec["method"]["params"] = {"epochs": len(scores), "patience": patience}
        rec["method"]["fit_info"] = {
            "epochs": len(scores), "best_epoch": best_epoch, "stop_reason": stop_reason,
            "history": [{"epoch": e, "loss": 2.0 / e, "valid_ndcg@10": v}
                        for e, v in enumerate(scores, start=1)],
        }  # fmt: skip

    return edit


def test_a_method_trained_for_epochs_gets_its_learning_curves_in_its_card(
    make_result, results_dir, tmp_path
):
    make_result("t5", 0, rate=0.5, edit=_trained(3, [0.1, 0.2, 0.3]))
    make_result("t5", 1, rate=0.5, rng_seed=3, edit=_trained(2, [0.1, 0.4, 0.2, 0.1],
                                                              patience=2, stop_reason="patience"))
    make_result("pop", 0, rate=0.2, rng_seed=5)
    out = tmp_path / "lb"
    write_leaderboards(results_dir, out)
    cards = out / "toy" / "sequential" / "cards"
    curves = cards / "t5_curves.png"
    assert curves.is_file() and not (cards / "pop_curves.png").exists()
    card = (cards / "t5.md").read_text()
    assert "](t5_curves.png)" in card and "## Training" not in (cards / "pop.md").read_text()
    assert ("- seed 0: 3 epoch(s) of at most 3, best 3; patience None; stopped by cap, **before "
            "early stopping ended it**") in card
    assert "- seed 1: 4 epoch(s) of at most 4, best 2; patience 2; stopped by patience\n" in card
    assert check_leaderboards(results_dir, out) == []
    # a changed curve makes the chart stale, though the table's numbers are the same
    path = next(results_dir.glob("toy/sequential/t5/seed0.json"))
    record = json.loads(path.read_text())
    record["method"]["fit_info"]["history"][0]["loss"] = 9.0
    path.write_text(json.dumps(record))
    assert any(str(curves) in p for p in check_leaderboards(results_dir, out))


def _staged(heldout, trivial):
    """A P2Rec-like record: a final fit, stage 0's curve and stage 1's held-out loss."""
    def edit(rec):
        _trained(2, [0.1, 0.3, 0.2], patience=1, stop_reason="patience")(rec)
        rec["method"]["fit_info"]["stage0"] = {
            "best_epoch": 1, "history": [{"epoch": 1, "loss": 3.0, "valid_ndcg@10": 0.05}]}
        rec["method"]["fit_info"]["stage1"] = {
            "best_epoch": len(heldout), "heldout_loss_of_mean_shares": trivial,
            "history": [{"epoch": e, "loss": 0.1 / e, "heldout_loss": v}
                        for e, v in enumerate(heldout, start=1)],
        }  # fmt: skip

    return edit


def test_a_staged_fit_gets_its_stages_chart_against_the_trivial_predictor(
    make_result, results_dir, tmp_path
):
    make_result("staged", 0, rate=0.5, edit=_staged([0.02, 0.008], trivial=0.010))
    make_result("t5", 0, rate=0.5, rng_seed=3, edit=_trained(1, [0.1]))
    out = tmp_path / "lb"
    write_leaderboards(results_dir, out)
    cards = out / "toy" / "sequential" / "cards"
    stages = cards / "staged_stages.png"
    assert stages.is_file() and not (cards / "t5_stages.png").exists()
    card = (cards / "staged.md").read_text()
    assert "](staged_curves.png)" in card and "](staged_stages.png)" in card
    assert ("  - stage 1 held-out loss at its kept epoch 0.00800 against 0.01000 for the "
            "mean-share predictor (-20%)") in card
    assert "mean-share" not in (cards / "t5.md").read_text()
    assert check_leaderboards(results_dir, out) == []
    # the trivial predictor's loss is plotted, so changing it makes the chart stale
    path = next(results_dir.glob("toy/sequential/staged/seed0.json"))
    record = json.loads(path.read_text())
    record["method"]["fit_info"]["stage1"]["heldout_loss_of_mean_shares"] = 0.5
    path.write_text(json.dumps(record))
    assert any(str(stages) in p for p in check_leaderboards(results_dir, out))
