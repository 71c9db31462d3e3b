"""Amazon Reviews 2023 (Hou et al., McAuley Lab): reviews plus optional item metadata.

The corpus is distributed as a Hugging Face dataset and as JSON Lines files. Three sources:

* a ``save_to_disk`` directory of a review config (``raw_review_<Category>``), alone or with a
  sibling directory of its metadata config (``raw_meta_<Category>``) inside one folder; a
  ``DatasetDict`` is read by :mod:`benchmark.data._hf`'s split rule (its ``full`` split);
* ``<Category>.jsonl`` (+ ``meta_<Category>.jsonl``), gzipped or not, as downloaded;
* ``hf://<owner>/<repo>/<Category>``, the explicit opt-in to download through
  ``datasets.load_dataset`` (see :func:`fetch_hub`); nothing else touches the network.

Items are keyed by ``parent_asin`` (variants of a product are one item, as the corpus's own
benchmarks do). As for ``amazon2018``, only the earliest copy of a repeated (user, item) review
is kept (``timestamp``, then source order) and ``kcore`` filters iteratively. Timestamps stay
in milliseconds: only their order is used, and rounding to seconds would invent ties. The
metadata gives titles and categories to reviewed items; it never adds items to the catalogue.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data import _hf
from benchmark.data._io import default_name, load_sources, require_dir
from benchmark.data.amazon2018 import dedupe_and_filter
from benchmark.data.cache import cache_root
from benchmark.data.schema import Dataset, build_dataset
from benchmark.errors import ConfigError, DataError

FORMAT = "amazon2023"
FILES = (
    "reviews (user_id, parent_asin, timestamp in ms, rating, title, text) as a save_to_disk "
    "directory or <Category>.jsonl[.gz], optional item metadata (parent_asin, title, "
    "categories) as a sibling save_to_disk directory or meta_<Category>.jsonl[.gz]; or "
    "hf://<owner>/<repo>/<Category> to download"
)
HUB_PREFIX = "hf://"
REVIEW_KEYS = ("user_id", "parent_asin", "timestamp")
META_KEYS = ("parent_asin",)
SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz")
_REVIEW_COLUMNS = ["user_id", "parent_asin", "timestamp", "rating", "title", "text"]
_META_COLUMNS = ["parent_asin", "title", "categories", "main_category"]
_EXPECTED = "one Amazon Reviews 2023 review object per line (user_id, parent_asin, timestamp)"


@dataclass(frozen=True)
class Sources:
    """Where the reviews and the optional metadata are, and whether they are saved datasets."""

    reviews: Path
    meta: Path | None
    saved: bool


def detect(path: Path) -> bool:
    """A 2023 review file, a saved review dataset, or a directory holding either."""
    path = Path(path)
    if path.is_file():
        return _is_review_file(path)
    if not path.is_dir():
        return False
    if _hf.is_saved_dataset(path):
        return _saved_kind(path) == "reviews"
    return bool(_saved_children(path, "reviews") or _review_files(path))


def find_sources(path: Path) -> Sources:
    """The review source and its metadata, if any (see the module docstring)."""
    path = Path(path)
    if path.is_file():
        if not _is_review_file(path):
            raise DataError(
                f"not an Amazon Reviews 2023 review file; expected {_EXPECTED}", path=path
            )
        return Sources(path, _meta_file(path.parent, path), saved=False)
    directory = require_dir(path, FORMAT)
    if _hf.is_saved_dataset(directory):
        kind = _saved_kind(directory)
        if kind != "reviews":
            raise DataError(
                "this saved dataset has no review columns (user_id, parent_asin, timestamp); "
                f"its columns are {', '.join(_hf.columns(directory)) or 'none'}. Pass the saved "
                "review config (raw_review_<Category>), or a folder holding it and its metadata",
                path=directory,
            )
        return Sources(directory, None, saved=True)
    saved = _saved_children(directory, "reviews")
    files = _review_files(directory)
    if saved and files:
        raise DataError(
            f"both saved reviews ({saved[0].name}) and review files ({files[0].name}); keep one",
            path=directory,
        )
    if len(saved) > 1 or len(files) > 1:
        listed = ", ".join(p.name for p in saved or files)
        raise DataError(f"several review sources ({listed}); pass the one to load", path=directory)
    if saved:
        metas = _saved_children(directory, "meta")
        if len(metas) > 1:
            listed = ", ".join(p.name for p in metas)
            raise DataError(f"several saved metadata datasets ({listed}); keep one", path=directory)
        return Sources(saved[0], metas[0] if metas else None, saved=True)
    if files:
        return Sources(files[0], _meta_file(directory, files[0]), saved=False)
    raise DataError(f"missing files: expected {FILES}", path=directory)


def load(
    path: Path | str,
    *,
    name: str | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    kcore: int | None = None,
    split: str | None = None,
) -> Dataset:
    """Load Amazon Reviews 2023 (cached); ``kcore`` keeps users/items with >= k reviews,
    ``split`` names the saved reviews' split to read (default: ``full``, see ``_hf``)."""
    if kcore is not None and (isinstance(kcore, bool) or not isinstance(kcore, int) or kcore < 1):
        raise ConfigError(f"kcore must be a positive integer or None, got {kcore!r}")
    if split is not None and not isinstance(split, str):
        raise ConfigError(f"data_options.split: a split name, got {split!r}")
    text = os.fspath(path)
    path = fetch_hub(text) if text.startswith(HUB_PREFIX) else Path(path)
    src = find_sources(path)
    if src.saved:
        sources: dict[str, Path | None] = _hf.sources(src.reviews, split, role="reviews/")
        if src.meta is not None:
            sources.update(_hf.sources(src.meta, None, role="meta/"))
    else:
        if split is not None:
            raise ConfigError(
                "data_options.split: JSON Lines files have no splits; remove the option"
            )
        sources = {"reviews": src.reviews, "meta": src.meta}
    stem = default_name(path).removeprefix("raw_review_").removeprefix("review_")
    return load_sources(
        sources,
        lambda: parse(src, kcore=kcore, split=split),
        format=FORMAT,
        name=name or stem,
        source=text if text.startswith(HUB_PREFIX) else str(src.reviews.resolve()),
        cache_dir=cache_dir,
        use_cache=use_cache,
        options={"kcore": kcore, "split": split},
    )


