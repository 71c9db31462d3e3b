"""Any Hugging Face dataset saved with ``save_to_disk`` that has user, item and time columns.

The column names differ from dataset to dataset, so they are loader options (``data_options``
in a run's config: ``user_column``, ``item_column``, ``timestamp_column``, defaulting to
``user_id``, ``item_id``, ``timestamp``), and a missing one is reported with the columns the
dataset does have. Timestamps may be numbers or Arrow timestamps (read as nanoseconds since the
epoch). A ``DatasetDict`` is read by :mod:`benchmark.data._hf`'s split rule, or ``split``.
Known schemas have their own format (``amazon2023``), detected first.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.data import _hf
from benchmark.data._io import default_name, load_sources, require_dir
from benchmark.data.schema import Dataset, build_dataset
from benchmark.errors import ConfigError, DataError

FORMAT = "hf"
FILES = (
    "a Hugging Face save_to_disk directory (Dataset or DatasetDict) with user, item and "
    "timestamp columns, named by data_options user_column, item_column, timestamp_column"
)
DEFAULT_COLUMNS = {
    "user_column": "user_id",
    "item_column": "item_id",
    "timestamp_column": "timestamp",
}


def detect(path: Path) -> bool:
    """A directory written by ``save_to_disk``."""
    return _hf.is_saved_dataset(Path(path))


def load(
    path: Path,
    *,
    name: str | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    user_column: str = "user_id",
    item_column: str = "item_id",
    timestamp_column: str = "timestamp",
    split: str | None = None,
) -> Dataset:
    """Load a saved dataset's (user, item, timestamp) columns (cached)."""
    names = {"user_column": user_column, "item_column": item_column,
             "timestamp_column": timestamp_column}  # fmt: skip
    for key, value in names.items():
        if not isinstance(value, str) or not value:
            raise ConfigError(f"data_options.{key}: a column name, got {value!r}")
    if split is not None and not isinstance(split, str):
        raise ConfigError(f"data_options.split: a split name, got {split!r}")
    directory = require_dir(Path(path), FORMAT)
    if not _hf.is_saved_dataset(directory):
        raise DataError(
            "not a save_to_disk directory (no dataset_dict.json, or state.json and "
            "dataset_info.json); write it with datasets' Dataset.save_to_disk",
            path=directory,
        )
    columns = [user_column, item_column, timestamp_column]
    return load_sources(
        _hf.sources(directory, split),
        lambda: parse(directory, columns, split=split),
        format=FORMAT,
        name=name or default_name(directory),
        source=str(directory.resolve()),
        cache_dir=cache_dir,
        use_cache=use_cache,
        # only non-default names enter the hash, so spelling out a default changes nothing
        options={"split": split, **{k: v for k, v in names.items() if DEFAULT_COLUMNS[k] != v}},
    )


def parse(root: Path, columns: list[str], *, split: str | None = None) -> Dataset:
    """The named columns of every split read, in row order; the caller sets name, source,
    hash."""
    user_col, item_col, time_col = columns
    frames, splits = [], []
    for directory, frame in _hf.read_frames(root, split, columns):
        _hf.require_columns(
            list(_hf.columns(directory)) or list(frame.columns), columns, label=directory,
            fix="Name the dataset's columns with data_options user_column, item_column and "
                "timestamp_column in the run's config.",
        )  # fmt: skip
        frames.append(
            pd.DataFrame(
                {
                    "user": _hf.ids(frame[user_col], label=directory, field=user_col),
                    "item": _hf.ids(frame[item_col], label=directory, field=item_col),
                    "timestamp": _hf.times(frame[time_col], label=directory, field=time_col),
                }
            )
        )
        if directory != root:
            splits.append(directory.name)
    frame = pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise DataError("the dataset has no rows", path=root)
    dataset = build_dataset(
        format=FORMAT, users=frame["user"], items=frame["item"], timestamps=frame["timestamp"]
    )
    dataset.meta.update({"columns": dict(zip(("user", "item", "timestamp"), columns,
                                             strict=True)), "splits_read": splits})  # fmt: skip
    return dataset
