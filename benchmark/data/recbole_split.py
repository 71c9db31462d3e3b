"""RecBole's pre-split benchmark layout, as UniSRec and LLMRank ship their Amazon sets.

``<name>.valid.inter`` and ``<name>.test.inter`` hold one row per user, ``user_id:token``,
``item_id_list:token_seq`` (the history, oldest first) and ``item_id:token`` (the target), with
no timestamp; ``<name>.item`` (optional) gives titles. The split is the files' own, so it is
loaded as given: each user's sequence is the validation history, the validation target, then
the test target. The suite's leave-one-out split of that sequence is exactly the files' split
(test target: the ``.test.inter`` ``item_id``; validation target: the ``.valid.inter`` one;
training: the validation history), and ``Dataset.meta["split"]`` says so in every result.

The two rows must agree: the test history is the validation history plus the validation
target (a history cut to RecBole's ``MAX_ITEM_LIST_LENGTH`` may lose its oldest items; the
longer of the two is used). ``<name>.train.inter`` (optional; LLMRank's Games-6k and UniSRec
ship one) is not read: its rows are (prefix, next item) pairs cut from the validation history,
which a method rebuilds itself, and LLMRank's generator wrote, until its commit 5ec1154, one
more row per user whose target was the validation item, which must not train.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.data._io import (
    load_sources,
    read_table,
    require_columns,
    require_dir,
    require_rows,
    to_ids,
)
from benchmark.data.atomic import parse_items, typed_fields
from benchmark.data.schema import Dataset, build_dataset
from benchmark.errors import DataError

FORMAT = "recbole-split"
FILES = (
    "<name>.valid.inter and <name>.test.inter (user_id:token, item_id_list:token_seq, "
    "item_id:token; <name>.train.inter is not read), optional <name>.item with titles"
)
STAGES = ("valid", "test")
SPLIT_RULE = (
    "given by the files (RecBole pre-split layout): test target the .test.inter item_id, "
    "validation target the .valid.inter item_id, training the validation history"
)
_FIELDS = ("user_id", "item_id_list", "item_id")
_EXPECTED = "a typed header user_id:token, item_id_list:token_seq, item_id:token"


def detect(path: Path) -> bool:
    """A ``<name>.valid.inter``/``.test.inter`` file, or a directory holding a ``.test.inter``."""
    path = Path(path)
    if path.is_file():
        return path.name.endswith((".valid.inter", ".test.inter", ".train.inter"))
    return path.is_dir() and any(path.glob("*.test.inter"))


def find_sources(path: Path) -> dict[str, Path | None]:
    """``.valid.inter``, ``.test.inter`` and the optional ``.item`` of one dataset name."""
    path = Path(path)
    if path.is_file():
        stem = _stem(path)
        if stem is None:
            raise DataError(f"expected {FILES}", path=path)
        directory = path.parent
    else:
        directory = require_dir(path, FORMAT)
        stems = sorted({s for p in directory.glob("*.inter") if (s := _stem(p)) is not None})
        if not stems:
            raise DataError(f"missing files: expected {FILES}", path=directory)
        named = directory.resolve().name
        if len(stems) > 1 and named not in stems:
            raise DataError(
                f"pre-split files of several datasets ({', '.join(stems)}); pass one of their "
                "files",
                path=directory,
            )
        stem = named if len(stems) > 1 else stems[0]
    out: dict[str, Path | None] = {}
    for stage in STAGES:
        file = directory / f"{stem}.{stage}.inter"
        if not file.is_file():
            raise DataError(
                f"missing file {file.name}: the pre-split layout needs {stem}.valid.inter and "
                f"{stem}.test.inter (one row per user each)",
                path=directory,
            )
        out[f".{stage}.inter"] = file
    item = directory / f"{stem}.item"
    out[".item"] = item if item.is_file() else None
    return out


def load(
    path: Path, *, name: str | None = None, cache_dir: Path | None = None, use_cache: bool = True
) -> Dataset:
    """Load a pre-split dataset from its directory or one of its files (cached)."""
    files = find_sources(path)
    test = files[".test.inter"]
    assert test is not None
    return load_sources(
        files,
        lambda: parse(files[".valid.inter"], test, files[".item"]),
        format=FORMAT,
        name=name or test.name.removesuffix(".test.inter"),
        source=str(test.parent.resolve()),
        cache_dir=cache_dir,
        use_cache=use_cache,
    )


def parse(valid: Path | None, test: Path, item: Path | None) -> Dataset:
    """One sequence per user, validation history + validation target + test target; the caller
    sets name, source and hash."""
    assert valid is not None
    valid_rows = _read_rows(valid)
    test_rows = _read_rows(test)
    users: list[str] = []
    items: list[str] = []
    positions: list[int] = []
    cut = 0
    for user, (t_line, t_hist, t_target) in test_rows.items():
        if user not in valid_rows:
            raise DataError(
                f"user {user!r} has no row in {valid.name}; every test user needs a "
                "validation row",
                path=test,
                line=t_line,
            )
        v_line, v_hist, v_target = valid_rows[user]
        if not t_hist or t_hist[-1] != v_target:
            raise DataError(
                f"item_id_list of user {user!r} must end with the user's validation target "
                f"{v_target!r} ({valid.name}, line {v_line}): the test history is the "
                "validation history plus its target",
                path=test,
                line=t_line,
            )
        before = t_hist[:-1]
        short, long = sorted((before, v_hist), key=len)
        if long[len(long) - len(short) :] != short:
            raise DataError(
                f"item_id_list of user {user!r} disagrees with the test row's history "
                f"({test.name}, line {t_line}); both must list the same items before the "
                "validation target",
                path=valid,
                line=v_line,
            )
        cut += len(v_hist) != len(before)
        sequence = [*long, v_target, t_target]
        users.extend([user] * len(sequence))
        items.extend(sequence)
        positions.extend(range(len(sequence)))
    extra = sorted(set(valid_rows) - set(test_rows), key=lambda u: valid_rows[u][0])
    if extra:
        raise DataError(
            f"user {extra[0]!r} has no row in {test.name}; every validation user needs a test "
            f"row ({len(extra)} user(s) lack one)",
            path=valid,
            line=valid_rows[extra[0]][0],
        )
    dataset = build_dataset(
        format=FORMAT,
        users=pd.Series(users, dtype=object),
        items=pd.Series(items, dtype=object),
        timestamps=pd.Series(positions, dtype="int64"),
        item_info=None if item is None else parse_items(item, label=item),
    )
    dataset.meta.update({"split": SPLIT_RULE, "histories_cut": int(cut)})
    return dataset


def _stem(path: Path) -> str | None:
    for stage in (*STAGES, "train"):
        suffix = f".{stage}.inter"
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.name.removesuffix(suffix)
    return None


def _read_rows(file: Path) -> dict[str, tuple[int, list[str], str]]:
    """user -> (line, history, target) of a one-row-per-user file, in file order."""
    frame = read_table(file, label=file, sep="\t", header=True, expected=_EXPECTED)
    fields = typed_fields(frame, label=file)
    require_columns(fields, _FIELDS, label=file, expected=_EXPECTED)
    require_rows(frame, label=file, expected="one row per user after the header")
    users = to_ids(frame[fields["user_id"]], label=file, field="user_id", line_offset=2)
    targets = to_ids(frame[fields["item_id"]], label=file, field="item_id", line_offset=2)
    rows: dict[str, tuple[int, list[str], str]] = {}
    for idx, user, hist, target in zip(
        frame.index, users, frame[fields["item_id_list"]], targets, strict=True
    ):
        line = int(idx) + 2
        if user in rows:
            raise DataError(
                f"user {user!r} has a second row (first on line {rows[user][0]}); the "
                "pre-split layout has one row per user in each file",
                path=file,
                line=line,
            )
        rows[user] = (line, str(hist).split(), target)
    return rows