def parse(src: Sources, *, kcore: int | None = None, split: str | None = None) -> Dataset:
    """Parse, de-duplicate, optionally k-core filter, attach titles; the caller sets name,
    source and hash."""
    if src.saved:
        frame, splits = _saved_reviews(src.reviews, split)
        info = None if src.meta is None else _saved_meta(src.meta)
    else:
        frame, splits = _jsonl_reviews(src.reviews), []
        info = None if src.meta is None else _jsonl_meta(src.meta)
    n_read = len(frame)
    frame, n_dedup = dedupe_and_filter(frame, kcore, path=src.reviews)
    if info is not None:
        info = info[info["raw_id"].isin(set(frame["item"]))].reset_index(drop=True)
    dataset = build_dataset(
        format=FORMAT,
        users=frame["user"],
        items=frame["item"],
        timestamps=frame["timestamp"],
        item_info=info,
        reviews=frame[["user", "item", "rating", "text", "summary", "timestamp"]].reset_index(
            drop=True
        ),
        rows=frame["line"] - 1,
    )
    dataset.meta.update(
        {
            "reviews_read": n_read,
            "duplicates_dropped": n_read - n_dedup,
            "kcore": kcore,
            "kcore_dropped": n_dedup - len(frame),
            "timestamp_unit": "ms",
            "splits_read": splits,
            "items_with_metadata": 0 if info is None else int(info["raw_id"].nunique()),
        }
    )
    return dataset


def fetch_hub(spec: str) -> Path:
    """Download ``hf://<owner>/<repo>/<Category>`` once into ``<cache root>/hub`` as saved
    datasets and return that folder; later loads read the copy (delete it to refresh).

    The files are read with ``datasets.load_dataset("json", data_files=...)`` from the repo's
    ``raw/review_categories/<Category>.jsonl`` and ``raw/meta_categories/meta_<Category>.jsonl``
    (the McAuley-Lab/Amazon-Reviews-2023 layout): its configs need a loading script, which
    ``datasets`` 4 and later no longer run.
    """
    parts = spec[len(HUB_PREFIX) :].strip("/").split("/")
    if len(parts) != 3 or not all(parts):
        raise DataError(
            "expected hf://<owner>/<repo>/<Category>, e.g. "
            "hf://McAuley-Lab/Amazon-Reviews-2023/All_Beauty",
            path=spec,
        )
    repo = f"{parts[0]}/{parts[1]}"
    category = parts[2].removeprefix("raw_review_")
    target = cache_root() / "hub" / f"{parts[0]}+{parts[1]}" / category
    reviews_dir, meta_dir = f"raw_review_{category}", f"raw_meta_{category}"
    if _hf.is_saved_dataset(target / reviews_dir):
        return target
    review_file = f"raw/review_categories/{category}.jsonl"
    meta_file = f"raw/meta_categories/meta_{category}.jsonl"
    datasets = _hf.require_datasets(f"the hub dataset {spec}")
    try:
        loaded = {
            d: datasets.load_dataset(
                "json", data_files={"full": f"hf://datasets/{repo}/{f}"}, split="full"
            )
            for d, f in ((reviews_dir, review_file), (meta_dir, meta_file))
        }
    except Exception as exc:  # offline, missing repo or file, hub errors: all mean "download"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataError(
            f"cannot load it from the Hugging Face Hub ({type(exc).__name__}: {first}). On a "
            f"machine with network, download {review_file} and {meta_file} from "
            f"https://huggingface.co/datasets/{repo} (or {category}.jsonl.gz and "
            f"meta_{category}.jsonl.gz from https://amazon-reviews-2023.github.io/), put both "
            "files in one folder and pass that folder as the dataset",
            path=spec,
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{category}-", dir=target.parent))
    try:
        for directory, data in loaded.items():
            data.save_to_disk(str(tmp / directory))
        if not target.exists():
            os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---- saved datasets ----------------------------------------------------------------------


