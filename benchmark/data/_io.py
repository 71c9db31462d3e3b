"""Shared loading flow and parsing helpers: hash, cache, and read delimited text, turning bad
values into located DataErrors.

A format module is ``detect``, ``find_sources``, ``parse`` and a ``load`` that hands its source
files and parser to :func:`load_sources` (:func:`load_directory` for a format whose files sit in
one directory), which does the rest the same way for every format.

Every table is read as Python strings with blank lines kept while parsing, so frame index ``i``
is file line ``i + 1`` (``i + 2`` with a header line): messages can point at the line to fix.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.cache import load_or_parse
from benchmark.data.hashing import content_hash
from benchmark.data.schema import Dataset
from benchmark.errors import DataError

_INT = re.compile(r"\s*[+-]?\d+\s*")
_LINE = re.compile(r"line (\d+)")
_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
#: how pandas renames a repeated header name: ``x``, ``x.1``, ``x.2``
_MANGLED = re.compile(r"\.\d+$")


def load_sources(
    sources: Mapping[str, Path | bytes | None],
    parse: Callable[[], Dataset],
    *,
    format: str,
    name: str,
    source: str,
    cache_dir: Path | None,
    use_cache: bool,
    options: Mapping[str, object] | None = None,
) -> Dataset:
    """The loading flow every format shares, so a format only says what differs: its sources'
    content hash keys the cache; on a miss ``parse()`` runs and its dataset is cached.

    ``sources`` maps each file's role to its path or bytes (None: an optional file that is
    absent, left out of the hash); ``options`` that change the parse enter the hash too.
    """
    present = [(role, src) for role, src in sources.items() if src is not None]
    digest = content_hash(present, format=format, options=options)
    return load_or_parse(
        digest, parse, name=name, source=source, cache_dir=cache_dir, use_cache=use_cache
    )


def load_directory(
    sources: Mapping[str, Path | None],
    parse: Callable[..., Dataset],
    format: str,
    name: str | None,
    cache_dir: Path | None,
    use_cache: bool,
) -> Dataset:
    """:func:`load_sources` for a format whose files sit in one directory: ``parse`` takes the
    ``sources``' paths in order; the first (a required file) gives the directory, the dataset's
    source and, unless ``name`` is given, its name."""
    files = list(sources.values())
    directory = files[0].parent
    return load_sources(
        sources,
        lambda: parse(*files),
        format=format,
        name=name or default_name(directory),
        source=str(directory.resolve()),
        cache_dir=cache_dir,
        use_cache=use_cache,
    )


def directory_sources(
    path: Path, required: str, optional: str, *, fmt: str
) -> dict[str, Path | None]:
    """A directory's ``required`` and ``optional`` files by name (None: the optional one is
    absent); a path to either file stands for its directory."""
    directory = require_dir(as_dir(Path(path), (required, optional)), fmt)
    extra = directory / optional
    return {
        required: require_file(directory, required, fmt=fmt),
        optional: extra if extra.is_file() else None,
    }


def read_table(
    data: Path | bytes,
    *,
    label: object,
    sep: str,
    header: bool,
    names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    quoting: int = csv.QUOTE_NONE,
    expected: str = "",
) -> pd.DataFrame:
    """Read a delimited file as strings; blank lines are dropped but keep line numbering.

    ``expected`` describes the layout for error messages (e.g. "4 tab-separated fields").
    """
    buf = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        frame = pd.read_csv(
            buf,
            sep=sep,
            header=0 if header else None,
            names=names,
            dtype=object,  # python str values: faster here than pandas 3's arrow strings
            keep_default_na=False,
            skip_blank_lines=False,
            quoting=quoting,
            encoding=encoding,
            index_col=False,
        )
    except pd.errors.EmptyDataError:
        what = "a header line" if header else "data lines"
        raise DataError(f"file is empty; expected {what}", path=label) from None
    except pd.errors.ParserError as exc:
        raise _malformed(
            exc, label=label, header=header, quoting=quoting, expected=expected
        ) from None
    except UnicodeDecodeError as exc:
        line = _bad_text_line(data, encoding)
        raise DataError(
            f"not valid {encoding} text ({exc.reason})", path=label, line=line
        ) from None
    except FileNotFoundError:
        raise DataError("file not found", path=label) from None
    if header and any(_MANGLED.search(str(c)) for c in frame.columns):
        _check_unique_header(data, label=label, sep=sep, encoding=encoding, quoting=quoting)
    if len(frame.columns):
        first = frame.iloc[:, 0].to_numpy()
        maybe = np.flatnonzero(first == "")
        if len(maybe):
            blank = (frame.iloc[maybe] == "").all(axis=1)
            frame = frame.drop(index=blank.index[blank.to_numpy()])
    return frame


def _malformed(
    exc: Exception, *, label: object, header: bool, quoting: int, expected: str
) -> DataError:
    """One line for pandas' tokenizer error. A line with more fields than the first names that
    line and its count: the fix is in the row, not in the header or the layout."""
    text = " ".join(str(exc).split())  # pandas' message ends in a newline
    match = _FIELDS.search(text)
    if match:
        want, line, saw = (int(g) for g in match.groups())
        first = "the header" if header else "the first line"
        quote = "" if quoting == csv.QUOTE_NONE else ", or quote a value that holds the separator"
        return DataError(
            f"this line has {saw} fields, but {first} has {want}; remove the extra field(s) "
            f"from it{quote}",
            path=label,
            line=line,
        )
    match = _LINE.search(text)
    line = int(match.group(1)) if match else None
    hint = f"expected {expected}" if expected else "expected a constant number of fields"
    return DataError(f"malformed line ({text}); {hint}", path=label, line=line)


def _check_unique_header(
    data: Path | bytes, *, label: object, sep: str, encoding: str, quoting: int
) -> None:
    """Name a repeated header column as the file spells it (pandas renames the second ``x`` to
    ``x.1``, a name the user never wrote)."""
    if isinstance(data, bytes):
        raw = data.split(b"\n", 1)[0]
    else:
        with open(data, "rb") as fh:
            raw = fh.readline()
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    text = raw.decode(codec).rstrip("\r\n")
    names = next(csv.reader([text], delimiter=sep, quoting=quoting), [])
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(
                f"column {name!r} appears more than once in the header; name each column once",
                path=label,
                line=1,
            )
        seen.add(name)


def require_rows(frame: pd.DataFrame, *, label: object, expected: str) -> None:
    """Raise when a file holds no data lines (a header alone is not a dataset)."""
    if frame.empty:
        raise DataError(f"no data lines; expected {expected}", path=label)


def require_columns(
    have: Iterable[str], required: Iterable[str], *, label: object, expected: str
) -> None:
    """Raise naming the header line when a required column is absent."""
    have = [str(c) for c in have]
    missing = [c for c in required if c not in have]
    if missing:
        have = ", ".join(have) or "nothing"
        raise DataError(
            f"missing column(s) {', '.join(missing)} in header ({have}); expected {expected}",
            path=label,
            line=1,
        )


def to_ints(col: pd.Series, *, label: object, field: str, line_offset: int) -> np.ndarray:
    """Integer values of a string column; the first non-integer names its line and field."""
    try:
        return col.to_numpy(dtype=object).astype(np.int64)
    except (ValueError, TypeError, OverflowError):
        pass  # locate the offender
    ok = col.str.fullmatch(_INT).fillna(False).to_numpy(bool)
    if ok.all():  # e.g. out of int64 range
        ok = np.array([_fits_int64(v) for v in col], dtype=bool)
    _raise_bad(col, ok, label=label, field=field, line_offset=line_offset, what="an integer")
    raise AssertionError("unreachable")


def to_numbers(col: pd.Series, *, label: object, field: str, line_offset: int) -> pd.Series:
    """Numeric values of a string column: int64 when all are integral, else float64."""
    try:
        values = col.to_numpy(dtype=object).astype(np.float64)
        ok = np.isfinite(values)
    except (ValueError, TypeError):
        values = pd.to_numeric(col, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        ok = np.isfinite(values)
    if not ok.all():
        _raise_bad(col, ok, label=label, field=field, line_offset=line_offset, what="a number")
    if len(values) and (values % 1 == 0).all() and np.abs(values).max() < 2**53:
        return pd.Series(values.astype(np.int64), index=col.index)
    return pd.Series(values, index=col.index)


def to_ids(col: pd.Series, *, label: object, field: str, line_offset: int) -> pd.Series:
    """Stripped string ids; an empty one names its line (ids may be any token)."""
    ids = pd.Series([str(v).strip() for v in col], index=col.index, dtype=object)
    empty = (ids == "").to_numpy(bool)
    if empty.any():
        line = int(ids.index[empty.argmax()]) + line_offset
        raise DataError(f"field {field!r} is empty; expected an id", path=label, line=line)
    return ids


def _fits_int64(value: object) -> bool:
    try:
        return -(2**63) <= int(str(value)) < 2**63
    except ValueError:
        return False


def _raise_bad(
    col: pd.Series, ok: np.ndarray, *, label: object, field: str, line_offset: int, what: str
) -> None:
    pos = int(np.flatnonzero(~ok)[0])
    value = col.iloc[pos]
    line = int(col.index[pos]) + line_offset
    got = "an empty value" if value == "" or pd.isna(value) else repr(value)
    raise DataError(f"field {field!r} must be {what}, got {got}", path=label, line=line)


def _bad_text_line(data: Path | bytes, encoding: str) -> int | None:
    """Line of the first undecodable byte (pandas reports offsets within a chunk only)."""
    raw = data if isinstance(data, bytes) else Path(data).read_bytes()
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        return raw.count(b"\n", 0, exc.start) + 1
    return None


def default_name(path: Path) -> str:
    """A dataset name from its path: the directory's basename, or a file's name sans suffixes."""
    path = Path(path)
    if path.is_dir():
        return path.resolve().name or str(path)
    name = path.name
    for suffix in (".gz", ".json", ".jsonl", ".inter"):
        name = name.removesuffix(suffix)
    return name or path.resolve().parent.name


def as_dir(path: Path, names: Iterable[str]) -> Path:
    """Accept either a dataset directory or one of its expected files (then its directory)."""
    path = Path(path)
    if path.is_file() and path.name in set(names):
        return path.parent
    return path


def require_dir(path: Path, fmt: str) -> Path:
    """The directory a directory-based format loads from, or a DataError saying what is wrong."""
    if not path.exists():
        raise DataError(f"no such file or directory (format {fmt})", path=path)
    if not path.is_dir():
        raise DataError(f"format {fmt} expects a directory", path=path)
    return path


def require_file(directory: Path, *candidates: str, fmt: str) -> Path:
    """The first candidate file present in ``directory``; else a DataError naming them all."""
    for name in candidates:
        if (directory / name).is_file():
            return directory / name
    wanted = " or ".join(candidates)
    raise DataError(f"missing file {wanted} (required by format {fmt})", path=directory)
