"""Group committed results into leaderboards and decide significance markers.

One leaderboard per (dataset key, task). Everything a renderer shows is computed here, so the
Markdown, LaTeX and CSV views can never disagree about which method won.

Significance follows the ranx reports: every unordered pair of methods is compared on every
metric column, the p-values of all those comparisons in one leaderboard form one family that is
Holm-corrected, and a method is marked with the letter of each method it beats. What is tested
is what the column prints:

* ranking tasks print means over users, tested with a paired per-user test (``test``);
* generation tasks print corpus statistics (BLEU) and means over examples (ROUGE), tested with
  paired approximate randomization of that very statistic, examples swapped within each seed
  (:mod:`benchmark.stats.corpus`).

A mark never contradicts the table: it needs adjusted p < alpha *and* the same sign in the
tested difference and in the printed means; :func:`mark_disagreements` checks every board.

One board is built in stages, each a function with its own tests: aggregate the seeds
(:func:`_aggregate`), test every pair (:func:`_compare_pairs`), lay out the rows
(:func:`_rows`), collect the notes (:func:`_notes`).
"""

from __future__ import annotations

import functools
import json
import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.cite import method_attribute
from benchmark.errors import ConfigError, ResultsError, UnknownNameError
from benchmark.results import Result
from benchmark.stats import CORPUS_RESAMPLES, CORPUS_TEST, TESTS, compare, holm
from tasks import result_kind

__all__ = [
    "Cell",
    "Comparison",
    "Leaderboard",
    "Row",
    "build_leaderboards",
    "mark_disagreements",
    "method_bibtex",
    "PROTOCOL_FIELDS",
]

#: The metric the rows are sorted by when the task reports it.
PREFERRED_MAIN_METRIC = "ndcg@10"

#: Record fields that must agree inside one leaderboard: results that differ in any of them
#: were produced under different protocols and their numbers are not comparable.
PROTOCOL_FIELDS: tuple[tuple[str, str], ...] = (
    ("dataset", "name"),
    ("dataset", "content_hash"),
    ("protocol", "split"),
    ("protocol", "chronology"),
    ("protocol", "tie_rule"),
    ("protocol", "id_indexing"),
    ("protocol", "candidates"),
    ("task", "kind"),
    ("task", "n_candidates"),
    ("task", "mask_history"),
    ("task", "metrics"),
)


# a..z then A..Z: single characters keep "ab" unambiguous as two markers.
_LETTERS = string.ascii_lowercase + string.ascii_uppercase


@dataclass(frozen=True)
class Cell:
    """One method's value in one metric column."""

    mean: float
    std: float | None  # None with a single seed: there is no spread to report
    best: bool
    markers: tuple[str, ...]  # letters of the methods this one is significantly better than


@dataclass
class Row:
    """One method: seed-aggregated metrics, efficiency, and where it came from."""

    method: str
    letter: str
    seeds: list[int]
    cells: dict[str, Cell]
    fit_seconds: float | None
    #: training throughput reported by the method (samples, or sequence positions for SASRec)
    train_samples_per_second: float | None
    predict_users_per_second: float | None
    peak_memory_mb: float | None
    users_evaluated: list[int]
    bibtex: str
    sources: list[Path]
    #: mean wall time of answering the task (predict), for the cost chart
    predict_seconds: float | None = None
    #: what the method answers when it is a reference baseline (``Method.baseline``), else ""
    baseline: str = ""
    #: seeds whose fit stopped at its epoch cap before early stopping (``improving_at_cap``)
    capped_seeds: list[int] = field(default_factory=list)

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)


@dataclass(frozen=True)
class Comparison:
    """One member of the test family: methods ``a`` and ``b`` on ``metric``."""

    metric: str
    a: str
    b: str
    seeds: tuple[int, ...]
    n_users: int
    mean_diff: float  # tested difference a - b (per-user mean, or the corpus statistic)
    statistic: float
    p_value: float
    p_adjusted: float
    effect_size: float

    def winner(self, alpha: float) -> str | None:
        """The method significantly better than the other, if any."""
        if self.p_adjusted < alpha and self.mean_diff != 0:
            return self.a if self.mean_diff > 0 else self.b
        return None


@dataclass
class Leaderboard:
    """Everything a renderer needs for one (dataset key, task) table."""

    dataset_key: str
    task: str
    metrics: list[str]
    main_metric: str
    rows: list[Row]
    comparisons: list[Comparison]
    test: str
    alpha: float
    correction: str
    dataset: dict[str, Any]
    task_info: dict[str, Any]
    protocol: dict[str, Any]
    users_evaluated: list[int]
    users_dropped: list[int]
    git_commits: list[str]
    notes: list[str] = field(default_factory=list)
    #: each seed's protocol record (splits drawn per seed, e.g. explanation, differ in counts)
    protocol_by_seed: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def legend(self) -> list[tuple[str, str]]:
        """(letter, method) in row order, for captions."""
        return [(row.letter, row.method) for row in self.rows]

    def row(self, method: str) -> Row:
        for r in self.rows:
            if r.method == method:
                return r
        raise KeyError(method)


def _method_attr(name: str, attr: str) -> str:
    """A text class attribute of a registered method, read by :mod:`benchmark.cite` (which
    imports the registry lazily); "" for names the registry does not know, so results of a
    method since removed still tabulate."""
    try:
        return method_attribute(name, attr)
    except UnknownNameError:
        return ""