def _saved_kind(directory: Path) -> str | None:
    cols = _hf.columns(directory)
    if all(k in cols for k in REVIEW_KEYS):
        return "reviews"
    if all(k in cols for k in META_KEYS) and "user_id" not in cols:
        return "meta"
    return None


def _saved_children(directory: Path, kind: str) -> list[Path]:
    return sorted(
        p for p in directory.iterdir() if _hf.is_saved_dataset(p) and _saved_kind(p) == kind
    )


def _saved_reviews(root: Path, split: str | None) -> tuple[pd.DataFrame, list[str]]:
    frames, splits, offset = [], [], 0
    for directory, frame in _hf.read_frames(root, split, _REVIEW_COLUMNS):
        _hf.require_columns(
            list(frame.columns), list(REVIEW_KEYS), label=directory,
            fix="Expected an Amazon Reviews 2023 review config (raw_review_<Category>).",
        )  # fmt: skip
        n = len(frame)
        frames.append(
            pd.DataFrame(
                {
                    "user": _hf.ids(frame["user_id"], label=directory, field="user_id"),
                    "item": _hf.ids(frame["parent_asin"], label=directory, field="parent_asin"),
                    "rating": _numbers(frame, "rating", n),
                    "text": _texts(frame, "text", n),
                    "summary": _texts(frame, "title", n),
                    "timestamp": _int_times(frame["timestamp"], label=directory),
                    "line": np.arange(offset + 1, offset + n + 1, dtype=np.int64),
                }
            )
        )
        offset += n
        if directory != root:
            splits.append(directory.name)
    frame = pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise DataError("no reviews found (the dataset has no rows)", path=root)
    return frame, splits


