"""Reading directories written by Hugging Face ``datasets`` (``save_to_disk``).

Shared by the ``amazon2023`` and ``hf`` formats. A saved ``Dataset`` is a directory with
``state.json``, ``dataset_info.json`` and ``data-*.arrow`` shards; a saved ``DatasetDict`` has
``dataset_dict.json`` and one such directory per split. Detection and the content hash read
only those JSON files and shard bytes, so they work without importing ``datasets``; parsing
imports it lazily, so the core suite runs without the ``hf`` extra.

Splits of a ``DatasetDict``: the ``split`` option picks one; without it the ``full`` split is
read when there is one (Amazon Reviews 2023 ships everything there), else every split,
concatenated in the order ``dataset_dict.json`` lists them (the suite makes its own split).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pandas as pd

from benchmark.errors import ConfigError, DataError

INSTALL_HINT = 'pip install "recbench[hf]"'
DEFAULT_SPLIT = "full"


def require_datasets(what: str) -> ModuleType:
    """The ``datasets`` module, or a DataError saying how to install it."""
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"reading {what} needs the Hugging Face datasets package; install it with "
            f"{INSTALL_HINT}"
        ) from None
    return datasets


def is_saved_dataset(path: Path) -> bool:
    """A directory written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    path = Path(path)
    if not path.is_dir():
        return False
    if (path / "dataset_dict.json").is_file():
        return True
    return (path / "state.json").is_file() and (path / "dataset_info.json").is_file()


def split_dirs(path: Path, split: str | None) -> list[Path]:
    """The saved ``Dataset`` directories to read (see the module docstring for the rule)."""
    path = Path(path)
    index = path / "dataset_dict.json"
    if not index.is_file():
        if split is not None:
            raise ConfigError(
                f"data_options.split: {path} is a single saved Dataset without splits; "
                "remove the option"
            )
        return [path]
    try:
        names = [str(n) for n in json.loads(index.read_text(encoding="utf-8"))["splits"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"cannot read the split list ({exc}); expected a DatasetDict.save_to_disk directory",
            path=index,
        ) from None
    if split is not None:
        if split not in names:
            raise ConfigError(
                f"data_options.split: {path} has no split {split!r} (splits: {', '.join(names)})"
            )
        names = [split]
    elif DEFAULT_SPLIT in names:
        names = [DEFAULT_SPLIT]
    if not names:
        raise DataError("the DatasetDict has no splits", path=index)
    return [path / n for n in names]


def columns(path: Path) -> list[str]:
    """Column names of a saved dataset (its first split's), read from ``dataset_info.json``."""
    try:
        info = split_dirs(path, None)[0] / "dataset_info.json"
        features = json.loads(info.read_text(encoding="utf-8")).get("features") or {}
    except (OSError, ValueError, DataError):
        return []
    return [str(c) for c in features] if isinstance(features, dict) else []


def shard_files(directory: Path) -> list[Path]:
    """The Arrow shards of one saved ``Dataset`` directory, as ``state.json`` lists them."""
    state = Path(directory) / "state.json"
    try:
        files = json.loads(state.read_text(encoding="utf-8"))["_data_files"]
        shards = [Path(directory) / f["filename"] for f in files]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"cannot read the shard list ({exc}); expected a save_to_disk directory", path=state
        ) from None
    missing = [s.name for s in shards if not s.is_file()]
    if missing:
        raise DataError(
            f"missing shard file(s) {', '.join(missing)} listed in state.json; copy the whole "
            "save_to_disk directory",
            path=directory,
        )
    return shards


def sources(root: Path, split: str | None, *, role: str = "") -> dict[str, Path]:
    """Each shard of the splits read, keyed by its path under ``root`` (for the content hash)."""
    out: dict[str, Path] = {}
    for directory in split_dirs(root, split):
        for shard in shard_files(directory):
            out[f"{role}{shard.relative_to(root).as_posix()}"] = shard
    return out


def read_frames(
    root: Path, split: str | None, wanted: list[str]
) -> list[tuple[Path, pd.DataFrame]]:
    """The ``wanted`` columns present in each split read, as (split directory, frame) pairs in
    order; a missing column is the caller's to report (it knows what the column is for)."""
    datasets = require_datasets(f"the saved dataset {root}")
    out = []
    for directory in split_dirs(root, split):
        try:
            data = datasets.load_from_disk(str(directory))
        except Exception as exc:  # datasets raises several types for damaged directories
            raise DataError(
                f"cannot read the saved dataset ({type(exc).__name__}: {exc}); expected a "
                "directory written by save_to_disk",
                path=directory,
            ) from None
        present = [c for c in wanted if c in data.column_names]
        out.append((directory, data.select_columns(present).to_pandas()))
    return out


def require_columns(have: list[str], required: list[str], *, label: Path, fix: str) -> None:
    """A DataError listing the columns found when a required one is missing."""
    missing = [c for c in required if c not in have]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(map(repr, missing))}; the columns found are "
            f"{', '.join(map(repr, have)) or 'none'}. {fix}",
            path=label,
        )


def ids(col: pd.Series, *, label: Path, field: str) -> pd.Series:
    """Ids as stripped strings; a missing or empty one names its row (``ds[row]``)."""
    values = [None if v is None or (isinstance(v, float) and v != v) else str(v).strip()
              for v in col.tolist()]
    for row, v in enumerate(values):
        if not v:
            raise DataError(
                f"column {field!r} is empty in row {row} (ds[{row}]); every row needs an id",
                path=label,
            )
    return pd.Series(values, index=col.index, dtype=object)


def times(col: pd.Series, *, label: Path, field: str) -> pd.Series:
    """Numeric timestamps (a datetime column becomes int64 nanoseconds since the epoch); a
    missing value or a non-numeric column names the row or the column's type."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        col = col.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        bad = col.isna().to_numpy()
        if not bad.any():
            return pd.Series(col.astype("datetime64[ns]").astype("int64"), index=col.index)
    elif pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        bad = col.isna().to_numpy()
        if not bad.any():
            return col
    else:
        raise DataError(
            f"column {field!r} holds {col.dtype} values, not numbers or timestamps; convert it "
            f"(e.g. ds.cast_column({field!r}, datasets.Value('int64'))) and save again",
            path=label,
        )
    row = int(bad.argmax())
    raise DataError(
        f"column {field!r} is missing in row {row} (ds[{row}]); every row needs a timestamp",
        path=label,
    )
