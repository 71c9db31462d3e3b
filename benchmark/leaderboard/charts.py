"""PNG charts beside each leaderboard: the main metric with 95% CIs, and cost against quality;
and in the run card of each method that trains for epochs, its learning curves.

PNG bytes depend on the matplotlib and FreeType versions that drew them, so staleness is not
judged by bytes: each chart's plotted numbers (rounded to what a reader can see) are hashed, the
hash is written into the PNG's text metadata, and ``leaderboard --check`` compares hashes. The
metadata carries no software name or date, so one matplotlib version redraws identical bytes.

The intervals are the table's spread turned into a 95% confidence interval of the mean over
seeds (Student t with n_seeds - 1 degrees of freedom, lower end clipped at 0): the same source
as the table's "mean ± std", so chart and table cannot disagree. A single-seed row has no
interval.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import scipy.stats

from benchmark.leaderboard.build import Leaderboard, Row

__all__ = [
    "CHART_VERSION",
    "DATA_KEY",
    "Chart",
    "charts_for",
    "curve_chart",
    "stage_chart",
    "confidence_interval",
    "read_png_text",
]

#: Part of every chart's hash: bump it when the drawing changes so --check asks for a redraw.
CHART_VERSION = 1
#: PNG text key holding the sha256 of the plotted data.
DATA_KEY = "recbench-data-sha256"
CONFIDENCE = 0.95


def _r(x: float | None) -> float | None:
    """Six significant digits: what a chart can show, and stable across library versions."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.6g}")