def _saved_meta(root: Path) -> pd.DataFrame:
    parts = []
    for directory, frame in _hf.read_frames(root, None, _META_COLUMNS):
        _hf.require_columns(
            list(frame.columns), list(META_KEYS), label=directory,
            fix="Expected an Amazon Reviews 2023 metadata config (raw_meta_<Category>).",
        )  # fmt: skip
        n = len(frame)
        cats = frame["categories"] if "categories" in frame else pd.Series([None] * n)
        main = frame["main_category"] if "main_category" in frame else pd.Series([None] * n)
        parts.append(
            pd.DataFrame(
                {
                    "raw_id": _hf.ids(frame["parent_asin"], label=directory, field="parent_asin"),
                    "title": _texts(frame, "title", n),
                    "categories": [_categories(c, m) for c, m in zip(cats, main, strict=True)],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _int_times(col: pd.Series, *, label: Path) -> pd.Series:
    stamps = _hf.times(col, label=label, field="timestamp")
    if not pd.api.types.is_integer_dtype(stamps.dtype):
        values = stamps.to_numpy(np.float64)
        bad = values % 1 != 0
        if bad.any():
            row = int(bad.argmax())
            raise DataError(
                f"column 'timestamp' must hold whole milliseconds, got {values[row]!r} in row "
                f"{row} (ds[{row}])",
                path=label,
            )
        stamps = pd.Series(values.astype(np.int64), index=col.index)
    return stamps.astype(np.int64)


def _numbers(frame: pd.DataFrame, col: str, n: int) -> np.ndarray:
    if col not in frame:
        return np.full(n, np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(np.float64, na_value=np.nan)


def _texts(frame: pd.DataFrame, col: str, n: int) -> pd.Series:
    if col not in frame:
        return pd.Series([None] * n, dtype=object)
    return pd.Series([v if isinstance(v, str) and v else None for v in frame[col]], dtype=object)


def _categories(cats: object, main: object) -> str | None:
    """The category path joined with ", ", else ``main_category`` (many categories ship an
    empty list)."""
    if cats is not None and not isinstance(cats, str | float):
        names = [str(c) for c in cats if c]
        if names:
            return ", ".join(names)
    return main if isinstance(main, str) and main else None


# ---- JSON Lines ---------------------------------------------------------------------------


def _is_review_file(path: Path) -> bool:
    if not path.name.endswith(SUFFIXES) or path.name.startswith("meta_"):
        return False
    rec = _first_record(path)
    return isinstance(rec, dict) and all(k in rec for k in REVIEW_KEYS)


def _review_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and _is_review_file(p))


def _meta_file(directory: Path, reviews: Path) -> Path | None:
    """``meta_<stem>`` beside the review file (``<stem>`` without a ``review_`` prefix too)."""
    stem = default_name(reviews)
    for base in dict.fromkeys((stem, stem.removeprefix("review_"))):
        for suffix in SUFFIXES:
            candidate = directory / f"meta_{base}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _first_record(path: Path) -> object:
    try:
        for _, raw in _lines(path):
            if raw.strip():
                return json.loads(raw)
    except (OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError):
        return None
    return None


def _lines(file: Path) -> Iterator[tuple[int, bytes]]:
    with open(file, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    with gzip.open(file, "rb") if gz else open(file, "rb") as fh:
        yield from enumerate(fh, start=1)


def _records(file: Path, expected: str) -> Iterator[tuple[int, dict]]:
    """(line, object) for each non-blank JSON line; a bad line or a corrupt gzip names its line."""
    lineno = 0
    try:
        for lineno, raw in _lines(file):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DataError(
                    f"invalid JSON ({exc}); expected {expected}", path=file, line=lineno
                ) from None
            if not isinstance(rec, dict):
                raise DataError(f"expected a JSON object per line: {expected}", path=file,
                                line=lineno)  # fmt: skip
            yield lineno, rec
    except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt gzip
        raise DataError(f"cannot read ({exc})", path=file, line=lineno + 1) from None


def _jsonl_reviews(file: Path) -> pd.DataFrame:
    rows: dict[str, list] = {k: [] for k in ("user", "item", "rating", "text", "summary",
                                             "timestamp", "line")}  # fmt: skip
    for lineno, rec in _records(file, _EXPECTED):
        for key in REVIEW_KEYS:
            if rec.get(key) in (None, ""):
                hint = (
                    " This is an Amazon 2018 review line (reviewerID, asin, unixReviewTime): "
                    "use --data-format amazon2018."
                    if "reviewerID" in rec
                    else ""
                )
                raise DataError(
                    f"missing field {key!r}; expected {_EXPECTED}.{hint}", path=file, line=lineno
                )
        stamp = rec["timestamp"]
        if isinstance(stamp, str) and stamp.strip().isdigit():
            stamp = int(stamp)
        if isinstance(stamp, bool) or not isinstance(stamp, int):
            raise DataError(
                f"field 'timestamp' must be an integer (milliseconds since the epoch), got "
                f"{stamp!r}",
                path=file,
                line=lineno,
            )
        rating = rec.get("rating")
        try:
            rating = np.nan if rating is None or isinstance(rating, bool) else float(rating)
        except (TypeError, ValueError):
            raise DataError(
                f"field 'rating' must be a number, got {rating!r}", path=file, line=lineno
            ) from None
        text, title = rec.get("text"), rec.get("title")
        rows["user"].append(str(rec["user_id"]).strip())
        rows["item"].append(str(rec["parent_asin"]).strip())
        rows["rating"].append(rating)
        rows["text"].append(text if isinstance(text, str) and text else None)
        rows["summary"].append(title if isinstance(title, str) and title else None)
        rows["timestamp"].append(stamp)
        rows["line"].append(lineno)
    if not rows["user"]:
        raise DataError(f"no reviews found; expected {_EXPECTED}", path=file)
    return pd.DataFrame(
        {
            "user": pd.Series(rows["user"], dtype=object),
            "item": pd.Series(rows["item"], dtype=object),
            "rating": np.asarray(rows["rating"], dtype=np.float64),
            "text": pd.Series(rows["text"], dtype=object),
            "summary": pd.Series(rows["summary"], dtype=object),
            "timestamp": np.asarray(rows["timestamp"], dtype=np.int64),
            "line": np.asarray(rows["line"], dtype=np.int64),
        }
    )


def _jsonl_meta(file: Path) -> pd.DataFrame:
    expected = "one item metadata object per line with parent_asin (meta_<Category>.jsonl)"
    raw_ids, titles, cats = [], [], []
    for lineno, rec in _records(file, expected):
        asin = rec.get("parent_asin")
        if asin in (None, ""):
            raise DataError(f"missing field 'parent_asin'; expected {expected}", path=file,
                            line=lineno)  # fmt: skip
        title = rec.get("title")
        raw_ids.append(str(asin).strip())
        titles.append(title.strip() or None if isinstance(title, str) else None)
        cats.append(_categories(rec.get("categories"), rec.get("main_category")))
    return pd.DataFrame(
        {
            "raw_id": pd.Series(raw_ids, dtype=object),
            "title": pd.Series(titles, dtype=object),
            "categories": pd.Series(cats, dtype=object),
        }
    )
