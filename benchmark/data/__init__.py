"""The dataset layer: find, parse, normalize and cache recommendation datasets.

``load_dataset`` takes a registry name (``ml-100k``, the embedded default) or a path; a path's
format is detected from the files present unless ``data_format`` names it. Every loader yields
the same normalized :class:`~benchmark.data.schema.Dataset`, cached as parquet under
:func:`cache_root` by content hash so a second load does not re-parse.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchmark.data.cache import cache_root
from benchmark.data.schema import Dataset, build_dataset
from benchmark.errors import ConfigError, DataError
from benchmark.registry import LazyRegistry

__all__ = [
    "DATASETS",
    "FORMATS",
    "Dataset",
    "build_dataset",
    "cache_root",
    "detect_format",
    "format_help",
    "load_dataset",
]

# Detection order matters: a pre-split RecBole folder is also a folder of .inter files, so
# recbole-split comes before atomic; amazon2023 looks inside JSON files and saved datasets, so
# it comes before the generic hf and the catch-all amazon2018 layout (a P5 directory also
# holds a .json file, datamaps.json), which comes last.
_FORMAT_MODULES = {
    "recbole-split": "benchmark.data.recbole_split",
    "atomic": "benchmark.data.atomic",
    "grouplens-100k": "benchmark.data.grouplens",
    "p5": "benchmark.data.p5",
    "movielens-csv": "benchmark.data.movielens_csv",
    "amazon2023": "benchmark.data.amazon2023",
    "hf": "benchmark.data.hf",
    "amazon2018": "benchmark.data.amazon2018",
}
#: the dataset-path prefix that asks for a download from the Hugging Face Hub, and the format
#: that reads it (the only place the data layer touches the network)
HUB_PREFIX = "hf://"
HUB_FORMAT = "amazon2023"

FORMATS: LazyRegistry[Callable[..., Dataset]] = LazyRegistry("data format")
"""Format name -> loader ``load(path, *, name=None, cache_dir=None, use_cache=True, **opts)``."""
for _fmt, _module in _FORMAT_MODULES.items():
    FORMATS.add(_fmt, f"{_module}:load")

DATASETS: LazyRegistry[Callable[..., Dataset]] = LazyRegistry("dataset")
"""Registry name -> loader ``load(*, cache_dir=None, use_cache=True)`` of a built-in dataset."""
DATASETS.add("ml-100k", "benchmark.data.ml100k:load")
DATASETS.add("ml-1m", "benchmark.data.ml1m:load")


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of a dataset file or directory, judged by the files present."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError("no such file or directory", path=path)
    for fmt, module in _FORMAT_MODULES.items():
        if importlib.import_module(module).detect(path):
            return fmt
    raise DataError(
        "cannot tell the dataset format from the files present. Known formats and the files "
        f"each expects:\n{format_help()}\nRename the files to match, or pass --data-format.",
        path=path,
    )


def format_help() -> str:
    """One line per format: its name and the files it expects."""
    lines = []
    for fmt, module in _FORMAT_MODULES.items():
        lines.append(f"  {fmt}: {importlib.import_module(module).FILES}")
    return "\n".join(lines)


def load_dataset(
    name_or_path: str | os.PathLike[str],
    data_format: str | None = None,
    *,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    options: Mapping[str, Any] | None = None,
) -> Dataset:
    """Load a registry dataset or the dataset at a path, in normalized form.

    A registry name wins over a same-named relative directory unless ``data_format`` is given
    or the argument looks like a path (``./ml-100k``). ``options`` are format-specific loader
    options, e.g. ``{"kcore": 5}`` for amazon2018; they enter the content hash.
    ``hf://<owner>/<repo>/<Category>`` is the explicit opt-in to download Amazon Reviews 2023
    from the Hugging Face Hub (format ``amazon2023``).
    """
    opts = dict(options or {})
    text = os.fspath(name_or_path)
    if text.startswith(HUB_PREFIX):
        if data_format not in (None, HUB_FORMAT):
            raise ConfigError(
                f"data format {data_format!r} cannot read {text}: only {HUB_FORMAT} downloads "
                "from the Hugging Face Hub; save the dataset with save_to_disk and pass its "
                "directory instead"
            )
        loader = FORMATS.get(HUB_FORMAT)
        _check_options(loader, opts, f"format {HUB_FORMAT!r}")
        return loader(text, cache_dir=cache_dir, use_cache=use_cache, **opts)
    if data_format is None and text in DATASETS and not _looks_like_path(text):
        loader = DATASETS.get(text)
        _check_options(loader, opts, f"dataset {text!r}")
        return loader(cache_dir=cache_dir, use_cache=use_cache, **opts)
    if data_format is not None:
        FORMATS.get(data_format)  # an unknown name raises UnknownNameError with close matches
    path = Path(text).expanduser()
    if not path.exists():
        known = ", ".join(DATASETS.names())
        close = difflib.get_close_matches(text, DATASETS.names(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise DataError(
            f"no such file or directory, and not a registry dataset (known: {known}).{hint}",
            path=path,
        )
    fmt = data_format or detect_format(path)
    loader = FORMATS.get(fmt)
    _check_options(loader, opts, f"format {fmt!r}")
    return loader(path, cache_dir=cache_dir, use_cache=use_cache, **opts)


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or text.startswith((".", "~"))


def _check_options(loader: Callable[..., Dataset], opts: Mapping[str, Any], what: str) -> None:
    params = inspect.signature(loader).parameters
    allowed = [
        n
        for n, p in params.items()
        if p.kind is p.KEYWORD_ONLY and n not in ("name", "cache_dir", "use_cache")
    ]
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        supported = ", ".join(allowed) or "none"
        raise ConfigError(
            f"{what} does not take option(s) {', '.join(unknown)} (supported: {supported})"
        )
