"""P5 / POD sequential data: ``sequential_data.txt`` (or ``sequential.txt``), ``datamaps.json``.

Each line is ``user item item ...`` with integer ids in chronological order; there are no
timestamps, so an item's position in its line (0-based) is its timestamp. The integer ids are
kept as raw ids so that "original" indexing reproduces P5's shipped numbering (and its
well-known leak); the ASIN behind each item id goes into the ``asin`` column of
``Dataset.items``. Titles, when a titles file is present, are keyed by ASIN (or by item id).
IDGenRec's file holds ids generated from item metadata, not titles; a dataset loaded with it
says so (``Dataset.titles_origin``).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data._io import (
    as_dir,
    load_directory,
    require_dir,
    require_file,
)
from benchmark.data.schema import TITLES_IDGENREC, Dataset, build_dataset
from benchmark.errors import DataError

FORMAT = "p5"
SEQUENTIAL = ("sequential_data.txt", "sequential.txt")
DATAMAPS = "datamaps.json"
#: IDGenRec's generated textual item ids, what P5 releases without titles ship in their place
IDGENREC_TITLES = "idgenrec/item_generative_indexing_phase_0.txt"
TITLES = (IDGENREC_TITLES, "item_titles.txt")
FILES = (
    "sequential_data.txt or sequential.txt ('user item item ...'), datamaps.json, optional "
    "idgenrec/item_generative_indexing_phase_0.txt or item_titles.txt ('ASIN title ...')"
)
_LINE_FORMAT = "'user item item ...' with integer ids"


def detect(path: Path) -> bool:
    """A directory holding a P5 sequence file (``datamaps.json`` is checked when loading)."""
    directory = as_dir(Path(path), SEQUENTIAL)
    return directory.is_dir() and any((directory / s).is_file() for s in SEQUENTIAL)


def find_sources(path: Path) -> dict[str, Path | None]:
    """The sequence file, ``datamaps.json`` and the first titles file present, if any."""
    directory = require_dir(as_dir(Path(path), (*SEQUENTIAL, DATAMAPS)), FORMAT)
    seq = require_file(directory, *SEQUENTIAL, fmt=FORMAT)
    maps = require_file(directory, DATAMAPS, fmt=FORMAT)
    titles = next((directory / t for t in TITLES if (directory / t).is_file()), None)
    return {"sequential": seq, "datamaps": maps, "titles": titles}


def load(
    path: Path, *, name: str | None = None, cache_dir: Path | None = None, use_cache: bool = True
) -> Dataset:
    """Load a P5 sequential directory (cached)."""
    sources = find_sources(path)
    dataset = load_directory(sources, parse, FORMAT, name, cache_dir, use_cache)
    seq, titles = sources["sequential"], sources["titles"]
    # set on every load, so entries cached before this was recorded say it too
    if titles is not None and titles.relative_to(seq.parent).as_posix() == IDGENREC_TITLES:
        dataset.meta["titles"] = TITLES_IDGENREC
    return dataset


def parse(seq: Path, maps: Path, titles: Path | None) -> Dataset:
    """Parse the three files; the caller sets name, source and hash."""
    id2item = read_item_map(maps)
    known = {int(i) for i in id2item}
    user_ids: list[int] = []
    chunks: list[list[int]] = []
    first_line: dict[int, int] = {}
    for lineno, line in enumerate(_read_text(seq).split("\n"), start=1):
        tokens = line.split()
        if not tokens:
            continue  # blank line (e.g. trailing newline)
        ids = _line_ids(tokens, seq, lineno)
        user = ids[0]
        if len(ids) == 1:
            raise DataError(
                f"user {user} has no items; expected {_LINE_FORMAT}", path=seq, line=lineno
            )
        if user in first_line:
            raise DataError(
                f"user {user} appears again (first on line {first_line[user]}); "
                "expected one line per user",
                path=seq,
                line=lineno,
            )
        first_line[user] = lineno
        if not known.issuperset(ids[1:]):
            missing = next(i for i in ids[1:] if i not in known)
            raise DataError(
                f"item {missing} is not in {maps.name}'s item map; wrong datamaps.json?",
                path=seq,
                line=lineno,
            )
        user_ids.append(user)
        chunks.append(ids[1:])
    if not chunks:
        raise DataError(f"no sequences found; expected lines {_LINE_FORMAT}", path=seq)
    counts = np.fromiter(map(len, chunks), dtype=np.int64, count=len(chunks))
    total = int(counts.sum())
    items = np.fromiter(itertools.chain.from_iterable(chunks), dtype=np.int64, count=total)
    users = np.repeat(np.asarray(user_ids, dtype=np.int64), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    stamps = np.arange(total, dtype=np.int64) - starts  # position within the user's line
    info = pd.DataFrame(
        {"raw_id": list(id2item), "asin": pd.Series(list(id2item.values()), dtype=object)}
    )
    if titles is not None:
        info["title"] = info["raw_id"].map(read_titles(titles, id2item)).astype(object)
    return build_dataset(
        format=FORMAT,
        users=pd.Series(users),
        items=pd.Series(items),
        timestamps=pd.Series(stamps),
        item_info=info,
    )


def read_item_map(path: Path) -> dict[str, str]:
    """Item id (as a canonical integer string) -> ASIN, from ``id2item`` or ``item2id``.

    ``item2id`` is oriented by its contents: P5 maps ASIN -> id, while some re-releases (e.g.
    RDRec's README) store id -> ASIN under that name.
    """
    try:
        maps = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", path=path, line=exc.lineno) from None
    if not isinstance(maps, dict):
        raise DataError("expected a JSON object with id2item or item2id", path=path)
    if isinstance(maps.get("id2item"), dict):
        pairs, key = list(maps["id2item"].items()), "id2item"
    elif isinstance(maps.get("item2id"), dict):
        pairs, key = list(maps["item2id"].items()), "item2id"
        if not all(_is_int(k) for k, _ in pairs):
            pairs = [(v, k) for k, v in pairs]
    else:
        have = ", ".join(map(str, maps)) or "none"
        raise DataError(f"missing key id2item or item2id (keys: {have})", path=path)
    out: dict[str, str] = {}
    for raw_id, asin in pairs:
        if not _is_int(raw_id):
            raise DataError(f"{key}: item id {raw_id!r} is not an integer", path=path)
        out[str(int(raw_id))] = str(asin)
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def read_titles(path: Path, id2item: dict[str, str]) -> dict[str, str]:
    """Item id -> title from lines ``ASIN title words...`` (or ``item_id title words...``)."""
    asin2id = {asin: i for i, asin in id2item.items()}
    out: dict[str, str] = {}
    for line in _read_text(path).split("\n"):
        key, _, title = line.strip().partition(" ")
        title = title.strip()
        if not key or not title:
            continue
        item = asin2id.get(key) or (str(int(key)) if _is_int(key) else None)
        if item is not None and item in id2item:
            out.setdefault(item, title)
    return out


def _line_ids(tokens: list[str], path: Path, lineno: int) -> list[int]:
    """The line's integer ids; the first token that is not a non-negative integer is named."""
    try:
        ids = [int(t) for t in tokens]
        if min(ids) >= 0 and all(t.isascii() for t in tokens):
            return ids
    except ValueError:
        pass
    bad = next(t for t in tokens if not (t.isascii() and t.isdigit()))
    raise DataError(
        f"id {bad!r} is not an integer; expected {_LINE_FORMAT}", path=path, line=lineno
    )


def _is_int(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, str) and value.isascii() and value.strip().isdigit()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raw = path.read_bytes()
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"not valid utf-8 text ({exc.reason})", path=path, line=line) from None
