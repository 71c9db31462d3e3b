"""Per-user results out of the suite: parquet files or a saved Hugging Face ``DatasetDict``.

One table per (dataset, task), one row per evaluated unit of each (method, seed): the unit's id
(column ``user`` for ranking tasks, ``example`` for generation tasks, as the task kind names its
unit), every per-unit array of the sidecar (ranks; users, items and texts of explanations), the
per-unit metric values and, on every row, the provenance a reader needs to cite it
(:data:`PROVENANCE`). Layout of the output directory:

* ``parquet``: ``DIR/<dataset>/<task>.parquet``, the names as filed under ``results/``;
* ``hf``: ``DIR`` is a ``DatasetDict`` saved with ``save_to_disk``, one split per table, named
  ``<dataset>__<task>`` with every character outside ``[A-Za-z0-9_]`` replaced by ``_`` (split
  names must be word characters);
* both: ``DIR/EXPORT.json`` lists each table's dataset, task, file or split, row count and
  source result files. Its presence marks a directory ``export`` may replace.

The directory is written whole in a temporary sibling and renamed into place, so a reader sees
the old export or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.errors import ConfigError, ResultsError
from benchmark.results import (
    Result,
    load_result,
    metric_names,
    per_unit_values,
    select_result_files,
)

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS: tuple[str, ...] = ("parquet", "hf")
#: the file that says a directory was written by ``export`` (and lists what it holds)
MANIFEST = "EXPORT.json"
#: the string columns on every row that say where its numbers came from (``_provenance``)
PROVENANCE: tuple[str, ...] = (
    "result_file",
    "config_hash",
    "git_commit",
    "git_dirty",
    "dataset_content_hash",
    "candidates_sha256",
    "users_sha256",
    "per_user_sha256",
    "recbench_version",
    "profile",
)


@dataclass(frozen=True)
class ExportedTable:
    """One (dataset, task) table: where it went and how many rows it has."""

    dataset: str
    task: str
    location: str  # file relative to the export directory, or split name
    rows: int
    results: tuple[str, ...]


def split_name(dataset: str, task: str) -> str:
    """A ``DatasetDict`` split name for a (dataset, task) table: word characters only."""
    return re.sub(r"\W", "_", f"{dataset}__{task}", flags=re.ASCII)


def _provenance(res: Result, results_dir: Path) -> dict[str, Any]:
    rec = res.record
    env = rec.get("environment") or {}
    dirty = env.get("git_dirty")
    return {
        "result_file": res.path.relative_to(results_dir).as_posix(),
        "config_hash": rec.get("config_hash"),
        "git_commit": env.get("git_commit"),
        # true/false, or "unknown" when the run had no git
        "git_dirty": str(dirty).lower() if isinstance(dirty, bool) else dirty,
        "dataset_content_hash": (rec.get("dataset") or {}).get("content_hash"),
        "candidates_sha256": (rec.get("candidates_file") or {}).get("sha256"),
        "users_sha256": (rec.get("users_file") or {}).get("sha256"),
        "per_user_sha256": rec.get("per_user_sha256"),
        "recbench_version": (env.get("packages") or {}).get("recbench"),
        "profile": rec.get("profile"),
    }


def result_table(res: Result, results_dir: Path) -> pa.Table:
    """One result's rows: keys, unit id, the sidecar's per-unit arrays, metrics, provenance."""
    import pyarrow as pa

    from tasks import result_kind

    unit = result_kind((res.record.get("task") or {}).get("kind"), res.path).unit.rstrip("s")
    users = np.asarray(res.users, dtype=np.int64)
    n = len(users)
    dataset, task, method, seed = res.key
    names = metric_names(res)
    cols: dict[str, pa.Array] = {
        "dataset": pa.array([dataset] * n, pa.string()),
        "task": pa.array([task] * n, pa.string()),
        "method": pa.array([method] * n, pa.string()),
        "seed": pa.array(np.full(n, seed, dtype=np.int64)),
        unit: pa.array(users),
    }
    for key, arr in res.per_user.items():
        if key != "users" and key not in names and key not in cols and arr.shape == (n,):
            cols[key] = pa.array(arr.tolist() if arr.dtype.kind == "U" else arr)
    for m, vec in per_unit_values(res, names).items():
        cols[m] = pa.array(vec)
    for key, value in _provenance(res, results_dir).items():
        cols[key] = pa.array([value] * n, pa.string())
    return pa.table(cols)


def build_tables(
    results_dir: Path,
    *,
    datasets: str | Sequence[str] | None = None,
    tasks: str | Sequence[str] | None = None,
    methods: str | Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> dict[tuple[str, str], tuple[pa.Table, tuple[str, ...]]]:
    """Per (dataset, task): the rows of its selected results (each verified on loading) and the
    result files they came from."""
    import pyarrow as pa

    results_dir = Path(results_dir)
    grouped: dict[tuple[str, str], list[Result]] = {}
    paths = select_result_files(
        results_dir, datasets=datasets, tasks=tasks, methods=methods, seeds=seeds
    )
    for path in paths:
        res = load_result(path)
        grouped.setdefault(res.key[:2], []).append(res)
    out = {}
    for key, group in grouped.items():
        # results of one table normally share their columns; promote fills any gap with nulls
        table = pa.concat_tables(
            [result_table(r, results_dir) for r in group], promote_options="default"
        )
        out[key] = (table, tuple(r.path.relative_to(results_dir).as_posix() for r in group))
    return out


def _check_target(out_dir: Path, results_dir: Path, force: bool) -> None:
    """Refuse a target that is a file, is or holds the current directory, overlaps the results,
    or holds files ``export`` did not write (unless ``force``)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: exists and is not a directory; choose another DIR")
    out, res = out_dir.resolve(), results_dir.resolve()
    cwd = Path.cwd().resolve()
    if out == cwd or out in cwd.parents:
        raise ConfigError(
            f"{out_dir}: is or holds the current directory, which replacing it would pull from "
            "under this process; choose a new DIR, e.g. exports/"
        )
    if res == out or out in res.parents or res in out.parents:
        raise ConfigError(
            f"{out_dir}: is, holds or lies inside the results directory {results_dir}; "
            "choose a DIR outside it (an export there would replace results or sit among them)"
        )
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        if not force:
            raise ConfigError(
                f"{out_dir}: is not empty and was not written by `benchmark export` (no "
                f"{MANIFEST}); choose another DIR, or pass --force to replace its contents"
            )


