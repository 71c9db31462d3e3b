"""Results: one JSON record plus one per-user ``.npz`` sidecar per (dataset, task, method, seed).

Layout: ``<results_dir>/<dataset_key>/<task>/<method>/seed<k>.json`` and ``seed<k>.npz``.
``dataset_key`` is the dataset name, suffixed ``+random-ids`` under random id indexing, so the
two indexings of a dataset get separate leaderboards.

Writes are atomic (temporary file in the same directory, fsync, rename) and the sidecar is
written before the JSON, so a JSON file on disk always means a complete result; an interrupted
run leaves at most an orphan sidecar, which the next run overwrites.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.config import stable_hash
from benchmark.errors import ResultsError

if TYPE_CHECKING:
    import pandas as pd

    from benchmark.data.schema import Dataset
    from methods.base import Method
    from tasks.base import Evaluation, Task

SCHEMA_VERSION = 1


def dataset_key(name: str, id_indexing: str) -> str:
    """Directory name of a dataset under one id indexing."""
    return name if id_indexing == "original" else f"{name}+{id_indexing}-ids"


def result_paths(
    results_dir: Path, key: str, task: str, method: str, seed: int
) -> tuple[Path, Path]:
    base = Path(results_dir) / key / task / method
    return base / f"seed{seed}.json", base / f"seed{seed}.npz"


def _temp_beside(path: Path) -> tuple[int, str]:
    """A temp file next to ``path`` with the permissions a plain ``open`` would give it:
    mkstemp makes files 0600, which would leave results unreadable to a group on a shared
    file system once renamed into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


def _written_beside(path: Path, data: bytes) -> str:
    """A temp file next to ``path`` (its folder created) holding ``data``, synced to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    tmp = _written_beside(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_create_bytes(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless the file exists; False when another writer's file was
    there first (theirs is kept). Runs that share a file (a candidate sample) may write it at
    once under a parallel executor: the first complete file wins and every run reads that
    one, so the sha256 each result records is the file's."""
    tmp = _written_beside(path, data)
    try:
        try:
            os.link(tmp, path)  # atomic, and fails where the name exists
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links: check, then rename
            if path.exists():
                return False
            os.replace(tmp, path)
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@dataclass
class Result:
    """A loaded result: the JSON record and its per-user vectors."""

    record: dict[str, Any]
    per_user: dict[str, np.ndarray]
    path: Path

    @property
    def key(self) -> tuple[str, str, str, int]:
        r = self.record
        return (r["dataset"]["key"], r["task"]["name"], r["method"]["name"], int(r["seed"]))

    @property
    def users(self) -> np.ndarray:
        return self.per_user["users"]

    def texts(self) -> tuple[list[str], list[str]]:
        """(hypotheses, references) of a generation result, what re-scoring needs."""
        for key in ("hypothesis", "reference"):
            if key not in self.per_user:
                raise ResultsError(
                    f"{self.path}: its per-example file has no {key!r} texts, so it cannot be "
                    "re-scored; rerun the entry with --force"
                )
        return self.per_user["hypothesis"].tolist(), self.per_user["reference"].tolist()


@dataclass(frozen=True)
class Timing:
    """What one entry cost: its method's fit (shared by the run's tasks) and its answers.

    CPU times are this process's (all its threads): less sensitive than wall time to other work
    on the machine; compare them with ``torch_threads`` in mind."""

    fit_seconds: float
    fit_cpu_seconds: float
    predict_seconds: float
    predict_cpu_seconds: float
    #: the larger of the fit's and the answers' peaks
    peak_memory_mb: float
    peak_memory_scope: str

    def record(self, n_evaluated: int) -> dict[str, Any]:
        """The record's ``timing`` block."""
        return {
            "fit_seconds": self.fit_seconds,
            "predict_seconds": self.predict_seconds,
            "fit_cpu_seconds": self.fit_cpu_seconds,
            "predict_cpu_seconds": self.predict_cpu_seconds,
            "predict_users_per_second": n_evaluated / max(self.predict_seconds, 1e-9),
            "peak_memory_mb": self.peak_memory_mb,
            "peak_memory_scope": self.peak_memory_scope,
        }


