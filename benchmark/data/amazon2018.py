"""Amazon Review Data 2018 (Ni et al.): one review per JSON line, gzipped or not.

The 2018 crawl repeats some (user, item) reviews; a repeated interaction would leak the test
item into the history, so only the earliest copy (by ``unixReviewTime``, then file order) is
kept. An optional iterative k-core filter reproduces the "5-core" preprocessing on raw
category files. Review text goes into ``Dataset.reviews``.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data._io import default_name, load_sources, require_dir
from benchmark.data.schema import Dataset, build_dataset
from benchmark.errors import ConfigError, DataError

FORMAT = "amazon2018"
SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")
FILES = (
    "one <Category>.json or .json.gz file of review JSON lines "
    "(reviewerID, asin, overall, unixReviewTime, reviewText, summary)"
)
REQUIRED = ("reviewerID", "asin", "unixReviewTime")


def detect(path: Path) -> bool:
    """A ``.json``/``.json.gz`` file, or a directory holding review files."""
    path = Path(path)
    if path.is_file():
        return path.name.endswith(SUFFIXES) and path.name != "datamaps.json"
    return path.is_dir() and bool(review_files(path))


def review_files(directory: Path) -> list[Path]:
    """Review files in a directory; ``meta_*`` product files and P5 datamaps are not reviews."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file()
        and p.name.endswith(SUFFIXES)
        and not p.name.startswith("meta_")
        and p.name != "datamaps.json"
    )


def find_sources(path: Path) -> Path:
    """The review file: ``path`` itself or the only review file in the directory."""
    path = Path(path)
    if path.is_file():
        return path
    directory = require_dir(path, FORMAT)
    files = review_files(directory)
    if not files:
        raise DataError(f"missing file: expected {FILES}", path=directory)
    if len(files) > 1:
        listed = ", ".join(p.name for p in files)
        raise DataError(f"several review files ({listed}); pass the one to load", path=directory)
    return files[0]


def load(
    path: Path,
    *,
    name: str | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    kcore: int | None = None,
) -> Dataset:
    """Load an Amazon 2018 review file (cached); ``kcore`` keeps users/items with >= k reviews."""
    if kcore is not None and (isinstance(kcore, bool) or not isinstance(kcore, int) or kcore < 1):
        raise ConfigError(f"kcore must be a positive integer or None, got {kcore!r}")
    file = find_sources(path)
    return load_sources(
        {"reviews": file},
        lambda: parse(file, kcore=kcore),
        format=FORMAT,
        name=name or default_name(Path(path)),
        source=str(file.resolve()),
        cache_dir=cache_dir,
        use_cache=use_cache,
        options={"kcore": kcore},
    )


def dedupe_and_filter(
    frame: pd.DataFrame, kcore: int | None, *, path: Path
) -> tuple[pd.DataFrame, int]:
    """Keep the earliest copy of each (user, item) review (ties in time: the earlier line), then
    the optional k-core; returns the frame (file order) and its size after de-duplication.
    Shared by the Amazon formats (2018 and 2023)."""
    frame = frame.sort_values(["timestamp", "line"], kind="stable")
    frame = frame.drop_duplicates(["user", "item"], keep="first").sort_values("line")
    n_dedup = len(frame)
    if kcore is not None:
        frame = kcore_filter(frame, kcore)
        if frame.empty:
            raise DataError(f"no reviews left after {kcore}-core filtering", path=path)
    return frame, n_dedup


def parse(file: Path, *, kcore: int | None = None) -> Dataset:
    """Parse, de-duplicate and optionally k-core filter; the caller sets name, source, hash."""
    frame = read_reviews(file)
    n_read = len(frame)
    frame, n_dedup = dedupe_and_filter(frame, kcore, path=file)
    reviews = frame[["user", "item", "rating", "text", "summary", "timestamp"]]
    dataset = build_dataset(
        format=FORMAT,
        users=frame["user"],
        items=frame["item"],
        timestamps=frame["timestamp"],
        reviews=reviews.reset_index(drop=True),
        rows=frame["line"] - 1,
    )
    dataset.meta.update(
        {
            "reviews_read": n_read,
            "duplicates_dropped": n_read - n_dedup,
            "kcore": kcore,
            "kcore_dropped": n_dedup - len(frame),
        }
    )
    return dataset


def read_reviews(file: Path) -> pd.DataFrame:
    """One row per JSON line: user, item, rating, text, summary, timestamp, line (1-based)."""
    users: list[str] = []
    items: list[str] = []
    stamps: list[int] = []
    ratings: list[float] = []
    texts: list[str | None] = []
    summaries: list[str | None] = []
    lines: list[int] = []
    lineno = 0
    try:
        with _open(file) as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                rec = _record(raw, file, lineno)
                users.append(rec[0])
                items.append(rec[1])
                stamps.append(rec[2])
                ratings.append(rec[3])
                texts.append(rec[4])
                summaries.append(rec[5])
                lines.append(lineno)
    except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt gzip
        raise DataError(f"cannot read ({exc})", path=file, line=lineno + 1) from None
    if not users:
        raise DataError(f"no reviews found; expected {FILES}", path=file)
    return pd.DataFrame(
        {
            "user": pd.Series(users, dtype=object),
            "item": pd.Series(items, dtype=object),
            "rating": np.asarray(ratings, dtype=np.float64),
            "text": pd.Series(texts, dtype=object),
            "summary": pd.Series(summaries, dtype=object),
            "timestamp": np.asarray(stamps, dtype=np.int64),
            "line": np.asarray(lines, dtype=np.int64),
        }
    )


def kcore_filter(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """Iteratively drop users and items with fewer than ``k`` interactions."""
    while len(frame):
        users = frame.groupby("user")["user"].transform("size")
        items = frame.groupby("item")["item"].transform("size")
        keep = (users >= k) & (items >= k)
        if keep.all():
            break
        frame = frame[keep]
    return frame


def _open(file: Path):
    with open(file, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(file, "rb") if magic == b"\x1f\x8b" else open(file, "rb")


def _record(raw: bytes, file: Path, lineno: int) -> tuple:
    try:
        rec = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(
            f"invalid JSON ({exc}); expected one review object per line", path=file, line=lineno
        ) from None
    if not isinstance(rec, dict):
        raise DataError("expected a JSON object per line", path=file, line=lineno)
    for key in REQUIRED:
        if rec.get(key) in (None, ""):
            raise DataError(
                f"missing field {key!r}; expected {', '.join(REQUIRED)}", path=file, line=lineno
            )
    stamp = rec["unixReviewTime"]
    if isinstance(stamp, str) and stamp.strip().isdigit():
        stamp = int(stamp)
    if isinstance(stamp, bool) or not isinstance(stamp, int):
        raise DataError(
            f"field 'unixReviewTime' must be an integer, got {stamp!r}", path=file, line=lineno
        )
    rating = rec.get("overall")
    if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int | float)):
        try:
            rating = float(rating)
        except (TypeError, ValueError):
            raise DataError(
                f"field 'overall' must be a number, got {rating!r}", path=file, line=lineno
            ) from None
    text, summary = rec.get("reviewText"), rec.get("summary")
    return (
        str(rec["reviewerID"]),
        str(rec["asin"]),
        stamp,
        np.nan if rating is None else float(rating),
        text if isinstance(text, str) else None,
        summary if isinstance(summary, str) else None,
    )