def confidence_interval(mean: float, std: float | None, n: int) -> tuple[float, float] | None:
    """95% Student-t interval of a mean over ``n`` seeds with sample std ``std``; None for n < 2."""
    if std is None or n < 2 or not math.isfinite(mean):
        return None
    half = float(scipy.stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * std / math.sqrt(n)
    return mean - half, mean + half


def _interval(row: Row, metric: str) -> tuple[float | None, float | None]:
    """The plotted interval; its lower end is clipped at 0, as every metric here is
    non-negative (with 2-3 seeds a t interval is wide enough to cross 0)."""
    cell = row.cells[metric]
    ci = confidence_interval(cell.mean, cell.std, row.n_seeds)
    return (None, None) if ci is None else (_r(max(ci[0], 0.0)), _r(ci[1]))


@dataclass(frozen=True)
class Chart:
    """One chart of one leaderboard: what it plots, and how to draw it."""

    name: str  # file name beside the leaderboard's other files, e.g. "chart_metric.png"
    kind: str  # "metric" or "cost"
    alt: str  # alt text for the Markdown image
    data: dict[str, Any]

    @property
    def digest(self) -> str:
        text = json.dumps({"version": CHART_VERSION, "kind": self.kind, **self.data},
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def render(self) -> bytes:
        """The PNG, drawn with matplotlib's Agg backend under its default style."""
        import matplotlib.style
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        with matplotlib.style.context("default"):
            if self.kind in ("curve", "stages"):
                fig = Figure(figsize=(9.0, 3.6))
                FigureCanvasAgg(fig)
                (_draw_curves if self.kind == "curve" else _draw_stages)(fig, self.data)
                fig.suptitle(self.data["title"], fontsize=10)
            else:
                n = len(self.data["points"])
                fig = Figure(figsize=(7.0, 1.6 + 0.35 * n) if self.kind == "metric"
                             else (7.0, 4.5))  # fmt: skip
                FigureCanvasAgg(fig)
                ax = fig.add_subplot()
                (_draw_metric if self.kind == "metric" else _draw_cost)(ax, self.data)
                ax.set_title(self.data["title"], fontsize=10)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=100,
                        metadata={"Software": None, "Title": self.data["title"],
                                  DATA_KEY: self.digest})
        return buf.getvalue()


def _errors(points: Sequence[dict[str, Any]], key: str) -> list[list[float]]:
    """Asymmetric error-bar lengths (0 where a point has no interval)."""
    lower = [p[key] - p["low"] if p["low"] is not None else 0.0 for p in points]
    upper = [p["high"] - p[key] if p["high"] is not None else 0.0 for p in points]
    return [lower, upper]


def _draw_metric(ax: Any, data: dict[str, Any]) -> None:
    points = data["points"]
    ys = list(range(len(points)))
    ax.errorbar([p["mean"] for p in points], ys, xerr=_errors(points, "mean"), fmt="o",
                color="tab:blue", ecolor="tab:blue", capsize=3, markersize=5)
    labels = [p["method"] + (" (1 seed)" if p["seeds"] == 1 else "") for p in points]
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()  # best (first row) at the top, as in the table
    ax.set_xlabel(data["xlabel"], fontsize=9)
    ax.grid(axis="x", alpha=0.3)


def _draw_cost(ax: Any, data: dict[str, Any]) -> None:
    points = data["points"]
    xs = [p["seconds"] for p in points]
    ax.errorbar(xs, [p["value"] for p in points], yerr=_errors(points, "value"), fmt="o",
                color="tab:orange", ecolor="tab:orange", capsize=3, markersize=5)
    for p in points:
        ax.annotate(p["method"], (p["seconds"], p["value"]), textcoords="offset points",
                    xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    lo, hi = min(xs), max(xs)
    ax.set_xlim(lo / 3, hi * 3)  # room for the labels at both ends, and a decade when lo == hi
    ax.set_xlabel(data["xlabel"], fontsize=9)
    ax.set_ylabel(data["ylabel"], fontsize=9)
    ax.grid(alpha=0.3)


def _metric_chart(lb: Leaderboard) -> Chart | None:
    m = lb.main_metric
    points = []
    for row in lb.rows:
        mean = _r(row.cells[m].mean)
        if mean is None:
            continue
        low, high = _interval(row, m)
        points.append({"method": row.method, "mean": mean, "low": low, "high": high,
                       "seeds": row.n_seeds})
    if not points:
        return None
    return Chart(
        name="chart_metric.png",
        kind="metric",
        alt=f"{m} per method with 95% confidence intervals across seeds",
        data={
            "title": f"{lb.dataset_key} — {lb.task}: {m}",
            "xlabel": f"{m}: mean over seeds, bars: 95% CI across seeds (Student t)",
            "points": points,
        },
    )


def _cost_chart(lb: Leaderboard) -> Chart | None:
    m = lb.main_metric
    points, missing = [], []
    for row in lb.rows:
        value = _r(row.cells[m].mean)
        if row.fit_seconds is None or row.predict_seconds is None or value is None:
            missing.append(row.method)
            continue
        seconds = _r(row.fit_seconds + row.predict_seconds)
        if seconds is None or seconds <= 0:
            missing.append(row.method)
            continue
        low, high = _interval(row, m)
        points.append({"method": row.method, "seconds": seconds, "value": value, "low": low,
                       "high": high})
    if not points:
        return None
    return Chart(
        name="chart_cost.png",
        kind="cost",
        alt=f"fit + predict seconds against {m}, one point per method",
        data={
            "title": f"{lb.dataset_key} — {lb.task}: cost against {m}",
            "xlabel": "fit + predict wall seconds (mean over seeds, log scale)",
            "ylabel": f"{m} (bars: 95% CI across seeds)",
            "points": points,
            "without_timing": missing,
        },
    )


def _draw_curves(fig: Any, data: dict[str, Any]) -> None:
    """Left: the validation score that picks the epoch, per seed, the kept epoch circled;
    right: the training loss."""
    score_ax, loss_ax = fig.subplots(1, 2)
    for k, seed in enumerate(data["seeds"]):
        color = f"C{k}"
        epochs = seed["epochs"]
        score_ax.plot(epochs, seed["score"], marker=".", color=color, label=f"seed {seed['seed']}")
        if seed["best_epoch"] in epochs:
            at = epochs.index(seed["best_epoch"])
            score_ax.plot([seed["best_epoch"]], [seed["score"][at]], "o", mfc="none",
                          color=color, markersize=10)  # fmt: skip
        if any(v is not None for v in seed["loss"]):
            loss_ax.plot(epochs, seed["loss"], marker=".", color=color)
    score_ax.set_xlabel("epoch", fontsize=9)
    score_ax.set_ylabel(data["score_label"], fontsize=9)
    score_ax.legend(fontsize=8)
    score_ax.grid(alpha=0.3)
    loss_ax.set_xlabel("epoch", fontsize=9)
    loss_ax.set_ylabel("training loss (mean per sample)", fontsize=9)
    loss_ax.grid(alpha=0.3)


#: fit_info.history keys of the selection score, by ``fit_info.selected_on``
_SCORE_KEYS = {"explanation": "valid_explanation_loss"}


def curve_chart(method: str, title: str, records: Sequence[dict[str, Any]]) -> Chart | None:
    """The learning curves of ``method``'s row (one line per seed), drawn beside its run card
    as ``<method>_curves.png``, from each result's ``fit_info.history`` (per epoch: ``loss``
    and the validation score); None when the method records none."""
    seeds, labels = [], set()
    for record in records:
        info = (record.get("method") or {}).get("fit_info") or {}
        history = info.get("history")
        if not isinstance(history, list) or not history or not isinstance(history[0], dict):
            continue
        key = _SCORE_KEYS.get(str(info.get("selected_on")), "valid_ndcg@10")
        if key not in history[0]:
            continue
        labels.add(key)
        seeds.append({
            "seed": int(record["seed"]),
            "epochs": [int(h["epoch"]) for h in history],
            "score": [_r(h.get(key)) for h in history],
            "loss": [_r(h.get("loss")) for h in history],
            "best_epoch": info.get("best_epoch"),
        })
    if not seeds:
        return None
    label = " / ".join(sorted(labels))
    return Chart(
        name=f"{method}_curves.png",
        kind="curve",
        alt=f"learning curves: {label} and training loss per epoch, one line per seed",
        data={"title": f"{title}: learning curves (circle: the epoch kept)",
              "score_label": f"validation {label}", "seeds": seeds},
    )


def _draw_stages(fig: Any, data: dict[str, Any]) -> None:
    """Left: stage 0's validation score per epoch; right: stage 1's held-out loss (solid) and
    training loss (dotted), with the held-out loss of the trivial predictor (dashed), log
    scale. Kept epochs circled."""
    stage0_ax, stage1_ax = fig.subplots(1, 2)
    for k, seed in enumerate(data["seeds"]):
        color, label = f"C{k}", f"seed {seed['seed']}"
        for ax, stage, key in ((stage0_ax, seed["stage0"], "score"),
                               (stage1_ax, seed["stage1"], "heldout")):  # fmt: skip
            if not stage:
                continue
            epochs = stage["epochs"]
            ax.plot(epochs, stage[key], marker=".", color=color, label=label)
            if stage["best_epoch"] in epochs:
                at = epochs.index(stage["best_epoch"])
                ax.plot([stage["best_epoch"]], [stage[key][at]], "o", mfc="none", color=color,
                        markersize=10)  # fmt: skip
        stage1 = seed["stage1"]
        if stage1:
            stage1_ax.plot(stage1["epochs"], stage1["loss"], ":", color=color)
            if stage1.get("trivial") is not None:
                stage1_ax.axhline(stage1["trivial"], ls="--", lw=1, color=color)
    stage0_ax.set_xlabel("stage 0 epoch", fontsize=9)
    stage0_ax.set_ylabel(data["stage0_label"], fontsize=9)
    stage0_ax.legend(fontsize=8)
    stage0_ax.grid(alpha=0.3)
    stage1_ax.set_yscale("log")
    stage1_ax.set_xlabel("stage 1 epoch", fontsize=9)
    stage1_ax.set_ylabel(data["stage1_label"], fontsize=9)
    stage1_ax.grid(alpha=0.3, which="both")


def stage_chart(method: str, title: str, records: Sequence[dict[str, Any]]) -> Chart | None:
    """The pre-training stages of a multi-stage fit (P2Rec: ``fit_info.stage0`` trains the
    first SASRec, ``stage1`` the LLM's regression head), drawn beside its run card as
    ``<method>_stages.png``. Stage 1 is shown against its trivial predictor
    (``heldout_loss_of_mean_shares``), the bar it has to clear to have learned anything. None
    when no result has a stage 1 history."""
    seeds = []
    for record in records:
        info = (record.get("method") or {}).get("fit_info") or {}
        stage1 = info.get("stage1") or {}
        history1 = stage1.get("history")
        if not isinstance(history1, list) or not history1 or "heldout_loss" not in history1[0]:
            continue
        stage0 = info.get("stage0") or {}
        history0 = stage0.get("history") if isinstance(stage0.get("history"), list) else []
        seeds.append({
            "seed": int(record["seed"]),
            "stage0": {
                "epochs": [int(h["epoch"]) for h in history0],
                "score": [_r(h.get("valid_ndcg@10")) for h in history0],
                "best_epoch": stage0.get("best_epoch"),
            } if history0 else None,
            "stage1": {
                "epochs": [int(h["epoch"]) for h in history1],
                "heldout": [_r(h.get("heldout_loss")) for h in history1],
                "loss": [_r(h.get("loss")) for h in history1],
                "best_epoch": stage1.get("best_epoch"),
                "trivial": _r(stage1.get("heldout_loss_of_mean_shares")),
            },
        })  # fmt: skip
    if not seeds:
        return None
    return Chart(
        name=f"{method}_stages.png",
        kind="stages",
        alt="stage 0 validation NDCG@10 and stage 1 held-out and training loss per epoch, "
        "one line per seed, with the mean-share predictor's held-out loss dashed",
        data={"title": f"{title}: the stages before the final fit (circle: the epoch kept)",
              "stage0_label": "stage 0 validation ndcg@10",
              "stage1_label": "stage 1 loss (held-out solid, training dotted)",
              "seeds": seeds},
    )


def charts_for(lb: Leaderboard) -> list[Chart]:
    """The charts a leaderboard gets (a chart with nothing to plot is left out)."""
    return [c for c in (_metric_chart(lb), _cost_chart(lb)) if c is not None]


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png_text(path: Path) -> dict[str, str]:
    """The tEXt/zTXt/iTXt entries of a PNG; empty when the file is not a PNG."""
    data = Path(path).read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        return {}
    out: dict[str, str] = {}
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        try:
            if kind == b"tEXt":
                key, _, value = body.partition(b"\0")
                out[key.decode("latin-1")] = value.decode("latin-1")
            elif kind == b"zTXt":
                key, _, rest = body.partition(b"\0")
                out[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
            elif kind == b"iTXt":
                key, _, rest = body.partition(b"\0")
                compressed, rest = rest[0], rest[2:]
                _lang, _, rest = rest.partition(b"\0")
                _translated, _, text = rest.partition(b"\0")
                out[key.decode("latin-1")] = (
                    zlib.decompress(text) if compressed else text
                ).decode("utf-8")
        except (zlib.error, UnicodeDecodeError, IndexError):
            continue
        if kind == b"IEND":
            break
    return out