def make_record(
    *,
    dataset: Dataset,
    key: str,
    task: Task,
    method: Method,
    seed: int,
    profile: str,
    evaluation: Evaluation,
    protocol: dict[str, Any],
    timing: Timing,
    config: dict[str, Any],
    environment: dict[str, Any],
    command: str | None,
    backend: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON record of one entry (``write_result`` adds the schema and the sidecar's name and
    hash): one place for its layout, so every task kind writes the same structure.

    ``config`` is the entry config (``benchmark.runner.entry_config``), hashed here; ``backend``
    the LLM that answered, for LLM methods; ``environment`` and ``command`` say where and how it
    ran and are no part of the hash."""
    return {
        "dataset": {
            "name": dataset.name,
            "key": key,
            "source": dataset.source,
            "format": dataset.format,
            "content_hash": dataset.content_hash,
            "n_users": dataset.n_users,
            "n_items": dataset.n_items,
            "n_interactions": len(dataset.interactions),
        },
        "task": task.describe(),
        "method": {
            "name": type(method).name,
            "params": method.params,
            "fit_info": method.fit_info,
            **({"predict_info": method.predict_info} if method.predict_info else {}),
        },
        "seed": seed,
        "profile": profile,
        "protocol": protocol,
        **evaluation.fields,
        "metrics": evaluation.metrics,
        "users_evaluated": evaluation.n,
        "timing": timing.record(evaluation.n),
        **({"backend": backend} if backend is not None else {}),
        "config": config,
        "config_hash": stable_hash(config),
        "environment": environment,
        # what was typed to start it (None when started from Python)
        "command": command,
        "created_unix": int(time.time()),
    }


def write_result(
    results_dir: Path, record: dict[str, Any], per_user: dict[str, np.ndarray]
) -> Path:
    """Write the sidecar then the JSON record (atomically); returns the JSON path."""
    json_path, npz_path = result_paths(
        results_dir,
        record["dataset"]["key"],
        record["task"]["name"],
        record["method"]["name"],
        int(record["seed"]),
    )
    arrays = {k: np.asarray(v) for k, v in per_user.items()}
    for name, arr in arrays.items():
        if arr.dtype == object:
            raise ValueError(f"per-user array {name!r} has dtype object; store numbers only")
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    payload = buf.getvalue()
    atomic_write_bytes(npz_path, payload)
    record = dict(record)
    record["schema"] = SCHEMA_VERSION
    record["per_user_file"] = npz_path.name
    record["per_user_sha256"] = hashlib.sha256(payload).hexdigest()
    text = json.dumps(record, indent=2, sort_keys=True, default=_jsonable) + "\n"
    atomic_write_text(json_path, text)
    return json_path


def read_record(json_path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(json_path).read_text())
    except json.JSONDecodeError as exc:
        raise ResultsError(
            f"{json_path}: not valid JSON ({exc}); delete it or rerun with --force"
        ) from exc


def load_result(json_path: Path, *, verify: bool = True) -> Result:
    """Load a record and its sidecar, checking the sidecar's hash and (``verify``) that every
    number in ``metrics`` is what the sidecar's evidence gives (:func:`check_metrics`)."""
    json_path = Path(json_path)
    record = read_record(json_path)
    npz_path = json_path.with_name(record.get("per_user_file", json_path.stem + ".npz"))
    if not npz_path.exists():
        raise ResultsError(
            f"{json_path}: its per-user file {npz_path.name} is missing; rerun with --force"
        )
    payload = npz_path.read_bytes()
    if verify and hashlib.sha256(payload).hexdigest() != record.get("per_user_sha256"):
        raise ResultsError(
            f"{npz_path}: sha256 does not match the one recorded in {json_path.name}; "
            "the files come from different runs. Rerun this entry with --force."
        )
    with np.load(io.BytesIO(payload), allow_pickle=False) as z:
        per_user = {k: z[k] for k in z.files}
    result = Result(record=record, per_user=per_user, path=json_path)
    if verify:
        check_metrics(result)
    return result


#: how far a recorded metric may be from its recomputation (float noise, not a hand edit)
METRIC_TOLERANCE = 1e-9


def recompute_metrics(result: Result) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """(``metrics``, per-unit vectors) recomputed from the sidecar's evidence, as the result's
    task kind does it (``tasks.result_kind``): a ranking result's target ranks, a generation
    result's hypotheses and references."""
    from tasks import result_kind

    record = result.record
    task = record.get("task") or {}
    names = list(task.get("metrics") or record.get("metrics") or [])
    return result_kind(task.get("kind"), result.path).recompute(result, names)


def check_metrics(result: Result) -> None:
    """Refuse a result whose ``metrics`` (or stored per-unit vectors) differ from what its
    sidecar recomputes to, naming the file and the metric: a hand edit, or files of two runs."""
    metrics, vectors = recompute_metrics(result)
    recorded = result.record.get("metrics") or {}
    for m in sorted(set(recorded) | set(metrics)):
        if m not in metrics or m not in recorded:
            where = "its per-user file" if m not in metrics else "metrics"
            raise ResultsError(f"{result.path}: metric {m!r} is missing from {where}")
        if not abs(float(recorded[m]) - metrics[m]) <= METRIC_TOLERANCE * max(1.0, abs(metrics[m])):
            raise ResultsError(
                f"{result.path}: metrics.{m} is {recorded[m]!r} but its per-user file gives "
                f"{metrics[m]!r}; the record was edited or mixed with another run's files. "
                "Restore it (git checkout) or rerun the entry with --force."
            )
        stored = result.per_user.get(m)
        if stored is not None and not _same_values(stored, vectors[m]):
            raise ResultsError(
                f"{result.path}: the per-user {m!r} values differ from those its ranks or texts "
                "give; rerun the entry with --force"
            )


def _same_values(stored: np.ndarray, computed: np.ndarray) -> bool:
    stored = np.asarray(stored, dtype=np.float64)
    return stored.shape == computed.shape and bool(
        np.allclose(stored, computed, rtol=0.0, atol=METRIC_TOLERANCE)
    )


def iter_result_files(results_dir: Path) -> list[Path]:
    """Every result JSON under ``results_dir`` in a stable order (skips temporary files)."""
    root = Path(results_dir)
    if not root.exists():
        return []
    return sorted(p for p in root.glob("*/*/*/seed*.json") if not p.name.startswith("."))


def load_all(results_dir: Path, *, verify: bool = True) -> list[Result]:
    return [load_result(p, verify=verify) for p in iter_result_files(results_dir)]


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    """A filter as the command line spells it ("a,b") or as a list; None selects everything."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(v).strip() for v in items if str(v).strip()]


def select_result_files(
    results_dir: Path,
    *,
    datasets: str | Sequence[str] | None = None,
    tasks: str | Sequence[str] | None = None,
    methods: str | Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> list[Path]:
    """The result JSONs under ``results_dir`` that the filters select, by the names the files are
    filed under (``<dataset key>/<task>/<method>/seed<k>.json``, e.g. ``p5_toys+random-ids`` or
    ``sequential+prompt=unseen``), chosen from the paths so that only they are loaded.

    A missing or empty directory, a name no result carries and filters that select nothing are
    errors naming what is there: a typo must not read as "no results"."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ResultsError(
            f"{root}: no such results directory; pass the directory `benchmark run` wrote "
            "(--results-dir, default results/)"
        )
    files = iter_result_files(root)
    if not files:
        raise ResultsError(
            f"{root}: holds no results (<dataset>/<task>/<method>/seed<k>.json); run "
            "`python -m benchmark run` into it first, or pass another --results-dir"
        )

    def filed(p: Path) -> tuple[str, str, str, str]:
        return p.parts[-4], p.parts[-3], p.parts[-2], p.stem.removeprefix("seed")

    found = dict(zip(("dataset", "task", "method", "seed"), map(set, zip(*map(filed, files)))))
    wanted = {
        "dataset": _names(datasets),
        "task": _names(tasks),
        "method": _names(methods),
        "seed": None if seeds is None else [str(int(s)) for s in seeds],
    }
    for what, names in wanted.items():
        unknown = sorted(set(names or ()) - found[what])
        if unknown:
            raise ResultsError(
                f"{root}: no result for {what} {', '.join(map(repr, unknown))}; it holds "
                f"{what}s {', '.join(sorted(found[what]))} (names as filed under "
                "<dataset>/<task>/<method>/seed<k>.json)"
            )
    chosen = [
        p for p in files
        if all(names is None or part in names for names, part in zip(wanted.values(), filed(p)))
    ]
    if not chosen:
        given = ", ".join(f"{k}s={','.join(v)}" for k, v in wanted.items() if v is not None)
        raise ResultsError(
            f"{root}: no result matches {given} together; each name exists, but not in one "
            "combination. Loosen a filter."
        )
    return chosen