def _need_datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise ConfigError(
            "--format hf needs the Hugging Face datasets package: "
            'pip install "recbench[hf]" (or use --format parquet)'
        ) from exc
    return datasets


def _write(tmp: Path, fmt: str, tables: dict) -> list[ExportedTable]:
    import pyarrow.parquet as pq

    written = []
    splits = {}
    for (dataset, task), (table, sources) in sorted(tables.items()):
        if fmt == "parquet":
            location = f"{dataset}/{task}.parquet"
            (tmp / dataset).mkdir(parents=True, exist_ok=True)
            pq.write_table(table, tmp / location)
        else:
            location = split_name(dataset, task)
            if location in splits:
                raise ResultsError(
                    f"tables {splits[location]} and {(dataset, task)} both become split "
                    f"{location!r}; rename one results folder, or export --format parquet"
                )
            splits[location] = (dataset, task)
        written.append(ExportedTable(dataset, task, location, table.num_rows, sources))
    if fmt == "hf":
        datasets = _need_datasets()
        from datasets.table import InMemoryTable

        dd = datasets.DatasetDict({
            split_name(ds, task): datasets.Dataset(InMemoryTable(table))
            for (ds, task), (table, _) in tables.items()
        })
        was_enabled = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()  # one bar per split drowns the summary line
        try:
            dd.save_to_disk(str(tmp))
        finally:
            if was_enabled:
                datasets.enable_progress_bars()
    return written


def export_results(
    results_dir: Path,
    out_dir: Path,
    fmt: str,
    *,
    datasets: str | Sequence[str] | None = None,
    tasks: str | Sequence[str] | None = None,
    methods: str | Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    force: bool = False,
) -> list[ExportedTable]:
    """Write the selected results' per-user tables to ``out_dir`` as ``fmt`` (see the module
    docstring for the layout), replacing a previous export there; returns what was written."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    if fmt == "hf":
        _need_datasets()  # before any result is read
    _check_target(out_dir, results_dir, force)
    tables = build_tables(
        results_dir, datasets=datasets, tasks=tasks, methods=methods, seeds=seeds
    )
    target = out_dir.resolve()  # "exports/.." must still get a sibling, not a child
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.export-"))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; a plain mkdir would not
        written = _write(tmp, fmt, tables)
        manifest = {
            "format": fmt,
            "results_dir": str(results_dir),
            "tables": [
                {"dataset": t.dataset, "task": t.task,
                 ("file" if fmt == "parquet" else "split"): t.location,
                 "rows": t.rows, "results": list(t.results)}
                for t in written
            ],
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def _replace_dir(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``: a rename when ``target`` is absent or empty; otherwise the old
    directory is renamed aside first and deleted once the new one is in place."""
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    old.rmdir()
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old)
