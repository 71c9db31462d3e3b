"""Paired comparison of any two result files: two methods, two seeds, two task variants.

The leaderboards only test methods within one table; a question such as "did the held-out
prompt hurt P5 on the same users?" pairs two runs from different tables. Pairing is by the
unit ids in the per-sample sidecars (user ids for ranking tasks, example ids for generation),
so it is right whatever order the units were stored in, and the test is one of
:data:`benchmark.stats.TESTS` with a bootstrap CI of the mean difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import ConfigError, ResultsError
from benchmark.results import Result, load_result
from benchmark.stats import TEST_NAMES, TESTS, bootstrap_ci, compare
from tasks import result_kind

__all__ = ["RunComparison", "compare_results", "render_comparison"]

PREFERRED_METRIC = "ndcg@10"


@dataclass(frozen=True)
class RunComparison:
    """The outcome of pairing run A with run B on one metric."""

    path_a: Path
    path_b: Path
    label_a: str
    label_b: str
    metric: str
    unit: str  # "users" or "examples"
    test: str
    n_pairs: int
    n_a: int  # units run A evaluated
    n_b: int
    mean_a: float  # over the paired units
    mean_b: float
    mean_diff: float  # A - B
    ci: tuple[float, float]
    confidence: float
    statistic: float
    p_value: float
    effect_size: float
    common_metrics: tuple[str, ...]
    warnings: tuple[str, ...]


def _label(res: Result) -> str:
    dataset, task, method, seed = res.key
    return f"{method} on {dataset} / {task}, seed {seed}"


def _unit(res: Result) -> str:
    """What the result's per-sample rows are ("users", "examples"), as its task kind says."""
    return result_kind((res.record.get("task") or {}).get("kind"), res.path).unit


def _metrics(res: Result) -> list[str]:
    """Per-sample metric vectors of a result, in its task's column order."""
    listed = [str(m) for m in (res.record.get("task") or {}).get("metrics") or []]
    return [m for m in listed if m in res.per_user and res.per_user[m].dtype.kind in "fiub"]