def method_bibtex(name: str) -> str:
    """BibTeX of a registered method; empty for names the registry does not know."""
    return _method_attr(name, "bibtex")


def method_baseline(name: str) -> str:
    """``Method.baseline`` of a registered method: "" for published methods and unknown names."""
    return _method_attr(name, "baseline")


def build_leaderboards(
    results: Sequence[Result],
    *,
    test: str = "t",
    alpha: float = 0.05,
    test_options: Mapping[str, Any] | None = None,
) -> list[Leaderboard]:
    """One leaderboard per (dataset key, task name), sorted by that key.

    ``test`` names a paired test of :data:`benchmark.stats.TESTS`; ``test_options`` go to it
    (e.g. ``n_resamples`` for the randomization test).
    """
    if test not in TESTS:
        raise ConfigError(f"unknown paired test {test!r}; known tests: {', '.join(TESTS)}")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    groups: dict[tuple[str, str], list[Result]] = {}
    for res in results:
        key = (str(res.record["dataset"]["key"]), str(res.record["task"]["name"]))
        groups.setdefault(key, []).append(res)
    return [
        _build_one(key, groups[key], test, alpha, dict(test_options or {}))
        for key in sorted(groups)
    ]


#: hardware fields that describe how busy the machine was, not which machine it was
_RUN_STATE = frozenset({"load_average_1m", "torch_threads"})


def machine_label(hardware: dict[str, Any]) -> str:
    """A short human name for a result's machine: its GPU when it ran on one, else its CPU."""
    cores = f"{hardware['cpu_count']} CPUs" if hardware.get("cpu_count") else None
    if str(hardware.get("device", "cpu")).startswith("cuda") and hardware.get("gpu"):
        return ", ".join(x for x in (hardware["gpu"], cores) if x)
    return ", ".join(x for x in (hardware.get("cpu") or "unknown CPU", cores, "no GPU") if x)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _params_note(method: str, seeds: list[int], params: list[dict[str, Any]]) -> str | None:
    """Say how a method's hyperparameters differ between its seeds, if they do.

    A parameter set differently is a real inconsistency; one missing from some seeds was added
    to the code after those seeds ran (its value in the others is shown, so a reader can judge
    whether it could matter)."""
    keys = sorted(set().union(*params))
    differ, added = [], []
    for k in keys:
        present = [(s, p[k]) for s, p in zip(seeds, params, strict=True) if k in p]
        if len({_canonical(v) for _, v in present}) > 1:
            differ.append(f"{k} ({', '.join(f'seed {s}: {_canonical(v)}' for s, v in present)})")
        elif len(present) < len(params):
            added.append(f"{k} = {_canonical(present[0][1])} (seeds {[s for s, _ in present]})")
    parts = []
    if differ:
        parts.append(f"{method}: hyperparameters differ between seeds: {'; '.join(differ)}.")
    if added:
        parts.append(f"{method}: parameters recorded only by later runs: {', '.join(added)}.")
    return " ".join(parts) or None


def _get(record: Mapping[str, Any], section: str, name: str) -> Any:
    return (record.get(section) or {}).get(name)


def _check_protocol(key: tuple[str, str], group: list[Result]) -> None:
    """Refuse to put results produced under different protocols in one table."""
    problems: list[str] = []
    for section, name in PROTOCOL_FIELDS:
        by_value: dict[str, list[str]] = {}
        for res in group:
            value = _get(res.record, section, name)
            by_value.setdefault(_canonical(value), []).append(str(res.path))
        if len(by_value) > 1:
            parts = []
            for value, paths in sorted(by_value.items()):
                shown = ", ".join(sorted(paths)[:5])
                if len(paths) > 5:
                    shown += f" and {len(paths) - 5} more"
                parts.append(f"{value} in {shown}")
            problems.append(f"  {section}.{name}: " + "; ".join(parts))
    if problems:
        raise ResultsError(
            f"results for dataset {key[0]!r}, task {key[1]!r} were produced under different "
            "protocols and cannot share a leaderboard:\n"
            + "\n".join(problems)
            + "\nRerun (with --force) or delete the results that do not match."
        )
    seen: dict[tuple[str, int], Path] = {}
    for res in group:
        mk = (str(res.record["method"]["name"]), int(res.record["seed"]))
        if mk in seen:
            raise ResultsError(
                f"two results for method {mk[0]!r}, seed {mk[1]} in dataset {key[0]!r}, "
                f"task {key[1]!r}: {seen[mk]} and {res.path}; delete one"
            )
        seen[mk] = res.path