def per_unit_values(result: Result, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Each metric's per-unit vector (float64): the sidecar's own where it stores one (which
    :func:`check_metrics` verified), recomputed from its evidence otherwise."""
    out = {m: result.per_user[m] for m in names if m in result.per_user}
    if len(out) < len(names):
        _, vectors = recompute_metrics(result)
        out.update({m: vectors[m] for m in names if m not in out})
    return {m: np.asarray(out[m], dtype=np.float64) for m in names}


def metric_names(result: Result) -> list[str]:
    """The result's metric names in its task's order."""
    task = result.record.get("task") or {}
    return list(task.get("metrics") or result.record.get("metrics") or [])


def load_frame(
    results_dir: Path,
    *,
    datasets: str | Sequence[str] | None = None,
    tasks: str | Sequence[str] | None = None,
    methods: str | Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    metrics: str | Sequence[str] | None = None,
    per_user: bool = False,
    verify: bool = True,
) -> pd.DataFrame:
    """Results as one tidy pandas frame, for analysis outside the leaderboards.

    Columns ``dataset`` (the key as filed), ``task``, ``method``, ``seed``, ``metric``, ``value``:
    one row per result and metric, the value its JSON reports. With ``per_user``, one row per
    evaluated unit and metric instead, with ``user``: the sidecar's ``users`` ids, i.e. user ids
    for ranking tasks and example ids for generation tasks (the ids ``compare`` pairs on). The
    per-unit mean is the reported number for every metric except corpus BLEU (``bleu-1``,
    ``bleu-4``, ``sacrebleu``), whose per-example values are smoothed sentence BLEU, kept for
    paired tests.

    Files are read by :func:`load_result`, so ``verify`` refuses a result whose numbers its
    per-user file does not give. Filters take lists or comma-separated names
    (:func:`select_result_files`); ``metrics`` keeps those metrics only."""
    import pandas as pd

    wanted = _names(metrics)
    blocks: list[tuple[tuple[str, str, str, int], str, np.ndarray | None, np.ndarray]] = []
    seen_metrics: set[str] = set()
    paths = select_result_files(
        results_dir, datasets=datasets, tasks=tasks, methods=methods, seeds=seeds
    )
    for path in paths:
        res = load_result(path, verify=verify)
        names = metric_names(res)
        seen_metrics.update(names)
        names = [m for m in names if wanted is None or m in wanted]
        if per_user:
            values = per_unit_values(res, names)
            blocks += [(res.key, m, np.asarray(res.users, np.int64), values[m]) for m in names]
        else:
            blocks += [(res.key, m, None, np.array([float(res.record["metrics"][m])]))
                       for m in names]
    unknown = sorted(set(wanted or ()) - seen_metrics)
    if unknown:
        raise ResultsError(
            f"{results_dir}: no selected result has metric {', '.join(map(repr, unknown))}; "
            f"they have {', '.join(sorted(seen_metrics))}"
        )
    sizes = [len(b[3]) for b in blocks]
    keys = list(zip(*(b[0] for b in blocks))) or [(), (), (), ()]
    data: dict[str, Any] = {
        col: pd.array(np.repeat(np.asarray(vals, dtype=object), sizes), dtype="string")
        for col, vals in zip(("dataset", "task", "method"), keys[:3])
    }
    data["seed"] = np.repeat(np.asarray(keys[3], dtype=np.int64), sizes)
    if per_user:
        data["user"] = np.concatenate([b[2] for b in blocks] or [np.zeros(0, np.int64)])
    data["metric"] = pd.array(
        np.repeat(np.asarray([b[1] for b in blocks], dtype=object), sizes), dtype="string"
    )
    data["value"] = np.concatenate([b[3] for b in blocks] or [np.zeros(0)])
    return pd.DataFrame(data)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a results record")