def compare_results(
    path_a: Path | str,
    path_b: Path | str,
    *,
    metric: str | None = None,
    test: str = "t",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> RunComparison:
    """Pair the per-sample ``metric`` of two results by unit id and test A against B.

    ``metric`` defaults to ndcg@10 when both report it, else the first metric of A's task
    that B also has. Refuses (ResultsError) results of different datasets, of different kinds
    of unit, without a common metric, or with fewer than 2 common units; a warning says when
    only some of the units pair up.
    """
    if test not in TESTS:
        raise ConfigError(f"--test: unknown paired test {test!r}; known: {', '.join(TESTS)}")
    paths = [Path(path_a), Path(path_b)]
    for p in paths:
        if not p.is_file():
            raise ResultsError(
                f"{p}: no such result file; give the JSON of a result, e.g. "
                "results/ml-100k/sequential/sasrec/seed0.json"
            )
    a, b = (load_result(p) for p in paths)
    hash_a = (a.record.get("dataset") or {}).get("content_hash")
    hash_b = (b.record.get("dataset") or {}).get("content_hash")
    if hash_a != hash_b:
        raise ResultsError(
            f"{paths[0]} and {paths[1]} come from different datasets (content hash "
            f"{str(hash_a)[:12]} vs {str(hash_b)[:12]}); their user and example ids do not "
            "refer to the same users or examples, so they cannot be paired"
        )
    unit_a, unit_b = _unit(a), _unit(b)
    if unit_a != unit_b:
        raise ResultsError(
            f"{paths[0]} scores {unit_a} and {paths[1]} scores {unit_b}; a paired test needs "
            "the same kind of unit on both sides"
        )
    metrics_a, metrics_b = _metrics(a), _metrics(b)
    common = [m for m in metrics_a if m in metrics_b]
    if not common:
        raise ResultsError(
            f"{paths[0]} and {paths[1]} share no per-sample metric: A has "
            f"{', '.join(metrics_a) or 'none'}; B has {', '.join(metrics_b) or 'none'}"
        )
    if metric is None:
        metric = PREFERRED_METRIC if PREFERRED_METRIC in common else common[0]
    elif metric not in common:
        only_a = ", ".join(m for m in metrics_a if m not in common) or "none"
        only_b = ", ".join(m for m in metrics_b if m not in common) or "none"
        raise ResultsError(
            f"--metric {metric!r} is not in both results; metrics both have: "
            f"{', '.join(common)} (A alone: {only_a}; B alone: {only_b})"
        )

    for res in (a, b):
        if "users" not in res.per_user:
            raise ResultsError(f"{res.path}: its per-sample file has no 'users' array of ids")
        if np.unique(res.users).size != res.users.size:
            raise ResultsError(f"{res.path}: its per-sample 'users' array repeats ids")
    ids, ia, ib = np.intersect1d(a.users, b.users, assume_unique=True, return_indices=True)
    n_a, n_b = int(a.users.size), int(b.users.size)
    if ids.size < 2:
        raise ResultsError(
            f"{paths[0]} and {paths[1]} share {ids.size} of their {unit_a} ({n_a} and {n_b}); "
            "a paired test needs at least 2 common ones (explanation splits differ per seed: "
            "compare runs of the same seed)"
        )
    warnings: list[str] = []
    if ids.size < max(n_a, n_b):
        warnings.append(
            f"only {ids.size} {unit_a} pair up: A evaluated {n_a}, B {n_b}; the means and the "
            f"test cover the common {ids.size} only"
        )
    cand_a, cand_b = (
        (r.record.get("candidates_file") or {}).get("sha256") for r in (a, b)
    )
    if cand_a != cand_b:
        warnings.append(
            "the two runs ranked different candidate lists (their candidates files differ, "
            "e.g. other seeds); the difference includes the effect of the lists"
        )
    if unit_a == "examples":
        warnings.append(
            "per-example scores (sentence-level BLEU is smoothed); the tables' BLEU is the "
            "unsmoothed corpus value, so these means differ from the leaderboard's"
        )
    x = np.asarray(a.per_user[metric], dtype=np.float64)[ia]
    y = np.asarray(b.per_user[metric], dtype=np.float64)[ib]
    kw: dict[str, Any] = {}
    if test == "randomization":
        kw = {"n_resamples": n_resamples, "seed": seed}
    try:
        res = compare(x, y, test=test, **kw)
        lo, hi = bootstrap_ci(x, y, confidence=confidence, n_resamples=n_resamples, seed=seed)
    except ValueError as exc:
        raise ResultsError(f"cannot test {paths[0]} against {paths[1]} on {metric}: {exc}") from exc
    return RunComparison(
        path_a=paths[0], path_b=paths[1], label_a=_label(a), label_b=_label(b), metric=metric,
        unit=unit_a, test=test, n_pairs=int(ids.size), n_a=n_a, n_b=n_b,
        mean_a=float(x.mean()), mean_b=float(y.mean()), mean_diff=float(np.mean(x - y)),
        ci=(lo, hi), confidence=float(confidence), statistic=float(res.statistic),
        p_value=float(res.p_value), effect_size=float(res.effect_size),
        common_metrics=tuple(common), warnings=tuple(warnings),
    )


def _p(p: float) -> str:
    return f"{p:.2e}" if p < 1e-4 else f"{p:.4f}"


def render_comparison(c: RunComparison) -> str:
    """A short plain-text report (warnings are left to the caller)."""
    stat = {"t": "t", "wilcoxon": "W", "randomization": "mean diff"}[c.test]
    lines = [
        f"A: {c.path_a} ({c.label_a})",
        f"B: {c.path_b} ({c.label_b})",
        f"{c.metric} on {c.n_pairs:,} paired {c.unit}",
        f"  mean A      {c.mean_a:.4f}",
        f"  mean B      {c.mean_b:.4f}",
        f"  A - B       {c.mean_diff:+.4f}   {c.confidence:.0%} CI [{c.ci[0]:+.4f}, "
        f"{c.ci[1]:+.4f}] (bootstrap over {c.unit})",
        f"  {TEST_NAMES[c.test]}: {stat} = {c.statistic:.4g}, p = {_p(c.p_value)}, "
        f"d_z = {c.effect_size:.3f}",
    ]
    others = [m for m in c.common_metrics if m != c.metric]
    if others:
        lines.append(f"other metrics both report (--metric): {', '.join(others)}")
    return "\n".join(lines) + "\n"
