"""GroupLens's own MovieLens-100K files (``u.data`` and optional ``u.item``).

For users who already have the GroupLens zip extracted. ``u.data`` is ``user<TAB>item<TAB>
rating<TAB>timestamp`` without header; ``u.item`` is pipe separated latin-1 text with 19 genre
flags. Ids must be integers: that is how GroupLens ships them, and anything else means the
wrong file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data._io import (
    as_dir,
    directory_sources,
    load_directory,
    read_table,
    require_rows,
    to_ints,
)
from benchmark.data.schema import Dataset, build_dataset
from benchmark.errors import DataError

FORMAT = "grouplens-100k"
FILES = "u.data (user<TAB>item<TAB>rating<TAB>timestamp, no header), optional u.item"

GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
_DATA_FIELDS = ("user", "item", "rating", "timestamp")
_ITEM_FIELDS = ("item", "title", "release_date", "video_release_date", "url", *GENRES)


def detect(path: Path) -> bool:
    """A directory holding ``u.data`` (or that file itself)."""
    return (Path(as_dir(path, ("u.data",))) / "u.data").is_file()


def find_sources(path: Path) -> dict[str, Path | None]:
    """``u.data`` (required) and ``u.item`` (optional) of a directory."""
    return directory_sources(path, "u.data", "u.item", fmt=FORMAT)


def load(
    path: Path, *, name: str | None = None, cache_dir: Path | None = None, use_cache: bool = True
) -> Dataset:
    """Load GroupLens ``u.data``/``u.item`` from a directory (cached)."""
    return load_directory(find_sources(path), parse, FORMAT, name, cache_dir, use_cache)


def parse(data: Path, item: Path | None) -> Dataset:
    """Parse ``u.data`` and ``u.item``; the caller sets name, source and hash."""
    expected = "4 tab-separated integers: user, item, rating, timestamp"
    frame = read_table(data, label=data, sep="\t", header=False, expected=expected)
    require_rows(frame, label=data, expected=expected)
    if frame.shape[1] != 4:
        raise DataError(
            f"found {frame.shape[1]} fields per line; expected {expected}", path=data, line=1
        )
    frame.columns = list(_DATA_FIELDS)
    users = to_ints(frame["user"], label=data, field="user", line_offset=1)
    items = to_ints(frame["item"], label=data, field="item", line_offset=1)
    stamps = to_ints(frame["timestamp"], label=data, field="timestamp", line_offset=1)
    return build_dataset(
        format=FORMAT,
        users=pd.Series(users),
        items=pd.Series(items),
        timestamps=pd.Series(stamps),
        item_info=None if item is None else parse_items(item),
    )


def parse_items(path: Path) -> pd.DataFrame:
    """``raw_id``, ``title``, ``categories`` (flagged genres joined by ", ") from ``u.item``."""
    expected = f"{len(_ITEM_FIELDS)} '|'-separated fields: id|title|release date|...|19 flags"
    frame = read_table(
        path, label=path, sep="|", header=False, encoding="latin-1", expected=expected
    )
    if frame.shape[1] != len(_ITEM_FIELDS):
        raise DataError(
            f"found {frame.shape[1]} fields per line; expected {expected}", path=path, line=1
        )
    frame.columns = list(_ITEM_FIELDS)
    ids = to_ints(frame["item"], label=path, field="item id", line_offset=1)
    flags = frame[list(GENRES)]
    bad = ~flags.isin(["0", "1"]).to_numpy()
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"genre flag {GENRES[col]!r} must be 0 or 1, got {flags.iat[row, col]!r}",
            path=path,
            line=int(flags.index[row]) + 1,
        )
    names = np.array(GENRES, dtype=object)
    on = flags.to_numpy() == "1"
    categories = [", ".join(names[mask]) or None for mask in on]
    title = frame["title"].str.strip()
    return pd.DataFrame(
        {
            "raw_id": ids.astype(str),
            "title": title.where(title != "", None).astype(object).to_numpy(),
            "categories": pd.Series(categories, dtype=object).to_numpy(),
        }
    )
