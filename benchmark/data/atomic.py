"""RecBole atomic files: ``<name>.inter`` plus an optional ``<name>.item``.

Atomic files are tab separated with a typed header (``user_id:token  item_id:token ...``); the
RecBole dataset zoo ships every public dataset this way, so supporting it covers many sources
at once. ``.inter`` must have ``user_id``, ``item_id`` and ``timestamp`` fields. From ``.item``
we take a title-like field (plus ``release_year`` when present, as ml-100k splits it off) and a
genre-like field (``class``, ``genre``, ``categories``); sequence fields are space separated.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.data._io import (
    default_name,
    load_sources,
    read_table,
    require_columns,
    require_dir,
    require_rows,
    to_ids,
    to_numbers,
)
from benchmark.data.schema import Dataset, build_dataset
from benchmark.errors import DataError

FORMAT = "atomic"
FILES = (
    "<name>.inter (tab separated, header user_id:token item_id:token timestamp:float), "
    "optional <name>.item"
)

_TYPES = ("token", "token_seq", "float", "float_seq")
_INTER_EXPECTED = "a typed header with user_id, item_id and timestamp (e.g. user_id:token)"
_TITLE_FIELDS = ("movie_title", "title", "item_title", "name")
_YEAR_FIELDS = ("release_year", "year")
_CATEGORY_FIELDS = ("class", "genre", "genres", "categories", "category")


def detect(path: Path) -> bool:
    """A ``.inter`` file, or a directory holding one."""
    path = Path(path)
    if path.is_file():
        return path.suffix == ".inter"
    return path.is_dir() and any(path.glob("*.inter"))


def find_sources(path: Path) -> tuple[Path, Path | None]:
    """The ``.inter`` file (a given one, or the directory's) and its ``.item`` if present."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".inter":
            raise DataError("format atomic expects a .inter file or a directory", path=path)
        inter = path
    else:
        require_dir(path, FORMAT)
        inters = sorted(path.glob("*.inter"))
        if not inters:
            raise DataError("missing file <name>.inter (required by format atomic)", path=path)
        named = path / f"{path.resolve().name}.inter"
        if len(inters) > 1 and named not in inters:
            listed = ", ".join(p.name for p in inters)
            hint = (
                " These are RecBole pre-split files: load the folder with --data-format "
                "recbole-split."
                if any(p.name.endswith(".test.inter") for p in inters)
                else ""
            )
            raise DataError(f"several .inter files ({listed}); pass one of them.{hint}", path=path)
        inter = named if len(inters) > 1 else inters[0]
    item = inter.with_suffix(".item")
    return inter, item if item.is_file() else None


def load(
    path: Path, *, name: str | None = None, cache_dir: Path | None = None, use_cache: bool = True
) -> Dataset:
    """Load RecBole atomic files from a directory or a ``.inter`` path (cached)."""
    inter, item = find_sources(path)
    return load_sources(
        {".inter": inter, ".item": item},
        lambda: parse(inter, item, inter_label=inter, item_label=item),
        format=FORMAT,
        name=name or default_name(Path(path)),
        source=str(Path(inter).resolve()),
        cache_dir=cache_dir,
        use_cache=use_cache,
    )


def parse(
    inter: Path | bytes,
    item: Path | bytes | None,
    *,
    inter_label: object,
    item_label: object = None,
) -> Dataset:
    """Parse atomic ``.inter`` (and ``.item``) contents; the caller sets name, source, hash."""
    frame = read_table(inter, label=inter_label, sep="\t", header=True, expected=_INTER_EXPECTED)
    fields = typed_fields(frame, label=inter_label)
    if "item_id_list" in fields and "timestamp" not in fields:
        raise DataError(
            "a pre-split file (user_id, item_id_list, item_id, no timestamp), not an "
            "interaction file; load its folder with --data-format recbole-split",
            path=inter_label,
            line=1,
        )
    require_columns(
        fields, ("user_id", "item_id", "timestamp"), label=inter_label, expected=_INTER_EXPECTED
    )
    require_rows(frame, label=inter_label, expected="one interaction per line after the header")
    users = to_ids(frame[fields["user_id"]], label=inter_label, field="user_id", line_offset=2)
    items = to_ids(frame[fields["item_id"]], label=inter_label, field="item_id", line_offset=2)
    stamps = to_numbers(
        frame[fields["timestamp"]], label=inter_label, field="timestamp", line_offset=2
    )
    item_info = None if item is None else parse_items(item, label=item_label)
    return build_dataset(
        format=FORMAT,
        users=users,
        items=items,
        timestamps=stamps,
        item_info=item_info,
    )


def parse_items(data: Path | bytes, *, label: object) -> pd.DataFrame:
    """``raw_id``, ``title``, ``categories`` from an ``.item`` file."""
    frame = read_table(
        data,
        label=label,
        sep="\t",
        header=True,
        expected="a typed header with item_id (e.g. item_id:token)",
    )
    fields = typed_fields(frame, label=label)
    require_columns(fields, ("item_id",), label=label, expected="an item_id:token field")
    info = pd.DataFrame(
        {"raw_id": to_ids(frame[fields["item_id"]], label=label, field="item_id", line_offset=2)}
    )
    title_field = _pick(fields, _TITLE_FIELDS, contains="title")
    if title_field:
        title = frame[fields[title_field]].str.strip()
        year_field = _pick(fields, _YEAR_FIELDS)
        if year_field:
            year = frame[fields[year_field]].str.strip()
            # ml-100k's unknown movie has year "unkonwn": only real years are appended
            has_year = year.str.fullmatch(r"\d{4}") & (title != "")
            title = title.where(~has_year, title + " (" + year + ")")
        info["title"] = title.where(title != "", None).astype(object)
    category_field = _pick(fields, _CATEGORY_FIELDS)
    if category_field:
        cats = frame[fields[category_field]].str.split().str.join(", ")
        info["categories"] = cats.where(cats != "", None).astype(object)
    return info


def typed_fields(frame: pd.DataFrame, *, label: object) -> dict[str, str]:
    """Map bare field names to header columns, checking each is ``name:type``."""
    mapping: dict[str, str] = {}
    for col in frame.columns:
        fname, sep, ftype = str(col).partition(":")
        if not sep or ftype not in _TYPES:
            raise DataError(
                f"header field {col!r} is not name:type with type one of {', '.join(_TYPES)}",
                path=label,
                line=1,
            )
        mapping.setdefault(fname, str(col))
    return mapping


def _pick(fields: dict[str, str], names: tuple[str, ...], contains: str = "") -> str | None:
    """The first of ``names`` present, else the first field containing ``contains``."""
    for n in names:
        if n in fields:
            return n
    if contains:
        for n in fields:
            if contains in n:
                return n
    return None