def _check_per_user(res: Result, metrics: Sequence[str]) -> None:
    if "users" not in res.per_user:
        raise ResultsError(f"{res.path}: its per-user file has no 'users' array")
    users = res.per_user["users"]
    if np.unique(users).size != users.size:
        raise ResultsError(f"{res.path}: its per-user 'users' array repeats user ids")
    for m in metrics:
        if m not in res.per_user:
            raise ResultsError(f"{res.path}: its per-user file has no {m!r} array")
        if res.per_user[m].shape != users.shape:
            raise ResultsError(
                f"{res.path}: per-user {m!r} has shape {res.per_user[m].shape}, "
                f"but 'users' has {users.shape}"
            )


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def _max_or_none(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(np.max(vals)) if vals else None


def _letters(n: int) -> list[str]:
    if n > len(_LETTERS):
        raise ResultsError(
            f"a leaderboard with {n} methods needs more than {len(_LETTERS)} marker letters"
        )
    return list(_LETTERS[:n])


class _Averager:
    """Seed-averaged per-user vectors aligned on user ids, cached per (method, seeds, metric)."""

    def __init__(self, by_method: dict[str, dict[int, Result]]) -> None:
        self.by_method = by_method
        self._cache: dict[tuple[str, tuple[int, ...], str], tuple[np.ndarray, np.ndarray]] = {}

    def users(self, method: str, seeds: tuple[int, ...]) -> np.ndarray:
        """Users evaluated under every one of ``seeds`` (sorted)."""
        runs = [self.by_method[method][s] for s in seeds]
        return reduce(np.intersect1d, [np.asarray(r.users) for r in runs])

    def vector(self, method: str, seeds: tuple[int, ...], metric: str, users: np.ndarray):
        """Mean over ``seeds`` of the per-user ``metric`` values, in the order of ``users``."""
        key = (method, seeds, metric)
        if key not in self._cache:
            common = self.users(method, seeds)
            stack = []
            for s in seeds:
                run = self.by_method[method][s]
                _, _, idx = np.intersect1d(
                    common, run.users, assume_unique=True, return_indices=True
                )
                stack.append(np.asarray(run.per_user[metric], dtype=np.float64)[idx])
            self._cache[key] = (common, np.mean(stack, axis=0))
        common, values = self._cache[key]
        _, idx, _ = np.intersect1d(common, users, assume_unique=True, return_indices=True)
        return values[idx]


# --- one board: aggregate -> test -> rows -> notes --------------------------------------------


def _build_one(
    key: tuple[str, str],
    group: list[Result],
    test: str,
    alpha: float,
    test_options: dict[str, Any],
) -> Leaderboard:
    """One board as a pipeline of stages, each checkable on its own: aggregate the seeds, test
    the pairs, lay out the rows, collect the notes."""
    _check_protocol(key, group)
    group = sorted(group, key=lambda r: (r.record["method"]["name"], int(r.record["seed"])))
    first = group[0].record
    metrics = [str(m) for m in first["task"]["metrics"]]
    if not metrics:
        raise ResultsError(f"{group[0].path}: task.metrics is empty; nothing to tabulate")
    main_metric = PREFERRED_MAIN_METRIC if PREFERRED_MAIN_METRIC in metrics else metrics[0]
    test = result_kind(first["task"].get("kind"), group[0].path).test or test

    agg = _aggregate(group, metrics, main_metric)
    comparisons, pair_notes = _compare_pairs(agg, metrics, test, test_options, key)
    rows = _rows(agg, comparisons, metrics, alpha)
    notes = _notes(agg, comparisons, alpha, pair_notes)

    recs = [r.record for r in group]
    board = Leaderboard(
        dataset_key=key[0],
        task=key[1],
        metrics=metrics,
        main_metric=main_metric,
        rows=rows,
        comparisons=comparisons,
        test=test,
        alpha=float(alpha),
        correction="holm",
        dataset=dict(first["dataset"]),
        task_info=dict(first["task"]),
        protocol=_board_protocol(recs),
        users_evaluated=sorted({int(u) for s in agg.summaries.values()
                                for u in s.users_evaluated}),
        users_dropped=sorted({int((r.get("protocol") or {}).get("users_dropped") or 0)
                              for r in recs}),
        git_commits=sorted({str(c) for r in recs
                            if (c := (r.get("environment") or {}).get("git_commit"))}),
        notes=notes,
        protocol_by_seed={int(r["seed"]): dict(r.get("protocol") or {})
                          for r in sorted(recs, key=lambda r: int(r["seed"]))},
    )
    wrong = mark_disagreements(board)
    if wrong:  # impossible by construction in _rows; a guard against future edits
        raise ResultsError("significance marks contradict the table:\n" + "\n".join(wrong))
    return board


# --- stage 1: aggregate -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Summary:
    """One method's seeds reduced to what its row prints."""

    seeds: list[int]
    means: dict[str, tuple[float, float | None]]  # metric -> (mean over seeds, std or None)
    fit_seconds: float | None
    predict_seconds: float | None
    train_samples_per_second: float | None
    predict_users_per_second: float | None
    peak_memory_mb: float | None
    users_evaluated: list[int]


@dataclass(frozen=True)
class _Aggregate:
    """What the later stages share: the runs by method and seed (methods by name, seeds
    ascending), each method's summary, the row order and each method's marker letter."""

    runs: dict[str, dict[int, Result]]
    summaries: dict[str, _Summary]
    order: list[str]
    letters: dict[str, str]

    def pair(self, a: str, b: str) -> str:
        """How notes name a pair of methods: with their letters, as the table's markers do."""
        return f"{a} ({self.letters[a]}) and {b} ({self.letters[b]})"


def _aggregate(group: list[Result], metrics: list[str], main_metric: str) -> _Aggregate:
    """Stage 1: every method's seeds summarised, and the row order (main metric descending,
    ties by name; letters follow it). The order is fixed here, before any test, because the
    letters the notes and markers use come from it.

    ``group`` must be sorted by (method, seed); its per-user files are checked here, before any
    number is read from them.
    """
    by_method: dict[str, dict[int, Result]] = {}
    for res in group:
        _check_per_user(res, metrics)
        by_method.setdefault(str(res.record["method"]["name"]), {})[int(res.record["seed"])] = res
    summaries = {method: _summarise(runs, metrics) for method, runs in by_method.items()}
    order = sorted(by_method, key=lambda m: (-summaries[m].means[main_metric][0], m))
    letters = dict(zip(order, _letters(len(order)), strict=True))
    return _Aggregate(runs=by_method, summaries=summaries, order=order, letters=letters)


def _summarise(runs: dict[int, Result], metrics: list[str]) -> _Summary:
    """Mean and sample std over seeds of each metric, mean timings and peak memory: the record
    values, not the per-user files, so a row prints exactly what its results report."""
    seeds = sorted(runs)
    recs = [runs[s].record for s in seeds]
    means: dict[str, tuple[float, float | None]] = {}
    for m in metrics:
        try:
            vals = np.array([float(r["metrics"][m]) for r in recs])
        except KeyError:
            missing = [str(runs[s].path) for s in seeds if m not in runs[s].record["metrics"]]
            raise ResultsError(
                f"{', '.join(missing)}: metric {m!r} is listed in task.metrics but missing "
                "from metrics"
            ) from None
        std = float(np.std(vals, ddof=1)) if len(vals) >= 2 else None
        means[m] = (float(np.mean(vals)), std)
    timing = [r.get("timing") or {} for r in recs]
    return _Summary(
        seeds=seeds,
        means=means,
        fit_seconds=_mean_or_none([fit_cost(r) for r in recs]),
        predict_seconds=_mean_or_none([t.get("predict_seconds") for t in timing]),
        train_samples_per_second=_mean_or_none([_train_rate(r) for r in recs]),
        predict_users_per_second=_mean_or_none([t.get("predict_users_per_second")
                                                for t in timing]),
        peak_memory_mb=_max_or_none([t.get("peak_memory_mb") for t in timing]),
        users_evaluated=sorted({int(r.get("users_evaluated", len(runs[s].users)))
                                for r, s in zip(recs, seeds, strict=True)}),
    )


# --- stage 2: test ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Family:
    """What stage 2 tests: every metric column with one paired ``test`` (and its ``options``);
    ``key`` (dataset, task) names the board when a test cannot run."""

    metrics: list[str]
    test: str
    options: dict[str, Any]
    key: tuple[str, str]


def _compare_pairs(
    agg: _Aggregate,
    metrics: list[str],
    test: str,
    test_options: dict[str, Any],
    key: tuple[str, str],
) -> tuple[list[Comparison], list[str]]:
    """Stage 2: the test family, every unordered pair of methods on every metric column,
    Holm-corrected as one family (a board makes all those claims at once), and the notes on
    pairs that could not be tested as planned.

    ``test`` is :data:`CORPUS_TEST` for generation boards, whose columns are corpus statistics.
    Otherwise methods are paired on per-user values: averaged over shared seeds, or, when a
    method's evaluated users differ between seeds, paired within each seed and pooled.
    """
    generation = test == CORPUS_TEST
    family = _Family(metrics, test, test_options, key)
    by_method = agg.runs
    text_cache: dict[Path, tuple[np.ndarray, dict[str, Any]]] = {}
    averager = _Averager(by_method)
    varies = {name: len({_canonical(np.asarray(r.users).tolist()) for r in runs.values()}) > 1
              for name, runs in by_method.items()}
    pending: list[dict[str, Any]] = []
    notes: list[str] = []
    for i, a in enumerate(agg.order):
        for b in agg.order[i + 1 :]:
            shared = tuple(sorted(set(by_method[a]) & set(by_method[b])))
            if generation:
                if not shared:
                    notes.append(f"{agg.pair(a, b)} share no seed; not tested (each seed has its "
                                 "own test examples).")
                    continue
                pending += _corpus_comparisons(by_method, a, b, shared, metrics, text_cache)
            elif shared and (varies[a] or varies[b]):
                # each seed evaluates other units (e.g. the explanation split is drawn per
                # seed): pair the methods within each seed and pool the (seed, unit) pairs
                pending += _pooled_comparisons(by_method, a, b, shared, family)
            else:
                found, said = _averaged_comparisons(agg, averager, a, b, shared, family)
                pending += found
                notes += said
    for name in by_method:
        if varies[name] and not generation:
            notes.append(f"{name}: evaluated users (or examples) differ between seeds; tests pair "
                         "methods within each shared seed and pool the (seed, user) pairs.")
    return _holm_family(pending), notes


def _averaged_comparisons(
    agg: _Aggregate,
    averager: _Averager,
    a: str,
    b: str,
    shared: tuple[int, ...],
    family: _Family,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Paired tests of per-user values averaged over the seeds both methods ran (each method's
    own seeds when they share none), on the users both evaluated; with notes saying when the
    pair falls short of that."""
    seeds_a = shared or tuple(sorted(agg.runs[a]))
    seeds_b = shared or tuple(sorted(agg.runs[b]))
    notes = []
    if not shared:
        notes.append(f"{agg.pair(a, b)} share no seed; their comparison averages each method "
                     "over its own seeds.")
    users_a = averager.users(a, seeds_a)
    users_b = averager.users(b, seeds_b)
    users = np.intersect1d(users_a, users_b)
    if not np.array_equal(users_a, users_b):
        notes.append(f"{agg.pair(a, b)} were evaluated on different users ({users_a.size} vs "
                     f"{users_b.size}); they are compared on the {users.size} users both "
                     "evaluated.")
    if users.size < 2:
        notes.append(f"{agg.pair(a, b)} share fewer than 2 users; not tested.")
        return [], notes
    out = [
        _test_pair(agg.runs, a, b, m, averager.vector(a, seeds_a, m, users),
                   averager.vector(b, seeds_b, m, users), shared, family)
        for m in family.metrics
    ]
    return out, notes


def _pooled_comparisons(
    by_method: dict[str, dict[int, Result]],
    a: str,
    b: str,
    seeds: tuple[int, ...],
    family: _Family,
) -> list[dict[str, Any]]:
    """Paired tests over (seed, user) pairs: within each seed both methods answered the same
    users, so each pair is a fair comparison; across seeds the users differ."""
    out = []
    for m in family.metrics:
        va, vb = [], []
        for s in seeds:
            ra, rb = by_method[a][s], by_method[b][s]
            _, ia, ib = np.intersect1d(np.asarray(ra.users), np.asarray(rb.users),
                                       assume_unique=True, return_indices=True)
            va.append(np.asarray(ra.per_user[m], dtype=np.float64)[ia])
            vb.append(np.asarray(rb.per_user[m], dtype=np.float64)[ib])
        x, y = np.concatenate(va), np.concatenate(vb)
        if x.size < 2:
            continue
        out.append(_test_pair(by_method, a, b, m, x, y, seeds, family))
    return out


def _test_pair(
    by_method: dict[str, dict[int, Result]],
    a: str,
    b: str,
    metric: str,
    x: np.ndarray,
    y: np.ndarray,
    seeds: tuple[int, ...],
    family: _Family,
) -> dict[str, Any]:
    """One paired test of ``a``'s values ``x`` against ``b``'s ``y``, recorded as a member of the
    family (unadjusted); a test that cannot run names the result files behind it."""
    try:
        res = compare(x, y, test=family.test, **family.options)
    except ValueError as exc:  # e.g. NaN per-user values, bad test options
        files = [str(r.path) for r in (*by_method[a].values(), *by_method[b].values())]
        raise ResultsError(
            f"cannot test {a} against {b} on {metric} in dataset {family.key[0]!r}, "
            f"task {family.key[1]!r}: {exc} (files: {', '.join(files)})"
        ) from exc
    return {
        "metric": metric, "a": a, "b": b, "seeds": seeds, "n_users": int(x.size),
        "mean_diff": float(np.mean(x - y)), "statistic": float(res.statistic),
        "p_value": float(res.p_value), "effect_size": float(res.effect_size),
    }


def _text_statistics(res: Result, metrics: Sequence[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """Per-example sufficient statistics of every column of a generation result, side by side,
    and each column's statistic over its slice (BLEU from texts, means from stored scores)."""
    from benchmark.metrics.text import CORPUS_METRICS, bleu_from_statistics, bleu_statistics
    from benchmark.stats.corpus import columns, mean_of, mean_statistics

    blocks, stats, width = [], {}, 0
    for m in metrics:
        if m in CORPUS_METRICS:
            block = bleu_statistics(m, *res.texts())
            stat = functools.partial(bleu_from_statistics, m)
        else:
            block, stat = mean_statistics(res.per_user[m]), mean_of
        stats[m] = columns(stat, width, width + block.shape[1])
        width += block.shape[1]
        blocks.append(block)
    return np.hstack(blocks), stats


def _corpus_comparisons(
    by_method: dict[str, dict[int, Result]], a: str, b: str, seeds: tuple[int, ...],
    metrics: list[str], cache: dict[Path, tuple[np.ndarray, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Approximate randomization of every column's printed statistic, ``a`` against ``b``,
    examples paired within each shared seed (their example ids) and swapped within it."""
    from benchmark.stats.corpus import corpus_randomization_tests

    strata, stats = [], {}
    for s in seeds:
        ra, rb = by_method[a][s], by_method[b][s]
        for r in (ra, rb):
            if r.path not in cache:
                cache[r.path] = _text_statistics(r, metrics)
        (xa, stats), (xb, _) = cache[ra.path], cache[rb.path]
        _, ia, ib = np.intersect1d(np.asarray(ra.users), np.asarray(rb.users),
                                   assume_unique=True, return_indices=True)
        if ia.size:
            strata.append((xa[ia], xb[ib]))
    if not strata:
        return []
    tests = corpus_randomization_tests(strata, stats, n_resamples=CORPUS_RESAMPLES, seed=0)
    return [{
        "metric": m, "a": a, "b": b, "seeds": seeds, "n_users": tests[m].n,
        "mean_diff": tests[m].observed, "statistic": tests[m].observed,
        "p_value": tests[m].p_value, "effect_size": float("nan"),
    } for m in metrics]


def _holm_family(pending: list[dict[str, Any]]) -> list[Comparison]:
    """The recorded tests with Holm-adjusted p-values over all of them; a NaN p-value (a test
    with nothing to decide) counts as 1, so it can neither win nor disturb the others."""
    p = np.array([c["p_value"] for c in pending], dtype=np.float64)
    p = np.where(np.isnan(p), 1.0, p)
    adjusted = holm(p) if p.size else np.empty(0)
    return [
        Comparison(p_adjusted=float(adj), **{**c, "p_value": float(raw)})
        for c, raw, adj in zip(pending, p, adjusted, strict=True)
    ]


# --- stage 3: rows ----------------------------------------------------------------------------


def _wins(
    agg: _Aggregate, comparisons: list[Comparison], alpha: float
) -> list[tuple[str, str, Comparison, bool]]:
    """Every significant comparison as (winner, loser, comparison, shown): ``shown`` is False
    when the printed means do not put the winner ahead (the tested units, shared seeds or
    users, differ from those of the means). The rows mark only shown wins and the notes name
    the others, so both stages decide from this one list."""
    out = []
    for comp in comparisons:
        win = comp.winner(alpha)
        if win is not None:
            lose = comp.b if win == comp.a else comp.a
            shown = (agg.summaries[win].means[comp.metric][0]
                     > agg.summaries[lose].means[comp.metric][0])
            out.append((win, lose, comp, shown))
    return out


def _rows(
    agg: _Aggregate, comparisons: list[Comparison], metrics: list[str], alpha: float
) -> list[Row]:
    """Stage 3: one row per method in board order, its cells bold where they equal the column's
    best and marked with the letters of the methods it significantly beats (only where the
    printed means agree, so a mark never contradicts the table)."""
    beats: dict[tuple[str, str], set[str]] = {}
    for win, lose, comp, shown in _wins(agg, comparisons, alpha):
        if shown:
            beats.setdefault((win, comp.metric), set()).add(lose)
    best = {m: max(agg.summaries[meth].means[m][0] for meth in agg.order) for m in metrics}
    rows = []
    for method in agg.order:
        s = agg.summaries[method]
        cells = {}
        for m in metrics:
            mean, std = s.means[m]
            losers = beats.get((method, m), set())
            cells[m] = Cell(
                mean=mean,
                std=std,
                best=bool(math.isclose(mean, best[m], rel_tol=0.0, abs_tol=1e-12)),
                markers=tuple(agg.letters[x] for x in agg.order if x in losers),
            )
        rows.append(Row(
            method=method,
            letter=agg.letters[method],
            seeds=s.seeds,
            cells=cells,
            fit_seconds=s.fit_seconds,
            train_samples_per_second=s.train_samples_per_second,
            predict_users_per_second=s.predict_users_per_second,
            peak_memory_mb=s.peak_memory_mb,
            users_evaluated=s.users_evaluated,
            bibtex=method_bibtex(method),
            sources=[agg.runs[method][seed].path for seed in s.seeds],
            predict_seconds=s.predict_seconds,
            baseline=method_baseline(method),
            capped_seeds=[seed for seed in s.seeds
                          if improving_at_cap(agg.runs[method][seed].record)],
        ))
    return rows


def epoch_cap(params: dict[str, Any]) -> Any:
    """The epoch cap in a result's ``method.params``: ``max_epochs`` (SASRec, UEM) or
    ``epochs`` (the P5 family); None for methods that do not train for epochs."""
    return params.get("max_epochs", params.get("epochs"))


def improving_at_cap(record: dict[str, Any]) -> bool:
    """Whether the result's fit, or one of its stages (:func:`capped_stages`), stopped at its
    epoch cap (or time limit) before early stopping ended it: the row then measures its
    training budget as much as its method."""
    return final_fit_at_cap(record) or bool(capped_stages(record))


def capped_stages(record: dict[str, Any]) -> list[str]:
    """The stages of a multi-stage fit (``fit_info.<stage>`` records with their own
    ``improving_at_cap``, e.g. P2Rec's ``stage1`` SFT) that stopped at their cap while still
    improving."""
    info = (record.get("method") or {}).get("fit_info") or {}
    return [name for name, value in sorted(info.items())
            if isinstance(value, dict) and value.get("improving_at_cap") is True]  # fmt: skip


def final_fit_at_cap(record: dict[str, Any]) -> bool:
    """Whether the result's (final) fit stopped at its epoch cap (or time limit) before early
    stopping ended it (best epoch within the last ``patience`` epochs, or no early stopping at
    all). Read from ``fit_info.improving_at_cap``, or, for results from before that record,
    from the epochs run, the best epoch and the cap (``max_epochs`` or ``epochs``) and
    ``patience`` parameters."""
    method = record.get("method") or {}
    info, params = method.get("fit_info") or {}, method.get("params") or {}
    if "improving_at_cap" in info:
        return bool(info["improving_at_cap"])
    epochs, best = info.get("epochs"), info.get("best_epoch")
    cap = epoch_cap(params)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (epochs, best, cap)):
        return False  # not an epoch-trained fit
    if info.get("stopped_early") or epochs < cap:
        return False
    patience = params.get("patience")
    return patience is None or epochs - best < patience


# --- stage 4: notes ---------------------------------------------------------------------------


def _notes(
    agg: _Aggregate, comparisons: list[Comparison], alpha: float, pair_notes: list[str]
) -> list[str]:
    """Stage 4: everything a reader must know to trust the table, in a fixed order, each note
    once: hyperparameters that differ between seeds, the pairs stage 2 could not test as
    planned (``pair_notes``), wins the means do not show, the machines behind the timings, the
    LLM weights, answers cut by the token budget, answers replayed from an answer file, and how
    busy the machine was."""
    notes = []
    for method, runs in agg.runs.items():
        seeds = agg.summaries[method].seeds
        note = _params_note(method, seeds,
                            [runs[s].record["method"].get("params") or {} for s in seeds])
        if note:
            notes.append(note)
    notes += pair_notes
    for win, lose, comp, shown in _wins(agg, comparisons, alpha):
        if not shown:
            notes.append(f"{win} ({agg.letters[win]}) tests better than {lose} "
                         f"({agg.letters[lose]}) on {comp.metric} over the {comp.n_users} units "
                         "both share, but the table's means do not show it; no mark.")
    recs = [r.record for runs in agg.runs.values() for r in runs.values()]
    hardware = [(r.get("environment") or {}).get("hardware") or {} for r in recs]
    if note := _machines_note(agg.order, recs, hardware):
        notes.append(note)
    for method in agg.order:  # which weights answered, for LLM methods that recorded them
        notes += _weights_notes(method, [r.record for r in agg.runs[method].values()])
    for method in agg.order:  # generated answers the token budget cut: the list's tail unread
        if note := _cut_answers_note(method, [agg.runs[method][s].record
                                              for s in agg.summaries[method].seeds]):
            notes.append(note)
    for method in agg.order:  # fits stopped by their epoch cap before early stopping
        if note := _capped_note(method, [agg.runs[method][seed].record
                                         for seed in agg.summaries[method].seeds]):
            notes.append(note)
    for method in agg.order:  # LLM answers replayed from an earlier run's answer file
        if note := _replayed_note(method, [r.record for r in agg.runs[method].values()]):
            notes.append(note)
    if note := _load_note(hardware):
        notes.append(note)
    return list(dict.fromkeys(notes))


def _machines_note(
    order: list[str], recs: list[dict[str, Any]], hardware: list[dict[str, Any]]
) -> str | None:
    """A note when the results come from more than one machine (how busy a machine was does
    not make it another): efficiency columns then compare hardware as well as methods."""
    machines: dict[str, dict[str, Any]] = {}
    for rec, h in zip(recs, hardware, strict=True):
        ident = _canonical({k: v for k, v in h.items() if k not in _RUN_STATE})
        machines.setdefault(ident, {"label": machine_label(h), "methods": set()})
        machines[ident]["methods"].add(rec["method"]["name"])
    if len(machines) <= 1:
        return None
    rank = {method: i for i, method in enumerate(order)}
    where = "; ".join(
        f"{m['label']} ({', '.join(sorted(m['methods'], key=rank.__getitem__))})"
        for m in sorted(machines.values(), key=lambda m: min(map(rank.__getitem__,
                                                                  m["methods"])))
    )
    return (f"Timings come from {len(machines)} different machines: {where}; compare the "
            "efficiency columns with care.")


def _weights_notes(method: str, records: list[dict[str, Any]]) -> list[str]:
    """The LLM weights (files and digests, and their form) that answered for ``method``, where
    its results recorded them: a row is only as reproducible as the weights behind it."""
    forms = {(", ".join(f"{f['file']} sha256 {str(f['sha256'])[:12]}"
                        for f in w.get("files") or []), str(w.get("form")))
             for r in records if (w := (r.get("backend") or {}).get("weights"))}
    return [f"{method}: LLM weights {digests or '(no weight files found)'}; {form}."
            for digests, form in sorted(forms)]


def _cut_answers_note(method: str, records: list[dict[str, Any]]) -> str | None:
    """A note when any of ``method``'s generated answers stopped at ``max_new_tokens``
    (``predict_info.cut_by_max_new_tokens``): the candidates a cut answer did not reach are
    ranked last in list order, so the row partly measures the budget, not the model."""
    cut = answers = 0
    budgets = set()
    for record in records:
        info = (record.get("method") or {}).get("predict_info") or {}
        cut += int(info.get("cut_by_max_new_tokens") or 0)
        answers += int(info.get("answers") or 0)
        budget = info.get("max_new_tokens",
                          ((record.get("method") or {}).get("params") or {}).get("max_new_tokens"))
        if budget is not None:
            budgets.add(str(budget))
    if not cut:
        return None
    budget = f" (max_new_tokens {' or '.join(sorted(budgets))})" if budgets else ""
    return (f"{method}: {cut} of {answers} generated answers were cut by the token "
            f"budget{budget}; the candidates they did not reach rank last in list order, so "
            "the row partly measures the budget, not the model.")


def _capped_note(method: str, records: list[dict[str, Any]]) -> str | None:
    """A note (and a † on the row) when some of ``method``'s fits hit their epoch cap before
    early stopping ended them: the row may be a level set by the training budget."""
    stage_notes = [_capped_stage_note(r) for r in records if capped_stages(r)]
    capped = [r for r in records if final_fit_at_cap(r)]
    if not capped:
        if not stage_notes:
            return None
        return (f"{method} †: " + "; ".join(stage_notes) + "; the row measures that stage's "
                "training budget as much as the method.")
    seeds = ", ".join(str(r["seed"]) for r in capped)
    best = ", ".join(str(r["method"]["fit_info"]["best_epoch"]) for r in capped)
    caps = sorted({int(r["method"]["fit_info"]["epochs"]) for r in capped})
    rules = sorted({str((r["method"].get("params") or {}).get("patience")) for r in capped})
    cap = " or ".join(map(str, caps))
    if rules == ["None"]:
        how = f"with no early stopping to show they had converged (best epoch {best})"
    else:
        how = (f"before early stopping (patience {' or '.join(rules)}) ended them "
               f"(best epoch {best})")
    stages = "".join(f"; {note}" for note in stage_notes)
    return (f"{method} †: seed(s) {seeds} ended at the epoch cap ({cap}) {how}{stages}; the "
            "row measures the training budget as much as the method.")


def _capped_stage_note(record: dict[str, Any]) -> str:
    """``seed 1: stage1 ended at its epoch cap (8, best epoch 8, patience 2)`` for each of a
    result's stages that did."""
    info = record["method"]["fit_info"]
    parts = [f"{name} ended at its epoch cap ({info[name].get('epochs')}, best epoch "
             f"{info[name].get('best_epoch')}, patience {info[name].get('patience')})"
             for name in capped_stages(record)]  # fmt: skip
    return f"seed {record['seed']}: " + ", ".join(parts)


def _replayed_note(method: str, records: list[dict[str, Any]]) -> str | None:
    """A note when some of ``method``'s LLM answers were read back from an answer file written
    by an earlier run (``--llm-cache``; ``backend.cache.replayed``): the numbers are the
    model's, but the fit and predict times of those seeds measure the file, not the model."""
    seeds = {int(r["seed"]): int(((r.get("backend") or {}).get("cache") or {}).get("replayed", 0))
             for r in records}  # fmt: skip
    replayed = {s: n for s, n in sorted(seeds.items()) if n}
    if not replayed:
        return None
    which = ", ".join(f"seed {s}: {n:,}" for s, n in replayed.items())
    return (f"{method}: LLM answers read back from an answer file of an earlier run "
            f"(--llm-cache; {which}); those seeds' times measure the file, not the model.")


def _load_note(hardware: list[dict[str, Any]]) -> str | None:
    """A note when the runs used different torch thread counts or ran on a busy machine: their
    wall times are then inflated and not comparable between rows."""
    threads = sorted({h["torch_threads"] for h in hardware if "torch_threads" in h})
    loads = [h["load_average_1m"] for h in hardware if "load_average_1m" in h]
    if len(threads) > 1 or (loads and max(loads) > 2 * max(threads or [1])):
        return (f"Timings were taken with {' or '.join(map(str, threads))} torch thread(s) and "
                f"a 1-minute load average of {min(loads or [0]):.1f}-{max(loads or [0]):.1f} "
                "(`environment.hardware` of each result): wall times of runs that shared the "
                "machine are inflated; `fit_cpu_seconds` in the results is steadier.")
    return None


def mark_disagreements(lb: Leaderboard) -> list[str]:
    """Every significance mark whose direction the printed means contradict (empty for a sound
    board): a row marked better than another must show the higher mean in that column."""
    by_letter = {row.letter: row for row in lb.rows}
    out = []
    for row in lb.rows:
        for m, cell in row.cells.items():
            for letter in cell.markers:
                other = by_letter[letter].cells[m]
                if not cell.mean > other.mean:
                    out.append(
                        f"{lb.dataset_key}/{lb.task}: {row.method} is marked better than "
                        f"{by_letter[letter].method} on {m}, but prints {cell.mean:.6g} against "
                        f"{other.mean:.6g}"
                    )
    return out


def _board_protocol(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """The protocol shown in a board's header: the first result's, with the data quirks of the
    first result that recorded them (they describe the data and the evaluated users, the same
    for every method; results written before the record existed lack them)."""
    protocol = dict(recs[0].get("protocol") or {})
    if "data_quirks" not in protocol:
        for r in recs:
            if "data_quirks" in (r.get("protocol") or {}):
                protocol["data_quirks"] = r["protocol"]["data_quirks"]
                break
    return protocol


def fit_cost(record: dict[str, Any]) -> float | None:
    """Wall seconds of a result's fit over all its sittings. ``timing.fit_seconds`` has counted
    a resumed fit's earlier sittings since they are recorded (``seconds_in_earlier_sittings``);
    for a resumed result written before that, the method's own epoch time over all sittings
    (``fit_info.fit_seconds``) is the better bound when it is larger."""
    seconds = (record.get("timing") or {}).get("fit_seconds")
    info = (record.get("method") or {}).get("fit_info") or {}
    if (seconds is not None and info.get("resumed_from_epoch")
            and "seconds_in_earlier_sittings" not in info
            and isinstance(info.get("fit_seconds"), (int, float))):  # fmt: skip
        return max(float(seconds), float(info["fit_seconds"]))
    return seconds


def _train_rate(record: dict[str, Any]) -> float | None:
    """Training samples per second from the method's fit_info, where it reports one."""
    info = record["method"].get("fit_info") or {}
    for key in ("train_samples_per_second", "train_positions_per_second"):
        if info.get(key):
            return float(info[key])
    return None
