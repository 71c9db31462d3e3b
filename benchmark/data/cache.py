"""Parquet cache of normalized datasets, keyed by content hash.

Parsing text formats is the slow part of a run; the normalized form is cheap to read back. A
cache entry is a directory ``<cache_dir>/v<CACHE_VERSION>/<content_hash>/`` written under a
temporary name and renamed into place, so a reader never sees a half-written entry. An entry
that fails to read (truncated file, foreign edits) is treated as absent and rewritten.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from benchmark.data.schema import Dataset

CACHE_VERSION = 1
"""Bump when a parser or the normalized form changes, so stale entries are not reused."""

_FRAMES = ("interactions", "items", "users", "reviews")


def cache_root() -> Path:
    """Root of recbench's caches: ``$RECBENCH_CACHE`` or ``~/.cache/recbench``."""
    env = os.environ.get("RECBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "recbench"


def default_cache_dir() -> Path:
    """Where normalized datasets are cached unless a caller passes ``cache_dir``."""
    return cache_root() / "datasets"


def entry_dir(cache_dir: Path, content_hash: str) -> Path:
    """The cache entry directory for one content hash."""
    return Path(cache_dir) / f"v{CACHE_VERSION}" / content_hash


def read_cache(cache_dir: Path, content_hash: str) -> Dataset | None:
    """The cached dataset, or None when absent or unreadable (a corrupt entry warns)."""
    entry = entry_dir(cache_dir, content_hash)
    if not entry.is_dir():
        return None
    try:
        return _read_entry(entry, content_hash)
    except Exception as exc:  # any failure means "re-parse"; the entry is rewritten
        warnings.warn(f"ignoring unreadable dataset cache {entry}: {exc}", stacklevel=3)
        return None


def write_cache(cache_dir: Path, dataset: Dataset, *, replace: bool = False) -> Path | None:
    """Write ``dataset`` atomically; returns the entry, or None if the cache is not writable.

    An existing entry is kept (a concurrent writer's, whose readers must not see it vanish)
    unless ``replace`` says it is a corrupt one.
    """
    entry = entry_dir(cache_dir, dataset.content_hash)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{dataset.content_hash[:16]}-", dir=entry.parent))
    except OSError as exc:
        warnings.warn(f"cannot write dataset cache under {cache_dir}: {exc}", stacklevel=3)
        return None
    try:
        _write_entry(tmp, dataset)
        _move_into_place(tmp, entry, replace=replace)
    except OSError as exc:
        warnings.warn(f"cannot write dataset cache {entry}: {exc}", stacklevel=3)
        return None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return entry


def load_or_parse(
    content_hash: str,
    parse: Callable[[], Dataset],
    *,
    name: str,
    source: str,
    cache_dir: Path | None,
    use_cache: bool,
) -> Dataset:
    """Return the cached dataset for ``content_hash``, else call ``parse`` and cache its result.

    ``name`` and ``source`` are set on the result either way: the same bytes may live under
    several names and places, and the cache must not leak the first one's.
    """
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    corrupt = False
    if use_cache:
        cached = read_cache(cache_dir, content_hash)
        if cached is not None:
            cached.name, cached.source = name, source
            return cached
        corrupt = entry_dir(cache_dir, content_hash).exists()
    dataset = parse()
    dataset.content_hash = content_hash
    dataset.name, dataset.source = name, source
    if use_cache:
        write_cache(cache_dir, dataset, replace=corrupt)
    return dataset


def _write_entry(tmp: Path, dataset: Dataset) -> None:
    frames = {
        "interactions": dataset.interactions,
        "items": dataset.items,
        "users": pd.DataFrame({"raw_id": pd.Series(dataset.user_raw_ids, dtype=object)}),
        "reviews": dataset.reviews,
    }
    dtypes: dict[str, dict[str, str]] = {}
    for key, frame in frames.items():
        if frame is None:
            continue
        frame.to_parquet(tmp / f"{key}.parquet", index=False)
        dtypes[key] = {str(c): str(t) for c, t in frame.dtypes.items()}
    record = {
        "cache_version": CACHE_VERSION,
        "content_hash": dataset.content_hash,
        "format": dataset.format,
        "meta": dataset.meta,
        "dtypes": dtypes,
        "n_interactions": len(dataset.interactions),
    }
    # written last: an entry without dataset.json is incomplete
    (tmp / "dataset.json").write_text(json.dumps(record, default=str), encoding="utf-8")


def _move_into_place(tmp: Path, entry: Path, *, replace: bool) -> None:
    if entry.exists() and not replace:
        return  # a concurrent writer got there first; the caller removes ``tmp``
    if entry.exists():  # a corrupt entry: move it aside, then drop it
        trash = Path(tempfile.mkdtemp(prefix=".old-", dir=entry.parent))
        try:
            os.rename(entry, trash / "entry")
        except OSError:
            pass
        finally:
            shutil.rmtree(trash, ignore_errors=True)
    try:
        os.rename(tmp, entry)
    except OSError:
        if not (entry / "dataset.json").is_file():
            raise  # nobody else wrote a complete entry either


def _read_entry(entry: Path, content_hash: str) -> Dataset:
    record = json.loads((entry / "dataset.json").read_text(encoding="utf-8"))
    if record.get("content_hash") != content_hash or record.get("cache_version") != CACHE_VERSION:
        raise ValueError("dataset.json does not match the entry's key")
    frames: dict[str, pd.DataFrame | None] = {}
    for key in _FRAMES:
        if key not in record["dtypes"]:
            frames[key] = None
            continue
        frame = pd.read_parquet(entry / f"{key}.parquet")
        frames[key] = _restore_dtypes(frame, record["dtypes"][key])
    inter, items, users = frames["interactions"], frames["items"], frames["users"]
    if inter is None or items is None or users is None:
        raise ValueError("missing interactions, items or users")
    if len(inter) != record["n_interactions"]:
        raise ValueError("interaction count does not match dataset.json")
    return Dataset(
        name="",
        source="",
        content_hash=content_hash,
        interactions=inter,
        items=items,
        user_raw_ids=[str(u) for u in users["raw_id"]],
        format=record["format"],
        reviews=frames["reviews"],
        meta=record.get("meta") or {},
    )


def _restore_dtypes(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    """Give columns back the dtypes they had when written (parquet turns object into str)."""
    if list(frame.columns) != list(dtypes):
        raise ValueError(f"columns {list(frame.columns)} differ from {list(dtypes)}")
    for col, dtype in dtypes.items():
        if str(frame[col].dtype) == dtype:
            continue
        if dtype == "object":
            values = frame[col].astype(object)
            frame[col] = values.where(values.notna(), None)
        else:
            frame[col] = frame[col].astype(dtype)
    return frame
