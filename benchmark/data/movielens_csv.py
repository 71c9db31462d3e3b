"""MovieLens CSV releases (ml-latest, ml-latest-small, ml-20m, ml-25m ...).

``ratings.csv`` has ``userId,movieId,rating,timestamp``; re-distributions often rename these
to ``user_id,item_id,...``, so both spellings are accepted. ``movies.csv`` (optional) has
``movieId,title,genres`` with ``A|B`` genres and quoted titles. GroupLens ships CRLF files.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from benchmark.data._io import (
    as_dir,
    directory_sources,
    load_directory,
    read_table,
    require_columns,
    require_rows,
    to_ids,
    to_numbers,
)
from benchmark.data.schema import Dataset, build_dataset

FORMAT = "movielens-csv"
FILES = "ratings.csv (userId,movieId,rating,timestamp), optional movies.csv (movieId,title,genres)"
_ALIASES = {"userId": "user_id", "movieId": "item_id"}
_NO_GENRES = "(no genres listed)"


def detect(path: Path) -> bool:
    """A directory holding ``ratings.csv`` (or that file itself)."""
    return (as_dir(Path(path), ("ratings.csv",)) / "ratings.csv").is_file()


def find_sources(path: Path) -> dict[str, Path | None]:
    """``ratings.csv`` (required) and ``movies.csv`` (optional) of a directory."""
    return directory_sources(path, "ratings.csv", "movies.csv", fmt=FORMAT)


def load(
    path: Path, *, name: str | None = None, cache_dir: Path | None = None, use_cache: bool = True
) -> Dataset:
    """Load a MovieLens CSV directory (cached)."""
    return load_directory(find_sources(path), parse, FORMAT, name, cache_dir, use_cache)


def parse(ratings: Path, movies: Path | None) -> Dataset:
    """Parse ``ratings.csv`` and ``movies.csv``; the caller sets name, source and hash."""
    expected = "header userId,movieId,rating,timestamp (or user_id,item_id,rating,timestamp)"
    frame = _read_csv(ratings, expected)
    require_columns(
        frame.columns, ("user_id", "item_id", "timestamp"), label=ratings, expected=expected
    )
    require_rows(frame, label=ratings, expected="one rating per line after the header")
    users = to_ids(frame["user_id"], label=ratings, field="user_id", line_offset=2)
    items = to_ids(frame["item_id"], label=ratings, field="item_id", line_offset=2)
    stamps = to_numbers(frame["timestamp"], label=ratings, field="timestamp", line_offset=2)
    return build_dataset(
        format=FORMAT,
        users=users,
        items=items,
        timestamps=stamps,
        item_info=None if movies is None else parse_movies(movies),
    )


def parse_movies(path: Path) -> pd.DataFrame:
    """``raw_id``, ``title``, ``categories`` (genres joined by ", ") from ``movies.csv``."""
    expected = "header movieId,title,genres (or item_id,title,genres)"
    frame = _read_csv(path, expected)
    require_columns(frame.columns, ("item_id", "title"), label=path, expected=expected)
    title = frame["title"].str.strip()
    info = pd.DataFrame(
        {"raw_id": to_ids(frame["item_id"], label=path, field="item_id", line_offset=2)}
    )
    info["title"] = title.where(title != "", None).astype(object)
    if "genres" in frame.columns:
        genres = frame["genres"].str.strip()
        genres = genres.where((genres != "") & (genres != _NO_GENRES), None)
        info["categories"] = genres.str.split("|").str.join(", ").astype(object)
        info["categories"] = info["categories"].where(info["categories"].notna(), None)
    return info


def _read_csv(path: Path, expected: str) -> pd.DataFrame:
    frame = read_table(
        path,
        label=path,
        sep=",",
        header=True,
        quoting=csv.QUOTE_MINIMAL,
        encoding="utf-8-sig",
        expected=expected,
    )
    return frame.rename(columns=lambda c: _ALIASES.get(str(c).strip(), str(c).strip()))
